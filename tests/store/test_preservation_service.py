"""The preservation service against a real storage root and database (SQLite or PostgreSQL)."""

from __future__ import annotations

import hashlib
import io

import pytest

from heritage.accounts.identity import SYSTEM, Identity
from heritage.audit.services import list_entries
from heritage.errors import ContentUnavailable, InvalidInput, NotFound, PermissionDenied
from heritage.runtime import Runtime
from heritage.store.crypto import read_header
from heritage.store.description import DESCRIPTION_PATH, ObjectDescription
from heritage.store.index import rebuild_index
from heritage.store.models import EventType, StoredObject
from heritage.store.services import PreservationService
from heritage.testing.world import World, build_world


def who(world: World, name: str, runtime: Runtime) -> Identity:
    from heritage.accounts.models import User
    from heritage.accounts.services import identity_of

    with runtime.database.session() as session:
        user = session.get(User, world.people[name].user_id)
        assert user is not None
        return identity_of(user, "test")


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    return build_world(heritage_runtime)


@pytest.fixture
def service(heritage_runtime: Runtime) -> PreservationService:
    return PreservationService(heritage_runtime)


def test_private_workspace_files_are_encrypted_and_read_back(
    heritage_runtime: Runtime, world: World, service: PreservationService
) -> None:
    contributor = who(world, "contributor", heritage_runtime)
    scan = bytes(range(256)) * 9000  # 2.3 MB: several encryption chunks
    view = service.create_object(
        contributor, "alpha", title="Letter", files={"scans/page 1.tif": scan}
    )
    assert view.row.head_version == "v1"
    assert [f.logical_path for f in view.files] == ["scans/page 1.tif"]
    stored = view.files[0]
    assert stored.sha256 == hashlib.sha256(scan).hexdigest()
    assert stored.media_type == "image/tiff"
    assert stored.encrypted_with and stored.encrypted_with.startswith("workspace-")

    # On disk the content is ciphertext whose digest OCFL records; the plaintext digest
    # lives in the object description.
    storage = heritage_runtime.storage
    raw = storage.read(view.row.object_id, "scans/page 1.tif").read()
    assert scan[:1000] not in raw
    assert storage.state(view.row.object_id)["scans/page 1.tif"] == hashlib.sha512(raw).hexdigest()
    assert read_header(io.BytesIO(raw)).key_id == stored.encrypted_with
    description = ObjectDescription.from_bytes(
        storage.read(view.row.object_id, DESCRIPTION_PATH).read()
    )
    assert description.files["scans/page 1.tif"].sha256 == stored.sha256

    with service.open_file(contributor, "alpha", view.uuid, "scans/page 1.tif") as opened:
        assert opened.encrypted
        assert opened.read_all() == scan
        assert b"".join(opened.iter_range(1_048_570, 1_048_600)) == scan[1_048_570:1_048_600]


def test_public_workspace_files_are_stored_as_they_are(
    heritage_runtime: Runtime, world: World, service: PreservationService
) -> None:
    owner = who(world, "owner", heritage_runtime)
    view = service.create_object(owner, "gamma", files={"a.txt": b"hello"})
    assert view.files[0].encrypted_with is None
    raw = heritage_runtime.storage.read(view.row.object_id, "a.txt").read()
    assert raw == b"hello"


def test_versions_deletion_and_history(
    heritage_runtime: Runtime, world: World, service: PreservationService
) -> None:
    editor = who(world, "editor", heritage_runtime)
    view = service.create_object(editor, "alpha", files={"a.txt": b"one"})
    service.add_files(editor, "alpha", view.uuid, {"a.txt": b"two", "b.txt": b"b"}, "Second")
    service.remove_files(editor, "alpha", view.uuid, ["b.txt"], "Drop b")
    versions = service.versions(editor, "alpha", view.uuid)
    assert [v.name for v in versions] == ["v3", "v2", "v1"]
    assert versions[0].removed == ["b.txt"] and versions[0].message == "Drop b"
    assert versions[1].changed == ["a.txt"] and versions[1].added == ["b.txt"]
    assert versions[1].user == editor.label
    # earlier versions stay readable
    with service.open_file(editor, "alpha", view.uuid, "a.txt", "v1") as first:
        assert first.read_all() == b"one"
    with service.open_file(editor, "alpha", view.uuid, "b.txt", "v2") as gone:
        assert gone.read_all() == b"b"
    with pytest.raises(NotFound):
        service.open_file(editor, "alpha", view.uuid, "b.txt")

    deleted = service.delete_object(editor, "alpha", view.uuid)
    assert deleted.row.deleted and deleted.files == []
    assert deleted.row.head_version == "v4"
    with service.open_file(editor, "alpha", view.uuid, "a.txt", "v3") as kept:
        assert kept.read_all() == b"two"
    events = [e.event_type for e in service.events(editor, "alpha", view.uuid)]
    assert events == [
        EventType.DELETION,
        EventType.DELETION,
        EventType.MODIFICATION,
        EventType.INGESTION,
    ]


