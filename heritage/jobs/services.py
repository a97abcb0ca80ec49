"""Create, run, follow and retry background jobs."""

from __future__ import annotations

import importlib
import os
import socket
import uuid
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from heritage.accounts.identity import SYSTEM, Identity
from heritage.audit.services import record
from heritage.db.base import utcnow
from heritage.db.uow import UnitOfWork
from heritage.errors import Conflict, InvalidInput, NotFound
from heritage.jobs.models import Job, JobStatus
from heritage.jobs.registry import JOB_KINDS, TICKS, JobContext
from heritage.policy import Target, require
from heritage.runtime import Runtime
from heritage.workspaces.models import Role, WorkspaceMembership

log = structlog.get_logger(__name__)

# Modules whose job kinds every process knows; capabilities add theirs here.
JOB_MODULES = [
    "heritage.audit.jobs",
    "heritage.uploads.jobs",
    "heritage.store.maintenance",
    "heritage.records.jobs",
    "heritage.search.jobs",
    "heritage.search.saved",  # the hourly count of saved searches' new matches
    "heritage.iiif.jobs",
    "heritage.threed.jobs",
]


# A scheduled job still queued after this long is taken for lost: the schedule enqueues anew.
SCHEDULED_JOB_STALE_DAYS = 2


def load_job_kinds() -> None:
    for module in JOB_MODULES:
        importlib.import_module(module)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        load_job_kinds()

    # -- policy ---------------------------------------------------------------
    def target(self, session: Session, identity: Identity, job: Job) -> Target:
        role = None
        if job.workspace_id is not None and identity.user_id is not None:
            role = session.scalar(
                select(WorkspaceMembership.role).where(
                    WorkspaceMembership.workspace_id == job.workspace_id,
                    WorkspaceMembership.user_id == identity.user_id,
                )
            )
        return Target(workspace_role=role, creator_id=job.created_by)

    # -- creating -------------------------------------------------------------
    def enqueue(
        self,
        identity: Identity,
        kind: str,
        params: dict[str, Any] | None = None,
        *,
        title: str | None = None,
        workspace_id: int | None = None,
        uow: UnitOfWork | None = None,
    ) -> Job:
        """Create a job. With ``uow`` it joins the caller's transaction."""
        if kind not in JOB_KINDS:
            raise InvalidInput.on("kind", f"unknown job kind {kind!r}")
        job = Job(
            id=str(uuid.uuid4()),
            kind=kind,
            title=title or JOB_KINDS[kind].description,
            params=params or {},
            workspace_id=workspace_id,
            created_by=identity.user_id,
            status=JobStatus.QUEUED,
        )
        if uow is None:
            with UnitOfWork(self.runtime.database) as own:
                self._add(own, identity, job)
                own.commit()
        else:
            self._add(uow, identity, job)
        return job

    def _add(self, uow: UnitOfWork, identity: Identity, job: Job) -> None:
        uow.session.add(job)
        record(
            uow.session,
            identity,
            "job.create",
            "job",
            job.id,
            workspace_id=job.workspace_id,
            details={"kind": job.kind},
        )
        # Only once the row is committed may a worker look for it.
        uow.after_commit(lambda: self.runtime.queue.enqueue(job.id))

    def install_schedules(self) -> list[str]:
        """Register the scheduled job kinds and the maintenance ticks with the queue (the
        worker does, at start)."""
        scheduled = [kind for kind in JOB_KINDS.values() if kind.schedule is not None]
        for kind in scheduled:
            assert kind.schedule is not None
            self.runtime.queue.schedule(
                kind.name, kind.schedule, lambda name=kind.name: self.enqueue_scheduled(name)
            )
        for tick in TICKS.values():
            self.runtime.queue.schedule(
                tick.name, tick.schedule, lambda tick=tick: tick.action(self.runtime)
            )
        return [kind.name for kind in scheduled] + list(TICKS)

    def enqueue_scheduled(self, kind: str) -> Job | None:
        """A job of ``kind`` by the schedule, unless one is still waiting or running.

        Several workers may fire the same schedule; the first one's job is enough.
        One left queued for days (its message lost) no longer holds the next back.
        """
        recent = utcnow() - timedelta(days=SCHEDULED_JOB_STALE_DAYS)
        with self.runtime.database.session() as session:
            busy = session.scalar(
                select(Job.id)
                .where(
                    Job.kind == kind,
                    Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
                    Job.created_at >= recent,
                )
                .limit(1)
            )
        if busy is not None:
            return None
        return self.enqueue(SYSTEM, kind, {}, title=f"{JOB_KINDS[kind].description} (scheduled)")

    def retry(self, identity: Identity, job_id: str) -> Job:
        with UnitOfWork(self.runtime.database) as uow:
            job = uow.session.get(Job, job_id)
            if job is None:
                raise NotFound(f"No job {job_id}")
            require(identity, "job.retry", self.target(uow.session, identity, job))
            if job.status is not JobStatus.FAILED:
                raise Conflict(f"Only failed jobs can be retried; this one is {job.status.value}.")
            job.status = JobStatus.QUEUED
            job.error = None
            job.progress = 0.0
            job.progress_message = ""
            job.finished_at = None
            record(uow.session, identity, "job.retry", "job", job.id, workspace_id=job.workspace_id)
            uow.after_commit(lambda: self.runtime.queue.enqueue(job_id))
            uow.commit()
            return job

    # -- reading --------------------------------------------------------------
    def get(self, identity: Identity, job_id: str) -> Job:
        with self.runtime.database.session() as session:
            job = session.get(Job, job_id)
            if job is None:
                raise NotFound(f"No job {job_id}")
            require(identity, "job.view", self.target(session, identity, job))
            return job

    def list_for(self, identity: Identity, *, limit: int = 100) -> list[Job]:
        """Jobs the identity may see: its own and those of workspaces it manages."""
        with self.runtime.database.session() as session:
            query = select(Job).order_by(Job.created_at.desc()).limit(limit)
            if not identity.is_admin:
                managed = select(WorkspaceMembership.workspace_id).where(
                    WorkspaceMembership.user_id == identity.user_id,
                    WorkspaceMembership.role.in_([Role.MANAGER, Role.OWNER]),
                )
                query = query.where(
                    or_(Job.created_by == identity.user_id, Job.workspace_id.in_(managed))
                )
            return list(session.scalars(query))

    def list_for_workspace(self, workspace_id: int, *, limit: int = 100) -> list[Job]:
        """A workspace's jobs; the caller has checked ``workspace.jobs.view``."""
        with self.runtime.database.session() as session:
            query = (
                select(Job)
                .where(Job.workspace_id == workspace_id)
                .order_by(Job.created_at.desc())
                .limit(limit)
            )
            return list(session.scalars(query))

    # -- running (called by workers) -----------------------------------------
    def _update(self, job_id: str, **values: Any) -> None:
        with self.runtime.database.session(write=True) as session:
            job = session.get(Job, job_id)
            if job is not None:
                for key, value in values.items():
                    setattr(job, key, value)
                session.commit()

    def execute(self, job_id: str) -> None:
        with self.runtime.database.session() as session:
            job = session.get(Job, job_id)
            if job is None:
                log.warning("job vanished before it ran", job_id=job_id)
                return
            if job.status is JobStatus.SUCCEEDED:
                return
            kind, params, attempts = job.kind, dict(job.params), job.attempts
        handler = JOB_KINDS.get(kind)
        self._update(
            job_id,
            status=JobStatus.RUNNING,
            started_at=utcnow(),
            attempts=attempts + 1,
            worker=worker_name(),
            error=None,
        )

        def progress(fraction: float, message: str = "") -> None:
            self._update(
                job_id, progress=max(0.0, min(1.0, fraction)), progress_message=message[:500]
            )

        try:
            if handler is None:
                raise LookupError(f"this worker does not know job kind {kind!r}")
            result = handler.handler(JobContext(self.runtime, job_id, params, progress))
        except Exception as error:
            log.exception("job failed", job_id=job_id, kind=kind)
            self._update(
                job_id,
                status=JobStatus.FAILED,
                finished_at=utcnow(),
                error=f"{type(error).__name__}: {error}"[:4000],
            )
            return
        self._update(
            job_id,
            status=JobStatus.SUCCEEDED,
            finished_at=utcnow(),
            progress=1.0,
            result=result or {},
        )

    def recover_interrupted(self) -> int:
        """Re-queue jobs whose worker on this host died while running them."""
        host = socket.gethostname()
        requeued = 0
        with self.runtime.database.session(write=True) as session:
            running = session.scalars(select(Job).where(Job.status == JobStatus.RUNNING)).all()
            for job in running:
                name = job.worker or ""
                worker_host, _, pid = name.rpartition(":")
                if worker_host != host or not pid.isdigit() or _alive(int(pid)):
                    continue
                job.status = JobStatus.QUEUED
                job.progress_message = "re-queued after its worker stopped"
                requeued += 1
            session.commit()
            ids = [job.id for job in running if job.status is JobStatus.QUEUED]
        for job_id in ids:
            self.runtime.queue.enqueue(job_id)
        return requeued


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
