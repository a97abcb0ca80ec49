"""Imports and harvests: a source read as a stream, each record created, updated or
left alone, and a report of what happened to every one of them.

Idempotent by record identifier: a record already in the workspace gets a new
version only when its content (or one of its files) changed. New records without
files are stored in batches (``RecordService.create_many``: one transaction and
one file-system sync per batch, each record still its own object and version);
the others one by one. An import cut short leaves whole records behind, never
half of one; ``position`` counts the source records handled, and running the
import again resumes after them (anything handled twice is unchanged anyway, and
a batch cut short between the store and the database is adopted, not stored
twice: its records' uuids derive from the import and their identifiers).
A dry run reads and checks everything and writes nothing but its report.

The same pipeline serves the command line (run in the caller's process), the
API and the pages (a ``records.import`` job run by a worker).
"""

from __future__ import annotations

import itertools
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from heritage.accounts.identity import Identity
from heritage.db.base import utcnow
from heritage.errors import InvalidInput, NotFound, ServiceError
from heritage.policy import require
from heritage.records.formats import detect_format, open_reader
from heritage.records.harvest import Harvester, HarvestError
from heritage.records.import_media import LazyMedia, attach_media, changed_files
from heritage.records.importers.base import SourceError, SourceRecord
from heritage.records.importers.estimate import estimate_records
from heritage.records.media import MediaFile
from heritage.records.models import (
    ImportStatus,
    ItemAction,
    RecordImport,
    RecordImportItem,
    RecordRow,
)
from heritage.records.problems import Problem, Severity
from heritage.records.services import (
    NewRecord,
    RecordService,
    check_problems,
)
from heritage.runtime import Runtime
from heritage.workspaces.models import Workspace
from heritage.workspaces.services import workspace_for, workspace_target

log = structlog.get_logger(__name__)

IMPORT_JOB = "records.import"
HARVEST_SCHEDULE_JOB = "records.harvest-scheduled"
HARVEST_FORMAT = "oai-pmh"
HARVEST_PREFIXES = ("oai_dc", "edm", "lido")
SCHEDULES = ("daily",)
# How many source records are handled between two saves of the report and position;
# new records are stored in batches of the same size.
CHECKPOINT_EVERY = 200

# (records handled so far, how many the source has when it says so, where in the source)
Progress = Callable[[int, int | None, str], None]


@dataclass
class ImportOutcome:
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def _count(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


def _announced(harvester: Harvester | None) -> int | None:
    """How many records the source says it has: an OAI-PMH list's completeListSize.
    Files do not say; their count is estimated (``importers.estimate``)."""
    return harvester.complete_list_size if harvester is not None else None


@dataclass
class _Creates:
    """New records of an import waiting to be stored as one batch, with their items."""

    import_id: str
    slug: str
    waiting: list[tuple[RecordImportItem, NewRecord]] = field(default_factory=list)
    # storing a batch failed unexpectedly: its records are not reported as handled
    failed: bool = False

    def uuid_for(self, identifier: str) -> str:
        # The same record of the same import always gets the same uuid, so a batch
        # retried after a crash finds what it stored before instead of storing it again.
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"heritage:import:{self.import_id}:{identifier}"))


def _not_stored_problem(error: ServiceError) -> Problem:
    return Problem.error(
        "import.not-stored",
        f"The record could not be stored: {error.detail}",
        "Correct the record in the source and import it again.",
    )


def _not_stored(item: RecordImportItem, error: ServiceError) -> None:
    problem = _not_stored_problem(error).at(item.location)
    item.action = ItemAction.FAILED
    item.record_uuid = None
    item.problems = [*item.problems, problem.to_json()]
    item.error_count += 1


def _read_ahead(records: Iterator[SourceRecord], size: int) -> Iterator[list[SourceRecord]]:
    """The records in lists of ``size``. When the source fails, the records read before
    the failure come first, then the error: nothing read is left unhandled."""
    while True:
        chunk: list[SourceRecord] = []
        try:
            for source in records:
                chunk.append(source)
                if len(chunk) == size:
                    break
        except Exception:
            if chunk:
                yield chunk
            raise
        if chunk:
            yield chunk
        if len(chunk) < size:
            return


