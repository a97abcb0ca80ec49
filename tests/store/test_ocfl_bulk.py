"""Creating many objects at once: each as complete, signed and valid as one created alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from heritage.store.ocfl import Changes, StorageRoot, User
from heritage.store.ocfl.bulk import NewObject
from heritage.store.signing import EXTENSION_NAME, SigningKey
from heritage.store.verify import verify_object
from tests.store import test_signing
from tests.store.test_ocfl_store import EXPECTED_ROOT_WARNINGS

ALICE = User("Alice", "mailto:alice@example.org")


def assert_valid(root: StorageRoot) -> None:
    """ocfl-py finds no error; the only warnings are those every signed root gets, and no
    directory under the root is empty (E073)."""
    pytest.importorskip("ocfl")
    from heritage.store.ocfl.validate import validate_storage_root

    root.wait_for_cleanup()
    empty = [d for d, dirs, files in os.walk(root.path) if not dirs and not files]
    assert not empty, f"empty directories: {empty}"
    report = validate_storage_root(root.path)
    assert report.valid and report.errors == [], report.summary()
    for warning in report.warnings:
        signed = warning.code == "W013" and EXTENSION_NAME in warning.message
        assert signed or warning.message in EXPECTED_ROOT_WARNINGS, report.summary()


# a signing key and a signed storage root, as the signing tests make them
key, root = test_signing.key, test_signing.root


def new_objects(count: int, prefix: str = "urn:heritage:bulk") -> list[NewObject]:
    return [
        NewObject(
            f"{prefix}:{number}",
            {"record.jsonld": f'{{"n": {number}}}'.encode(), "media/empty.txt": b""},
            f"Imported {number}",
            ALICE,
        )
        for number in range(count)
    ]


def test_a_batch_creates_every_object_signed_and_valid(root: StorageRoot, key: SigningKey) -> None:
    batch = new_objects(40)
    created = root.create_objects(batch)
    assert [item.object_id for item in created] == [item.object_id for item in batch]
    assert not any(item.existed for item in created)
    for item, result in zip(batch, created, strict=True):
        assert result.inventory is not None and result.inventory.head == "v1"
        assert root.inventory(item.object_id).to_json() == result.inventory.to_json()
        version = root.versions(item.object_id)[0]
        assert (version.message, version.user) == (item.message, ALICE)
        for path, data in item.files.items():
            with root.read(item.object_id, path) as stream:
                assert stream.read() == data
        report = verify_object(root.object_root(item.object_id), [key.public])
        assert report.ok and report.signatures_verified == 1, [f.line() for f in report.findings]
    staging = root.path / "extensions" / "heritage-staging"
    root.wait_for_cleanup()
    assert not list(staging.glob("work-*"))
    assert_valid(root)


def test_objects_that_exist_are_left_alone_and_reported(root: StorageRoot) -> None:
    batch = new_objects(3)
    root.create_or_update(batch[1].object_id, Changes.of({"other.txt": b"x"}), "first", ALICE)
    created = root.create_objects(batch)
    assert [item.existed for item in created] == [False, True, False]
    assert root.state(batch[1].object_id).keys() == {"other.txt"}
    assert root.inventory(batch[1].object_id).head == "v1"
    assert_valid(root)


def test_a_batch_naming_an_object_twice_creates_nothing(root: StorageRoot) -> None:
    batch = new_objects(2)
    with pytest.raises(ValueError, match="twice"):
        root.create_objects([*batch, batch[0]])
    assert list(root.object_ids()) == []
    assert_valid(root)


CHILD = r"""
import sys
from heritage.store.ocfl import StorageRoot, User
from heritage.store.ocfl.bulk import NewObject

root = StorageRoot(sys.argv[1]).open()
user = User("Crash test", "mailto:crash@example.org")
print("ready", flush=True)
batch = 0
while True:
    items = [NewObject(f"urn:heritage:crash:{batch}-{n}", {"a.txt": b"a" * n, "b/c.txt": b"c"},
                       "bulk", user) for n in range(50)]
    print("begin", batch, flush=True)
    root.create_objects(items)
    print("done", batch, flush=True)
    batch += 1
"""


def test_sigkill_during_a_batch_leaves_each_object_whole_or_absent(tmp_path: Path) -> None:
    pytest.importorskip("ocfl", reason="ocfl-py gives the verdict")
    path = tmp_path / "ocfl"
    StorageRoot(path).initialize().wait_for_cleanup()
    done: set[int] = set()
    for delay in (0.05, 0.15, 0.3, 0.6):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate(timeout=30)
        done |= {int(line.split()[1]) for line in out.split("\n")[:-1] if line.startswith("done")}
        storage = StorageRoot(path).open()  # recovery clears what the killed writer left
        for object_id in storage.object_ids():
            batch, number = (int(part) for part in object_id.rsplit(":", 1)[1].split("-"))
            with storage.read(object_id, "a.txt") as stream:
                assert stream.read() == b"a" * number, object_id
        present = {object_id for object_id in storage.object_ids()}
        for batch in done:
            assert all(f"urn:heritage:crash:{batch}-{n}" in present for n in range(50))
        assert_valid(storage)
