"""The S3 storage root when things go wrong: wrong credentials, concurrent writers and
claims, and crashes at every request of a commit, a creation or a purge (simulated
by one request of the writing instance raising; see ``s3_support.py``)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from heritage.store.ocfl import (
    Changes,
    HeadMismatch,
    ObjectNotFound,
)
from heritage.store.ocfl.layouts import digest_of_id
from heritage.store.ocfl.s3 import ObjectLocked, S3Error, S3StorageRoot
from heritage.testing.services import S3Service, free_port

pytest.importorskip("ocfl", reason="the storage root is judged by ocfl-py (the test extra)")


from tests.store import s3_support
from tests.store.s3_support import (
    ALICE,
    RECORD,
    FakeSigner,
    SimulatedCrash,
    all_keys,
    assert_valid,
    patch_client,
    read_all,
)

pytestmark = pytest.mark.services

# the S3 fixtures: a SeaweedFS server's client, a fresh bucket and a storage root in it
s3, bucket, make_root, root = (
    s3_support.s3,
    s3_support.bucket,
    s3_support.make_root,
    s3_support.root,
)


# --- credentials --------------------------------------------------------------------------------


def test_wrong_secret_missing_bucket_and_no_endpoint_are_clear_errors(
    make_root: Callable[..., S3StorageRoot], seaweedfs: S3Service, bucket: str
) -> None:
    make_root().initialize()
    wrong = "not-the-secret-0123456789"
    with pytest.raises(S3Error) as caught:
        make_root(secret_access_key=wrong).open()
    message = str(caught.value)
    assert bucket in message and seaweedfs.endpoint_url in message
    assert "secret access key" in message and seaweedfs.access_key_id in message
    assert wrong not in message and seaweedfs.secret_access_key not in message
    with pytest.raises(S3Error, match="does not exist"):
        make_root(bucket=f"{bucket}-missing").open()
    nowhere = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(S3Error, match="cannot reach") as caught:
        make_root(endpoint_url=nowhere).open()
    assert seaweedfs.secret_access_key not in str(caught.value)


# --- concurrency --------------------------------------------------------------------------------


def test_concurrent_writers_of_one_object_take_turns(
    make_root: Callable[..., S3StorageRoot], s3: Any, tmp_path: Path
) -> None:
    make_root().initialize()
    processes = [make_root().open(), make_root().open()]  # two clients, as two processes would be
    processes[0].create_or_update(RECORD, Changes.of({"start.txt": b"0"}), "start", ALICE)
    errors: list[BaseException] = []

    def commit(root: S3StorageRoot, writer: int) -> None:
        try:
            for n in range(3):
                name = f"w{writer}-{n}.txt"
                root.create_or_update(RECORD, Changes.of({name: name.encode()}), name, ALICE)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=commit, args=(processes[w % 2], w)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    state = processes[1].state(RECORD)
    assert len(processes[1].versions(RECORD)) == 13
    assert set(state) == {"start.txt"} | {f"w{w}-{n}.txt" for w in range(4) for n in range(3)}
    assert_valid(s3, processes[0], tmp_path)


def test_a_live_claim_blocks_and_a_dead_one_is_taken_over(
    make_root: Callable[..., S3StorageRoot],
) -> None:
    holder = make_root(lease_seconds=1).initialize()
    claim, _ = holder._claims.acquire(digest_of_id(RECORD), RECORD, "test")
    impatient = make_root(lock_timeout=0.3).open(recover=False)
    started = time.monotonic()
    with pytest.raises(ObjectLocked, match="urn:heritage:record:1"):
        impatient.create_or_update(RECORD, Changes.of({"a.txt": b"a"}), "m", ALICE)
    assert time.monotonic() - started < 5
    # the holder never comes back: after its lease (server clock) the next writer takes over
    patient = make_root(lock_timeout=30).open(recover=False)
    assert patient.create_or_update(RECORD, Changes.of({"a.txt": b"a"}), "m", ALICE).version == "v1"
    assert claim.body["writer"] != patient._claims.writer


def test_a_commit_on_another_head_than_expected_writes_nothing(
    root: S3StorageRoot, s3: Any, bucket: str, tmp_path: Path
) -> None:
    root.create_or_update(RECORD, Changes.of({"a.txt": b"1"}), "one", ALICE)
    root.create_or_update(RECORD, Changes.of({"a.txt": b"2"}), "two", ALICE)
    before = all_keys(s3, bucket)
    with pytest.raises(HeadMismatch, match="is at v2, not at v1"):
        root.create_or_update(
            RECORD, Changes.of({"a.txt": b"3"}), "three", ALICE, expected_head="v1"
        )
    assert all_keys(s3, bucket) == before
    done = root.create_or_update(
        RECORD, Changes.of({"a.txt": b"3"}), "three", ALICE, expected_head="v2"
    )
    assert done.version == "v3"
    assert_valid(s3, root, tmp_path)


# --- crashes ------------------------------------------------------------------------------------


def _state_of(root: S3StorageRoot, object_id: str) -> dict[str, bytes] | None:
    try:
        return {path: read_all(root, object_id, path) for path in root.state(object_id)}
    except ObjectNotFound:
        return None


V1 = {"keep.txt": b"kept", "old.txt": b"old"}
V2 = {"keep.txt": b"kept", "new.txt": b"new", "more.txt": b"more"}


def _when(root: S3StorageRoot, target: str | int) -> Callable[..., bool]:
    """Which call crashes: the one writing ``<object root>/target``, the n-th, or a claim's."""
    if isinstance(target, int):
        calls: list[object] = []
        return lambda args, kwargs: calls.append(args) or len(calls) == target
    if target == "claim":
        return lambda args, kwargs: "/claims/" in kwargs.get("Key", "")
    key = f"{root.object_root(RECORD)}/{target}"
    return lambda args, kwargs: kwargs.get("Key") == key


