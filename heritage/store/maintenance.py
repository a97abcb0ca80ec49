"""Fixity audits and replication over the whole store: services, reports and job kinds.

``FixityService.run`` audits objects in the order of their last check (never
checked first), so a run that is interrupted, or limited to some objects,
simply continues where it stopped the next time. Each audited object gets one
PREMIS ``fixity check`` event (and a ``repair`` event per file restored from
the replica), and its ``last_fixity_at``/``last_fixity_outcome`` are updated in
the same short transaction. Objects are audited a few at a time in a thread
pool: hashing releases the GIL, so the files of two objects are hashed on two
cores at once.

``ReplicationService`` copies objects to the replica storage root after each
version (the ``store.replicate`` job the preservation service enqueues) and
brings a replica up to date (``heritage replicate``).

Job kinds: ``store.fixity`` (a worker enqueues it daily; it audits the objects
whose last check is older than ``HERITAGE_FIXITY_INTERVAL_DAYS``) and
``store.replicate``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import structlog
from sqlalchemy import case, func, insert, or_, select, update
from sqlalchemy.orm import Session

from heritage.accounts.identity import SYSTEM, Identity
from heritage.audit.services import record
from heritage.db.base import utcnow
from heritage.db.uow import UnitOfWork
from heritage.errors import NotFound
from heritage.jobs.models import Job
from heritage.jobs.registry import DAILY, JobContext, job_kind
from heritage.jobs.services import JobService
from heritage.policy import require
from heritage.runtime import Runtime
from heritage.store.backends import open_replica_root
from heritage.store.fixity import ObjectAudit, RateLimiter, audit_object
from heritage.store.models import EventOutcome, EventType, PreservationEvent, StoredObject
from heritage.store.ocfl.errors import ObjectNotFound, OcflError
from heritage.store.replica import (
    ReplicationError,
    ReplicationResult,
    purge_replica,
    replicate_object,
)
from heritage.store.services import PreservationService, object_id_for, parse_object_uuid
from heritage.store.signing import PublicSigningKey, instance_keys
from heritage.store.verify import Finding
from heritage.workspaces.models import Workspace

log = structlog.get_logger(__name__)

FIXITY_JOB = "store.fixity"
REPLICATE_JOB = "store.replicate"
FIXITY_THREADS = 2  # objects audited at once; the hashing itself runs outside the GIL
# Outcomes are written in batches: a transaction per object would cost more than
# hashing a small object, and an interrupted run loses at most one batch.
RECORD_BATCH = 100
RECORD_SECONDS = 2.0
FIXITY_AGENT = "heritage fixity audit"
REPLICATION_AGENT = "heritage replication"
OBJECT_MISSING = "HC-OBJECT-MISSING"
AUDIT_ERROR = "HC-AUDIT-ERROR"


@dataclass(frozen=True)
class Candidate:
    pk: int
    object_id: str
    workspace_id: int | None
    head_version: str | None = None  # the head the index knows


@dataclass
class FixityRun:
    checked: int = 0
    repaired: int = 0
    bytes_read: int = 0
    failures: list[ObjectAudit] = field(default_factory=list)
    warnings: int = 0
    remaining: int = 0  # candidates left unchecked (a limited run)
    reindexed: int = 0  # objects whose index an interrupted commit had left behind

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        text = (
            f"{self.checked} objects checked, {len(self.failures)} failed, "
            f"{self.repaired} files repaired, {self.bytes_read / 1e6:.1f} MB read"
        )
        if self.reindexed:
            text += f", {self.reindexed} index entries caught up with the store"
        return text + (f", {self.remaining} left for the next run" if self.remaining else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "failed": len(self.failures),
            "failed_objects": [audit.object_id for audit in self.failures[:100]],
            "repaired": self.repaired,
            "warnings": self.warnings,
            "bytes": self.bytes_read,
            "remaining": self.remaining,
            "reindexed": self.reindexed,
        }


@dataclass(frozen=True)
class FixityRow:
    """The latest fixity outcome of one object (``heritage fixity --report``, the admin page)."""

    object_id: str
    title: str
    workspace_slug: str
    outcome: EventOutcome | None  # None: never checked
    checked_at: datetime | None
    detail: str = ""

    @property
    def uuid(self) -> str:
        return self.object_id.removeprefix("urn:uuid:")


@dataclass(frozen=True)
class FixitySummary:
    objects: int
    never_checked: int
    overdue: int
    failing: int
    warnings: int


Progress = Callable[[int, int, ObjectAudit], None]


def _event(
    session: Session,
    candidate: Candidate,
    event_type: EventType,
    outcome: EventOutcome,
    version: str | None,
    detail: str,
    agent: str,
    at: datetime,
) -> None:
    session.add(
        PreservationEvent(
            object_id=candidate.object_id,
            workspace_id=candidate.workspace_id,
            event_type=event_type,
            outcome=outcome,
            version=version,
            detail=detail,
            agent=agent,
            at=at,
        )
    )


def _workspace_id(session: Session, slug: str | None) -> int | None:
    if slug is None:
        return None
    workspace = session.scalar(select(Workspace).where(Workspace.slug == slug))
    if workspace is None:
        raise NotFound(f"No workspace '{slug}'")
    return workspace.id


class FixityService:
    def __init__(
        self,
        runtime: Runtime,
        *,
        limiter: RateLimiter | None = None,
        threads: int = FIXITY_THREADS,
        agent: str = FIXITY_AGENT,
    ) -> None:
        self.runtime = runtime
        self.limiter = limiter or RateLimiter(runtime.settings.fixity_bytes_per_second)
        self.threads = max(1, threads)
        self.agent = agent

    @cached_property
    def replica(self) -> Any | None:
        return open_replica_root(self.runtime.settings)

    def trusted_keys(self) -> list[PublicSigningKey]:
        return instance_keys(self.runtime.settings, create=False).public_keys()

    # -- choosing ---------------------------------------------------------------------------

    def candidates(
        self,
        *,
        workspace: str | None = None,
        object_uuid: str | None = None,
        due_only: bool = False,
        now: datetime | None = None,
    ) -> list[Candidate]:
        """Objects to audit, the longest unchecked first (never-checked ones before all)."""
        query = select(
            StoredObject.id,
            StoredObject.object_id,
            StoredObject.workspace_id,
            StoredObject.head_version,
        )
        with self.runtime.database.session() as session:
            workspace_id = _workspace_id(session, workspace)
            if workspace_id is not None:
                query = query.where(StoredObject.workspace_id == workspace_id)
            if object_uuid is not None:
                object_id = object_id_for(parse_object_uuid(object_uuid))
                query = query.where(StoredObject.object_id == object_id)
            if due_only:
                interval = timedelta(days=self.runtime.settings.fixity_interval_days)
                query = query.where(
                    or_(
                        StoredObject.last_fixity_at.is_(None),
                        StoredObject.last_fixity_at <= (now or utcnow()) - interval,
                    )
                )
            query = query.order_by(
                StoredObject.last_fixity_at.asc().nulls_first(), StoredObject.id.asc()
            )
            found = [Candidate(*row) for row in session.execute(query)]
        if object_uuid is not None and not found:
            raise NotFound(f"No object '{object_uuid}'")
        return found

    # -- running ----------------------------------------------------------------------------

    def run(
        self,
        actor: Identity,
        *,
        workspace: str | None = None,
        object_uuid: str | None = None,
        deep: bool = False,
        due_only: bool = False,
        max_objects: int | None = None,
        progress: Progress | None = None,
    ) -> FixityRun:
        """Audit the chosen objects now; each outcome is on record as soon as it is known."""
        require(actor, "fixity.run")
        chosen = self.candidates(workspace=workspace, object_uuid=object_uuid, due_only=due_only)
        run = FixityRun()
        todo = chosen if max_objects is None else chosen[:max_objects]
        run.remaining = len(chosen) - len(todo)
        keys = self.trusted_keys()
        replica = self.replica
        key_lookup = self.runtime.keyring.data_key if deep else None
        storage = self.runtime.storage

        def audit(candidate: Candidate) -> ObjectAudit:
            try:
                return audit_object(
                    storage,
                    candidate.object_id,
                    keys,
                    replica=replica,
                    deep=deep,
                    key_lookup=key_lookup,
                    limiter=self.limiter,
                )
            except ObjectNotFound:
                return _missing(candidate)
            except Exception as error:  # one broken object must not stop the audit
                log.exception("fixity audit failed", object_id=candidate.object_id)
                failed = ObjectAudit(candidate.object_id)
                message = f"the audit could not run: {type(error).__name__}: {error}"
                failed.problems.append(Finding(AUDIT_ERROR, "", message))
                return failed

        done: list[tuple[Candidate, ObjectAudit]] = []
        flushed = time.monotonic()

        def flush() -> None:
            for candidate, result in self._record(done):
                if result.ok and result.head != candidate.head_version:
                    run.reindexed += self._heal_index(candidate)
                run.checked += 1
                run.bytes_read += result.bytes_read
                run.repaired += len(result.repairs)
                if not result.ok:
                    run.failures.append(result)
                elif result.warnings:
                    run.warnings += 1
                if progress is not None:
                    progress(run.checked, len(todo), result)
            done.clear()

        # A few objects in flight at a time, taken in order: an interrupted run leaves
        # at most those and one batch of outcomes unrecorded, and none of the rest.
        try:
            with ThreadPoolExecutor(self.threads, thread_name_prefix="fixity") as pool:
                pending: deque[tuple[Candidate, Future[ObjectAudit]]] = deque()
                queue = iter(todo)
                while True:
                    while len(pending) < self.threads * 2:
                        candidate = next(queue, None)
                        if candidate is None:
                            break
                        pending.append((candidate, pool.submit(audit, candidate)))
                    if not pending:
                        break
                    candidate, future = pending.popleft()
                    done.append((candidate, future.result()))
                    if len(done) >= RECORD_BATCH or time.monotonic() - flushed > RECORD_SECONDS:
                        flush()
                        flushed = time.monotonic()
        finally:
            flush()
        return run

    def _heal_index(self, candidate: Candidate) -> int:
        """Bring an index to the store's head where the audit found another one, intact
        (an interrupted commit leaves it behind); 1 when it did."""
        try:
            caught_up = PreservationService(self.runtime).heal_index(candidate.object_id)
            return 0 if caught_up is None else 1
        except Exception:  # the audit goes on; the next change or audit tries again
            log.exception("index could not catch up", object_id=candidate.object_id)
            return 0

    def start(self, actor: Identity, *, deep: bool = False) -> Job:
        """A ``store.fixity`` job checking every object (not only those due), oldest first."""
        require(actor, "fixity.run")
        title = "Fixity audit of every object" + (" (deep)" if deep else "")
        return JobService(self.runtime).enqueue(
            actor, FIXITY_JOB, {"due_only": False, "deep": deep}, title=title
        )

    def _record(
        self, done: list[tuple[Candidate, ObjectAudit]]
    ) -> list[tuple[Candidate, ObjectAudit]]:
        """Write the events and each object's latest outcome in one transaction; what was
        written (objects purged meanwhile are left out)."""
        if not done:
            return []
        now = utcnow()
        with UnitOfWork(self.runtime.database) as uow:
            session = uow.session
            pks = [candidate.pk for candidate, _ in done]
            present = set(session.scalars(select(StoredObject.id).where(StoredObject.id.in_(pks))))
            kept = [(candidate, audit) for candidate, audit in done if candidate.pk in present]
            if not kept:
                return []
            session.execute(
                update(StoredObject),
                [
                    {"id": c.pk, "last_fixity_at": now, "last_fixity_outcome": a.outcome}
                    for c, a in kept
                ],
            )
            events = []
            for candidate, audit in kept:
                for repair in audit.repairs:
                    name = audit.name_of(repair.path)
                    if repair.names:
                        name = f"{repair.path} ({', '.join(repair.names)})"
                    events.append(
                        self._event_row(
                            candidate,
                            EventType.REPAIR,
                            EventOutcome.SUCCESS,
                            audit.head,
                            f"{name}: {repair.detail}",
                            now,
                        )
                    )
                    record(
                        session,
                        SYSTEM,
                        "object.repair",
                        "object",
                        candidate.object_id,
                        workspace_id=candidate.workspace_id,
                        details={"path": repair.path, "source": "replica"},
                    )
                events.append(
                    self._event_row(
                        candidate,
                        EventType.FIXITY_CHECK,
                        audit.outcome,
                        audit.head,
                        audit.detail(),
                        now,
                    )
                )
            session.execute(insert(PreservationEvent), events)
            uow.commit()
        return kept

    def _event_row(
        self,
        candidate: Candidate,
        event_type: EventType,
        outcome: EventOutcome,
        version: str | None,
        detail: str,
        at: datetime,
    ) -> dict[str, Any]:
        return {
            "object_id": candidate.object_id,
            "workspace_id": candidate.workspace_id,
            "event_type": event_type,
            "outcome": outcome,
            "version": version,
            "detail": detail,
            "agent": self.agent,
            "at": at,
        }

    # -- reports ----------------------------------------------------------------------------

    def report(
        self, actor: Identity, *, workspace: str | None = None, failing_only: bool = False
    ) -> list[FixityRow]:
        """Every object's latest outcome: failures first, then warnings, never checked, fine."""
        require(actor, "fixity.view")
        rank = case(
            (StoredObject.last_fixity_outcome == EventOutcome.FAILURE, 0),
            (StoredObject.last_fixity_outcome == EventOutcome.WARNING, 1),
            (StoredObject.last_fixity_outcome.is_(None), 2),
            else_=3,
        )
        query = (
            select(StoredObject, Workspace.slug)
            .join(Workspace, Workspace.id == StoredObject.workspace_id)
            .order_by(rank, StoredObject.last_fixity_at.asc(), StoredObject.id)
        )
        with self.runtime.database.session() as session:
            workspace_id = _workspace_id(session, workspace)
            if workspace_id is not None:
                query = query.where(StoredObject.workspace_id == workspace_id)
            if failing_only:
                query = query.where(StoredObject.last_fixity_outcome == EventOutcome.FAILURE)
            rows = list(session.execute(query))
            failure = EventOutcome.FAILURE
            failing = [obj.object_id for obj, _ in rows if obj.last_fixity_outcome is failure]
            details = _latest_details(session, failing)
            return [
                FixityRow(
                    obj.object_id,
                    obj.title,
                    slug,
                    obj.last_fixity_outcome,
                    obj.last_fixity_at,
                    details.get(obj.object_id, ""),
                )
                for obj, slug in rows
            ]

    def summary(self, actor: Identity) -> FixitySummary:
        require(actor, "fixity.view")
        due = utcnow() - timedelta(days=self.runtime.settings.fixity_interval_days)
        outcome = StoredObject.last_fixity_outcome
        with self.runtime.database.session() as session:
            row = session.execute(
                select(
                    func.count(StoredObject.id),
                    func.count(case((StoredObject.last_fixity_at.is_(None), 1))),
                    func.count(case((StoredObject.last_fixity_at <= due, 1))),
                    func.count(case((outcome == EventOutcome.FAILURE, 1))),
                    func.count(case((outcome == EventOutcome.WARNING, 1))),
                )
            ).one()
        return FixitySummary(*row)

    def recent_runs(self, actor: Identity, limit: int = 10) -> list[Job]:
        require(actor, "fixity.view")
        with self.runtime.database.session() as session:
            query = select(Job).where(Job.kind == FIXITY_JOB)
            return list(session.scalars(query.order_by(Job.created_at.desc()).limit(limit)))


