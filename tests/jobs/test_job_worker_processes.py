"""Jobs outlive the process that queued them and run in separate `heritage worker` processes.

* embedded queue (SQLite file in the data directory): a job queued while no
  worker runs waits, and the worker started later runs it;
* a worker killed with SIGKILL mid-job: the next worker re-queues the job;
* Redis: a worker process sharing only the Redis URL and the database runs it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from heritage.accounts.identity import SYSTEM
from heritage.config import Settings, load_settings
from heritage.jobs.models import Job, JobStatus
from heritage.jobs.services import JobService
from heritage.runtime import Runtime
from heritage.testing.plugin import TEST_SECRET_KEY
from heritage.testing.services import ServiceUnavailable, running_redis

WAIT_SECONDS = 60.0

# A plain script: Runtime and JobService must be enough, whatever else it imports.
ENQUEUE_SCRIPT = """
from heritage.accounts.identity import SYSTEM
from heritage.config import load_settings
from heritage.jobs.services import JobService
from heritage.runtime import Runtime

runtime = Runtime(load_settings())
print(JobService(runtime).enqueue(SYSTEM, "audit.verify").id)
runtime.close()
"""


def queue_settings(base: Settings, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "_env_file": None,
        "data_dir": base.resolved_data_dir,
        "database_url": base.resolved_database_url,
        "secret_key": TEST_SECRET_KEY,
        "password_memory_kib": 1024,
        "queue": "sqlite",
    }
    values.update(overrides)
    return load_settings(**values)


def process_env(settings: Settings) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HERITAGE_")}
    env.update(
        HERITAGE_DATA_DIR=str(settings.resolved_data_dir),
        HERITAGE_DATABASE_URL=settings.resolved_database_url,
        HERITAGE_QUEUE=settings.queue,
        HERITAGE_PASSWORD_MEMORY_KIB="1024",
        HERITAGE_SECRET_KEY=TEST_SECRET_KEY,
        PYTHONUNBUFFERED="1",
    )
    if settings.redis_url:
        env["HERITAGE_REDIS_URL"] = settings.redis_url
    return env


@contextlib.contextmanager
def worker_process(settings: Settings, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`heritage worker` in its own process; stopped with SIGTERM (SIGKILL if it hangs)."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "heritage", "worker", "--threads", "1"],
            cwd=log.parent,
            env=process_env(settings),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def stop(process: subprocess.Popen[bytes], log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"worker ignored SIGTERM; log:\n{log.read_text()}")
    assert code == 0, log.read_text()


def wait_for_log(process: subprocess.Popen[bytes], log: Path, text: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            pytest.fail(f"worker exited ({process.returncode}); log:\n{log.read_text()}")
        time.sleep(0.1)
    pytest.fail(f"worker never said {text!r}; log:\n{log.read_text()}")


def wait_for_job(runtime: Runtime, job_id: str, process: subprocess.Popen[bytes], log: Path) -> Job:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        with runtime.database.session() as session:
            job = session.get(Job, job_id)
        assert job is not None
        if job.status.finished:
            return job
        if process.poll() is not None:
            pytest.fail(f"worker exited ({process.returncode}); log:\n{log.read_text()}")
        time.sleep(0.2)
    pytest.fail(
        f"job {job_id} still {job.status.value} after {WAIT_SECONDS:.0f} s; log:\n{log.read_text()}"
    )


def job_status(runtime: Runtime, job_id: str) -> JobStatus:
    with runtime.database.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job.status


def assert_ran_in(job: Job, process: subprocess.Popen[bytes]) -> None:
    assert job.worker is not None
    host, _, pid = job.worker.rpartition(":")
    assert host == socket.gethostname()
    assert int(pid) == process.pid
    assert int(pid) != os.getpid()


# -- embedded queue -------------------------------------------------------------------
def test_job_queued_by_an_ended_process_runs_when_a_worker_starts(
    heritage_settings: Settings, tmp_path: Path
) -> None:
    settings = queue_settings(heritage_settings)
    enqueue = subprocess.run(
        [sys.executable, "-c", ENQUEUE_SCRIPT],
        cwd=tmp_path,
        env=process_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert enqueue.returncode == 0, f"a plain script could not queue a job:\n{enqueue.stderr}"
    job_id = enqueue.stdout.strip()

    runtime = Runtime(settings)
    try:
        # Nobody runs it yet: it waits in the queue file and in the database.
        assert (settings.resolved_data_dir / "queue.sqlite3").is_file()
        assert runtime.queue.pending_count() == 1
        assert job_status(runtime, job_id) is JobStatus.QUEUED

        log = tmp_path / "worker.log"
        with worker_process(settings, log) as worker:
            job = wait_for_job(runtime, job_id, worker, log)
            assert job.status is JobStatus.SUCCEEDED, job.error
            assert job.attempts == 1
            assert job.result is not None and job.result["checked"] == 1  # job.create
            assert_ran_in(job, worker)
            stop(worker, log)
        assert runtime.queue.pending_count() == 0
    finally:
        runtime.close()


def test_job_of_a_killed_worker_is_requeued_by_the_next_worker(
    heritage_settings: Settings, tmp_path: Path
) -> None:
    settings = queue_settings(heritage_settings)
    runtime = Runtime(settings)
    try:
        log = tmp_path / "worker.log"
        with worker_process(settings, log) as first:
            wait_for_log(first, log, "Worker taking jobs")
            # The first worker takes a job...
            with runtime.database.session(write=True) as session:
                job = Job(
                    id="00000000-0000-4000-8000-0000000000aa",
                    kind="audit.verify",
                    title="interrupted",
                    status=JobStatus.RUNNING,
                    attempts=1,
                    worker=f"{socket.gethostname()}:{first.pid}",
                )
                session.add(job)
                session.commit()
            # ...and dies without a chance to clean up.
            first.send_signal(signal.SIGKILL)
            assert first.wait(20) == -signal.SIGKILL
        assert job_status(runtime, job.id) is JobStatus.RUNNING

        with worker_process(settings, log) as second:
            done = wait_for_job(runtime, job.id, second, log)
            assert done.status is JobStatus.SUCCEEDED, done.error
            assert done.attempts == 2
            assert_ran_in(done, second)
            stop(second, log)
        assert "Re-queued 1 job(s)" in log.read_text()
    finally:
        runtime.close()


def test_recover_interrupted_puts_the_job_back_on_the_embedded_queue(
    heritage_settings: Settings,
) -> None:
    settings = queue_settings(heritage_settings)
    runtime = Runtime(settings)
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        with runtime.database.session(write=True) as session:
            session.add(
                Job(
                    id="00000000-0000-4000-8000-0000000000bb",
                    kind="audit.verify",
                    title="interrupted",
                    status=JobStatus.RUNNING,
                    worker=f"{socket.gethostname()}:{dead.pid}",
                )
            )
            session.commit()
        assert runtime.queue.pending_count() == 0
        assert JobService(runtime).recover_interrupted() == 1
        assert runtime.queue.pending_count() == 1
        assert job_status(runtime, "00000000-0000-4000-8000-0000000000bb") is JobStatus.QUEUED
        # A second call finds nothing more to do.
        assert JobService(runtime).recover_interrupted() == 0
        assert runtime.queue.pending_count() == 1
    finally:
        runtime.close()


# -- Redis ----------------------------------------------------------------------------
@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    try:
        with running_redis(tmp_path / "redis") as url:
            yield url
    except ServiceUnavailable as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis is not installed here: {error}")


@pytest.mark.services
def test_job_runs_in_a_separate_worker_through_redis(
    heritage_settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    settings = queue_settings(heritage_settings, queue="redis", redis_url=redis_url)
    runtime = Runtime(settings)
    try:
        assert runtime.queue.backend == "redis"
        job = JobService(runtime).enqueue(SYSTEM, "audit.verify")
        assert runtime.queue.pending_count() == 1
        assert job_status(runtime, job.id) is JobStatus.QUEUED
        # Nothing went to the embedded queue.
        assert not (settings.resolved_data_dir / "queue.sqlite3").exists()

        log = tmp_path / "worker.log"
        with worker_process(settings, log) as worker:
            done = wait_for_job(runtime, job.id, worker, log)
            assert done.status is JobStatus.SUCCEEDED, done.error
            assert_ran_in(done, worker)
            stop(worker, log)
        assert "redis queue" in log.read_text()
        assert runtime.queue.pending_count() == 0
    finally:
        runtime.close()
