"""JobService with the in-process ("immediate") queue: run, fail, retry, recover."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from heritage.accounts.identity import SYSTEM
from heritage.accounts.services import AccountService, identity_of
from heritage.audit.models import AuditEntry
from heritage.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from heritage.jobs.models import Job, JobStatus
from heritage.jobs.registry import JOB_KINDS, JobContext, JobKind
from heritage.jobs.services import JobService, worker_name
from heritage.runtime import Runtime

FLAKY = "tests.flaky"


@pytest.fixture
def flaky_kind(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """A job kind that fails on its first run and succeeds afterwards."""
    runs: list[int] = []

    def handler(context: JobContext) -> dict[str, object]:
        runs.append(len(runs) + 1)
        context.progress(0.5, "half way")
        if len(runs) == 1:
            raise RuntimeError("disk on fire")
        return {"runs": len(runs), "param": context.params.get("x")}

    monkeypatch.setitem(JOB_KINDS, FLAKY, JobKind(FLAKY, handler, "Fails once"))
    yield runs


def job_row(runtime: Runtime, job_id: str) -> Job:
    with runtime.database.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def test_audit_verify_job_succeeds_and_records_its_result(heritage_runtime: Runtime) -> None:
    AccountService(heritage_runtime).create_user(SYSTEM, "ada@example.org", "a long password")
    job = JobService(heritage_runtime).enqueue(SYSTEM, "audit.verify")
    stored = job_row(heritage_runtime, job.id)
    assert stored.status is JobStatus.SUCCEEDED
    assert stored.attempts == 1
    assert stored.progress == 1.0
    assert stored.error is None
    assert stored.started_at is not None and stored.finished_at is not None
    assert stored.worker == worker_name()
    # Entries: user.create and job.create, both checked by the job.
    assert stored.result is not None
    assert stored.result["checked"] == 2
    assert len(stored.result["head_hash"]) == 64
    with heritage_runtime.database.session() as session:
        actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))
    assert actions == ["user.create", "job.create"]


def test_unknown_job_kind_is_refused(heritage_runtime: Runtime) -> None:
    with pytest.raises(InvalidInput) as raised:
        JobService(heritage_runtime).enqueue(SYSTEM, "no.such.kind")
    assert raised.value.errors[0].field == "kind"
    with heritage_runtime.database.session() as session:
        assert session.scalars(select(Job)).all() == []


def test_failing_job_records_failure_then_retry_succeeds(
    heritage_runtime: Runtime, flaky_kind: list[int]
) -> None:
    service = JobService(heritage_runtime)
    job = service.enqueue(SYSTEM, FLAKY, {"x": 7})
    failed = job_row(heritage_runtime, job.id)
    assert failed.status is JobStatus.FAILED
    assert failed.error == "RuntimeError: disk on fire"
    assert failed.attempts == 1
    assert failed.finished_at is not None
    assert failed.progress == 0.5 and failed.progress_message == "half way"

    service.retry(SYSTEM, job.id)
    retried = job_row(heritage_runtime, job.id)
    assert flaky_kind == [1, 2]
    assert retried.status is JobStatus.SUCCEEDED
    assert retried.attempts == 2
    assert retried.error is None
    assert retried.result == {"runs": 2, "param": 7}
    assert retried.progress == 1.0

    with pytest.raises(Conflict, match="succeeded"):
        service.retry(SYSTEM, job.id)
    assert job_row(heritage_runtime, job.id).attempts == 2


def test_retry_of_unknown_job_is_not_found(heritage_runtime: Runtime) -> None:
    with pytest.raises(NotFound):
        JobService(heritage_runtime).retry(SYSTEM, "00000000-0000-4000-8000-000000000000")


def test_only_the_creator_or_an_admin_may_retry(
    heritage_runtime: Runtime, flaky_kind: list[int]
) -> None:
    accounts = AccountService(heritage_runtime)
    ada = identity_of(accounts.create_user(SYSTEM, "ada@example.org", "a long password"), "t")
    bob = identity_of(accounts.create_user(SYSTEM, "bob@example.org", "a long password"), "t")
    service = JobService(heritage_runtime)
    job = service.enqueue(ada, FLAKY)
    assert job_row(heritage_runtime, job.id).status is JobStatus.FAILED
    with pytest.raises((PermissionDenied, NotFound)):
        service.retry(bob, job.id)
    assert job_row(heritage_runtime, job.id).status is JobStatus.FAILED
    service.retry(ada, job.id)
    assert job_row(heritage_runtime, job.id).status is JobStatus.SUCCEEDED


def test_a_job_that_vanished_or_already_succeeded_is_not_run_again(
    heritage_runtime: Runtime, flaky_kind: list[int]
) -> None:
    service = JobService(heritage_runtime)
    service.execute("00000000-0000-4000-8000-000000000000")  # no such job: just logged
    job = service.enqueue(SYSTEM, FLAKY)
    service.retry(SYSTEM, job.id)
    assert flaky_kind == [1, 2]
    service.execute(job.id)  # a duplicate delivery from the queue
    assert flaky_kind == [1, 2]
    assert job_row(heritage_runtime, job.id).attempts == 2


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _mark_running(runtime: Runtime, job_id: str, worker: str) -> None:
    with runtime.database.session(write=True) as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.status = JobStatus.RUNNING
        job.worker = worker
        job.error = None
        session.commit()


def test_recover_interrupted_requeues_only_jobs_of_dead_local_workers(
    heritage_runtime: Runtime, flaky_kind: list[int]
) -> None:
    service = JobService(heritage_runtime)
    host = socket.gethostname()
    dead = service.enqueue(SYSTEM, FLAKY)
    alive = service.enqueue(SYSTEM, FLAKY)
    elsewhere = service.enqueue(SYSTEM, FLAKY)
    assert flaky_kind == [1, 2, 3]  # the first failed, the other two succeeded
    _mark_running(heritage_runtime, dead.id, f"{host}:{_dead_pid()}")
    _mark_running(heritage_runtime, alive.id, f"{host}:{os.getpid()}")
    _mark_running(heritage_runtime, elsewhere.id, "another-machine.example:12")

    assert service.recover_interrupted() == 1

    # The immediate queue ran the re-queued job again, now successfully.
    recovered = job_row(heritage_runtime, dead.id)
    assert recovered.status is JobStatus.SUCCEEDED
    assert recovered.attempts == 2
    assert flaky_kind == [1, 2, 3, 4]
    assert job_row(heritage_runtime, alive.id).status is JobStatus.RUNNING
    assert job_row(heritage_runtime, elsewhere.id).status is JobStatus.RUNNING
