"""A local primary replicated to a replica storage root in S3 (SeaweedFS), and repaired from it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from heritage.accounts.identity import SYSTEM
from heritage.config import Settings
from heritage.runtime import Runtime
from heritage.store.maintenance import FixityService, ReplicationService
from heritage.store.models import EventOutcome, EventType, PreservationEvent
from heritage.store.ocfl import CorruptObject, PathNotFound
from heritage.store.ocfl.s3 import S3StorageRoot
from heritage.store.services import PreservationService
from heritage.testing.damage import add_workspace, content_path, flip_byte
from heritage.testing.services import S3Service

pytest.importorskip("ocfl", reason="the storage roots are judged by ocfl-py (the test extra)")

from heritage.store.ocfl.validate import validate_storage_root
from tests.store import s3_support
from tests.store.s3_support import SimulatedCrash, assert_valid, patch_client

pytestmark = pytest.mark.services

LETTER = b"Dear Madam, the catalogue is enclosed. " * 2000
SCAN = bytes(range(256)) * 4100  # just over 1 MiB


# the S3 client and a fresh bucket per test, as the storage-root tests use them
s3, bucket = s3_support.s3, s3_support.bucket


@pytest.fixture
def runtime(heritage_settings: Settings, seaweedfs: S3Service, bucket: str) -> Iterator[Runtime]:
    settings = heritage_settings.model_copy(
        update={
            "replica_root": f"s3://{bucket}/replica",
            "s3_endpoint_url": seaweedfs.endpoint_url,
            "s3_access_key_id": seaweedfs.access_key_id,
            "s3_secret_access_key": SecretStr(seaweedfs.secret_access_key),
            "s3_region": seaweedfs.region,
        }
    )
    runtime = Runtime(settings)
    add_workspace(runtime, "letters")
    yield runtime
    runtime.close()


def replica_of(runtime: Runtime) -> S3StorageRoot:
    replica = ReplicationService(runtime).replica
    assert isinstance(replica, S3StorageRoot)
    return replica


def store_object(runtime: Runtime) -> str:
    service = PreservationService(runtime)
    view = service.create_object(
        SYSTEM, "letters", title="Letter", files={"letter.txt": LETTER, "scan.tif": SCAN}
    )
    service.add_files(SYSTEM, "letters", view.uuid, {"reply.txt": b"Thank you."})
    return view.row.object_id


def local_tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def s3_tree(replica: S3StorageRoot, object_id: str) -> dict[str, bytes]:
    found = {}
    for path in replica.object_files(object_id):
        with replica.open_stored(object_id, path) as stream:
            found[path] = stream.read()
    return found


def events(runtime: Runtime, object_id: str, kind: EventType) -> list[PreservationEvent]:
    with runtime.database.session() as session:
        query = select(PreservationEvent).where(
            PreservationEvent.object_id == object_id, PreservationEvent.event_type == kind
        )
        return list(session.scalars(query.order_by(PreservationEvent.id)))


def damage_in_s3(s3: Any, replica: S3StorageRoot, object_id: str, path: str) -> None:
    key = f"{replica.object_root(object_id)}/{path}"
    data = bytearray(s3.get_object(Bucket=replica.bucket_name, Key=key)["Body"].read())
    data[20] ^= 0x01
    s3.put_object(Bucket=replica.bucket_name, Key=key, Body=bytes(data))


def test_each_version_reaches_the_s3_replica(runtime: Runtime, s3: Any, tmp_path: Path) -> None:
    object_id = store_object(runtime)
    replica = replica_of(runtime)
    primary = runtime.storage.object_root(object_id)
    assert s3_tree(replica, object_id) == local_tree(primary)  # signatures and all
    replicated = events(runtime, object_id, EventType.REPLICATION)
    assert [(e.version, e.outcome) for e in replicated] == [
        ("v1", EventOutcome.SUCCESS),
        ("v2", EventOutcome.SUCCESS),
    ]
    assert replicated[1].detail.startswith("copied 5 files")
    assert not ReplicationService(runtime).replicate(object_id).changed  # idempotent
    assert_valid(s3, replica, tmp_path)

    # a lost replica file comes back; a damaged one only with --verify (it is re-hashed)
    scan = content_path(runtime.storage, object_id, "scan.tif")
    s3.delete_object(Bucket=replica.bucket_name, Key=f"{replica.object_root(object_id)}/{scan}")
    assert ReplicationService(runtime).replicate(object_id).copied == [scan]
    letter = content_path(runtime.storage, object_id, "letter.txt")
    damage_in_s3(s3, replica, object_id, letter)
    assert not ReplicationService(runtime).replicate(object_id).changed
    again = ReplicationService(runtime).replicate(object_id, verify_existing=True)
    assert again.copied == [letter]
    assert s3_tree(replica, object_id) == local_tree(primary)

    PreservationService(runtime).purge(
        SYSTEM, "letters", object_id.removeprefix("urn:uuid:"), "asked by the donor"
    )
    assert not replica.exists(object_id)
    assert_valid(s3, replica, tmp_path)


def test_damaged_and_missing_primary_files_are_repaired_from_the_s3_replica(
    runtime: Runtime,
) -> None:
    object_id = store_object(runtime)
    primary = runtime.storage.object_root(object_id)
    before = local_tree(primary)
    letter = content_path(runtime.storage, object_id, "letter.txt")
    reply = content_path(runtime.storage, object_id, "reply.txt")
    signature = "extensions/heritage-signed-inventories/v2.sig.json"
    flip_byte(primary / letter, 100)
    (primary / reply).unlink()

    run = FixityService(runtime).run(SYSTEM)

    assert run.ok and run.repaired == 2, [a.problem_lines() for a in run.failures]
    assert local_tree(primary) == before == s3_tree(replica_of(runtime), object_id)
    repairs = sorted(e.detail.split(" (")[0] for e in events(runtime, object_id, EventType.REPAIR))
    assert repairs == sorted([letter, reply])
    [check] = events(runtime, object_id, EventType.FIXITY_CHECK)
    assert check.outcome is EventOutcome.SUCCESS and "2 repaired from the replica" in check.detail

    (primary / signature).unlink()  # metadata too, from a replica whose copy verifies
    assert FixityService(runtime).run(SYSTEM).repaired == 1
    assert local_tree(primary) == before
    report = validate_storage_root(runtime.storage.path)
    assert not report.errors, report.errors


def test_a_damaged_s3_replica_copy_is_never_used(runtime: Runtime, s3: Any) -> None:
    object_id = store_object(runtime)
    primary = runtime.storage.object_root(object_id)
    replica = replica_of(runtime)
    letter = content_path(runtime.storage, object_id, "letter.txt")
    scan = content_path(runtime.storage, object_id, "scan.tif")
    damage_in_s3(s3, replica, object_id, letter)
    damage_in_s3(s3, replica, object_id, scan)
    (primary / letter).unlink()
    flip_byte(primary / scan, 5)
    damaged_scan = (primary / scan).read_bytes()

    [audit] = FixityService(runtime).run(SYSTEM).failures

    assert run_repairs(runtime, object_id) == []
    assert not (primary / letter).exists() and (primary / scan).read_bytes() == damaged_scan
    lines = audit.problem_lines()
    assert len(lines) == 2
    assert all("not repaired: the replica's copy is damaged too" in line for line in lines)


def run_repairs(runtime: Runtime, object_id: str) -> list[str]:
    return [e.detail for e in events(runtime, object_id, EventType.REPAIR)]


def test_s3_restore_creates_only_files_the_object_names(runtime: Runtime, s3: Any) -> None:
    object_id = store_object(runtime)
    replica = replica_of(runtime)
    reply = content_path(runtime.storage, object_id, "reply.txt")
    root = replica.object_root(object_id)
    for path in ("v1/content/planted.txt", "v9/inventory.json", "extensions/x/v9.sig.json"):
        with pytest.raises(PathNotFound):
            replica.restore_stored(object_id, path, io.BytesIO(b"{}"))
    primary = runtime.storage.object_root(object_id)
    s3.delete_object(Bucket=replica.bucket_name, Key=f"{root}/{reply}")
    replica.restore_stored(object_id, reply, io.BytesIO((primary / reply).read_bytes()))
    s3.delete_object(Bucket=replica.bucket_name, Key=f"{root}/v1/inventory.json")
    v2_inventory = (primary / "v2/inventory.json").read_bytes()
    with pytest.raises(CorruptObject, match="names v2 as its head"):
        replica.restore_stored(object_id, "v1/inventory.json", io.BytesIO(v2_inventory))
    with pytest.raises(ValueError):
        replica.restore_stored(object_id, "../escape", io.BytesIO(b"x"))
    replica.restore_stored(
        object_id, "v1/inventory.json", io.BytesIO((primary / "v1/inventory.json").read_bytes())
    )
    assert s3_tree(replica, object_id) == local_tree(primary)


# --- a replication cut short --------------------------------------------------------------------


def crash_on(monkeypatch: pytest.MonkeyPatch, root: S3StorageRoot, method: str, key: str) -> None:
    """The root's client dies on the first ``method`` call for a key ending in ``key``."""

    def names_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        target = kwargs.get("Key") or (args[2] if len(args) > 2 else "")
        return str(target).endswith(key)

    patch_client(monkeypatch, root._bucket.client, method, names_key)