def _latest_details(session: Session, object_ids: list[str]) -> dict[str, str]:
    """The detail of each object's latest fixity check event."""
    if not object_ids:
        return {}
    latest = (
        select(func.max(PreservationEvent.id))
        .where(
            PreservationEvent.event_type == EventType.FIXITY_CHECK,
            PreservationEvent.object_id.in_(object_ids),
        )
        .group_by(PreservationEvent.object_id)
    )
    events = session.scalars(select(PreservationEvent).where(PreservationEvent.id.in_(latest)))
    return {event.object_id: event.detail for event in events}


def _missing(candidate: Candidate) -> ObjectAudit:
    audit = ObjectAudit(candidate.object_id)
    message = "the index knows this object, but the storage root has no such object"
    audit.problems.append(Finding(OBJECT_MISSING, "", message, ocfl_code="E003"))
    audit.not_repaired[""] = "a whole object is not repaired file by file; restore it from a backup"
    return audit


# --- replication ------------------------------------------------------------------------------


@dataclass
class ReplicationRun:
    results: list[ReplicationResult] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # object id -> why

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        changed = sum(1 for result in self.results if result.changed)
        copied = sum(result.bytes_copied for result in self.results)
        return (
            f"{len(self.results)} objects replicated ({changed} changed, "
            f"{copied / 1e6:.1f} MB copied), {len(self.failures)} failed"
        )


