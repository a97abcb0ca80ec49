"""The S3 storage root against a real S3 server (SeaweedFS, credentials enforced): the
basics. Failures (credentials, concurrent writers, crashes) are in
``test_ocfl_s3_faults.py``; shared fixtures in ``s3_support.py``.

Each test gets its own bucket, so the tests run in parallel (``-n 2``). After a
scenario the storage root is downloaded and judged by ocfl-py: through
``validate_storage_root`` and through the stock ``ocfl-validate.py`` script.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
from heritage.store.ocfl.s3 import S3StorageRoot
from heritage.store.ocfl.s3_io import READ_BUFFER
from heritage.testing.services import S3Service

pytest.importorskip("ocfl", reason="the storage root is judged by ocfl-py (the test extra)")

from heritage.store.ocfl.validate import import_object
from tests.store import s3_support
from tests.store.s3_support import (
    ALICE,
    FIXTURES,
    RECORD,
    FakeSigner,
    MiB,
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
