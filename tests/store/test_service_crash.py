"""SIGKILL during version commits through the whole service (store, database, encryption).

A worker process commits versions of objects in an encrypted workspace through
``PreservationService`` in a loop and is killed at a random moment, 20 times.
Afterwards every object is whole at some version whose files all decrypt and
match their SHA-256, ocfl-py (library and stock script) and ``heritage verify``
call the store valid, and ``rebuild_index`` makes the index agree with it.

Why the database may lag the store, and why that is safe: a change commits the
new OCFL version first and the database transaction (index rows, PREMIS event,
audit entry) after it. A kill between the two leaves the version in the store,
the store being the source of truth, and the index one version behind for that
object (or without the object, if it was being created). The next change of the
object finds the store ahead (the store refuses a commit on another head than
the index knows), brings the index rows in line and records the missed
version's PREMIS event from its inventory (user, message, time) with an audit
entry; the fixity audit does the same for objects no change touches, and
``heritage rebuild-index`` for all objects, those cut short while being created
included. This test checks the fixity audit's part after the kills.

Twenty fresh interpreters would spend most of the time budget importing, so
the killed workers are forked from one warm interpreter (a small script) that
has imported everything but opened nothing; each is still a process of its own
that the kernel kills, with its database connection and file locks.
"""

from __future__ import annotations

import hashlib
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import structlog
from sqlalchemy import select as sql_select
from typer.testing import CliRunner

from heritage.accounts.identity import SYSTEM
from heritage.audit.services import verify_chain
from heritage.cli.main import app
from heritage.config import Settings
from heritage.runtime import Runtime
from heritage.store.backends import open_storage_root
from heritage.store.description import DESCRIPTION_PATH
from heritage.store.index import rebuild_index
from heritage.store.maintenance import FixityService
from heritage.store.models import StoredObject
from heritage.store.services import PreservationService
from heritage.testing.plugin import TEST_SECRET_KEY
from heritage.testing.world import build_world

pytest.importorskip("ocfl", reason="the crash test asks ocfl-py for its verdict")

from heritage.store.ocfl.validate import validate_storage_root

ITERATIONS = 20
TIME_BUDGET_S = 60

SERVER = r"""
import os, random, sys
from heritage.accounts.identity import SYSTEM
from heritage.config import load_settings
from heritage.errors import InvalidInput
from heritage.runtime import Runtime
from heritage.store.services import PreservationService

SIZES = [0, 100, 4096, 70_000, 300_000, 1_200_000]  # the largest spans two encryption chunks


def work(seed, log_path):
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 2)  # a worker that fails by itself leaves its traceback in its log
    # the application's own log lines (an index catching up, say) go beside it, not
    # into the server's answers on stdout nor between the lines of the log
    os.dup2(os.open(log_path + ".out", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), 1)

    def say(*words):
        os.write(log, (" ".join(words) + "\n").encode())  # one write: a line is whole or absent

    service = PreservationService(Runtime(load_settings(_env_file=None)))
    rnd = random.Random(seed)
    say("ready")
    while True:
        rows = [
            r for r in service.list_objects(SYSTEM, "alpha") if not r.deleted and r.kind == "files"
        ]
        if len(rows) < 4 or rnd.random() < 0.1:
            say("begin", "new")
            view = service.create_object(
                SYSTEM, "alpha", title="crash", files={"f.bin": os.urandom(rnd.choice(SIZES))}
            )
        else:
            row = rnd.choice(rows)
            uuid = row.object_id.removeprefix("urn:uuid:")
            present = {f.logical_path for f in service.get(SYSTEM, "alpha", uuid).files}
            add = {
                f"d{rnd.randrange(2)}/f{rnd.randrange(4)}.bin": os.urandom(rnd.choice(SIZES))
                for _ in range(rnd.randint(1, 2))
            }
            removable = sorted(present - set(add))
            say("begin", row.object_id)
            try:
                if removable and rnd.random() < 0.3:
                    view = service.remove_files(SYSTEM, "alpha", uuid, [rnd.choice(removable)])
                else:
                    view = service.add_files(SYSTEM, "alpha", uuid, add)
            except InvalidInput as error:
                # the file was chosen from an index a kill left behind the store: the
                # store refuses to remove what it does not hold, and nothing is written
                say("refused", row.object_id, str(error))
                continue
        say("done", view.row.object_id, view.row.head_version)


print("ready", flush=True)
for line in sys.stdin:
    seed, log_path = line.split()
    pid = os.fork()
    if pid == 0:
        try:
            work(int(seed), log_path)
        except BaseException:
            import traceback
            traceback.print_exc()  # into the worker's log (stderr was pointed there)
        finally:
            os._exit(1)
    print("pid", pid, flush=True)
    os.waitpid(pid, 0)
    print("reaped", pid, flush=True)
"""


