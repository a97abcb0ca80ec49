"""The record service on a real store and database: versions, conflicts, diff, revert."""

from __future__ import annotations

import pytest

from heritage.accounts.identity import Identity
from heritage.audit.services import list_entries
from heritage.errors import Conflict, NotFound, PermissionDenied
from heritage.records import jsonld
from heritage.records.model import Record, Representation, Value
from heritage.records.models import RecordStatus
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.testing.world import World, build_world

CC0 = "http://creativecommons.org/publicdomain/zero/1.0/"


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
def service(heritage_runtime: Runtime) -> RecordService:
    return RecordService(heritage_runtime)


def complete(identifier: str = "inv-1", title: str = "Windmill") -> Record:
    return Record(
        identifier=identifier,
        title=[Value.text(title, "en")],
        type=[Value.link("http://vocab.getty.edu/aat/300033618", "painting", "en")],
        edm_type="IMAGE",
        rights=CC0,
        data_provider=[Value.text("Museum Alpha")],
        provider=[Value.text("Heritage Cloud")],
        is_shown_at="https://museum.example/objects/1",
    )


def test_every_save_is_a_version_with_diff_and_revert(
    heritage_runtime: Runtime, world: World, service: RecordService
) -> None:
    contributor = who(world, "contributor", heritage_runtime)
    created = service.create(contributor, "alpha", complete())
    assert created.version == "v1"
    assert created.row.status is RecordStatus.VALID
    changed = created.record.model_copy(
        update={"title": [Value.text("Windmill", "en"), Value.text("Windmühle", "de")]}
    )
    edited = service.update(contributor, created.uuid, changed, base_version="v1")
    assert edited.version == "v2"
    # saving the same content again writes nothing
    assert service.update(contributor, created.uuid, changed, base_version="v2").version == "v2"

    versions = service.versions(contributor, created.uuid)
    assert [v.name for v in versions] == ["v2", "v1"]
    assert all(v.record_changed for v in versions)
    assert service.version(contributor, created.uuid, "v1") == complete()

    diff = service.diff(contributor, created.uuid, "v1", "v2")
    assert [(c.field, c.removed, c.added) for c in diff] == [("title", [], ["Windmühle @de"])]

    reverted = service.revert(contributor, created.uuid, "v1", base_version="v2")
    assert reverted.version == "v3"
    assert reverted.record == complete()
    with heritage_runtime.database.session() as session:
        entries = list_entries(session, limit=50)
    actions = [e.action for e in entries if e.target_type == "record"]
    assert {"record.create", "record.update", "record.revert"} <= set(actions)


def test_two_editors_get_a_conflict_instead_of_a_lost_update(
    heritage_runtime: Runtime, world: World, service: RecordService
) -> None:
    contributor = who(world, "contributor", heritage_runtime)
    editor = who(world, "editor", heritage_runtime)
    created = service.create(contributor, "alpha", complete())
    first = created.record.model_copy(update={"description": [Value.text("first")]})
    second = created.record.model_copy(update={"description": [Value.text("second")]})
    service.update(editor, created.uuid, first, base_version="v1")
    with pytest.raises(Conflict, match="changed while you were editing"):
        service.update(contributor, created.uuid, second, base_version="v1")
    assert service.get(contributor, created.uuid).record.description == [Value.text("first")]


def test_failing_records_are_kept_as_flagged_drafts(
    heritage_runtime: Runtime, world: World, service: RecordService
) -> None:
    contributor = who(world, "contributor", heritage_runtime)
    draft = service.create(contributor, "alpha", Record(identifier="bare"))
    assert draft.row.status is RecordStatus.DRAFT
    assert draft.row.error_count > 0
    assert all(p.message and p.hint for p in draft.problems if p.severity == "error")
    page = service.list(contributor, "alpha", status=RecordStatus.DRAFT)
    assert "bare" in [row.identifier for row in page.rows]


def test_identifiers_are_unique_per_workspace(
    heritage_runtime: Runtime, world: World, service: RecordService
) -> None:
    contributor = who(world, "contributor", heritage_runtime)
    service.create(contributor, "alpha", complete())
    with pytest.raises(Conflict, match="identifier 'inv-1'"):
        service.create(contributor, "alpha", complete())
    owner = who(world, "owner", heritage_runtime)
    service.create(owner, "gamma", complete())  # another workspace may use it


