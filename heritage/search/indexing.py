"""``SearchIndexer``: the search backend kept in step with the ``records`` table.

``sync`` moves what the outbox names into the backend (after each commit, and
from the workers' tick); ``reindex`` rebuilds from every record, resumably, with
worker processes making the documents when there are many.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from multiprocessing import get_context
from typing import Any

import orjson
import structlog
from pydantic import ValidationError
from sqlalchemy import Text, bindparam, cast, delete, func, or_, select, text, update

from heritage.db.base import utcnow
from heritage.quality.media import MediaFacts, load_media_facts
from heritage.quality.tiers import RULES_FINGERPRINT, assess
from heritage.records.model import Record
from heritage.records.models import RecordRow
from heritage.runtime import Runtime
from heritage.search.backends import preparer
from heritage.search.documents import SearchDocument, build_document
from heritage.search.models import SearchPending, SearchState
from heritage.workspaces.models import Workspace

log = structlog.get_logger(__name__)

SYNC_BATCH = 1_000
# A request that saved a record waits at most this long for a busy index writer.
AFTER_COMMIT_WAIT = 0.5
REBUILD_STATE = "rebuild"
# Below this many records a rebuild makes its documents itself: starting worker
# processes costs more than it saves.
PARALLEL_FROM = 20_000
MAX_WORKERS = 4

# (id, uuid, workspace id, institution id, data as JSON text, status, updated at,
# the tiers kept with the record if the current rules decided them, else the media
# facts of heritage.quality.media in plain form, for deciding them)
RawRow = tuple[int, str, int, int | None, str, str, datetime, tuple[int, str] | None, Any]
# tiers decided while making documents, by record id, to be kept with the records
DecidedTiers = dict[int, tuple[int, str]]
# a batch's documents as its backend writes them, and the tiers decided for them
Prepared = tuple[list[Any], DecidedTiers]


@dataclass
class SyncReport:
    indexed: int = 0
    removed: int = 0


def record_tiers(data: dict[str, Any], media: Any) -> tuple[int, str] | None:
    """The record's content and metadata tier; None for data that is not a record
    (rows are written from validated records, so only a bug leads there)."""
    try:
        record = Record.model_validate(data)
    except ValidationError:
        log.warning("record data not valid, tiers not indexed", identifier=data.get("identifier"))
        return None
    tiers = assess(record, MediaFacts.from_plain(media))
    return tiers.content, tiers.metadata


def documents_of(
    rows: Sequence[RawRow], language: str
) -> tuple[list[SearchDocument], DecidedTiers]:
    """The rows' documents, and the tiers decided for rows that came without them."""
    documents = []
    decided: DecidedTiers = {}
    for (
        row_id,
        uuid,
        workspace_id,
        institution_id,
        text_data,
        status,
        updated_at,
        kept,
        media,
    ) in rows:
        data = orjson.loads(text_data)
        tiers = kept
        if tiers is None:
            tiers = record_tiers(data, media)
            if tiers is not None:
                decided[row_id] = tiers
        documents.append(
            build_document(
                uuid, workspace_id, institution_id, data, status, updated_at, language, tiers
            )
        )
    return documents, decided


def prepare_rows(backend: str, language: str, rows: Sequence[RawRow]) -> Prepared:
    """The rows' documents as ``backend`` writes them (run in worker processes)."""
    prepare = preparer(backend)
    documents, decided = documents_of(rows, language)
    return [prepare(document) for document in documents], decided


def keep_tiers(session: Any, decided: DecidedTiers, *, only_missing: bool) -> None:
    """Keep ``decided`` with the records. ``only_missing``: where no tiers of the current
    rules are kept yet (a rebuild's: ``sync`` may have decided newer ones meanwhile)."""
    if not decided:
        return
    table = RecordRow.__table__
    statement = (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values(
            content_tier=bindparam("content"),
            metadata_tier=bindparam("metadata"),
            tiers_rules=RULES_FINGERPRINT,
        )
    )
    if only_missing:
        statement = statement.where(
            or_(table.c.tiers_rules.is_(None), table.c.tiers_rules != RULES_FINGERPRINT)
        )
    session.execute(
        statement,
        [
            {"row_id": row_id, "content": content, "metadata": metadata}
            for row_id, (content, metadata) in sorted(decided.items())
        ],
    )


