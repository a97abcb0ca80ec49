"""Replication to a replica storage root, and repairs from it that only trust verified copies."""

from __future__ import annotations

import io
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from heritage.accounts.identity import SYSTEM
from heritage.audit.models import AuditEntry
from heritage.config import Settings
from heritage.jobs.models import Job, JobStatus
from heritage.runtime import Runtime
from heritage.store.maintenance import REPLICATE_JOB, FixityService, ReplicationService
from heritage.store.models import EventOutcome, EventType, PreservationEvent
from heritage.store.ocfl import Changes, CorruptObject, PathNotFound, StorageRoot, User
from heritage.store.ocfl.validate import validate_storage_root
from heritage.store.replica import ReplicationError
from heritage.store.services import PreservationService, object_id_for
from heritage.testing.damage import (
    add_workspace,
    content_path,
    flip_byte,
    swap,
    truncate,
    with_replica,
)

LETTER = b"Dear Madam, the catalogue is enclosed. " * 2000
SCAN = bytes(range(256)) * 4100  # just over 1 MiB


@pytest.fixture
def runtime(heritage_settings: Settings, tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime(with_replica(heritage_settings, tmp_path / "replica"))
    add_workspace(runtime, "letters")
    add_workspace(runtime, "open", public=True)
    yield runtime
    runtime.close()


def store_object(runtime: Runtime, workspace: str = "letters") -> str:
    service = PreservationService(runtime)
    view = service.create_object(
        SYSTEM, workspace, title="Letter", files={"letter.txt": LETTER, "scan.tif": SCAN}
    )
    service.add_files(SYSTEM, workspace, view.uuid, {"reply.txt": b"Thank you."})
    return view.row.object_id


def replica_of(runtime: Runtime) -> object:
    replica = ReplicationService(runtime).replica
    assert replica is not None
    return replica


def tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def both(runtime: Runtime, object_id: str) -> tuple[Path, Path]:
    replica = replica_of(runtime)
    return runtime.storage.object_root(object_id), replica.object_root(object_id)  # type: ignore[attr-defined]


def stored(runtime: Runtime, object_id: str, logical: str) -> tuple[Path, Path]:
    relative = content_path(runtime.storage, object_id, logical)
    primary, replica = both(runtime, object_id)
    return primary / relative, replica / relative


def events(runtime: Runtime, object_id: str, kind: EventType) -> list[PreservationEvent]:
    with runtime.database.session() as session:
        query = select(PreservationEvent).where(
            PreservationEvent.object_id == object_id, PreservationEvent.event_type == kind
        )
        return list(session.scalars(query.order_by(PreservationEvent.id)))


def assert_valid_replica(runtime: Runtime) -> None:
    report = validate_storage_root(replica_of(runtime).path)  # type: ignore[attr-defined]
    assert not report.errors, report.errors


# -- replication ---------------------------------------------------------------------------


@pytest.mark.parametrize("workspace", ["letters", "open"])
def test_each_version_is_copied_to_the_replica_after_commit(
    runtime: Runtime, workspace: str
) -> None:
    object_id = store_object(runtime, workspace)
    primary, replica = both(runtime, object_id)
    assert tree(replica) == tree(primary)  # signatures and all, byte for byte
    assert_valid_replica(runtime)
    replicated = events(runtime, object_id, EventType.REPLICATION)
    assert [(e.version, e.outcome) for e in replicated] == [
        ("v1", EventOutcome.SUCCESS),
        ("v2", EventOutcome.SUCCESS),
    ]
    # v2's two content files (reply.txt, object.json), inventory, sidecar and signature
    assert replicated[1].detail.startswith("copied 5 files")
    with runtime.database.session() as session:
        jobs = session.scalars(select(Job).where(Job.kind == REPLICATE_JOB)).all()
        assert [job.status for job in jobs] == [JobStatus.SUCCEEDED] * 2


def test_objects_created_in_a_batch_are_replicated_too(runtime: Runtime) -> None:
    from heritage.records.model import Record, Value
    from heritage.records.services import NewRecord, RecordService

    new = [
        NewRecord(
            Record(identifier=f"batch-{number}", title=[Value.text(f"Letter {number}", "en")]),
            [],
            str(uuid.uuid4()),
        )
        for number in range(3)
    ]
    RecordService(runtime).create_many(SYSTEM, "letters", new)
    for item in new:
        primary, replica = both(runtime, object_id_for(item.uuid))
        assert tree(replica) == tree(primary)
        replicated = events(runtime, object_id_for(item.uuid), EventType.REPLICATION)
        assert [(e.version, e.outcome) for e in replicated] == [("v1", EventOutcome.SUCCESS)]
    assert_valid_replica(runtime)


def test_replication_is_idempotent_and_copies_only_what_is_lacking(runtime: Runtime) -> None:
    object_id = store_object(runtime)
    service = ReplicationService(runtime)
    again = service.replicate(object_id)
    assert not again.changed and again.head == "v2"
    assert len(events(runtime, object_id, EventType.REPLICATION)) == 2  # nothing new on record
    _, replica = both(runtime, object_id)
    (replica / "v2" / "content" / "reply.txt").unlink()
    repaired = service.replicate(object_id)
    assert repaired.copied == ["v2/content/reply.txt"]
    assert tree(replica) == tree(both(runtime, object_id)[0])


def test_a_new_replica_is_brought_up_to_date(heritage_settings: Settings, tmp_path: Path) -> None:
    plain = Runtime(heritage_settings)  # no replica yet
    add_workspace(plain, "letters")
    objects = [store_object(plain) for _ in range(3)]
    plain.close()
    runtime = Runtime(with_replica(heritage_settings, tmp_path / "later"))
    try:
        service = ReplicationService(runtime)
        assert service.behind() == objects
        run = service.run(SYSTEM)
        assert run.ok and len(run.results) == 3
        assert service.behind() == []
        for object_id in objects:
            primary, replica = both(runtime, object_id)
            assert tree(replica) == tree(primary)
        assert_valid_replica(runtime)
        assert all(not r.changed for r in service.run(SYSTEM, all_objects=True).results)
    finally:
        runtime.close()


def test_verify_replaces_a_damaged_replica_copy(runtime: Runtime) -> None:
    object_id = store_object(runtime)
    primary_file, replica_file = stored(runtime, object_id, "scan.tif")
    flip_byte(replica_file, 7)
    service = ReplicationService(runtime)
    assert not service.replicate(object_id).changed  # sizes match: not re-hashed
    result = service.replicate(object_id, verify_existing=True)
    assert result.copied == [content_path(runtime.storage, object_id, "scan.tif")]
    assert replica_file.read_bytes() == primary_file.read_bytes()


def test_damaged_content_in_the_primary_is_not_replicated(runtime: Runtime) -> None:
    object_id = store_object(runtime)
    primary_file, replica_file = stored(runtime, object_id, "letter.txt")
    flip_byte(primary_file, 3)
    replica_file.unlink()  # so the replica must copy the damaged file
    before = tree(both(runtime, object_id)[1])
    with pytest.raises(ReplicationError, match=r"letter\.txt in the primary does not match"):
        ReplicationService(runtime).replicate(object_id)
    assert tree(both(runtime, object_id)[1]) == before
    last = events(runtime, object_id, EventType.REPLICATION)[-1]
    assert last.outcome is EventOutcome.FAILURE and "letter.txt" in last.detail


def test_a_purge_reaches_the_replica(runtime: Runtime) -> None:
    object_id = store_object(runtime)
    _, replica = both(runtime, object_id)
    assert replica.is_dir()
    PreservationService(runtime).purge(
        SYSTEM, "letters", object_id.removeprefix("urn:uuid:"), "asked by the donor"
    )
    assert not replica.exists()
    assert events(runtime, object_id, EventType.REPLICATION)[-1].detail.startswith("purged")
    assert_valid_replica(runtime)


# -- repair --------------------------------------------------------------------------------


def repair_events(runtime: Runtime, object_id: str) -> list[str]:
    return [e.detail for e in events(runtime, object_id, EventType.REPAIR)]


@pytest.mark.parametrize(
    ("damage", "logical"),
    [("flip", "letter.txt"), ("truncate", "scan.tif"), ("flip", "scan.tif")],
)
def test_damaged_content_is_repaired_from_a_verified_replica_copy(
    runtime: Runtime, damage: str, logical: str
) -> None:
    object_id = store_object(runtime)
    primary_file, replica_file = stored(runtime, object_id, logical)
    original = primary_file.read_bytes()
    {"flip": flip_byte, "truncate": truncate}[damage](primary_file)

    run = FixityService(runtime).run(SYSTEM)

    assert run.ok and run.repaired == 1
    assert primary_file.read_bytes() == original == replica_file.read_bytes()
    [repair] = repair_events(runtime, object_id)
    assert repair.startswith(f"{content_path(runtime.storage, object_id, logical)} ({logical}):")
    [check] = events(runtime, object_id, EventType.FIXITY_CHECK)
    assert check.outcome is EventOutcome.SUCCESS and "1 repaired from the replica" in check.detail
    with runtime.database.session() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "object.repair"))
        assert [entry.target_id for entry in audit] == [object_id]