def test_files_are_stored_with_the_record_as_representations(
    heritage_runtime: Runtime, world: World, service: RecordService
) -> None:
    contributor = who(world, "contributor", heritage_runtime)
    created = service.create(contributor, "alpha", complete())
    with_file = service.attach_file(contributor, created.uuid, "front.jpg", b"\xff\xd8jpeg")
    primary = with_file.record.primary_representation()
    assert primary == Representation(
        file="media/front.jpg", role="primary", media_type="image/jpeg"
    )
    versions = service.versions(contributor, created.uuid)
    assert versions[0].files_added == ["media/front.jpg"]
    stored = service.store.read_bytes(with_file.row.object_id, "media/front.jpg")
    assert stored == b"\xff\xd8jpeg"
    without = service.detach_file(editor_of(heritage_runtime, world), created.uuid, "front.jpg")
    assert without.record.representations == []


def editor_of(runtime: Runtime, world: World) -> Identity:
    return who(world, "editor", runtime)


def test_permissions_follow_the_workspace_roles(
    heritage_runtime: Runtime, world: World, service: RecordService
) -> None:
    contributor = who(world, "contributor", heritage_runtime)
    viewer = who(world, "viewer", heritage_runtime)
    outsider = who(world, "outsider", heritage_runtime)
    created = service.create(contributor, "alpha", complete())
    assert service.get(viewer, created.uuid).record == complete()
    with pytest.raises(PermissionDenied):
        service.update(viewer, created.uuid, complete("inv-1", "x"), base_version="v1")
    with pytest.raises(NotFound):  # a workspace one may not see is not there
        service.get(outsider, created.uuid)
    with pytest.raises(PermissionDenied):
        service.delete(contributor, created.uuid, base_version="v1")


def test_deleting_keeps_every_version(
    heritage_runtime: Runtime, world: World, service: RecordService
) -> None:
    contributor = who(world, "contributor", heritage_runtime)
    editor = who(world, "editor", heritage_runtime)
    listed = service.list(contributor, "alpha").total
    created = service.create(contributor, "alpha", complete())
    deleted = service.delete(editor, created.uuid, base_version="v1")
    assert deleted.row.deleted and deleted.version == "v2"
    assert service.list(contributor, "alpha").total == listed
    assert service.version(contributor, created.uuid, "v1") == complete()
    with pytest.raises(Conflict):
        service.update(contributor, created.uuid, complete(), base_version="v2")
    with pytest.raises(NotFound):
        service.get(contributor, "00000000-0000-0000-0000-000000000000")


def test_the_stored_version_is_the_json_ld_document(
    heritage_runtime: Runtime, world: World, service: RecordService
) -> None:
    owner = who(world, "owner", heritage_runtime)
    created = service.create(owner, "gamma", complete())
    raw = service.version_document(owner, created.uuid, "v1")
    assert jsonld.loads(raw) == complete()
    # a public workspace stores it as it is: readable without the software
    stored = heritage_runtime.storage.read(created.row.object_id, jsonld.RECORD_PATH).read()
    assert stored == raw


def test_rebuild_index_restores_records_from_the_store_alone(
    heritage_runtime: Runtime, world: World, service: RecordService
) -> None:
    from sqlalchemy import delete, select

    from heritage.records.models import RecordRow
    from heritage.store.index import rebuild_index

    contributor = who(world, "contributor", heritage_runtime)
    owner = who(world, "owner", heritage_runtime)
    private = service.create(contributor, "alpha", complete())  # encrypted workspace
    service.update(
        contributor,
        private.uuid,
        complete(title="Windmill at dusk"),
        base_version="v1",
    )
    public = service.create(owner, "gamma", Record(identifier="draft-1"))
    service.delete(owner, public.uuid, base_version="v1")  # its head has no files at all
    columns = (
        "uuid",
        "identifier",
        "title",
        "status",
        "data",
        "content_hash",
        "head_version",
        "deleted",
    )

    def rows() -> dict[str, tuple]:
        with heritage_runtime.database.session() as session:
            return {
                row.uuid: tuple(getattr(row, name) for name in columns)
                for row in session.scalars(select(RecordRow))
            }

    before = rows()
    assert {private.uuid, public.uuid} <= set(before)
    with heritage_runtime.database.session(write=True) as session:
        session.execute(delete(RecordRow))
        session.commit()
    report = rebuild_index(
        heritage_runtime.database,
        heritage_runtime.storage,
        key_lookup=heritage_runtime.keyring.data_key,
    )
    assert not report.problems
    assert rows() == before
