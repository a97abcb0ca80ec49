"""The record service: creating, reading, editing, reverting and deleting records.

A record is a stored object of kind ``record`` in the preservation store: its
``record.jsonld`` (see :mod:`heritage.records.jsonld`) holds the record, and the
files of its representations sit beside it under ``media/``. Every save is a new
OCFL version; the ``records`` table is an index of the head versions, updated in
the same transaction as the store's own index.

Two people editing one record: each save names the version it started from
(``base_version``). The check runs while the object's index row is locked, so
the second save gets a :class:`~heritage.errors.Conflict` naming who saved what
and when, never a silent lost update.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from heritage.accounts.identity import Identity
from heritage.db.base import utcnow
from heritage.errors import Conflict, InvalidInput, NotFound
from heritage.policy import require
from heritage.records import jsonld
from heritage.records.diff import FieldChange, diff_records
from heritage.records.model import Record, Representation, hash_canonical
from heritage.records.models import RecordRow, RecordStatus
from heritage.records.problems import Problem, Severity
from heritage.runtime import Runtime
from heritage.store.batch import BatchHooks, NewStoredObject, StoredInBatch, create_objects
from heritage.store.description import ObjectDescription
from heritage.store.index import KIND_INDEXERS, KeyLookup, KindIndexer, read_description
from heritage.store.ingest import check_logical_path, media_type_for
from heritage.store.models import StoredObject
from heritage.store.reading import open_stored_file
from heritage.store.services import (
    CommitHooks,
    FileSource,
    PreservationService,
    integrity_guard,
    object_id_for,
    parse_object_uuid,
)
from heritage.workspaces.models import Workspace
from heritage.workspaces.services import workspace_for, workspace_target

RECORD_KIND = "record"
MEDIA_FOLDER = "media/"
PAGE_SIZE_MAX = 500


def check_problems(record: Record) -> list[Problem]:
    """The record checked against the rules Europeana enforces (errors keep it a draft)."""
    from heritage.records.validation import validate

    return validate(record)


@dataclass(frozen=True)
class RecordView:
    row: RecordRow
    record: Record
    workspace_slug: str
    problems: list[Problem]

    @property
    def uuid(self) -> str:
        return self.row.uuid

    @property
    def version(self) -> str:
        return self.row.head_version


@dataclass(frozen=True)
class RecordVersion:
    name: str
    created: Any
    message: str | None
    user: str | None
    record_changed: bool  # the metadata changed in this version (not only files)
    files_added: list[str]
    files_removed: list[str]


@dataclass(frozen=True)
class RecordPage:
    rows: list[RecordRow]
    total: int
    offset: int
    limit: int


def media_path(name: str) -> str:
    return check_logical_path(MEDIA_FOLDER + name.lstrip("/"), "file")


def index_record(
    session: Session,
    workspace: Workspace,
    stored: StoredObject,
    record: Record,
    problems: list[Problem],
    actor: Identity,
) -> RecordRow:
    """Make the record's index row match ``record`` at the stored object's head."""
    row = session.scalar(select(RecordRow).where(RecordRow.object_id == stored.object_id))
    if row is None:
        row = RecordRow(
            uuid=stored.uuid,
            object_id=stored.object_id,
            created_at=stored.created_at or utcnow(),
        )
        session.add(row)
    _fill_record_row(row, workspace, stored, record, problems, actor)
    session.flush()
    return row


def _fill_record_row(
    row: RecordRow,
    workspace: Workspace,
    stored: StoredObject,
    record: Record,
    problems: list[Problem],
    actor: Identity,
) -> None:
    errors = sum(1 for problem in problems if problem.severity is Severity.ERROR)
    row.workspace_id = workspace.id
    row.identifier = record.identifier
    row.title = record.display_title()[:500]
    row.edm_type = record.edm_type
    row.status = RecordStatus.DRAFT if errors else RecordStatus.VALID
    row.error_count = errors
    row.warning_count = len(problems) - errors
    row.problems = [problem.to_json() for problem in problems]
    row.data = record.canonical()
    row.content_hash = hash_canonical(row.data)
    row.head_version = stored.head_version
    row.deleted = stored.deleted
    row.updated_at = stored.updated_at
    row.updated_by = actor.label


def _rebuild_record_row(
    session: Session,
    storage: Any,
    workspace: Workspace,
    stored: StoredObject,
    description: ObjectDescription,
    key_lookup: KeyLookup,
) -> None:
    """The record's index row, from its ``record.jsonld`` at the head (``rebuild-index``)."""
    entry = description.files.get(jsonld.RECORD_PATH)
    version = stored.head_version
    inventory = storage.inventory(stored.object_id)
    if entry is None:
        # A deleted record's head has no files: its last metadata is in the newest
        # version that still has it.
        for name in reversed(inventory.version_names()):
            if jsonld.RECORD_PATH in inventory.versions[name].logical_state():
                entry = read_description(storage, stored.object_id, name).files.get(
                    jsonld.RECORD_PATH
                )
                version = name
                break
    if entry is None:
        raise NotFound(f"{stored.object_id} has no {jsonld.RECORD_PATH} in any version")
    digest = storage.state(stored.object_id, version).get(jsonld.RECORD_PATH, "")
    with open_stored_file(
        storage, stored.object_id, jsonld.RECORD_PATH, version, entry, digest, key_lookup
    ) as opened:
        record = jsonld.loads(opened.read_all())
    head = inventory.versions[inventory.head]
    actor = Identity(user_id=None, label=head.user.name if head.user else "unknown")
    index_record(session, workspace, stored, record, check_problems(record), actor)


