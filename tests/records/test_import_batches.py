"""New records of an import are stored in batches, each record still on its own: its own
signed object version, index row, PREMIS event and audit entry. A batch cut short between
the store and the database is adopted when the import resumes, never stored twice; a batch
refused as a whole is stored record by record, so only the records at fault fail."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from heritage.accounts.identity import SYSTEM
from heritage.audit.models import AuditEntry
from heritage.audit.services import verify_chain
from heritage.errors import Conflict, InvalidInput, PermissionDenied
from heritage.records.imports import CHECKPOINT_EVERY, ImportService
from heritage.records.model import Record, Representation
from heritage.records.models import ImportStatus, RecordRow
from heritage.records.services import NewRecord, RecordService
from heritage.runtime import Runtime
from heritage.store import batch as store_batch
from heritage.store.maintenance import FixityService
from heritage.store.models import EventType, PreservationEvent, StoredObject
from heritage.testing.world import build_world

COUNT = CHECKPOINT_EVERY + 57  # two batches, the second one partial


def write_sheet(path: Path, count: int = COUNT, prefix: str = "inv") -> Path:
    lines = ["identifier;title@en;subject"]
    lines += [
        f"{prefix}-{number:04d};Object number {number};mills | water" for number in range(count)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def count(runtime: Runtime, statement) -> int:  # type: ignore[no-untyped-def]
    with runtime.database.session() as session:
        return int(session.scalar(statement) or 0)


def stored_objects(runtime: Runtime) -> int:
    return sum(1 for _ in runtime.storage.object_ids())


def record_rows(runtime: Runtime) -> int:
    return count(runtime, select(func.count()).select_from(RecordRow))


def test_each_record_of_a_batch_is_its_own_signed_version_with_event_and_audit(
    heritage_runtime: Runtime, tmp_path: Path
) -> None:
    build_world(heritage_runtime)
    rows_before, objects_before = record_rows(heritage_runtime), stored_objects(heritage_runtime)
    imports = ImportService(heritage_runtime)
    row = imports.create(SYSTEM, "alpha", write_sheet(tmp_path / "objects.csv"))
    outcome = imports.run(SYSTEM, row.id)
    assert outcome.error is None and outcome.counts == {"create": COUNT}
    items, total = imports.items(SYSTEM, row.id, limit=1000)
    assert total == COUNT and all(item.record_uuid for item in items)
    assert [item.position for item in items] == list(range(1, COUNT + 1))

    uuids = {item.record_uuid for item in items}
    assert record_rows(heritage_runtime) == rows_before + COUNT
    assert stored_objects(heritage_runtime) == objects_before + COUNT
    with heritage_runtime.database.session() as session:
        objects = list(session.scalars(select(StoredObject).where(StoredObject.uuid.in_(uuids))))
        audited = set(
            session.scalars(
                select(AuditEntry.target_id).where(
                    AuditEntry.action == "record.create", AuditEntry.target_id.in_(uuids)
                )
            )
        )
        events = session.scalar(
            select(func.count())
            .select_from(PreservationEvent)
            .where(
                PreservationEvent.event_type == EventType.INGESTION,
                PreservationEvent.object_id.in_([item.object_id for item in objects]),
            )
        )
        assert verify_chain(session).ok
    assert len(objects) == COUNT
    assert {(item.kind, item.head_version) for item in objects} == {("record", "v1")}
    assert audited == uuids and events == COUNT

    records = RecordService(heritage_runtime)
    found = records.find(SYSTEM, "alpha", "inv-0042")
    assert found is not None and found.record.display_title() == "Object number 42"
    versions = records.versions(SYSTEM, found.uuid)
    assert [(version.name, version.message) for version in versions] == [("v1", "Imported")]
    # every object's digests and signature hold, the encrypted content included
    audit = FixityService(heritage_runtime).run(SYSTEM, workspace="alpha", deep=True)
    assert audit.ok and audit.checked >= COUNT, audit.summary()

    again = imports.create(SYSTEM, "alpha", tmp_path / "objects.csv")
    assert imports.run(SYSTEM, again.id).counts == {"unchanged": COUNT}


def test_a_batch_cut_short_after_the_store_is_adopted_when_the_import_resumes(
    heritage_runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_world(heritage_runtime)
    rows_before, objects_before = record_rows(heritage_runtime), stored_objects(heritage_runtime)
    imports = ImportService(heritage_runtime)
    row = imports.create(SYSTEM, "alpha", write_sheet(tmp_path / "objects.csv"))
    calls = []
    real = store_batch._events_and_audit

    def power_cut_from_the_second_batch(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) >= 2:
            raise RuntimeError("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(store_batch, "_events_and_audit", power_cut_from_the_second_batch)
    with pytest.raises(RuntimeError, match="power cut"):
        imports.run(SYSTEM, row.id)
    # the second batch's objects are in the store, the database knows only the first batch
    assert stored_objects(heritage_runtime) == objects_before + COUNT
    assert record_rows(heritage_runtime) == rows_before + CHECKPOINT_EVERY
    assert len(calls) == 2  # a batch that failed so is not tried again before the rerun
    cut, _ = imports.get(SYSTEM, row.id)
    assert cut.position == CHECKPOINT_EVERY and cut.counts == {"create": CHECKPOINT_EVERY}

    monkeypatch.setattr(store_batch, "_events_and_audit", real)
    outcome = imports.run(SYSTEM, row.id)
    assert outcome.error is None and outcome.counts == {"create": COUNT}, outcome.counts
    assert stored_objects(heritage_runtime) == objects_before + COUNT  # adopted, not twice
    assert record_rows(heritage_runtime) == rows_before + COUNT
    records = RecordService(heritage_runtime)
    adopted = records.find(SYSTEM, "alpha", f"inv-{COUNT - 1:04d}")
    assert adopted is not None
    assert adopted.record.display_title() == f"Object number {COUNT - 1}"
    done, _ = imports.get(SYSTEM, row.id)
    assert done.status is ImportStatus.FINISHED


def test_a_refused_batch_is_stored_one_by_one_and_only_the_faulty_record_fails(
    heritage_runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_world(heritage_runtime)
    imports = ImportService(heritage_runtime)
    row = imports.create(SYSTEM, "alpha", write_sheet(tmp_path / "objects.csv", count=5))

    def refuse_batch(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise Conflict("someone created one of these meanwhile")

    real_create = RecordService.create

    def create(self, actor, slug, record, **kwargs):  # type: ignore[no-untyped-def]
        if record.identifier == "inv-0003":
            raise InvalidInput.on("identifier", "taken meanwhile")
        return real_create(self, actor, slug, record, **kwargs)

    monkeypatch.setattr(RecordService, "create_many", refuse_batch)
    monkeypatch.setattr(RecordService, "create", create)
    outcome = imports.run(SYSTEM, row.id)
    assert outcome.counts == {"create": 4, "failed": 1}
    items, _ = imports.items(SYSTEM, row.id)
    failed = [item for item in items if item.action.value == "failed"]
    assert [item.identifier for item in failed] == ["inv-0003"]
    assert failed[0].record_uuid is None
    assert failed[0].problems[-1]["code"] == "import.not-stored"
    assert "taken meanwhile" in failed[0].problems[-1]["message"]
    records = RecordService(heritage_runtime)
    for item in items:
        if item.record_uuid:
            assert records.get(SYSTEM, item.record_uuid).record.identifier == item.identifier


def test_create_many_refuses_a_batch_it_cannot_store_whole_and_stores_none_of_it(
    heritage_runtime: Runtime,
) -> None:
    from tests.records.test_record_service import who

    world = build_world(heritage_runtime)
    records = RecordService(heritage_runtime)
    taken = records.create(SYSTEM, "alpha", Record(identifier="taken"))

    def new(identifier: str, **fields: object) -> NewRecord:
        return NewRecord(Record(identifier=identifier, **fields), [], str(uuid.uuid4()))

    objects_before = stored_objects(heritage_runtime)
    with pytest.raises(InvalidInput, match="more than once"):
        records.create_many(SYSTEM, "alpha", [new("a"), new("b"), new("a")])
    with_file = new("c", representations=[Representation(file="media/c.jpg")])
    with pytest.raises(InvalidInput, match="one by one"):
        records.create_many(SYSTEM, "alpha", [new("d"), with_file])
    with pytest.raises(Conflict, match=taken.uuid):
        records.create_many(SYSTEM, "alpha", [new("e"), new("taken")])
    with pytest.raises(PermissionDenied):
        records.create_many(who(world, "viewer", heritage_runtime), "alpha", [new("f")])
    assert stored_objects(heritage_runtime) == objects_before
    assert all(records.find(SYSTEM, "alpha", name) is None for name in "abcdef")