def test_roles_are_enforced(
    heritage_runtime: Runtime, world: World, service: PreservationService
) -> None:
    contributor = who(world, "contributor", heritage_runtime)
    viewer = who(world, "viewer", heritage_runtime)
    outsider = who(world, "outsider", heritage_runtime)
    view = service.create_object(contributor, "alpha", files={"a.txt": b"a"})
    with pytest.raises(PermissionDenied):
        service.create_object(viewer, "alpha", files={"x": b"x"})
    with pytest.raises(PermissionDenied):
        service.remove_files(contributor, "alpha", view.uuid, ["a.txt"])  # editors delete
    with pytest.raises(NotFound):  # a private workspace does not exist for outsiders
        service.open_file(outsider, "alpha", view.uuid, "a.txt")
    with pytest.raises(NotFound):  # objects are addressed through their own workspace
        service.get(who(world, "owner", heritage_runtime), "gamma", view.uuid)
    with pytest.raises(PermissionDenied):
        service.purge(who(world, "owner", heritage_runtime), "alpha", view.uuid, "mistake")


def test_purge_needs_a_reason_and_is_audited(
    heritage_runtime: Runtime, world: World, service: PreservationService
) -> None:
    view = service.create_object(SYSTEM, "alpha", files={"a.txt": b"a"})
    with pytest.raises(InvalidInput):
        service.purge(SYSTEM, "alpha", view.uuid, "  ")
    service.purge(SYSTEM, "alpha", view.uuid, "uploaded personal data by mistake")
    assert not heritage_runtime.storage.exists(view.row.object_id)
    with pytest.raises(NotFound):
        service.get(SYSTEM, "alpha", view.uuid)
    with heritage_runtime.database.session() as session:
        entries = list_entries(session)
    entry = next(e for e in entries if e.action == "object.purge")
    assert entry.details["reason"] == "uploaded personal data by mistake"


@pytest.mark.parametrize(
    "path",
    ["/abs.txt", "a/../b", "a//b", ".heritage/object.json", "bad\x00name", "a\\b", ""],
)
def test_bad_paths_are_refused_by_field(
    heritage_runtime: Runtime, world: World, service: PreservationService, path: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        service.create_object(SYSTEM, "alpha", files={path: b"x"})
    assert [error.field for error in caught.value.errors] == [f"files[{path}]"]


def test_rebuild_index_from_the_storage_root_alone(
    heritage_runtime: Runtime, world: World, service: PreservationService
) -> None:
    first = service.create_object(SYSTEM, "alpha", title="One", files={"a.txt": b"a"})
    service.add_files(SYSTEM, "alpha", first.uuid, {"b.bin": b"\x00" * 10})
    second = service.create_object(SYSTEM, "gamma", title="Two", files={"c.txt": b"c"})
    before = {
        v.row.object_id: (v.row.head_version, [(f.logical_path, f.sha256) for f in v.files])
        for v in (
            service.get(SYSTEM, "alpha", first.uuid),
            service.get(SYSTEM, "gamma", second.uuid),
        )
    }
    with heritage_runtime.database.session(write=True) as session:
        for row in session.query(StoredObject).all():
            session.delete(row)
        session.commit()
    report = rebuild_index(
        heritage_runtime.database,
        heritage_runtime.storage,
        key_lookup=heritage_runtime.keyring.data_key,
    )
    # the two of this test, and the two objects and two records of the standard world
    assert report.indexed == 6 and not report.problems and not report.workspaces_recreated
    after = {
        v.row.object_id: (v.row.head_version, [(f.logical_path, f.sha256) for f in v.files])
        for v in (
            service.get(SYSTEM, "alpha", first.uuid),
            service.get(SYSTEM, "gamma", second.uuid),
        )
    }
    assert after == before
    assert service.get(SYSTEM, "alpha", first.uuid).row.title == "One"
    # encrypted content still opens through the rebuilt index
    with service.open_file(SYSTEM, "alpha", first.uuid, "b.bin") as opened:
        assert opened.read_all() == b"\x00" * 10


def test_a_machine_without_the_master_key_makes_none_and_says_what_to_install(
    heritage_runtime: Runtime, world: World, service: PreservationService
) -> None:
    """An application server or worker set up without the instance's keys: it must not
    make a master key of its own (what it wrapped could be opened nowhere else)."""
    view = service.create_object(SYSTEM, "alpha", files={"scan.tif": b"II*\x00" + b"x" * 500})
    key_file = heritage_runtime.settings.resolved_data_dir / "keys" / "master.key"
    kept = key_file.read_bytes()
    key_file.unlink()
    other = Runtime(heritage_runtime.settings)  # a fresh process: nothing cached
    try:
        elsewhere = PreservationService(other)
        with (
            pytest.raises(ContentUnavailable, match="heritage keys import") as caught,
            elsewhere.open_file(SYSTEM, "alpha", view.uuid, "scan.tif") as opened,
        ):
            opened.read_all()
        assert "master key" in str(caught.value)
        # a workspace that needs its first data key now is refused as well
        with pytest.raises(ContentUnavailable, match="cannot be encrypted"):
            elsewhere.create_object(SYSTEM, "beta", files={"deed.pdf": b"%PDF-1.7"})
        assert not key_file.exists(), "no master key of its own"
        assert [row.title for row in elsewhere.list_objects(SYSTEM, "beta")] == [
            row.title for row in service.list_objects(SYSTEM, "beta")
        ]
    finally:
        other.close()
    key_file.write_bytes(kept)
    key_file.chmod(0o600)
    with service.open_file(SYSTEM, "alpha", view.uuid, "scan.tif") as opened:
        assert opened.read_all().startswith(b"II*\x00")
