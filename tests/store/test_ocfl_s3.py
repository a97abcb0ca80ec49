"""The S3 storage root against a real S3 server (SeaweedFS, credentials enforced).

Each test gets its own bucket, so the tests run in parallel (``-n 2``). After a
scenario the storage root is downloaded and judged by ocfl-py: through
``validate_storage_root`` and through the stock ``ocfl-validate.py`` script.
Crashes are simulated by making one client request of the writing instance
raise a ``BaseException`` (so no clean-up code runs, as if the process died);
readers and the recovering instance use clients of their own.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig

from heritage.config import load_settings
from heritage.store.backends import open_storage_root
from heritage.store.ocfl import (
    Changes,
    CorruptObject,
    InvalidChange,
    ObjectExists,
    ObjectNotFound,
    PathNotFound,
    StorageRoot,
    StoreNotInitialised,
    User,
    VersionNotFound,
)
from heritage.store.ocfl.hooks import StagedFile
from heritage.store.ocfl.layouts import digest_of_id
from heritage.store.ocfl.s3 import ObjectLocked, S3Error, S3StorageRoot
from heritage.store.ocfl.s3_io import READ_BUFFER
from heritage.testing.services import S3Service, free_port

pytest.importorskip("ocfl", reason="the storage root is judged by ocfl-py (the test extra)")

from heritage.store.ocfl.validate import import_object, validate_storage_root

pytestmark = pytest.mark.services

MiB = 1024 * 1024
ALICE = User("Alice", "mailto:alice@example.org")
RECORD = "urn:heritage:record:1"
OCFL_VALIDATE = Path(sys.prefix) / "bin" / "ocfl-validate.py"
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "data" / "ocfl" / "1.1"


class SimulatedCrash(BaseException):
    """Stands for the process dying: not an Exception, so no clean-up code runs."""


class FakeSigner:
    """A VersionSigner: one ``<version>.sig`` per version and a ``config.json``."""

    extension_name = "test-signer"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bytes]] = []

    def sign_version(
        self, object_id: str, version: str, inventory_bytes: bytes
    ) -> dict[str, bytes]:
        self.calls.append((object_id, version, inventory_bytes))
        signature = hashlib.sha256(object_id.encode() + inventory_bytes).hexdigest().encode()
        return {f"{version}.sig": signature, "config.json": b'{"extensionName": "test-signer"}\n'}


@pytest.fixture(scope="session")
def s3(seaweedfs: S3Service) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=seaweedfs.endpoint_url,
        aws_access_key_id=seaweedfs.access_key_id,
        aws_secret_access_key=seaweedfs.secret_access_key,
        region_name=seaweedfs.region,
    )


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    name = f"heritage-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    yield name
    keys = [key for key in all_keys(s3, name)]
    for start in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        s3.delete_objects(Bucket=name, Delete={"Objects": batch, "Quiet": True})
    s3.delete_bucket(Bucket=name)


@pytest.fixture
def make_root(seaweedfs: S3Service, bucket: str) -> Callable[..., S3StorageRoot]:
    def make(prefix: str = "ocfl", **options: Any) -> S3StorageRoot:
        credentials = {
            "endpoint_url": seaweedfs.endpoint_url,
            "access_key_id": seaweedfs.access_key_id,
            "secret_access_key": seaweedfs.secret_access_key,
        }
        return S3StorageRoot(options.pop("bucket", bucket), prefix, **{**credentials, **options})

    return make


@pytest.fixture
def root(make_root: Callable[..., S3StorageRoot]) -> S3StorageRoot:
    return make_root().initialize()


def all_keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [entry["Key"] for entry in page.get("Contents", [])]
    return keys


def download(s3: Any, bucket: str, prefix: str, target: Path) -> Path:
    base = f"{prefix}/" if prefix else ""
    target.mkdir(parents=True)
    for key in all_keys(s3, bucket, base):
        path = target / key[len(base) :]
        path.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(path))
    return target


def assert_valid(s3: Any, root: S3StorageRoot, tmp_path: Path, *, stock_root: bool = True) -> Path:
    """Download the storage root; ocfl-py and its stock script must find it valid.

    ``ocfl-validate.py`` run on a storage root exits 0 even when an object in it
    is invalid (ocfl-py 2.1 counts bad objects but does not report them in its
    status), so it is run on each object directory as well. ``stock_root=False``
    for layout 0004, which stock ocfl-py does not know (``validate.py`` teaches it).
    """
    target = download(s3, root.bucket_name, root.prefix, tmp_path / f"copy-{uuid.uuid4().hex}")
    report = validate_storage_root(target)
    assert report.valid, report.summary()
    claims = [p for p in (target / "extensions/heritage-staging/claims").glob("*")]
    assert not claims, f"claims left behind: {claims}"
    objects = sorted({p.parent for p in target.rglob("0=ocfl_object_1.*")})
    paths = [str(path) for path in ([target, *objects] if stock_root else objects)]
    result = subprocess.run(  # one run for all: the script exits 1 if any path is invalid
        [sys.executable, str(OCFL_VALIDATE), *paths], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"ocfl-validate.py {paths}:\n{result.stdout}{result.stderr}"
    return target


def read_all(root: S3StorageRoot, object_id: str, path: str, version: str | None = None) -> bytes:
    with root.read(object_id, path, version) as stream:
        return stream.read()


def patch_client(
    monkeypatch: pytest.MonkeyPatch,
    client: Any,
    method: str,
    when: Callable[[tuple[Any, ...], dict[str, Any]], bool] | None = None,
    exception: BaseException | None = None,
) -> list[dict[str, Any]]:
    """Wrap one method of this client instance only (undone by monkeypatch): record each
    call's arguments and, on the call ``when`` picks, raise (a simulated crash by default)."""
    calls: list[dict[str, Any]] = []
    original = getattr(client, method)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append({"args": args, **kwargs})
        if when is not None and when(args, kwargs):
            raise exception or SimulatedCrash(f"{method} {kwargs.get('Key', args)}")
        return original(*args, **kwargs)

    monkeypatch.setattr(client, method, wrapper)
    return calls