def test_a_swapped_pair_is_repaired(runtime: Runtime) -> None:
    object_id = store_object(runtime)
    letter, _ = stored(runtime, object_id, "letter.txt")
    scan, _ = stored(runtime, object_id, "scan.tif")
    originals = letter.read_bytes(), scan.read_bytes()
    swap(letter, scan)
    run = FixityService(runtime).run(SYSTEM)
    assert run.ok and run.repaired == 2
    assert (letter.read_bytes(), scan.read_bytes()) == originals


def test_a_tampered_inventory_is_repaired_from_the_replica(runtime: Runtime) -> None:
    object_id = store_object(runtime)
    primary, replica = both(runtime, object_id)
    inventory = primary / "inventory.json"
    inventory.write_bytes(inventory.read_bytes().replace(b'"v1"', b'"v9"', 1))
    run = FixityService(runtime).run(SYSTEM)
    assert run.ok, [a.problem_lines() for a in run.failures]
    assert inventory.read_bytes() == (replica / "inventory.json").read_bytes()
    assert repair_events(runtime, object_id) == [
        "inventory.json: restored from the replica, whose copy verifies"
    ]


def test_a_damaged_replica_copy_is_not_used(runtime: Runtime) -> None:
    object_id = store_object(runtime)
    primary_file, replica_file = stored(runtime, object_id, "letter.txt")
    flip_byte(primary_file, 10)
    flip_byte(replica_file, 20)
    damaged = primary_file.read_bytes()

    run = FixityService(runtime).run(SYSTEM)

    [audit] = run.failures
    assert run.repaired == 0 and primary_file.read_bytes() == damaged
    [line] = audit.problem_lines()
    assert line.startswith("HC-DIGEST-MISMATCH v1/content/letter.txt (letter.txt): ")
    assert "not repaired: the replica's copy is damaged too" in line
    assert repair_events(runtime, object_id) == []