class ImportService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.records = RecordService(runtime)

    # -- starting ------------------------------------------------------------------------------

    def _workspace(self, session: Session, actor: Identity, slug: str, action: str) -> Workspace:
        return workspace_for(session, actor, slug, action)

    def files_dir(self, import_id: str) -> Path:
        return self.runtime.settings.resolved_data_dir / "imports" / import_id

    def create(
        self,
        actor: Identity,
        workspace_slug: str,
        source: Path,
        *,
        format: str = "auto",
        mapping: dict[str, Any] | None = None,
        dry_run: bool = False,
        keep_copy: bool = False,
        source_name: str | None = None,
    ) -> RecordImport:
        """Register an import of the file ``source``.

        With ``keep_copy`` the file is moved under the data directory first (uploads
        through the API and pages), so a worker can read it later; the command line
        reads it where it is.
        """
        if not source.exists():
            raise InvalidInput.on("path", f"{source} does not exist")
        try:
            chosen = detect_format(source) if format == "auto" else format
        except SourceError as error:
            # an upload waits under a temporary name: the message names the user's file
            message = str(error).replace(source.name, source_name or source.name)
            raise InvalidInput.on("file", message) from None
        with self.runtime.database.session(write=True) as session:
            workspace = self._workspace(session, actor, workspace_slug, "records.import")
            import_id = str(uuid.uuid4())
            path = source
            if keep_copy:
                target = self.files_dir(import_id)
                target.mkdir(parents=True, exist_ok=True)
                path = target / (source_name or source.name)
                shutil.move(str(source), path)
            row = RecordImport(
                id=import_id,
                workspace_id=workspace.id,
                format=chosen,
                source=str(path),
                options={"mapping": mapping, "name": source_name or source.name},
                dry_run=dry_run,
                created_by=actor.user_id,
            )
            session.add(row)
            session.commit()
            session.refresh(row)
            return row

    def create_harvest(
        self,
        actor: Identity,
        workspace_slug: str,
        url: str,
        *,
        prefix: str,
        set_spec: str | None = None,
        dry_run: bool = False,
        full: bool = False,
        schedule: str | None = None,
    ) -> RecordImport:
        """Register a harvest of an OAI-PMH endpoint. It is incremental: records changed
        since the newest datestamp of the last finished harvest of the same endpoint,
        prefix and set (``full`` harvests everything again)."""
        url = url.strip()
        if not url.startswith(("http://", "https://")) or len(url) > 2000:
            raise InvalidInput.on("url", "an http(s) URL of an OAI-PMH endpoint is needed")
        if prefix not in HARVEST_PREFIXES:
            raise InvalidInput.on("prefix", f"use one of {', '.join(HARVEST_PREFIXES)}")
        if schedule is not None and schedule not in SCHEDULES:
            raise InvalidInput.on("schedule", f"use one of {', '.join(SCHEDULES)}")
        set_spec = (set_spec or "").strip() or None
        with self.runtime.database.session(write=True) as session:
            workspace = self._workspace(session, actor, workspace_slug, "records.import")
            since = (
                None if full else self._last_datestamp(session, workspace.id, url, prefix, set_spec)
            )
            row = RecordImport(
                id=str(uuid.uuid4()),
                workspace_id=workspace.id,
                format=HARVEST_FORMAT,
                source=url,
                options={
                    "name": url,
                    "harvest": {
                        "prefix": prefix,
                        "set": set_spec,
                        "from": since,
                        "schedule": schedule,
                    },
                },
                dry_run=dry_run,
                created_by=actor.user_id,
            )
            session.add(row)
            session.commit()
            session.refresh(row)
            return row

    @staticmethod
    def _last_datestamp(
        session: Any, workspace_id: int, url: str, prefix: str, set_spec: str | None
    ) -> str | None:
        rows = session.scalars(
            select(RecordImport)
            .where(
                RecordImport.workspace_id == workspace_id,
                RecordImport.format == HARVEST_FORMAT,
                RecordImport.source == url,
                RecordImport.status == ImportStatus.FINISHED,
                RecordImport.dry_run.is_(False),
            )
            .order_by(RecordImport.created_at.desc())
        )
        for row in rows:
            harvest = row.options.get("harvest") or {}
            if harvest.get("prefix") == prefix and harvest.get("set") == set_spec:
                return row.last_datestamp or harvest.get("from")
        return None

    def enqueue(self, actor: Identity, import_id: str) -> RecordImport:
        from heritage.jobs.services import JobService

        with self.runtime.database.session() as session:
            row = session.get(RecordImport, import_id)
            if row is None:
                raise NotFound(f"No import '{import_id}'")
            workspace_id, name = row.workspace_id, row.options.get("name") or row.source
        job = JobService(self.runtime).enqueue(
            actor,
            IMPORT_JOB,
            {"import_id": import_id, "user_id": actor.user_id, "label": actor.label},
            title=f"Import {name}",
            workspace_id=workspace_id,
        )
        with self.runtime.database.session(write=True) as session:
            row = session.get(RecordImport, import_id)
            assert row is not None
            row.job_id = job.id
            session.commit()
            session.refresh(row)
            return row

    # -- reading reports -----------------------------------------------------------------------

    def get(self, actor: Identity, import_id: str) -> tuple[RecordImport, str]:
        """The import and the slug of its workspace."""
        with self.runtime.database.session() as session:
            row = session.get(RecordImport, import_id)
            if row is None:
                raise NotFound(f"No import '{import_id}'")
            workspace = session.get(Workspace, row.workspace_id)
            assert workspace is not None
            require(actor, "records.view", workspace_target(session, actor, workspace))
            return row, workspace.slug

    def list(self, actor: Identity, workspace_slug: str, limit: int = 50) -> list[RecordImport]:
        with self.runtime.database.session() as session:
            workspace = self._workspace(session, actor, workspace_slug, "records.view")
            return list(
                session.scalars(
                    select(RecordImport)
                    .where(RecordImport.workspace_id == workspace.id)
                    .order_by(RecordImport.created_at.desc())
                    .limit(limit)
                )
            )

    def items(
        self,
        actor: Identity,
        import_id: str,
        *,
        only_problems: bool = False,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[RecordImportItem], int]:
        self.get(actor, import_id)
        with self.runtime.database.session() as session:
            where: list[Any] = [RecordImportItem.import_id == import_id]
            if only_problems:
                where.append(
                    (RecordImportItem.error_count > 0) | (RecordImportItem.warning_count > 0)
                )
            total = session.scalar(select(func.count()).select_from(RecordImportItem).where(*where))
            items = list(
                session.scalars(
                    select(RecordImportItem)
                    .where(*where)
                    .order_by(RecordImportItem.position)
                    .offset(max(0, offset))
                    .limit(max(1, min(limit, 1000)))
                )
            )
            return items, int(total or 0)

    # -- running -------------------------------------------------------------------------------

    def run(
        self, actor: Identity, import_id: str, progress: Progress | None = None
    ) -> ImportOutcome:
        """Carry out the import (or resume it after the records already handled)."""
        with self.runtime.database.session(write=True) as session:
            row = session.get(RecordImport, import_id)
            if row is None:
                raise NotFound(f"No import '{import_id}'")
            workspace = self._workspace(
                session, actor, self._slug(session, row.workspace_id), "records.import"
            )
            if row.status is ImportStatus.FINISHED:
                return ImportOutcome(dict(row.counts), row.error)
            row.status = ImportStatus.RUNNING
            row.error = None
            session.commit()
            start, counts = row.position, dict(row.counts)
            source, format, options, dry_run = row.source, row.format, row.options, row.dry_run
            token = row.resumption_token
            slug = workspace.slug
        outcome = ImportOutcome(counts)
        harvester: Harvester | None = None
        try:
            if format == HARVEST_FORMAT:
                harvest = options["harvest"]
                harvester = Harvester(
                    source,
                    harvest["prefix"],
                    harvest.get("set"),
                    from_=harvest.get("from"),
                    resume_token=token,
                )
                # A resumed harvest starts again at the page not fully handled: nothing to
                # skip, positions go on after those already reported.
                skip, first = (0, start + 1) if token else (start, 1)
                with harvester:
                    self._consume(
                        actor,
                        import_id,
                        slug,
                        harvester.records(),
                        skip,
                        first,
                        outcome,
                        dry_run,
                        None,
                        progress,
                        harvester,
                    )
            else:
                path = Path(source)
                records = open_reader(format, path, options.get("mapping"))
                media = LazyMedia(path.parent)
                # only for the progress bar: the readers stream and do not know the total
                total = estimate_records(format, path) if progress is not None else None
                self._consume(
                    actor,
                    import_id,
                    slug,
                    records,
                    start,
                    1,
                    outcome,
                    dry_run,
                    media,
                    progress,
                    total=total,
                )
        except (SourceError, HarvestError) as error:
            outcome.error = str(error)
        except ServiceError as error:
            outcome.error = error.detail
        with self.runtime.database.session(write=True) as session:
            row = session.get(RecordImport, import_id)
            assert row is not None
            row.counts = outcome.counts
            row.error = outcome.error
            row.status = ImportStatus.FAILED if outcome.error else ImportStatus.FINISHED
            row.finished_at = utcnow()
            if harvester is not None:
                row.resumption_token = None if harvester.done else harvester.resume_token
                row.last_datestamp = harvester.newest_datestamp or row.last_datestamp
            session.commit()
        return outcome

    @staticmethod
    def _slug(session: Any, workspace_id: int) -> str:
        workspace = session.get(Workspace, workspace_id)
        assert workspace is not None
        return workspace.slug

    def _consume(
        self,
        actor: Identity,
        import_id: str,
        slug: str,
        records: Iterator[SourceRecord],
        skip: int,
        first: int,
        outcome: ImportOutcome,
        dry_run: bool,
        media: LazyMedia | None,
        progress: Progress | None,
        harvester: Harvester | None = None,
        total: int | None = None,
    ) -> None:
        """Handle the records after the first ``skip`` ones, numbering them from ``first``.

        ``progress`` hears the position after each chunk, with the total the source
        announces (an OAI-PMH list's size) or ``total``, an estimate for a file.
        """
        pending: list[RecordImportItem] = []
        creates = _Creates(import_id, slug)
        position = checkpointed = first - 1 + skip
        seen: set[str] = set()
        try:
            for source in itertools.islice(records, skip):
                if source.record is not None:
                    seen.add(source.record.identifier)
            for chunk in _read_ahead(records, CHECKPOINT_EVERY):
                # one look-up for the whole chunk instead of one per record
                known = self._existing_many(
                    slug, [source.record.identifier for source in chunk if source.record]
                )
                for source in chunk:
                    position += 1
                    if source.deleted:
                        self._store_creates(actor, creates)  # it may delete one of them
                    item = self._handle(actor, slug, source, dry_run, media, seen, creates, known)
                    item.import_id = import_id
                    item.position = position
                    item.source_id = source.source_id
                    pending.append(item)
                self._store_creates(actor, creates)
                self._checkpoint(import_id, pending, position, outcome, harvester)
                pending, checkpointed = [], position
                if progress is not None:
                    expected = _announced(harvester) or total
                    progress(position, expected and max(expected, position), chunk[-1].location)
        finally:
            # What was handled before an error is reported, and a rerun resumes after it.
            # Records not handled to the end (the one whose handling failed, new ones of a
            # batch that failed) are handled again by the rerun.
            if not creates.failed:
                self._store_creates(actor, creates)
            unstored = {id(item) for item, _ in creates.waiting}
            done = list(itertools.takewhile(lambda item: id(item) not in unstored, pending))
            end = done[-1].position if done else checkpointed
            if end == position:
                self._checkpoint(import_id, done, position, outcome, harvester)
            elif done:
                # the harvester is past these records: its token would skip the rest
                self._checkpoint(import_id, done, end, outcome)
        if progress is not None:
            progress(position, position if total else _announced(harvester), "done")

    def _store_creates(self, actor: Identity, creates: _Creates) -> None:
        """Store the new records waiting in ``creates`` as one batch. When the batch is
        refused as a whole, each is stored on its own, so that only those at fault fail,
        each with its reason in the report."""
        waiting = creates.waiting
        if not waiting:
            return
        try:
            self.records.create_many(actor, creates.slug, [new for _, new in waiting])
            creates.waiting = []
            return
        except ServiceError as error:
            log.info("import batch refused, storing one by one", error=error.detail)
        except BaseException:
            creates.failed = True  # not known to be stored: left for the rerun to adopt
            raise
        creates.waiting = []
        for item, new in waiting:
            try:
                view = self.records.create(
                    actor, creates.slug, new.record, message=new.message, problems=new.problems
                )
                item.record_uuid = view.uuid
            except ServiceError as error:
                _not_stored(item, error)

    def _checkpoint(
        self,
        import_id: str,
        items: list[RecordImportItem],
        position: int,
        outcome: ImportOutcome,
        harvester: Harvester | None = None,
    ) -> None:
        for item in items:
            _count(outcome.counts, item.action.value)
        with self.runtime.database.session(write=True) as session:
            row = session.get(RecordImport, import_id)
            assert row is not None
            session.add_all(items)
            row.position = position
            row.counts = dict(outcome.counts)
            if harvester is not None:
                row.resumption_token = harvester.resume_token
                row.last_datestamp = harvester.newest_datestamp or row.last_datestamp
            session.commit()

    def _handle(
        self,
        actor: Identity,
        slug: str,
        source: SourceRecord,
        dry_run: bool,
        media: LazyMedia | None,
        seen: set[str],
        creates: _Creates,
        known: dict[str, tuple[str, str, bool]],
    ) -> RecordImportItem:
        problems = list(source.problems)
        identifier = source.record.identifier if source.record else source.identifier
        item = RecordImportItem(location=source.location[:500], identifier=identifier)

        def finish(action: ItemAction, record_uuid: str | None = None) -> RecordImportItem:
            item.action = action
            item.record_uuid = record_uuid
            item.problems = [problem.at(source.location).to_json() for problem in problems]
            item.error_count = sum(1 for p in problems if p.severity is Severity.ERROR)
            item.warning_count = len(problems) - item.error_count
            return item

        if source.deleted:
            existing = self._existing(slug, identifier) if identifier else None
        else:
            existing = known.get(identifier) if identifier else None
        if source.deleted and existing is None and source.source_id:
            existing = self._harvested(slug, source.source_id)
        if source.deleted:
            if existing is None or existing[2]:
                return finish(ItemAction.UNCHANGED, existing[0] if existing else None)
            if not dry_run:
                self.records.delete(
                    actor, existing[0], message="Deleted at the source", base_version=None
                )
            return finish(ItemAction.DELETE, existing[0])
        if source.record is None:
            return finish(ItemAction.FAILED)
        record = source.record
        if record.identifier in seen:
            problems.append(
                Problem.error(
                    "import.duplicate-identifier",
                    f"The identifier '{record.identifier}' occurs more than once in this source; "
                    "this later occurrence was not imported.",
                    "Give every record its own identifier, or merge the duplicates.",
                    field="identifier",
                )
            )
            return finish(ItemAction.FAILED)
        seen.add(record.identifier)
        record, found = attach_media(record, source.media, media, problems)
        validation = check_problems(record)
        problems.extend(validation)
        streams: list[Any] = []

        def opened(files: dict[str, MediaFile]) -> dict[str, Any]:
            result = {}
            for name, file in files.items():
                stream = file.open()
                streams.append(stream)
                result[name] = stream
            return result

        try:
            if existing is None:
                if dry_run:
                    return finish(ItemAction.CREATE)
                if not found:
                    record_uuid = creates.uuid_for(record.identifier)
                    new = NewRecord(record, validation, record_uuid, "Imported")
                    creates.waiting.append((finish(ItemAction.CREATE, record_uuid), new))
                    return item
                view = self.records.create(
                    actor,
                    slug,
                    record,
                    files=opened(found),
                    message="Imported",
                    problems=validation,
                )
                return finish(ItemAction.CREATE, view.uuid)
            record_uuid, content_hash, deleted = existing
            files_to_store = changed_files(self.runtime, record_uuid, found)
            if content_hash == record.content_hash() and not files_to_store and not deleted:
                return finish(ItemAction.UNCHANGED, record_uuid)
            if deleted:
                problems.append(
                    Problem.warning(
                        "import.deleted-record",
                        f"A record with the identifier '{record.identifier}' was deleted in "
                        "this workspace; it was left deleted.",
                        "Restore the record first if it should come back.",
                        field="identifier",
                    )
                )
                return finish(ItemAction.UNCHANGED, record_uuid)
            if not dry_run:
                self.records.save(
                    actor,
                    record_uuid,
                    record,
                    base_version=None,
                    message="Imported again: changed at the source",
                    files=opened(files_to_store),
                    problems=validation,
                )
            return finish(ItemAction.UPDATE, record_uuid)
        except ServiceError as error:
            problems.append(_not_stored_problem(error))
            return finish(ItemAction.FAILED)
        finally:
            for stream in streams:
                stream.close()

    def _harvested(self, slug: str, source_id: str) -> tuple[str, str, bool] | None:
        """The record an earlier harvest made from the source's record ``source_id``."""
        with self.runtime.database.session() as session:
            record_uuid = session.scalar(
                select(RecordImportItem.record_uuid)
                .join(RecordImport, RecordImport.id == RecordImportItem.import_id)
                .join(Workspace, Workspace.id == RecordImport.workspace_id)
                .where(
                    Workspace.slug == slug,
                    RecordImportItem.source_id == source_id,
                    RecordImportItem.record_uuid.is_not(None),
                )
                .order_by(RecordImportItem.id.desc())
                .limit(1)
            )
            if record_uuid is None:
                return None
            found = session.execute(
                select(RecordRow.uuid, RecordRow.content_hash, RecordRow.deleted).where(
                    RecordRow.uuid == record_uuid
                )
            ).first()
            return None if found is None else (found[0], found[1], found[2])

    def _existing_many(self, slug: str, identifiers: list[str]) -> dict[str, tuple[str, str, bool]]:
        """Identifier -> (uuid, content hash, deleted) of the workspace's records with them."""
        if not identifiers:
            return {}
        with self.runtime.database.session() as session:
            rows = session.execute(
                select(
                    RecordRow.identifier, RecordRow.uuid, RecordRow.content_hash, RecordRow.deleted
                )
                .join(Workspace, Workspace.id == RecordRow.workspace_id)
                .where(Workspace.slug == slug, RecordRow.identifier.in_(set(identifiers)))
            )
            return {row[0]: (row[1], row[2], row[3]) for row in rows}

    def _existing(self, slug: str, identifier: str) -> tuple[str, str, bool] | None:
        with self.runtime.database.session() as session:
            found = session.execute(
                select(RecordRow.uuid, RecordRow.content_hash, RecordRow.deleted)
                .join(Workspace, Workspace.id == RecordRow.workspace_id)
                .where(Workspace.slug == slug, RecordRow.identifier == identifier)
            ).first()
            return None if found is None else (found[0], found[1], found[2])