# --- the basics ---------------------------------------------------------------------------------


def test_create_update_read_versions_state_and_validation(
    root: S3StorageRoot, s3: Any, tmp_path: Path
) -> None:
    image = os.urandom(300_000)
    first = root.create_or_update(
        RECORD,
        Changes.of(
            {"metadata.json": b'{"title": "Astrolabe"}', "images/front.tif": io.BytesIO(image)}
        ),
        "Catalogued",
        ALICE,
    )
    assert (first.version, first.changed) == ("v1", True)
    second = root.create_or_update(
        RECORD,
        Changes.of({"metadata.json": b'{"title": "Astrolabe, brass"}', "images/copy.tif": image}),
        "Title corrected; the same image under a second name",
        User("Bob"),
    )
    assert second.version == "v2"
    third = root.create_or_update(
        RECORD, Changes.of(remove={"images/front.tif"}), "Front image withdrawn", ALICE
    )
    assert third.version == "v3"
    unchanged = root.create_or_update(
        RECORD, Changes.of({"images/copy.tif": image}), "no-op", ALICE
    )
    assert (unchanged.version, unchanged.changed) == ("v3", False)

    assert set(root.state(RECORD, "v1")) == {"metadata.json", "images/front.tif"}
    assert set(root.state(RECORD)) == {"metadata.json", "images/copy.tif"}
    assert read_all(root, RECORD, "metadata.json", "v1") == b'{"title": "Astrolabe"}'
    assert read_all(root, RECORD, "metadata.json") == b'{"title": "Astrolabe, brass"}'
    assert read_all(root, RECORD, "images/front.tif", "v2") == image  # deleted by version, kept
    assert read_all(root, RECORD, "images/copy.tif") == image
    versions = root.versions(RECORD)
    assert [(v.name, v.message, v.user) for v in versions] == [
        ("v1", "Catalogued", ALICE),
        ("v2", "Title corrected; the same image under a second name", User("Bob")),
        ("v3", "Front image withdrawn", ALICE),
    ]
    files = root.object_files(RECORD)
    # the image is stored once: v2 and v3 refer back to v1's copy
    assert [f for f in files if f.endswith(".tif")] == ["v1/content/images/front.tif"]
    assert not [f for f in files if f.startswith("v3/content")]
    assert root.exists(RECORD) and not root.exists("urn:heritage:none")
    assert list(root.object_ids()) == [RECORD]

    with pytest.raises(PathNotFound):
        root.read(RECORD, "images/front.tif")
    with pytest.raises(VersionNotFound):
        root.state(RECORD, "v9")
    with pytest.raises(ObjectNotFound):
        root.inventory("urn:heritage:none")
    with pytest.raises(InvalidChange):
        root.create_or_update(RECORD, Changes.of(remove={"nothing-here"}), "bad", ALICE)
    with pytest.raises(InvalidChange):
        root.create_or_update(RECORD, Changes.of({"../escape": b"x"}), "bad", ALICE)
    assert root.inventory(RECORD).head == "v3"
    assert_valid(s3, root, tmp_path)


