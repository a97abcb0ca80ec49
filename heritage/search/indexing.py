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
from sqlalchemy import Text, cast, delete, func, select, text

from heritage.db.base import utcnow
from heritage.quality.media import MediaFacts, load_media_facts
from heritage.quality.tiers import assess
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
# the media facts of heritage.quality.media in plain form)
RawRow = tuple[int, str, int, int | None, str, str, datetime, Any]


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


def documents_of(rows: Sequence[RawRow], language: str) -> list[SearchDocument]:
    documents = []
    for _id, uuid, workspace_id, institution_id, text_data, status, updated_at, media in rows:
        data = orjson.loads(text_data)
        documents.append(
            build_document(
                uuid,
                workspace_id,
                institution_id,
                data,
                status,
                updated_at,
                language,
                record_tiers(data, media),
            )
        )
    return documents


def prepare_rows(backend: str, language: str, rows: Sequence[RawRow]) -> list[Any]:
    """The rows' documents as ``backend`` writes them (run in worker processes)."""
    prepare = preparer(backend)
    return [prepare(document) for document in documents_of(rows, language)]


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
    def _rows(session: Any, condition: Any, limit: int | None = None) -> list[RawRow]:
        """The records ``condition`` selects, by id, as plain tuples.

        Columns, not ORM objects, and the JSON as text for ``orjson``: a rebuild
        reads every record, and this is where its time would go.
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
            )
            .join(Workspace, Workspace.id == RecordRow.workspace_id)
            .where(condition, RecordRow.deleted.is_(False))
            .order_by(RecordRow.id)
        )
        if limit is not None:
            query = query.limit(limit)
        rows = session.execute(query).all()
        # the tiers need the images' sizes and the 3D analyses: one query per batch
        facts = load_media_facts(session, [row[1] for row in rows])
        return [
            (
                row_id,
                uuid,
                workspace_id,
                institution_id,
                data,
                status.value,
                updated_at,
                facts[uuid].to_plain() if uuid in facts else None,
            )
            for row_id, uuid, workspace_id, institution_id, data, status, updated_at in rows
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
                self.backend.write(documents_of(rows, self.language), removed, wait=wait)
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
        waiting: deque[tuple[int, int, Future[list[Any]] | list[Any]]] = deque()
        with ExitStack() as stack:
            pool = None
            if parallel:
                pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
                stack.callback(pool.shutdown, cancel_futures=True)
            write = stack.enter_context(self.backend.bulk(fresh=clear))

            def write_next() -> None:
                nonlocal done
                last_id, count, job = waiting.popleft()
                write(job.result() if isinstance(job, Future) else job)
                done += count
                value.update(after_id=last_id, done=done)
                self._save(value)
                if progress:
                    progress(done, max(total, done))

            read_id = after_id
            while True:
                with self.runtime.database.session() as session:
                    rows = self._rows(session, RecordRow.id > read_id, batch)
                if not rows:
                    break
                read_id = rows[-1][0]
                job: Future[list[Any]] | list[Any]
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
            self.backend.write(documents_of(rows, self.language), list(gone))
            # Changes queued before the rebuild began are in the documents it wrote.
            session.execute(delete(SearchPending).where(SearchPending.id <= pending_before))
            state = session.get(SearchState, REBUILD_STATE)
            if state is not None:
                session.delete(state)
            session.commit()
        self.sync()