class ReplicationService:
    def __init__(self, runtime: Runtime, *, agent: str = REPLICATION_AGENT) -> None:
        self.runtime = runtime
        self.agent = agent

    @cached_property
    def replica(self) -> Any | None:
        return open_replica_root(self.runtime.settings)

    def replicate(self, object_id: str, *, verify_existing: bool = False) -> ReplicationResult:
        """Bring one object of the replica up to date and put it on record.

        Raises :class:`ReplicationError` (also on record, as a failed event).
        """
        replica = self.replica
        if replica is None:
            raise ReplicationError("no replica storage root is configured (HERITAGE_REPLICA_ROOT)")
        with self.runtime.database.session() as session:
            row = session.scalar(select(StoredObject).where(StoredObject.object_id == object_id))
            indexed = None if row is None else Candidate(row.id, row.object_id, row.workspace_id)
            previous = _last_replicated(session, object_id)
        candidate = indexed or Candidate(0, object_id, _last_workspace(self.runtime, object_id))
        try:
            result = replicate_object(
                self.runtime.storage, replica, object_id, verify_existing=verify_existing
            )
        except ObjectNotFound:
            if indexed is not None:
                error = ReplicationError(f"{object_id} is in the index but not in the primary")
                self._note(candidate, None, EventOutcome.FAILURE, str(error))
                raise error from None
            result = ReplicationResult(object_id, purged=purge_replica(replica, object_id))
        except (ReplicationError, OcflError, OSError) as error:
            self._note(candidate, None, EventOutcome.FAILURE, f"not replicated: {error}")
            raise ReplicationError(str(error)) from error
        if result.changed or (indexed is not None and previous != result.head):
            self._note(candidate, result.head, EventOutcome.SUCCESS, result.summary())
        return result

    def _note(
        self, candidate: Candidate, version: str | None, outcome: EventOutcome, detail: str
    ) -> None:
        with self.runtime.database.session(write=True) as session:
            _event(
                session,
                candidate,
                EventType.REPLICATION,
                outcome,
                version,
                detail,
                self.agent,
                utcnow(),
            )
            session.commit()

    def behind(self, *, workspace: str | None = None) -> list[str]:
        """Objects whose head version is not on record as replicated."""
        latest = (
            select(PreservationEvent.object_id, func.max(PreservationEvent.id).label("last"))
            .where(
                PreservationEvent.event_type == EventType.REPLICATION,
                PreservationEvent.outcome == EventOutcome.SUCCESS,
            )
            .group_by(PreservationEvent.object_id)
            .subquery()
        )
        query = (
            select(StoredObject.object_id, StoredObject.head_version, PreservationEvent.version)
            .outerjoin(latest, latest.c.object_id == StoredObject.object_id)
            .outerjoin(PreservationEvent, PreservationEvent.id == latest.c.last)
            .order_by(StoredObject.id)
        )
        with self.runtime.database.session() as session:
            workspace_id = _workspace_id(session, workspace)
            if workspace_id is not None:
                query = query.where(StoredObject.workspace_id == workspace_id)
            return [oid for oid, head, done in session.execute(query) if head != done]

    def run(
        self,
        actor: Identity,
        *,
        all_objects: bool = False,
        workspace: str | None = None,
        verify_existing: bool = False,
        progress: Callable[[int, int, str, ReplicationResult | None], None] | None = None,
    ) -> ReplicationRun:
        """Replicate the objects the replica lacks (all of them with ``all_objects``)."""
        require(actor, "fixity.run")
        if all_objects:
            with self.runtime.database.session() as session:
                workspace_id = _workspace_id(session, workspace)
                query = select(StoredObject.object_id).order_by(StoredObject.id)
                if workspace_id is not None:
                    query = query.where(StoredObject.workspace_id == workspace_id)
                object_ids = list(session.scalars(query))
        else:
            object_ids = self.behind(workspace=workspace)
        run = ReplicationRun()
        for number, object_id in enumerate(object_ids, 1):
            try:
                result: ReplicationResult | None = self.replicate(
                    object_id, verify_existing=verify_existing
                )
            except ReplicationError as error:
                run.failures[object_id] = str(error)
                result = None
            else:
                assert result is not None
                run.results.append(result)
            if progress is not None:
                progress(number, len(object_ids), object_id, result)
        return run