UPDATE_CRASHES = [
    pytest.param("upload_fileobj", 2, V1, id="content"),
    pytest.param("put_object", "v2/inventory.json", V1, id="version-inventory"),
    pytest.param("put_object", "v2/inventory.json.sha512", V1, id="version-sidecar"),
    pytest.param("put_object", "extensions/test-signer/v2.sig", V1, id="signature"),
    pytest.param("put_object", "inventory.json", V1, id="root-inventory"),
    pytest.param("put_object", "inventory.json.sha512", V2, id="root-sidecar"),
    pytest.param("delete_object", "claim", V2, id="claim-release"),
]


@pytest.mark.parametrize(("method", "target", "visible"), UPDATE_CRASHES)
def test_a_crash_during_an_update_leaves_old_or_new_and_recovery_cleans_up(
    make_root: Callable[..., S3StorageRoot],
    s3: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    target: str | int,
    visible: dict[str, bytes],
) -> None:
    make_root().initialize()
    writer = make_root(signer=FakeSigner(), lease_seconds=0).open()
    writer.create_or_update(RECORD, Changes.of(V1), "v1", ALICE)
    patch_client(monkeypatch, writer._bucket.client, method, _when(writer, target))
    changes = Changes.of({"new.txt": io.BytesIO(b"new"), "more.txt": b"more"}, {"old.txt"})
    with pytest.raises(SimulatedCrash):
        writer.create_or_update(RECORD, changes, "v2", ALICE)
    monkeypatch.undo()

    reader = make_root().open(recover=False)  # looks, without cleaning up
    assert _state_of(reader, RECORD) == visible
    claims = all_keys(s3, reader.bucket_name, "ocfl/extensions/heritage-staging/claims/")
    assert len(claims) == 1, "the dead writer's claim is still there"

    recovering = make_root(signer=FakeSigner()).open(recover=False)
    assert recovering.recover() == [RECORD]
    assert _state_of(recovering, RECORD) == visible
    files = recovering.object_files(RECORD)
    if visible == V1:  # nothing of the unfinished version is left
        assert not [f for f in files if f.startswith("v2/") or "v2.sig" in f], files
    else:
        assert recovering.inventory(RECORD).head == "v2"
    assert recovering.recover() == []
    assert_valid(s3, recovering, tmp_path)
    after = recovering.create_or_update(RECORD, Changes.of({"after.txt": b"x"}), "after", ALICE)
    assert after.version == ("v2" if visible == V1 else "v3")
    assert_valid(s3, recovering, tmp_path)


CREATE_CRASHES = [
    pytest.param("upload_fileobj", 1, None, id="content"),
    pytest.param("put_object", "0=ocfl_object_1.1", None, id="declaration"),
    pytest.param("put_object", "v1/inventory.json", None, id="version-inventory"),
    pytest.param("put_object", "extensions/test-signer/v1.sig", None, id="signature"),
    pytest.param("put_object", "inventory.json.sha512", None, id="root-sidecar"),
    pytest.param("put_object", "inventory.json", None, id="root-inventory"),
    pytest.param("delete_object", "claim", V1, id="claim-release"),
]


