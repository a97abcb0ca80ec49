"""SIGKILL during commits, 20 times: every object stays at its old or its new version.

A child process commits versions of a few objects in a loop (files from empty
to 1.5 MB, additions, replacements, removals) and is killed at a random moment.
After each kill the parent opens the store (which recovers), checks that every
object's head is a complete version whose files match their digests, that no
version the child reported as committed was lost, and asks ocfl-py to validate
the whole storage root.
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

from heritage.store.ocfl import StorageRoot

pytest.importorskip("ocfl", reason="the crash test asks ocfl-py for its verdict")

from heritage.store.ocfl.validate import validate_storage_root

ITERATIONS = 20
TIME_BUDGET_S = 60

CHILD = r"""
import os, random, sys
from heritage.store.ocfl import Changes, ObjectNotFound, StorageRoot, User

root = StorageRoot(sys.argv[1]).open()
iteration, rnd = int(sys.argv[2]), random.Random(int(sys.argv[3]))
# fresh objects each round, plus the previous round's, so updates of existing objects are cut too
ids = [f"urn:heritage:crash:{n}-{k}" for n in {iteration, max(iteration - 1, 0)} for k in range(3)]
sizes = [0, 100, 2048, 65536, 1_500_000]
user = User("Crash test", "mailto:crash@example.org")
print("ready", flush=True)
count = 0
while True:
    object_id = rnd.choice(ids)
    try:
        head = set(root.state(object_id))
    except ObjectNotFound:
        head = set()
    add = {f"dir-{rnd.randrange(2)}/file-{rnd.randrange(5)}.bin": os.urandom(rnd.choice(sizes))
           for _ in range(rnd.randint(1, 3))}
    removable = sorted(head - set(add))
    remove = {rnd.choice(removable)} if removable and rnd.random() < 0.3 else set()
    print("begin", object_id, flush=True)
    result = root.create_or_update(object_id, Changes.of(add, remove), f"commit {count}", user)
    print("done", object_id, result.version, flush=True)
    count += 1
"""


def start_child(root: Path, iteration: int, seed: int) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), str(iteration), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], 30)
    line = child.stdout.readline() if ready else ""
    if line.strip() != "ready":
        child.kill()
        _, err = child.communicate()
        pytest.fail(f"child did not start: {line!r} {err}")
    return child


def check_heads(storage: StorageRoot) -> int:
    """Each head is a complete version whose every file has its recorded digest."""
    objects = 0
    for object_id in storage.object_ids():
        objects += 1
        inventory = storage.inventory(object_id)
        names = inventory.version_names()
        assert names == [f"v{n}" for n in range(1, len(names) + 1)], object_id
        for logical_path, digest in storage.state(object_id).items():
            with storage.read(object_id, logical_path) as stream:
                assert hashlib.sha512(stream.read()).hexdigest() == digest, (
                    object_id,
                    logical_path,
                )
    return objects


def test_sigkill_during_commits_never_breaks_an_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    rnd = random.Random(20_240_601)
    path = tmp_path / "ocfl"
    StorageRoot(path).initialize().wait_for_cleanup()
    committed: dict[str, int] = {}  # the highest version each object was reported to have
    killed_mid_commit = 0
    total_commits = 0

    for iteration in range(ITERATIONS):
        child = start_child(path, iteration, rnd.randrange(2**31))
        time.sleep(rnd.uniform(0.01, 0.3))
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL

        # a line cut by the kill (no newline yet) proves nothing: keep complete lines only
        lines = out.split("\n")[:-1]
        if lines and lines[-1].startswith("begin"):
            killed_mid_commit += 1
        for line in lines:
            if line.startswith("done"):
                _, object_id, version = line.split()
                committed[object_id] = max(committed.get(object_id, 0), int(version[1:]))
                total_commits += 1

        storage = StorageRoot(path).open()  # recovery removes what the killed writer left
        staging = path / "extensions" / "heritage-staging"
        assert not list(staging.glob("work-*")), "recovery leaves no work directory behind"
        empty = [d for d, dirs, files in os.walk(path) if not dirs and not files]
        assert not empty, f"empty directories under the storage root (E073): {empty}"
        check_heads(storage)
        for object_id, version in committed.items():
            head = int(storage.inventory(object_id).head[1:])
            # a commit the child finished is never lost; at most the one it was in adds to it
            assert version <= head <= version + 1, (object_id, version, head)
        report = validate_storage_root(path)
        assert report.valid, f"iteration {iteration}:\n{report.summary()}"
        assert report.codes() <= {"W901"}, report.summary()

    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(
            f"\ncrash test: {ITERATIONS} kills, {killed_mid_commit} between 'begin' and 'done'"
            f" of a commit, {total_commits} commits finished, {len(committed)} objects,"
            f" {elapsed:.1f} s"
        )
    assert killed_mid_commit >= ITERATIONS // 2, "most kills should land inside a commit"
    assert elapsed < TIME_BUDGET_S