def _last_replicated(session: Session, object_id: str) -> str | None:
    return session.scalar(
        select(PreservationEvent.version)
        .where(
            PreservationEvent.object_id == object_id,
            PreservationEvent.event_type == EventType.REPLICATION,
            PreservationEvent.outcome == EventOutcome.SUCCESS,
        )
        .order_by(PreservationEvent.id.desc())
        .limit(1)
    )


def _last_workspace(runtime: Runtime, object_id: str) -> int | None:
    """The workspace a purged object was in, from its events (for the purge's own event)."""
    with runtime.database.session() as session:
        found = session.scalar(
            select(PreservationEvent.workspace_id)
            .where(PreservationEvent.object_id == object_id)
            .order_by(PreservationEvent.id.desc())
            .limit(1)
        )
    return found


# --- job kinds --------------------------------------------------------------------------------


@job_kind(FIXITY_JOB, "Fixity audit of the preservation store", schedule=DAILY)
def fixity_job(context: JobContext) -> dict[str, Any]:
    """Params: ``workspace``, ``object``, ``deep``, ``due_only`` (default: only objects due)."""
    params = context.params
    reported = [0.0]

    def progress(done: int, total: int, audit: ObjectAudit) -> None:
        # each report is a database write: a few a minute, not one per small object
        if done == total or time.monotonic() - reported[0] > RECORD_SECONDS:
            reported[0] = time.monotonic()
            context.progress(done / max(total, 1), f"{done} of {total} objects checked")

    context.progress(0.0, "choosing the objects to check")
    run = FixityService(context.runtime).run(
        SYSTEM,
        workspace=params.get("workspace"),
        object_uuid=params.get("object"),
        deep=bool(params.get("deep", False)),
        due_only=bool(params.get("due_only", True)),
        progress=progress,
    )
    return run.to_json()


@job_kind(REPLICATE_JOB, "Copy objects to the replica storage root")
def replicate_job(context: JobContext) -> dict[str, Any]:
    """Params: ``object_id`` (one object), else ``all`` (every object, not only those behind)."""
    service = ReplicationService(context.runtime)
    object_id = context.params.get("object_id")
    if object_id:
        result = service.replicate(str(object_id))
        return {"object_id": object_id, "head": result.head, "copied": len(result.copied)}

    def progress(done: int, total: int, object_id: str, result: ReplicationResult | None) -> None:
        context.progress(done / max(total, 1), f"{done} of {total} objects")

    run = service.run(SYSTEM, all_objects=bool(context.params.get("all")), progress=progress)
    if not run.ok:
        raise ReplicationError(f"{len(run.failures)} objects not replicated: {run.summary()}")
    return {"objects": len(run.results), "summary": run.summary()}