@pytest.mark.parametrize(
    ("method", "key", "head"),
    [
        pytest.param("upload_file", "v2/content/b.txt", "v1", id="content"),
        pytest.param("put_object", "v2/inventory.json", "v1", id="version-inventory"),
        pytest.param("put_object", "%3a1/inventory.json.sha512", "v2", id="root-sidecar"),
        pytest.param("upload_file", "v1/content/a.txt", None, id="new-object"),
    ],
)
def test_a_replication_cut_short_leaves_the_s3_replica_whole(
    seaweedfs: S3Service,
    bucket: str,
    s3: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    key: str,
    head: str | None,
) -> None:
    from heritage.store.ocfl import Changes, StorageRoot, User
    from heritage.store.replica import replicate_object

    def replica_root(**options: Any) -> S3StorageRoot:
        return S3StorageRoot(
            bucket,
            "replica",
            endpoint_url=seaweedfs.endpoint_url,
            access_key_id=seaweedfs.access_key_id,
            secret_access_key=seaweedfs.secret_access_key,
            **options,
        )

    primary = StorageRoot(tmp_path / "primary").initialize()
    alice = User("Alice", "mailto:alice@example.org")
    record = "urn:heritage:record:1"
    primary.create_or_update(record, Changes.of({"a.txt": b"a" * 1000}), "v1", alice)
    writer = replica_root(lease_seconds=0).initialize()
    if head is not None:
        replicate_object(primary, writer, record)
    primary.create_or_update(record, Changes.of({"b.txt": b"b" * 1000}), "v2", alice)
    crash_on(monkeypatch, writer, method, key)
    with pytest.raises(SimulatedCrash):
        replicate_object(primary, writer, record)
    monkeypatch.undo()

    recovering = replica_root().open()  # settles after the dead writer
    if head is None:
        assert not recovering.exists(record)
        assert recovering._bucket.first_key(recovering.object_root(record) + "/") is None
    else:
        assert recovering.inventory(record).head == head
        assert_valid(s3, recovering, tmp_path)
    result = replicate_object(primary, recovering, record)
    assert recovering.inventory(record).head == "v2"
    assert result.changed == (head != "v2")
    assert s3_tree(recovering, record) == local_tree(primary.object_root(record))
    assert_valid(s3, recovering, tmp_path)


