"""An index left behind the store by an interrupted commit catches up.

A change commits its OCFL version first and its database transaction second; a
process killed in between leaves the store one version ahead of the index. The
interruption is made here by a commit hook that raises after the store has
published (as a kill would stop it there): the store has the version, the
database has nothing of it. Then the next change of the object, or the fixity
audit, brings the index to the store's head and puts the missed version's
PREMIS event and an audit entry on record; an edit begun from the version
before it is refused rather than silently laid over it.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

import heritage.records.services as record_services
from heritage.accounts.identity import SYSTEM
from heritage.audit.models import AuditEntry
from heritage.errors import Conflict, ContentUnavailable
from heritage.records.model import Record
from heritage.records.services import RecordService, RecordView
from heritage.runtime import Runtime
from heritage.store.crypto import MissingKey
from heritage.store.maintenance import FixityService
from heritage.store.models import PreservationEvent, StoredObject
from heritage.store.ocfl import Changes, HeadMismatch, User
from heritage.store.services import CommitHooks, ObjectView, PreservationService
from heritage.testing.world import build_world

RIGHTS = "http://creativecommons.org/publicdomain/zero/1.0/"
INTERRUPTED = "(published by an interrupted commit, recorded afterwards)"


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, and no handler catches it."""


def die(*_: object) -> None:
    raise Killed


@pytest.fixture
def runtime(heritage_runtime: Runtime) -> Runtime:
    build_world(heritage_runtime)
    return heritage_runtime


def interrupted_change(service: PreservationService, view: ObjectView, data: bytes) -> None:
    """A change whose process dies after the store published it, before the database."""
    with pytest.raises(Killed):
        service.change(
            SYSTEM,
            view.workspace_slug,
            view.row.object_id,
            {"notes.txt": data},
            frozenset(),
            "Interrupted change",
            action="objects.update",
            hooks=CommitHooks(after=die),
        )


def record(identifier: str, title: str) -> Record:
    return Record.model_validate(
        {
            "identifier": identifier,
            "edm_type": "IMAGE",
            "rights": RIGHTS,
            "title": [{"value": title}],
        }
    )


def record_with_interrupted_save(
    records: RecordService, identifier: str, monkeypatch: pytest.MonkeyPatch
) -> RecordView:
    """A record at v1 in the index whose save of v2 ("Two") was interrupted after the
    store: the index rows of v2 were never written."""
    view = records.create(SYSTEM, "alpha", record(identifier, "One"))
    monkeypatch.setattr(record_services, "index_record", die)
    with pytest.raises(Killed):
        records.update(SYSTEM, view.uuid, record(identifier, "Two"), base_version="v1")
    monkeypatch.undo()
    return view


def index_head(runtime: Runtime, object_id: str) -> str:
    with runtime.database.session() as session:
        row = session.scalar(select(StoredObject).where(StoredObject.object_id == object_id))
        assert row is not None
        return row.head_version


def events(runtime: Runtime, object_id: str) -> list[tuple[str | None, str]]:
    with runtime.database.session() as session:
        rows = session.scalars(
            select(PreservationEvent)
            .where(PreservationEvent.object_id == object_id)
            .order_by(PreservationEvent.id)
        )
        return [(row.version, row.detail) for row in rows]


def reindex_entries(runtime: Runtime, object_id: str) -> list[dict[str, object]]:
    with runtime.database.session() as session:
        rows = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "object.reindex", AuditEntry.target_id == object_id
            )
        )
        return [row.details for row in rows]


def test_the_store_refuses_a_commit_on_another_head_than_expected(runtime: Runtime) -> None:
    storage = runtime.storage
    user = User(name="Tester", address="mailto:tester@example.org")
    storage.create_or_update("urn:x:heads", Changes.of({"a.txt": b"1"}), "one", user)
    storage.create_or_update("urn:x:heads", Changes.of({"a.txt": b"2"}), "two", user)
    with pytest.raises(HeadMismatch, match="is at v2, not at v1"):
        storage.create_or_update(
            "urn:x:heads", Changes.of({"a.txt": b"3"}), "three", user, expected_head="v1"
        )
    assert storage.inventory("urn:x:heads").head == "v2"  # nothing was written
    done = storage.create_or_update(
        "urn:x:heads", Changes.of({"a.txt": b"3"}), "three", user, expected_head="v2"
    )
    assert done.version == "v3"
    with pytest.raises(HeadMismatch, match="no version"):
        storage.create_or_update(
            "urn:x:none", Changes.of({"a.txt": b"1"}), "one", user, expected_head="v1"
        )