def test_a_replica_that_lacks_the_object_repairs_nothing(runtime: Runtime) -> None:
    object_id = store_object(runtime)
    primary_file, _ = stored(runtime, object_id, "letter.txt")
    replica_of(runtime).purge(object_id)  # type: ignore[attr-defined]
    flip_byte(primary_file)
    [audit] = FixityService(runtime).run(SYSTEM).failures
    assert "not repaired: the replica has no readable copy" in audit.problem_lines()[0]


def assert_valid_primary(runtime: Runtime) -> None:
    report = validate_storage_root(runtime.storage.path)
    assert not report.errors, report.errors


def test_a_deleted_file_is_recreated_from_the_replica(runtime: Runtime) -> None:
    object_id = store_object(runtime)
    primary_file, replica_file = stored(runtime, object_id, "reply.txt")
    original = primary_file.read_bytes()
    primary_file.unlink()

    run = FixityService(runtime).run(SYSTEM)

    assert run.ok and run.repaired == 1, [a.problem_lines() for a in run.failures]
    assert primary_file.read_bytes() == original == replica_file.read_bytes()
    relative = content_path(runtime.storage, object_id, "reply.txt")
    [repair] = repair_events(runtime, object_id)
    assert repair.startswith(f"{relative} (reply.txt): restored from the replica")
    [check] = events(runtime, object_id, EventType.FIXITY_CHECK)
    assert check.outcome is EventOutcome.SUCCESS and "1 repaired from the replica" in check.detail
    assert tree(both(runtime, object_id)[0]) == tree(both(runtime, object_id)[1])
    assert_valid_primary(runtime)