def child_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERITAGE_")}
    env.update(
        HERITAGE_DATA_DIR=str(settings.resolved_data_dir),
        HERITAGE_DATABASE_URL=settings.resolved_database_url,
        HERITAGE_SECRET_KEY=TEST_SECRET_KEY,
        HERITAGE_PASSWORD_MEMORY_KIB="1024",
        HERITAGE_QUEUE="immediate",
        HERITAGE_LOG_LEVEL="WARNING",
    )
    return env


def read_line(stream: object, timeout: float = 60) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, "the worker server stopped answering"
    return stream.readline().strip()  # type: ignore[attr-defined]


def wait_ready(log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and log.read_bytes().startswith(b"ready\n"):
            return
        time.sleep(0.005)
    pytest.fail("the worker never started")


def heads(storage: object) -> dict[str, int]:
    return {
        object_id: int(storage.inventory(object_id).head[1:])  # type: ignore[attr-defined]
        for object_id in storage.object_ids()  # type: ignore[attr-defined]
    }


def indexed(runtime: Runtime) -> dict[str, int]:
    with runtime.database.session() as session:
        rows = session.execute(sql_select(StoredObject.object_id, StoredObject.head_version))
        return {object_id: int(head[1:]) for object_id, head in rows}


def check_every_version(runtime: Runtime, object_ids: set[str]) -> int:
    """Every file of every version opens, decrypts and has its recorded SHA-256."""
    service = PreservationService(runtime)
    checked = 0
    for object_id in sorted(object_ids):
        uuid = object_id.removeprefix("urn:uuid:")
        for version in service.versions(SYSTEM, "alpha", uuid):
            state = runtime.storage.state(object_id, version.name)
            for path in sorted(set(state) - {DESCRIPTION_PATH}):
                with service.open_file(SYSTEM, "alpha", uuid, path, version.name) as opened:
                    assert opened.encrypted, (object_id, path)
                    data = opened.read_all()
                assert len(data) == opened.size
                assert hashlib.sha256(data).hexdigest() == opened.sha256, (object_id, path)
                checked += 1
    return checked


def test_sigkill_during_service_commits_never_breaks_an_object(
    heritage_runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    build_world(heritage_runtime)
    settings = heritage_runtime.settings
    heritage_runtime.storage  # noqa: B018 - the signing key exists before any worker runs
    rnd = random.Random(20_241_123)
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=child_env(settings),
        cwd=tmp_path,  # no stray .env
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    assert read_line(server.stdout) == "ready"

    finished: dict[str, int] = {}  # the highest version each object was reported to reach
    may_lag: set[str] = set()  # objects whose commit was cut between store and database
    orphans_allowed = 0  # objects cut between their first version and their first rows
    killed_mid_commit = total = lag_seen = 0
    try:
        for iteration in range(ITERATIONS):
            log = tmp_path / f"worker-{iteration}.log"
            server.stdin.write(f"{rnd.randrange(2**31)} {log}\n")
            server.stdin.flush()
            pid = int(read_line(server.stdout).split()[1])
            wait_ready(log)
            time.sleep(rnd.uniform(0.05, 1.2))
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pytest.fail(f"worker {iteration} ended by itself:\n{log.read_text()[-4000:]}")
            assert read_line(server.stdout) == f"reaped {pid}"

            lines = log.read_text().split("\n")[:-1]  # complete lines only
            for line in lines:
                words = line.split()
                if words[0] == "done":
                    finished[words[1]] = max(finished.get(words[1], 0), int(words[2][1:]))
                    may_lag.discard(words[1])  # its rows were committed with this version
                    total += 1
            if lines[-1].startswith("begin"):
                killed_mid_commit += 1
                in_flight = lines[-1].split()[1]
                if in_flight == "new":
                    orphans_allowed += 1
                else:
                    may_lag.add(in_flight)

            storage = open_storage_root(settings)  # recovers after the killed writer
            staging = settings.resolved_storage_root / "extensions" / "heritage-staging"
            assert not list(staging.glob("work-*")), "recovery leaves no work directory"
            store, index = heads(storage), indexed(heritage_runtime)
            for object_id, version in finished.items():
                assert store[object_id] >= version, f"a finished commit of {object_id} was lost"
            for object_id, version in index.items():
                assert version <= store[object_id], f"the index is ahead of {object_id}"
            behind = {o for o in index if index[o] != store[o]}
            assert behind <= may_lag, f"iteration {iteration}: unexpected lag {behind - may_lag}"
            orphans = set(store) - set(index)
            assert len(orphans) <= orphans_allowed, f"iteration {iteration}: {orphans}"
            lag_seen += bool(behind or orphans)
    finally:
        server.stdin.close()
        server.kill()
        server.wait(timeout=30)
    looped = time.monotonic() - started

    # -- afterwards: the fixity audit catches the index up, then the audit log, the index
    # rebuilt from the store, every file, validators
    storage = open_storage_root(settings)
    audit = FixityService(heritage_runtime).run(SYSTEM)
    assert audit.ok, audit.summary()
    store, index = heads(storage), indexed(heritage_runtime)
    assert {o: v for o, v in store.items() if o in index} == index, "the audit caught up"
    with heritage_runtime.database.session() as session:
        assert verify_chain(session).ok
    report = rebuild_index(
        heritage_runtime.database, storage, key_lookup=heritage_runtime.keyring.data_key
    )
    assert not report.problems and not report.workspaces_recreated, report
    store = heads(storage)
    assert indexed(heritage_runtime) == store
    alpha = PreservationService(heritage_runtime).list_objects(SYSTEM, "alpha")
    assert len(alpha) > 4
    checked = check_every_version(heritage_runtime, {row.object_id for row in alpha})

    validation = validate_storage_root(settings.resolved_storage_root)
    assert validation.valid, validation.summary()
    # only the warnings for our own extensions (staging, signed inventories)
    assert validation.codes() <= {"W901", "W013"}, validation.summary()
    script = Path(sys.executable).parent / "ocfl-validate.py"
    if script.exists():
        stock = subprocess.run(
            [sys.executable, str(script), str(settings.resolved_storage_root)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert stock.returncode == 0, stock.stdout + stock.stderr

    logging_config = structlog.get_config()
    runner = CliRunner(env=child_env(settings))
    try:
        for object_id in sorted(store):
            verdict = runner.invoke(app, ["verify", object_id])
            assert verdict.exit_code == 0, (object_id, verdict.output)
    finally:
        structlog.configure(**logging_config)  # the CLI pointed it at the captured stderr

    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(
            f"\nservice crash test: {ITERATIONS} kills, {killed_mid_commit} inside a commit, "
            f"{total} commits finished, the index behind the store after {lag_seen} kills, "
            f"{len(store)} objects, {checked} files checked, "
            f"loop {looped:.1f} s, all {elapsed:.1f} s"
        )
    assert killed_mid_commit >= ITERATIONS // 2, "most kills should land inside a commit"
    assert elapsed < TIME_BUDGET_S