def test_initialize_open_and_the_declaration_files(
    make_root: Callable[..., S3StorageRoot], s3: Any, bucket: str, tmp_path: Path
) -> None:
    root = make_root().initialize()
    assert s3.get_object(Bucket=bucket, Key="ocfl/0=ocfl_1.1")["Body"].read() == b"ocfl_1.1\n"
    assert set(all_keys(s3, bucket, "ocfl/")) == {
        "ocfl/0=ocfl_1.1",
        "ocfl/ocfl_layout.json",
        "ocfl/extensions/0003-hash-and-id-n-tuple-storage-layout/config.json",
        "ocfl/extensions/heritage-staging/config.json",
        "ocfl/heritage-staging.md",
    }
    assert make_root().open().layout == root.layout
    with pytest.raises(StoreNotInitialised):
        make_root(layout="0002").open()
    with pytest.raises(FileExistsError):
        make_root().initialize()
    with pytest.raises(StoreNotInitialised):
        make_root(prefix="elsewhere").open()
    # the bucket's top level is fine too, with another layout
    flat = make_root(prefix="", layout="0002")
    with pytest.raises(FileExistsError):  # the bucket holds the other root
        flat.initialize()
    assert_valid(s3, root, tmp_path)


def test_bucket_root_and_layout_0004(
    make_root: Callable[..., S3StorageRoot], s3: Any, tmp_path: Path
) -> None:
    root = make_root(prefix="", layout="0004").initialize()
    for n in range(3):
        root.create_or_update(f"urn:x:{n}", Changes.of({"a.txt": b"%d" % n}), "m", ALICE)
    assert sorted(root.object_ids()) == ["urn:x:0", "urn:x:1", "urn:x:2"]
    assert root.object_root("urn:x:0").count("/") == 3
    assert_valid(s3, root, tmp_path, stock_root=False)


def test_purge_removes_every_file_of_one_object(
    root: S3StorageRoot, s3: Any, tmp_path: Path
) -> None:
    root.create_or_update(RECORD, Changes.of({"a.txt": b"a"}), "one", ALICE)
    root.create_or_update(RECORD, Changes.of({"b.txt": b"b"}), "two", ALICE)
    root.create_or_update("urn:heritage:other", Changes.of({"a.txt": b"a"}), "one", ALICE)
    root.purge(RECORD)
    assert not root.exists(RECORD)
    with pytest.raises(ObjectNotFound):
        root.state(RECORD)
    with pytest.raises(ObjectNotFound):
        root.purge(RECORD)
    assert all_keys(s3, root.bucket_name, root.object_root(RECORD) + "/") == []
    assert list(root.object_ids()) == ["urn:heritage:other"]
    assert read_all(root, "urn:heritage:other", "a.txt") == b"a"
    # the id can be used again, from v1
    assert (
        root.create_or_update(RECORD, Changes.of({"c.txt": b"c"}), "again", ALICE).version == "v1"
    )
    assert_valid(s3, root, tmp_path)