@pytest.mark.parametrize(("method", "target", "visible"), CREATE_CRASHES)
def test_a_crash_while_creating_leaves_nothing_or_the_whole_object(
    make_root: Callable[..., S3StorageRoot],
    s3: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    target: str | int,
    visible: dict[str, bytes] | None,
) -> None:
    make_root().initialize()
    writer = make_root(signer=FakeSigner(), lease_seconds=0).open()
    patch_client(monkeypatch, writer._bucket.client, method, _when(writer, target))
    with pytest.raises(SimulatedCrash):
        writer.create_or_update(RECORD, Changes.of(V1), "v1", ALICE)
    monkeypatch.undo()

    reader = make_root().open(recover=False)
    assert _state_of(reader, RECORD) == visible
    assert list(reader.object_ids()) == ([RECORD] if visible else [])
    # the next writer of the object takes the dead claim over and cleans up first
    next_writer = make_root(signer=FakeSigner()).open(recover=False)
    result = next_writer.create_or_update(RECORD, Changes.of({"x.txt": b"x"}), "next", ALICE)
    assert result.version == ("v2" if visible else "v1")
    expected = {**(visible or {}), "x.txt": b"x"}
    assert _state_of(next_writer, RECORD) == expected
    assert_valid(s3, next_writer, tmp_path)


@pytest.mark.parametrize("step", ["root-inventory", "the-rest"])
def test_a_crash_while_purging_leaves_the_object_whole_or_gone(
    make_root: Callable[..., S3StorageRoot],
    s3: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
) -> None:
    make_root().initialize()
    writer = make_root(lease_seconds=0).open()
    writer.create_or_update(RECORD, Changes.of(V1), "v1", ALICE)
    if step == "root-inventory":
        method, when = "delete_object", _when(writer, "inventory.json")
    else:
        method, when = "delete_objects", _when(writer, 1)
    patch_client(monkeypatch, writer._bucket.client, method, when)
    with pytest.raises(SimulatedCrash):
        writer.purge(RECORD)
    monkeypatch.undo()
    visible = V1 if step == "root-inventory" else None
    assert _state_of(make_root().open(recover=False), RECORD) == visible
    recovering = make_root().open(recover=False)
    assert recovering.recover() == [RECORD]
    assert _state_of(recovering, RECORD) == visible
    if visible is None:
        assert all_keys(s3, recovering.bucket_name, recovering.object_root(RECORD) + "/") == []
    assert_valid(s3, recovering, tmp_path)


def test_an_error_mid_commit_is_rolled_back_at_once(
    make_root: Callable[..., S3StorageRoot],
    s3: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = make_root().initialize()
    root.create_or_update(RECORD, Changes.of(V1), "v1", ALICE)
    patch_client(
        monkeypatch,
        root._bucket.client,
        "put_object",
        _when(root, "v2/inventory.json.sha512"),
        exception=ConnectionError("network went away"),
    )
    with pytest.raises(ConnectionError):
        root.create_or_update(RECORD, Changes.of({"new.txt": b"new"}), "v2", ALICE)
    monkeypatch.undo()
    assert _state_of(root, RECORD) == V1
    assert not [f for f in root.object_files(RECORD) if f.startswith("v2/")]
    assert_valid(s3, root, tmp_path)  # no recovery needed: no claim, no orphans


def test_object_ids_skip_objects_whose_creation_was_cut_short(
    make_root: Callable[..., S3StorageRoot], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_root(lease_seconds=0).initialize()
    root.create_or_update("urn:a", Changes.of({"a": b"a"}), "m", ALICE)
    patch_client(
        monkeypatch,
        root._bucket.client,
        "put_object",
        lambda a, k: k["Key"].endswith("/inventory.json"),
    )
    with pytest.raises(SimulatedCrash):
        root.create_or_update("urn:b", Changes.of({"b": b"b"}), "m", ALICE)
    monkeypatch.undo()
    root.create_or_update("urn:c", Changes.of({"c": b"c"}), "m", ALICE)
    assert sorted(root.object_ids()) == ["urn:a", "urn:c"]
    assert root.object_files("urn:b"), "the crash left files behind"
    assert root.recover() == ["urn:b"]
    with pytest.raises(ObjectNotFound):
        root.object_files("urn:b")