def test_a_deleted_version_directory_is_recreated_from_the_replica(runtime: Runtime) -> None:
    # v2 holds reply.txt, object.json, its inventory, sidecar; its signature lives elsewhere
    object_id = store_object(runtime)
    primary, replica = both(runtime, object_id)
    shutil.rmtree(primary / "v2")
    (primary / "extensions/heritage-signed-inventories/v2.sig.json").unlink()

    run = FixityService(runtime).run(SYSTEM)

    assert run.ok, [a.problem_lines() for a in run.failures]
    assert tree(primary) == tree(replica)
    repaired = sorted(detail.split(":")[0] for detail in repair_events(runtime, object_id))
    assert "v2/inventory.json" in repaired and "v2/inventory.json.sha512" in repaired
    assert "extensions/heritage-signed-inventories/v2.sig.json" in repaired
    assert_valid_primary(runtime)


def test_a_deleted_file_is_not_recreated_from_a_damaged_replica_copy(runtime: Runtime) -> None:
    object_id = store_object(runtime)
    primary_file, replica_file = stored(runtime, object_id, "letter.txt")
    primary_file.unlink()
    flip_byte(replica_file, 20)

    [audit] = FixityService(runtime).run(SYSTEM).failures

    assert not primary_file.exists()
    [line] = audit.problem_lines()
    assert line.startswith("HC-FILE-MISSING v1/content/letter.txt (letter.txt): ")
    assert "not repaired: the replica's copy is damaged too" in line
    assert repair_events(runtime, object_id) == []


def test_restore_stored_creates_only_files_the_object_names(runtime: Runtime) -> None:
    object_id = store_object(runtime)
    storage = runtime.storage
    primary, _ = both(runtime, object_id)
    for path in ("v1/content/planted.txt", "v9/inventory.json", "extensions/x/v9.sig.json"):
        with pytest.raises(PathNotFound):
            storage.restore_stored(object_id, path, io.BytesIO(b"{}"))
        assert not (primary / path).exists()
    (primary / "v1/inventory.json").unlink()
    with pytest.raises(CorruptObject, match="not an inventory"):
        storage.restore_stored(object_id, "v1/inventory.json", io.BytesIO(b"{}"))
    v2_inventory = (primary / "v2/inventory.json").read_bytes()
    with pytest.raises(CorruptObject, match="names v2 as its head"):
        storage.restore_stored(object_id, "v1/inventory.json", io.BytesIO(v2_inventory))
    assert not (primary / "v1/inventory.json").exists()
    with pytest.raises(ValueError):
        storage.restore_stored(object_id, "../escape", io.BytesIO(b"x"))


def test_an_imported_object_is_replicated_and_its_unsigned_history_only_warned_about(
    runtime: Runtime, tmp_path: Path
) -> None:
    foreign = StorageRoot(tmp_path / "foreign").initialize()  # another tool: no signatures
    foreign_id = "https://example.org/objects/42"
    author = User("Archivist", "mailto:archivist@example.org")
    foreign.create_or_update(foreign_id, Changes.of({"page.txt": LETTER}), "Scanned", author)
    view = PreservationService(runtime).import_ocfl(
        SYSTEM, "letters", foreign.object_root(foreign_id)
    )
    object_id = view.row.object_id
    primary, replica = both(runtime, object_id)
    assert tree(replica) == tree(primary)
    assert_valid_replica(runtime)

    run = FixityService(runtime).run(SYSTEM)
    assert run.ok and run.warnings == 1  # v1 came unsigned; v2, ours, is signed
    [check] = events(runtime, object_id, EventType.FIXITY_CHECK)
    assert check.outcome is EventOutcome.WARNING
    assert "HC-SIG-MISSING extensions/heritage-signed-inventories/v1.sig.json" in check.detail
    signature = "extensions/heritage-signed-inventories/v2.sig.json"
    (primary / signature).unlink()
    assert FixityService(runtime).run(SYSTEM).repaired == 1  # the replica's copy verifies
    assert (primary / signature).read_bytes() == (replica / signature).read_bytes()
    (primary / signature).unlink()
    (replica / signature).unlink()
    [failed] = FixityService(runtime).run(SYSTEM).failures
    assert [f.code for f in failed.problems] == ["HC-SIG-MISSING"]