def test_an_s3_primary_replicates_to_a_local_replica_and_is_repaired_from_it(
    seaweedfs: S3Service, bucket: str, s3: Any, tmp_path: Path
) -> None:
    from heritage.store.fixity import audit_object
    from heritage.store.ocfl import Changes, StorageRoot, User
    from heritage.store.replica import replicate_object

    primary = S3StorageRoot(
        bucket,
        "primary",
        endpoint_url=seaweedfs.endpoint_url,
        access_key_id=seaweedfs.access_key_id,
        secret_access_key=seaweedfs.secret_access_key,
    ).initialize()
    replica = StorageRoot(tmp_path / "replica").initialize()
    alice = User("Alice", "mailto:alice@example.org")
    record = "urn:heritage:record:2"
    primary.create_or_update(record, Changes.of({"a.txt": LETTER}), "v1", alice)
    primary.create_or_update(record, Changes.of({"b.txt": SCAN}), "v2", alice)
    assert replicate_object(primary, replica, record).head == "v2"
    assert local_tree(replica.object_root(record)) == s3_tree(primary, record)
    assert not validate_storage_root(replica.path).errors

    root = primary.object_root(record)
    s3.delete_object(Bucket=bucket, Key=f"{root}/v2/content/b.txt")
    damage_in_s3(s3, primary, record, "v1/content/a.txt")
    audit = audit_object(primary, record, [], replica=replica)
    assert audit.ok and sorted(r.path for r in audit.repairs) == [
        "v1/content/a.txt",
        "v2/content/b.txt",
    ]
    assert s3_tree(primary, record) == local_tree(replica.object_root(record))
    assert_valid(s3, primary, tmp_path)