def test_staged_files_and_streams_deduplicate(root: S3StorageRoot, s3: Any, tmp_path: Path) -> None:
    data = os.urandom(100_000)
    staged = tmp_path / "upload.bin"
    staged.write_bytes(data)
    digest = hashlib.sha512(data).hexdigest()
    root.create_or_update(
        RECORD, Changes.of({"known.bin": StagedFile(staged, {"sha512": digest})}), "staged", ALICE
    )
    assert staged.read_bytes() == data, "the caller's file is left as it was"
    other = tmp_path / "other.bin"
    other.write_bytes(b"other content")
    root.create_or_update(
        RECORD,
        Changes.of(
            {
                "unhashed.bin": StagedFile(other),  # the store hashes it itself
                "again.bin": StagedFile(staged),  # content the object holds: not stored again
                "stream-copy.bin": io.BytesIO(data),  # hashed while uploaded, then dropped
            }
        ),
        "more",
        ALICE,
    )
    assert read_all(root, RECORD, "known.bin") == data
    assert read_all(root, RECORD, "again.bin") == data
    assert read_all(root, RECORD, "stream-copy.bin") == data
    assert read_all(root, RECORD, "unhashed.bin") == b"other content"
    assert root.object_files(RECORD).count("v2/content/unhashed.bin") == 1
    assert not [f for f in root.object_files(RECORD) if "copy" in f or "again" in f]
    assert_valid(s3, root, tmp_path)