class SearchIndexer:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @property
    def backend(self) -> Any:
        return self.runtime.search

    @property
    def language(self) -> str:
        return self.runtime.settings.default_language

    @staticmethod
    def _rows(
        session: Any, condition: Any, limit: int | None = None, *, kept_tiers: bool = False
    ) -> list[RawRow]:
        """The records ``condition`` selects, by id, as plain tuples.

        Columns, not ORM objects, and the JSON as text for ``orjson``: a rebuild
        reads every record, and this is where its time would go. ``kept_tiers``:
        use the tiers kept with a record where the current rules decided them (a
        rebuild); otherwise they are decided again from the record and its media.
        """
        query = (
            select(
                RecordRow.id,
                RecordRow.uuid,
                RecordRow.workspace_id,
                Workspace.institution_id,
                cast(RecordRow.data, Text),
                RecordRow.status,
                RecordRow.updated_at,
                RecordRow.content_tier,
                RecordRow.metadata_tier,
                RecordRow.tiers_rules,
            )
            .join(Workspace, Workspace.id == RecordRow.workspace_id)
            .where(condition, RecordRow.deleted.is_(False))
            .order_by(RecordRow.id)
        )
        if limit is not None:
            query = query.limit(limit)
        rows = session.execute(query).all()
        kept: dict[str, tuple[int, str]] = {}
        if kept_tiers:
            kept = {
                row.uuid: (row.content_tier, row.metadata_tier)
                for row in rows
                if row.tiers_rules == RULES_FINGERPRINT
                and row.content_tier is not None
                and row.metadata_tier is not None
            }
        # deciding tiers needs the images' sizes and the 3D analyses: one query per batch
        facts = load_media_facts(session, [row.uuid for row in rows if row.uuid not in kept])
        return [
            (
                row.id,
                row.uuid,
                row.workspace_id,
                row.institution_id,
                row.data,
                row.status.value,
                row.updated_at,
                kept.get(row.uuid),
                facts[row.uuid].to_plain() if row.uuid in facts else None,
            )
            for row in rows
        ]

    @staticmethod
    def _serialise(session: Any) -> None:
        """Let one process at a time move records into the backend, so that an older
        document never overwrites a newer one (SQLite: the write transaction does)."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(7418501)"))

    # -- the outbox ------------------------------------------------------------------

    def sync(self, limit: int = SYNC_BATCH, *, wait: float = 5.0) -> SyncReport:
        """Index every record the outbox names; return what was done. ``wait``: how
        long to wait for a busy index writer (a rebuild's) before leaving the work
        to the rebuild's end or the next tick."""
        report = SyncReport()
        while True:
            with self.runtime.database.session(write=True) as session:
                self._serialise(session)
                pending = session.execute(
                    select(SearchPending.id, SearchPending.record_uuid)
                    .order_by(SearchPending.id)
                    .limit(limit)
                ).all()
                if not pending:
                    return report
                uuids = {uuid for _, uuid in pending}
                rows = self._rows(session, RecordRow.uuid.in_(uuids))
                removed = sorted(uuids - {row[1] for row in rows})
                documents, decided = documents_of(rows, self.language)
                self.backend.write(documents, removed, wait=wait)
                keep_tiers(session, decided, only_missing=False)
                session.execute(
                    delete(SearchPending).where(SearchPending.id.in_([id_ for id_, _ in pending]))
                )
                session.commit()
            report.indexed += len(rows)
            report.removed += len(removed)
            if len(pending) < limit:
                return report

    def pending(self) -> int:
        with self.runtime.database.session() as session:
            return session.scalar(select(func.count()).select_from(SearchPending)) or 0

    # -- rebuilding ------------------------------------------------------------------

    def _start(self, clear: bool) -> dict[str, Any]:
        with self.runtime.database.session(write=True) as session:
            state = session.get(SearchState, REBUILD_STATE)
            if state is None or clear:
                value = {
                    "after_id": 0,
                    "done": 0,
                    "pending_before": session.scalar(select(func.max(SearchPending.id))) or 0,
                    "started": utcnow().isoformat(),
                }
                if state is None:
                    session.add(SearchState(name=REBUILD_STATE, value=value))
                else:
                    state.value = value
                session.commit()
                return value
            return dict(state.value)

    def _save(self, value: dict[str, Any]) -> None:
        with self.runtime.database.session(write=True) as session:
            state = session.get(SearchState, REBUILD_STATE)
            if state is not None:
                state.value = value
            session.commit()

    def reindex(
        self,
        *,
        clear: bool = False,
        batch: int = 2_000,
        progress: Callable[[int, int], None] | None = None,
        workers: int | None = None,
        parallel_from: int = PARALLEL_FROM,
    ) -> int:
        """Index every record again from the ``records`` table; return how many.

        Resumable: the position is saved after each batch the backend committed,
        and a rebuild that was cut short goes on from there (unless ``clear``).
        Searches keep working meanwhile, over what is indexed so far; ``clear``
        starts from an empty index (needed after the index format changed).
        Records changed while it ran are indexed once more at its end, so none
        is left with a document older than itself.
        """
        value = self._start(clear)
        if clear:
            self.backend.clear()
        with self.runtime.database.session() as session:
            total = (
                session.scalar(
                    select(func.count()).select_from(RecordRow).where(RecordRow.deleted.is_(False))
                )
                or 0
            )
        done, after_id = int(value["done"]), int(value["after_id"])
        if progress:
            progress(done, total)
        workers = workers or min(os.cpu_count() or 1, MAX_WORKERS)
        parallel = workers > 1 and total - done >= parallel_from
        backend_name = self.runtime.settings.search_backend
        waiting: deque[tuple[int, int, Prepared | Future[Prepared]]] = deque()
        with ExitStack() as stack:
            pool = None
            if parallel:
                pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
                stack.callback(pool.shutdown, cancel_futures=True)
            write = stack.enter_context(self.backend.bulk(fresh=clear))

            def write_next() -> None:
                nonlocal done
                last_id, count, job = waiting.popleft()
                prepared, decided = job.result() if isinstance(job, Future) else job
                write(prepared)
                if decided:  # the next rebuild reads them
                    with self.runtime.database.session(write=True) as session:
                        keep_tiers(session, decided, only_missing=True)
                        session.commit()
                done += count
                value.update(after_id=last_id, done=done)
                self._save(value)
                if progress:
                    progress(done, max(total, done))

            read_id = after_id
            while True:
                with self.runtime.database.session() as session:
                    rows = self._rows(session, RecordRow.id > read_id, batch, kept_tiers=True)
                if not rows:
                    break
                read_id = rows[-1][0]
                job: Prepared | Future[Prepared]
                if pool is not None:
                    job = pool.submit(prepare_rows, backend_name, self.language, rows)
                else:
                    job = prepare_rows(backend_name, self.language, rows)
                waiting.append((read_id, len(rows), job))
                # a few batches in the making while the backend writes the oldest
                while len(waiting) > (2 * workers if pool is not None else 0):
                    write_next()
            while waiting:
                write_next()
        self._catch_up(datetime.fromisoformat(value["started"]), int(value["pending_before"]))
        return done

    def _catch_up(self, started: datetime, pending_before: int) -> None:
        """Index once more what changed while the rebuild ran, then forget its state."""
        since = started - timedelta(seconds=2)  # clocks of other machines
        with self.runtime.database.session(write=True) as session:
            self._serialise(session)
            rows = self._rows(session, RecordRow.updated_at >= since)
            gone = session.scalars(
                select(RecordRow.uuid).where(
                    RecordRow.updated_at >= since, RecordRow.deleted.is_(True)
                )
            ).all()
            documents, decided = documents_of(rows, self.language)
            self.backend.write(documents, list(gone))
            keep_tiers(session, decided, only_missing=False)
            # Changes queued before the rebuild began are in the documents it wrote.
            session.execute(delete(SearchPending).where(SearchPending.id <= pending_before))
            state = session.get(SearchState, REBUILD_STATE)
            if state is not None:
                session.delete(state)
            session.commit()
        self.sync()