def _prune_record_rows(session: Session, found: set[str]) -> int:
    stale = [row for row in session.scalars(select(RecordRow)) if row.object_id not in found]
    for row in stale:
        session.delete(row)
    return len(stale)


KIND_INDEXERS[RECORD_KIND] = KindIndexer(_rebuild_record_row, _prune_record_rows)


@dataclass(frozen=True)
class NewRecord:
    """A record for :meth:`RecordService.create_many`, with its validation and the uuid
    it is to have."""

    record: Record
    problems: list[Problem]
    uuid: str
    message: str = "Created"


def _has_files(record: Record) -> bool:
    return any(item.file for item in record.representations)


class RecordService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = PreservationService(runtime)

    # -- loading and permissions ---------------------------------------------------------------

    def _workspace(self, session: Session, actor: Identity, slug: str, action: str) -> Workspace:
        return workspace_for(session, actor, slug, action)

    def _row(
        self, session: Session, actor: Identity, record_uuid: str, action: str
    ) -> tuple[RecordRow, Workspace]:
        row = session.scalar(
            select(RecordRow).where(RecordRow.uuid == parse_object_uuid(record_uuid))
        )
        if row is None:
            raise NotFound(f"No record '{record_uuid}'")
        workspace = session.get(Workspace, row.workspace_id)
        assert workspace is not None
        require(actor, action, workspace_target(session, actor, workspace))
        return row, workspace

    def _view(self, row: RecordRow, workspace: Workspace) -> RecordView:
        record = Record.model_validate(row.data)
        problems = [Problem.from_json(item) for item in row.problems]
        return RecordView(row, record, workspace.slug, problems)

    # -- reading -------------------------------------------------------------------------------

    def get(self, actor: Identity, record_uuid: str) -> RecordView:
        with self.runtime.database.session() as session:
            row, workspace = self._row(session, actor, record_uuid, "records.view")
            return self._view(row, workspace)

    def find(self, actor: Identity, workspace_slug: str, identifier: str) -> RecordView | None:
        with self.runtime.database.session() as session:
            workspace = self._workspace(session, actor, workspace_slug, "records.view")
            row = session.scalar(
                select(RecordRow).where(
                    RecordRow.workspace_id == workspace.id, RecordRow.identifier == identifier
                )
            )
            return None if row is None else self._view(row, workspace)

    def list(
        self,
        actor: Identity,
        workspace_slug: str,
        *,
        query: str = "",
        status: RecordStatus | None = None,
        edm_type: str | None = None,
        include_deleted: bool = False,
        offset: int = 0,
        limit: int = 50,
    ) -> RecordPage:
        limit = max(1, min(limit, PAGE_SIZE_MAX))
        offset = max(0, offset)
        with self.runtime.database.session() as session:
            workspace = self._workspace(session, actor, workspace_slug, "records.view")
            where: list[Any] = [RecordRow.workspace_id == workspace.id]
            if not include_deleted:
                where.append(RecordRow.deleted.is_(False))
            if status is not None:
                where.append(RecordRow.status == status)
            if edm_type:
                where.append(RecordRow.edm_type == edm_type)
            if query.strip():
                pattern = "%" + query.strip().lower().replace("%", r"\%").replace("_", r"\_") + "%"
                where.append(
                    or_(
                        func.lower(RecordRow.title).like(pattern, escape="\\"),
                        func.lower(RecordRow.identifier).like(pattern, escape="\\"),
                    )
                )
            total = session.scalar(select(func.count()).select_from(RecordRow).where(*where))
            rows = list(
                session.scalars(
                    select(RecordRow)
                    .where(*where)
                    .order_by(RecordRow.updated_at.desc(), RecordRow.id.desc())
                    .offset(offset)
                    .limit(limit)
                )
            )
            return RecordPage(rows, int(total or 0), offset, limit)

    def versions(self, actor: Identity, record_uuid: str) -> list[RecordVersion]:
        with self.runtime.database.session() as session:
            row, _ = self._row(session, actor, record_uuid, "records.view")
        with integrity_guard(row.object_id):
            inventory = self.store.storage.inventory(row.object_id)
        versions: list[RecordVersion] = []
        previous: dict[str, str] = {}
        for name in inventory.version_names():
            version = inventory.versions[name]
            state = version.logical_state()
            files = {path for path in state if path.startswith(MEDIA_FOLDER)}
            before = {path for path in previous if path.startswith(MEDIA_FOLDER)}
            versions.append(
                RecordVersion(
                    name=name,
                    created=version.created_at,
                    message=version.message,
                    user=version.user.name if version.user else None,
                    record_changed=state.get(jsonld.RECORD_PATH)
                    != previous.get(jsonld.RECORD_PATH),
                    files_added=sorted(
                        path
                        for path in files
                        if path not in before or previous[path] != state[path]
                    ),
                    files_removed=sorted(before - files),
                )
            )
            previous = state
        return versions[::-1]

    def version(self, actor: Identity, record_uuid: str, version: str) -> Record:
        """The record as it was in ``version``."""
        with self.runtime.database.session() as session:
            row, _ = self._row(session, actor, record_uuid, "records.view")
        raw = self.store.read_bytes(row.object_id, jsonld.RECORD_PATH, version)
        with integrity_guard(row.object_id):
            return jsonld.loads(raw)

    def version_document(self, actor: Identity, record_uuid: str, version: str) -> bytes:
        """A version's stored JSON-LD, as stored."""
        with self.runtime.database.session() as session:
            row, _ = self._row(session, actor, record_uuid, "records.view")
        return self.store.read_bytes(row.object_id, jsonld.RECORD_PATH, version)

    def diff(self, actor: Identity, record_uuid: str, old: str, new: str) -> list[FieldChange]:
        return diff_records(
            self.version(actor, record_uuid, old), self.version(actor, record_uuid, new)
        )

    # -- writing -------------------------------------------------------------------------------

    def _hooks(
        self,
        actor: Identity,
        record: Record,
        problems: list[Problem],
        *,
        audit_action: str,
        record_uuid: str,
        base_version: str | None = None,
        deleting: bool = False,
    ) -> CommitHooks:
        def before(session: Session, workspace: Workspace, stored: StoredObject | None) -> None:
            stale = stored is not None and stored.head_version != base_version
            if base_version is not None and stored is not None and stale:
                current = session.scalar(
                    select(RecordRow).where(RecordRow.object_id == stored.object_id)
                )
                who = current.updated_by if current is not None else "someone"
                raise Conflict(
                    f"This record was changed while you were editing it: {who} saved "
                    f"version {stored.head_version} at "
                    f"{stored.updated_at:%Y-%m-%d %H:%M} UTC, after version {base_version} "
                    "that you started from. Your changes were not saved. Open the record "
                    "again to see their changes, then make yours once more."
                )
            clash = session.scalar(
                select(RecordRow.uuid).where(
                    RecordRow.workspace_id == workspace.id,
                    RecordRow.identifier == record.identifier,
                    RecordRow.uuid != record_uuid,
                )
            )
            if clash is not None and not deleting:
                raise Conflict(
                    f"Another record of this workspace has the identifier "
                    f"'{record.identifier}' (record {clash}). Identifiers must be unique "
                    "within a workspace: change this one, or edit the other record."
                )

        images: list[int] = []  # the workspace, once the save leaves images to derive

        def after(
            session: Session, workspace: Workspace, stored: StoredObject, version: str, _: bool
        ) -> None:
            from heritage.iiif.services import plan_derivatives

            index_record(session, workspace, stored, record, problems, actor)
            if plan_derivatives(session, workspace, record_uuid, record, stored):
                images.append(workspace.id)

        def after_commit() -> None:
            from heritage.iiif.services import enqueue_derivatives

            if images:
                enqueue_derivatives(self.runtime, record_uuid, images[0])

        return CommitHooks(
            before=before,
            after=after,
            audit_action=audit_action,
            audit_target_type="record",
            audit_target_id=record_uuid,
            after_commit=after_commit,
        )

    def create(
        self,
        actor: Identity,
        workspace_slug: str,
        record: Record,
        *,
        files: Mapping[str, FileSource] | None = None,
        message: str = "Created",
        problems: list[Problem] | None = None,
    ) -> RecordView:
        """A new record; ``files`` are stored under ``media/`` by their names, and each
        should be one of the record's representations. ``problems`` is the record's
        validation when the caller already made it (imports report it too)."""
        problems = check_problems(record) if problems is None else problems
        record_uuid = str(uuid.uuid4())
        stored_files = self._stored_files(record, files)
        self.store.change(
            actor,
            workspace_slug,
            object_id_for(record_uuid),
            files={jsonld.RECORD_PATH: jsonld.dumps(record, record_uuid)} | stored_files,
            remove=frozenset(),
            message=message,
            action="records.create",
            new={"title": record.display_title()[:500], "kind": RECORD_KIND, "uuid": record_uuid},
            hooks=self._hooks(
                actor, record, problems, audit_action="record.create", record_uuid=record_uuid
            ),
        )
        return self.get(actor, record_uuid)

    def create_many(self, actor: Identity, workspace_slug: str, new: Sequence[NewRecord]) -> None:
        """Store several new records at once (imports): each its own object with its own
        signed version, index row, event and audit entry, in one transaction and one
        file-system sync (:mod:`heritage.store.batch`). Records without files only.

        A record whose object an interrupted call stored already (same uuid) is adopted
        as stored, so a retried batch stores nothing twice.
        """
        identifiers = [item.record.identifier for item in new]
        twice = sorted(name for name, times in Counter(identifiers).items() if times > 1)
        if twice:
            raise InvalidInput.on("identifier", f"more than once in the batch: {twice[:5]}")
        if any(_has_files(item.record) for item in new):
            raise InvalidInput.on("files", "records with stored files are created one by one")
        uuids = [item.uuid for item in new]

        def before(session: Session, workspace: Workspace) -> None:
            clash = session.execute(
                select(RecordRow.identifier, RecordRow.uuid).where(
                    RecordRow.workspace_id == workspace.id,
                    RecordRow.identifier.in_(identifiers),
                    RecordRow.uuid.not_in(uuids),
                )
            ).first()
            if clash is not None:
                raise Conflict(
                    f"Another record of this workspace has the identifier '{clash[0]}' "
                    f"(record {clash[1]}). Identifiers must be unique within a workspace."
                )

        def after(session: Session, workspace: Workspace, stored: list[StoredInBatch]) -> None:
            rows = []
            for item, found in zip(new, stored, strict=True):
                if found.adopted:
                    _rebuild_record_row(
                        session,
                        self.store.storage,
                        workspace,
                        found.row,
                        read_description(self.store.storage, found.row.object_id),
                        self.runtime.keyring.data_key,
                    )
                    continue
                row = RecordRow(
                    uuid=item.uuid, object_id=found.row.object_id, created_at=found.row.created_at
                )
                _fill_record_row(row, workspace, found.row, item.record, item.problems, actor)
                rows.append(row)
            session.add_all(rows)

        create_objects(
            self.store,
            actor,
            workspace_slug,
            [
                NewStoredObject(
                    uuid=item.uuid,
                    kind=RECORD_KIND,
                    title=item.record.display_title(),
                    files={jsonld.RECORD_PATH: jsonld.dumps(item.record, item.uuid)},
                    message=item.message,
                )
                for item in new
            ],
            action="records.create",
            hooks=BatchHooks(
                before=before,
                after=after,
                audit_action="record.create",
                audit_target_type="record",
                audit_targets={item.uuid: item.uuid for item in new},
            ),
        )

    @staticmethod
    def _stored_files(
        record: Record, files: Mapping[str, FileSource] | None
    ) -> dict[str, FileSource]:
        stored: dict[str, FileSource] = {}
        named = {item.file for item in record.representations if item.file}
        named |= {part for item in record.representations for part in item.parts}
        for name, source in (files or {}).items():
            path = media_path(name)
            if path not in named:
                raise InvalidInput.on(
                    "files", f"'{name}' is not one of the record's representations"
                )
            stored[path] = source
        return stored

    def update(
        self,
        actor: Identity,
        record_uuid: str,
        record: Record,
        *,
        base_version: str | None,
        message: str = "Edited",
        files: Mapping[str, FileSource] | None = None,
        remove_files: frozenset[str] = frozenset(),
        action: str = "records.update",
        audit_action: str = "record.update",
        problems: list[Problem] | None = None,
    ) -> RecordView:
        """Save ``record`` as a new version, if anything changed (:meth:`save`), and
        return the record as it is then."""
        self.save(
            actor,
            record_uuid,
            record,
            base_version=base_version,
            message=message,
            files=files,
            remove_files=remove_files,
            action=action,
            audit_action=audit_action,
            problems=problems,
        )
        return self.get(actor, record_uuid)

    def save(
        self,
        actor: Identity,
        record_uuid: str,
        record: Record,
        *,
        base_version: str | None,
        message: str = "Edited",
        files: Mapping[str, FileSource] | None = None,
        remove_files: frozenset[str] = frozenset(),
        action: str = "records.update",
        audit_action: str = "record.update",
        problems: list[Problem] | None = None,
    ) -> str:
        """Save ``record`` as a new version, if anything changed; the record's version
        afterwards (the one it had when nothing changed). Imports and batch edits call
        this: they need the version, not the record read back.

        ``base_version`` is the version the edit started from; when another save came
        in between, :class:`Conflict`. ``None`` skips the check (imports, which
        compare content instead).
        """
        with self.runtime.database.session() as session:
            row, workspace = self._row(session, actor, record_uuid, action)
            unchanged = (
                row.content_hash == record.content_hash() and not files and not (remove_files)
            )
            if row.deleted:
                raise Conflict("This record was deleted; restore it before editing it.")
            if unchanged:
                # nothing would be written, so there is no lost update to guard against
                return row.head_version
            object_id, slug = row.object_id, workspace.slug
        problems = check_problems(record) if problems is None else problems
        stored_files = self._stored_files(record, files)
        saved = self.store.change(
            actor,
            slug,
            object_id,
            files={jsonld.RECORD_PATH: jsonld.dumps(record, record_uuid)} | stored_files,
            remove=frozenset(media_path(name) for name in remove_files),
            message=message,
            action=action,
            hooks=self._hooks(
                actor,
                record,
                problems,
                audit_action=audit_action,
                record_uuid=record_uuid,
                base_version=base_version,
            ),
        )
        return saved.row.head_version

    def revert(
        self, actor: Identity, record_uuid: str, version: str, *, base_version: str | None
    ) -> RecordView:
        """A new version whose metadata is that of ``version`` (files stay as they are)."""
        old = self.version(actor, record_uuid, version)
        current = self.get(actor, record_uuid)
        # Representations of files no longer stored cannot come back by reverting metadata.
        stored = {item.file for item in current.record.representations if item.file}
        kept = [item for item in old.representations if not item.file or item.file in stored]
        reverted = old.model_copy(update={"representations": kept})
        return self.update(
            actor,
            record_uuid,
            reverted,
            base_version=base_version,
            message=f"Reverted to {version}",
            audit_action="record.revert",
        )

    def delete(
        self, actor: Identity, record_uuid: str, *, message: str = "", base_version: str | None
    ) -> RecordView:
        """A new version marked deleted; every earlier version stays retrievable."""
        with self.runtime.database.session() as session:
            row, workspace = self._row(session, actor, record_uuid, "records.delete")
            record = Record.model_validate(row.data)
            problems = [Problem.from_json(item) for item in row.problems]
            object_id, slug = row.object_id, workspace.slug
        self.store.change(
            actor,
            slug,
            object_id,
            files={},
            remove=None,
            message=message or "Deleted",
            action="records.delete",
            delete=True,
            hooks=self._hooks(
                actor,
                record,
                problems,
                audit_action="record.delete",
                record_uuid=record_uuid,
                base_version=base_version,
                deleting=True,
            ),
        )
        return self.get(actor, record_uuid)

    def attach_file(
        self,
        actor: Identity,
        record_uuid: str,
        name: str,
        source: FileSource,
        *,
        primary: bool = False,
        base_version: str | None = None,
    ) -> RecordView:
        """Store a file with the record as one of its representations (a new version).

        A file of the same name is replaced. The first file becomes the primary
        representation (``edm:isShownBy``) unless one exists.
        """
        path = media_path(name)
        current = self.get(actor, record_uuid)
        record = current.record
        others = [item for item in record.representations if item.file != path]
        has_primary = any(item.role == "primary" for item in others)
        representation = Representation(
            file=path,
            role="primary" if primary or not has_primary else "view",
            media_type=media_type_for(path),
        )
        if representation.role == "primary":
            others = [item.model_copy(update={"role": "view"}) for item in others]
        updated = record.model_copy(update={"representations": [*others, representation]})
        return self.update(
            actor,
            record_uuid,
            updated,
            base_version=base_version,
            message=f"Added {path}",
            files={path[len(MEDIA_FOLDER) :]: source},
            audit_action="record.attach",
        )

    def detach_file(
        self, actor: Identity, record_uuid: str, path: str, *, base_version: str | None = None
    ) -> RecordView:
        current = self.get(actor, record_uuid)
        full = media_path(path.removeprefix(MEDIA_FOLDER))
        kept = [item for item in current.record.representations if item.file != full]
        if len(kept) == len(current.record.representations):
            raise NotFound(f"No file '{path}' in this record")
        # the parts of a representation (a model's textures, buffers) leave with it
        removed = next(item for item in current.record.representations if item.file == full)
        gone = {full, *removed.parts}
        updated = current.record.model_copy(update={"representations": kept})
        return self.update(
            actor,
            record_uuid,
            updated,
            base_version=base_version,
            message=f"Removed {full}",
            remove_files=frozenset(name[len(MEDIA_FOLDER) :] for name in gone),
            action="records.delete",
            audit_action="record.detach",
        )