def test_read_is_seekable_and_fetches_only_the_ranges_asked_for(
    root: S3StorageRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(3 * MiB + 17)
    root.create_or_update(RECORD, Changes.of({"big.bin": data, "empty.txt": b""}), "m", ALICE)
    stream = root.read(RECORD, "big.bin")
    calls = patch_client(monkeypatch, root._bucket.client, "get_object")
    with stream:
        assert stream.seekable()
        assert stream.seek(0, io.SEEK_END) == len(data)
        stream.seek(MiB + 123)
        assert stream.read(1000) == data[MiB + 123 : MiB + 1123]
        assert stream.tell() == MiB + 1123
        stream.seek(-10, io.SEEK_END)
        assert stream.read() == data[-10:]
        stream.seek(2 * MiB)
        assert stream.read(MiB) == data[2 * MiB : 3 * MiB]  # a large read goes straight through
    ranges = [call.get("Range") for call in calls]
    assert all(ranges), f"a GET without a range: {calls}"
    fetched = 0
    for value in ranges:
        start, end = value.removeprefix("bytes=").split("-")
        fetched += int(end) - int(start) + 1
    assert fetched <= 2 * READ_BUFFER + MiB + 64, f"fetched {fetched} bytes for {ranges}"
    with root.read(RECORD, "empty.txt") as stream:
        assert stream.read() == b""
    with root.open_stored(RECORD, "v1/content/big.bin") as stream:
        stream.seek(len(data) - 5)
        assert stream.read() == data[-5:]


def test_a_large_file_goes_up_in_parts_with_flat_memory(
    make_root: Callable[..., S3StorageRoot], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = TransferConfig(
        multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=2, max_io_queue=2
    )
    config.max_in_memory_upload_chunks = 2
    root = make_root(transfer_config=config).initialize()
    size = 40 * MiB
    expected = hashlib.sha512()

    class Generated(io.RawIOBase):
        """40 MiB of pseudo-random bytes, made as they are read (never all in memory)."""

        def __init__(self) -> None:
            self.left = size
            self.counter = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            n = min(len(buffer), self.left, 64 * 1024)
            block = hashlib.shake_256(self.counter.to_bytes(8, "big")).digest(n)
            self.counter += 1
            buffer[:n] = block
            expected.update(block)
            self.left -= n
            return n

    parts = patch_client(monkeypatch, root._bucket.client, "upload_part")
    tracemalloc.start()
    try:
        root.create_or_update(RECORD, Changes.of({"big.bin": Generated()}), "large", ALICE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(parts) >= 8, "the file went up in parts"
    assert peak < 24 * MiB, f"peak {peak / MiB:.1f} MiB for a 40 MiB file"
    digest = root.state(RECORD)["big.bin"]
    assert digest == expected.hexdigest()
    hasher = hashlib.sha512()
    with root.read(RECORD, "big.bin") as stream:
        while block := stream.read(4 * MiB):
            hasher.update(block)
    assert hasher.hexdigest() == digest


def test_version_signer_signs_the_exact_inventory_bytes(
    make_root: Callable[..., S3StorageRoot], s3: Any, tmp_path: Path
) -> None:
    signer = FakeSigner()
    root = make_root(signer=signer).initialize()
    root.create_or_update(RECORD, Changes.of({"a.txt": b"a"}), "one", ALICE)
    root.create_or_update(RECORD, Changes.of({"b.txt": b"b"}), "two", ALICE)
    assert [call[1] for call in signer.calls] == ["v1", "v2"]
    base = root.object_root(RECORD)
    for _, version, inventory_bytes in signer.calls:
        stored = s3.get_object(Bucket=root.bucket_name, Key=f"{base}/{version}/inventory.json")
        assert stored["Body"].read() == inventory_bytes
    files = root.object_files(RECORD)
    assert {"extensions/test-signer/v1.sig", "extensions/test-signer/v2.sig"} <= set(files)
    assert "extensions/test-signer/config.json" in files
    assert_valid(s3, root, tmp_path)


def test_import_of_foreign_objects_then_new_versions(
    make_root: Callable[..., S3StorageRoot], s3: Any, tmp_path: Path
) -> None:
    local = StorageRoot(tmp_path / "local").initialize()
    local.create_or_update("urn:local:1", Changes.of({"a.txt": b"a"}), "one", ALICE)
    local.create_or_update("urn:local:1", Changes.of({"b.txt": b"b"}), "two", ALICE)
    local.wait_for_cleanup()
    sources = [local.object_root("urn:local:1")]
    if FIXTURES.is_dir():  # official fixtures: other content directories, sha256, zero padding
        good = ("spec-ex-full", "minimal_content_dir_called_stuff", "minimal_uppercase_digests")
        warn = ("W001_zero_padded_versions", "W004_uses_sha256", "W010_no_version_inventory")
        sources += [FIXTURES / "good-objects" / name for name in good]
        sources += [FIXTURES / "warn-objects" / name for name in warn]
    # several fixtures share an id: each goes to the first root that lacks it
    roots: list[S3StorageRoot] = []
    imported: list[tuple[S3StorageRoot, str, Path]] = []
    for source in sources:
        object_id = json.loads((source / "inventory.json").read_bytes())["id"]
        taken = sum(1 for _, other, _ in imported if other == object_id)
        if taken == len(roots):
            roots.append(make_root(prefix=f"import-{len(roots)}").initialize())
        root = roots[taken]
        assert import_object(source, root).object_id == object_id
        imported.append((root, object_id, source))
    with pytest.raises(ObjectExists):
        import_object(sources[0], roots[0])
    for root, object_id, source in imported:
        inventory = root.inventory(object_id)
        for path, digest in root.state(object_id).items():
            content_path = inventory.manifest[digest][0]
            assert read_all(root, object_id, path) == (source / content_path).read_bytes()
        update = root.create_or_update(object_id, Changes.of({"added.txt": b"new"}), "+", ALICE)
        assert read_all(root, object_id, "added.txt", update.version) == b"new"
    for root in roots:
        expected = sorted(object_id for other, object_id, _ in imported if other is root)
        assert sorted(root.object_ids()) == expected
        assert_valid(s3, root, tmp_path)


def test_raw_access_and_repair_of_a_stored_file(
    root: S3StorageRoot, s3: Any, tmp_path: Path
) -> None:
    data = os.urandom(50_000)
    root.create_or_update(RECORD, Changes.of({"image.tif": data}), "one", ALICE)
    files = root.object_files(RECORD)
    assert files == sorted(files)
    assert {"0=ocfl_object_1.1", "inventory.json", "inventory.json.sha512"} <= set(files)
    assert {"v1/inventory.json", "v1/inventory.json.sha512", "v1/content/image.tif"} <= set(files)
    key = f"{root.object_root(RECORD)}/v1/content/image.tif"
    s3.put_object(Bucket=root.bucket_name, Key=key, Body=b"bit rot" + data[7:])
    with root.open_stored(RECORD, "v1/content/image.tif") as stream:
        assert stream.read(7) == b"bit rot"
    root.restore_stored(RECORD, "v1/content/image.tif", io.BytesIO(data))
    assert read_all(root, RECORD, "image.tif") == data
    with pytest.raises(PathNotFound):
        root.open_stored(RECORD, "v1/content/missing")
    with pytest.raises(PathNotFound):
        root.restore_stored(RECORD, "v1/content/missing", io.BytesIO(b"x"))
    with pytest.raises(ObjectNotFound):
        root.object_files("urn:heritage:none")
    with pytest.raises(ObjectNotFound):
        root.open_stored("urn:heritage:none", "inventory.json")
    for bad in ("../x", "/etc/passwd", "v1//a"):
        with pytest.raises(ValueError):
            root.open_stored(RECORD, bad)
    assert_valid(s3, root, tmp_path)

    # a lost root inventory is damage: writers refuse to touch the object, a repair restores it
    inventory_key = f"{root.object_root(RECORD)}/inventory.json"
    saved = s3.get_object(Bucket=root.bucket_name, Key=inventory_key)["Body"].read()
    s3.delete_object(Bucket=root.bucket_name, Key=inventory_key)
    assert not root.exists(RECORD)
    with pytest.raises(CorruptObject, match=r"no inventory\.json"):
        root.create_or_update(RECORD, Changes.of({"x": b"x"}), "m", ALICE)
    assert "v1/content/image.tif" in root.object_files(RECORD), "nothing was deleted"
    with pytest.raises(CorruptObject, match="not an inventory"):  # recreated only as one
        root.restore_stored(RECORD, "inventory.json", io.BytesIO(b"{damaged"))
    root.restore_stored(RECORD, "inventory.json", io.BytesIO(saved))  # it names a version
    s3.put_object(Bucket=root.bucket_name, Key=inventory_key, Body=b"{damaged")
    root.restore_stored(RECORD, "inventory.json", io.BytesIO(saved))
    assert read_all(root, RECORD, "image.tif") == data
    assert_valid(s3, root, tmp_path)


def test_settings_and_the_backend_registry(
    seaweedfs: S3Service, bucket: str, tmp_path: Path
) -> None:
    settings = load_settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        store_backend="s3",
        s3_endpoint_url=seaweedfs.endpoint_url,
        s3_bucket=bucket,
        s3_prefix="instance",
        s3_access_key_id=seaweedfs.access_key_id,
        s3_secret_access_key=seaweedfs.secret_access_key,
    )
    first = open_storage_root(settings)  # initialises on first use
    assert isinstance(first, S3StorageRoot) and first.location == f"s3://{bucket}/instance"
    first.create_or_update(RECORD, Changes.of({"a.txt": b"a"}), "one", ALICE)
    again = open_storage_root(settings)
    assert read_all(again, RECORD, "a.txt") == b"a"
    replica = open_storage_root(settings, backend="s3", location=f"s3://{bucket}/replica")
    assert replica.prefix == "replica" and list(replica.object_ids()) == []
    assert seaweedfs.secret_access_key not in repr(again)


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