def test_the_next_change_catches_the_index_up_and_records_the_missed_version(
    runtime: Runtime,
) -> None:
    service = PreservationService(runtime)
    view = service.create_object(SYSTEM, "alpha", files={"scan.txt": b"scan"})
    object_id = view.row.object_id
    interrupted_change(service, view, b"lost? no")
    assert runtime.storage.inventory(object_id).head == "v2"
    assert index_head(runtime, object_id) == "v1"

    after = service.add_files(SYSTEM, "alpha", view.uuid, {"more.txt": b"more"})
    assert after.row.head_version == "v3"
    assert sorted(f.logical_path for f in after.files) == ["more.txt", "notes.txt", "scan.txt"]
    assert events(runtime, object_id) == [
        ("v1", "Created"),
        ("v2", f"Interrupted change {INTERRUPTED}"),
        ("v3", "Added more.txt"),
    ]
    assert reindex_entries(runtime, object_id) == [{"from": "v1", "versions": ["v2"]}]
    with service.open_file(SYSTEM, "alpha", view.uuid, "notes.txt") as opened:
        assert opened.read_all() == b"lost? no"
    # the file of the change that found the index behind went in with its second try
    with service.open_file(SYSTEM, "alpha", view.uuid, "more.txt") as opened:
        assert opened.read_all() == b"more"


def test_an_edit_begun_before_the_missed_version_is_refused_and_the_record_shows_it(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = RecordService(runtime)
    view = record_with_interrupted_save(records, "heal-1", monkeypatch)
    object_id = view.row.object_id
    assert records.get(SYSTEM, view.uuid).version == "v1"

    mine = record("heal-1", "Three")
    with pytest.raises(Conflict, match="version v2"):
        records.update(SYSTEM, view.uuid, mine, base_version="v1")
    # refused, but the index caught up: the record shows the saved version now
    current = records.get(SYSTEM, view.uuid)
    assert current.version == "v2"
    assert [value.value for value in current.record.title] == ["Two"]
    assert reindex_entries(runtime, object_id) == [{"from": "v1", "versions": ["v2"]}]
    # made again from what it shows, the edit goes through
    assert records.update(SYSTEM, view.uuid, mine, base_version="v2").version == "v3"


def test_the_fixity_audit_catches_an_index_up_that_no_change_touches(runtime: Runtime) -> None:
    service = PreservationService(runtime)
    view = service.create_object(SYSTEM, "alpha", files={"scan.txt": b"scan"})
    object_id = view.row.object_id
    interrupted_change(service, view, b"notes")

    run = FixityService(runtime).run(SYSTEM, object_uuid=view.uuid)
    assert run.ok and run.reindexed == 1, run.summary()
    assert "1 index entries caught up with the store" in run.summary()
    assert index_head(runtime, object_id) == "v2"
    assert ("v2", f"Interrupted change {INTERRUPTED}") in events(runtime, object_id)
    # an index in line is left alone
    again = FixityService(runtime).run(SYSTEM, object_uuid=view.uuid)
    assert again.reindexed == 0
    assert reindex_entries(runtime, object_id) == [{"from": "v1", "versions": ["v2"]}]


def test_an_index_ahead_of_the_store_is_brought_back_to_it(runtime: Runtime) -> None:
    """A database restored from a later backup than the store, say: the store is the
    truth, and the next change goes on from its head."""
    service = PreservationService(runtime)
    view = service.create_object(SYSTEM, "alpha", files={"scan.txt": b"scan"})
    object_id = view.row.object_id
    with runtime.database.session(write=True) as session:
        row = session.scalar(select(StoredObject).where(StoredObject.object_id == object_id))
        assert row is not None
        row.head_version = "v7"
        session.commit()
    after = service.add_files(SYSTEM, "alpha", view.uuid, {"more.txt": b"more"})
    assert after.row.head_version == "v2" == runtime.storage.inventory(object_id).head
    assert reindex_entries(runtime, object_id) == [{"from": "v7", "versions": []}]


def test_an_index_that_cannot_catch_up_is_a_clear_error_and_changes_nothing(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = RecordService(runtime)
    view = record_with_interrupted_save(records, "heal-2", monkeypatch)
    object_id = view.row.object_id

    # the record's metadata is encrypted, and its workspace's data key is not at hand
    def no_key(key_id: str) -> bytes:
        raise MissingKey(key_id)

    monkeypatch.setattr(runtime.keyring, "data_key", no_key)
    mine = record("heal-2", "Three")
    with pytest.raises(ContentUnavailable, match="heritage rebuild-index") as caught:
        records.update(SYSTEM, view.uuid, mine, base_version="v1")
    assert object_id in str(caught.value)
    assert runtime.storage.inventory(object_id).head == "v2"  # nothing written
    assert index_head(runtime, object_id) == "v1"
    assert reindex_entries(runtime, object_id) == []
