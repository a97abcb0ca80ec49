"""IIIF collections per dataset (an import): members, labels, links from the workspace
collection and the import's JSON and page, access, paging; validated against the
official Presentation 3 JSON Schema."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import jsonschema_rs
import pytest
import pyvips
from fastapi.testclient import TestClient

from heritage.accounts.identity import SYSTEM
from heritage.iiif import datasets
from heritage.records.model import Record, Value
from heritage.records.models import ImportStatus, ItemAction, RecordImport, RecordImportItem
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.testing.world import World, add_world_images, build_world
from heritage.web.context import SESSION_COOKIE


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    world = build_world(heritage_runtime)
    add_world_images(heritage_runtime, world)
    return world


@pytest.fixture
def schema(shared_data: Path) -> jsonschema_rs.Draft7Validator:
    path = shared_data / "schemas/iiif-presentation/iiif_3_0.json"
    if not path.is_file():
        pytest.skip(f"{path} missing: the official IIIF Presentation 3 schema is test material")
    return jsonschema_rs.Draft7Validator(json.loads(path.read_text()))


def client_for(app: object, world: World, person: str | None) -> TestClient:
    headers = {"Authorization": f"Bearer {world.people[person].token}"} if person else {}
    return TestClient(app, base_url="http://testserver", headers=headers)  # type: ignore[arg-type]


def imaged_record(runtime: Runtime, identifier: str, title: str) -> str:
    records = RecordService(runtime)
    uuid_ = records.create(
        SYSTEM, "alpha", Record(identifier=identifier, title=[Value.text(title, "en")])
    ).uuid
    picture = pyvips.Image.black(40, 30).new_from_image([200, 30, 30]).cast("uchar")
    records.attach_file(SYSTEM, uuid_, "scan.png", picture.pngsave_buffer())
    return uuid_


def record_import(
    runtime: Runtime, workspace: str, stored: list[tuple[str | None, ItemAction]], **options
) -> str:
    """An import of ``workspace`` whose items stored these records (uuid, action)."""
    from heritage.workspaces.services import WorkspaceService

    workspace_id = WorkspaceService(runtime).get(SYSTEM, workspace).id
    import_id = str(uuid.uuid4())
    with runtime.database.session(write=True) as session:
        session.add(
            RecordImport(
                id=import_id,
                workspace_id=workspace_id,
                format="csv",
                source="/data/uploads/harbour.csv",
                status=ImportStatus.FINISHED,
                created_at=datetime(2026, 3, 14, 9, 30, tzinfo=UTC),
                **options,
            )
        )
        session.flush()
        for position, (record_uuid, action) in enumerate(stored):
            session.add(
                RecordImportItem(
                    import_id=import_id,
                    position=position,
                    location=f"row {position + 2}",
                    action=action,
                    record_uuid=record_uuid,
                )
            )
        session.commit()
    return import_id


def test_an_imports_collection_lists_what_it_stored_with_images(
    heritage_runtime: Runtime,
    heritage_app: object,
    world: World,
    schema: jsonschema_rs.Draft7Validator,
) -> None:
    first = imaged_record(heritage_runtime, "ship-1", "Ship")
    second = imaged_record(heritage_runtime, "ship-2", "Quay")
    unchanged = imaged_record(heritage_runtime, "ship-3", "Crane")
    without_image = RecordService(heritage_runtime).create(
        SYSTEM, "alpha", Record(identifier="ship-4", title=[Value.text("Text only")])
    )
    import_id = record_import(
        heritage_runtime,
        "alpha",
        [
            (second, ItemAction.CREATE),
            (first, ItemAction.UPDATE),
            (unchanged, ItemAction.UNCHANGED),
            (without_image.uuid, ItemAction.CREATE),
            (None, ItemAction.FAILED),
            (second, ItemAction.UPDATE),  # stored twice: listed once, where it came first
        ],
    )
    client = client_for(heritage_app, world, "viewer")
    answer = client.get(f"/iiif/presentation/imports/{import_id}/collection")
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == "*"
    collection = answer.json()
    assert not [str(error) for error in schema.iter_errors(collection)]
    assert collection["label"] == {"none": ["harbour.csv (2026-03-14)"]}
    assert [item["id"].rsplit("/", 2)[-2] for item in collection["items"]] == [second, first]
    assert collection["items"][0]["label"] == {"en": ["Quay"]}
    assert collection["homepage"][0]["id"] == f"http://testserver/imports/{import_id}"
    workspace_id = "http://testserver/iiif/presentation/workspaces/alpha/collection"
    assert collection["partOf"] == [{"id": workspace_id, "type": "Collection"}]

    # the workspace's collection links the dataset's; imports with nothing to show are not
    workspace = client.get("/iiif/presentation/workspaces/alpha/collection").json()
    assert not [str(error) for error in schema.iter_errors(workspace)]
    nested = [item for item in workspace["items"] if item["type"] == "Collection"]
    assert nested == [
        {
            "id": f"http://testserver/iiif/presentation/imports/{import_id}/collection",
            "type": "Collection",
            "label": {"none": ["harbour.csv (2026-03-14)"]},
        }
    ]
    # the import's JSON and page link it
    body = client.get(f"/api/imports/{import_id}").json()
    assert body["links"]["iiif_collection"] == f"/iiif/presentation/imports/{import_id}/collection"
    page_client = TestClient(heritage_app, base_url="http://testserver")  # type: ignore[arg-type]
    page_client.cookies.set(SESSION_COOKIE, world.people["viewer"].session)
    page = page_client.get(f"/imports/{import_id}")
    assert f'href="/iiif/presentation/imports/{import_id}/collection"' in page.text

    # deleting a record takes it out
    RecordService(heritage_runtime).delete(SYSTEM, second, base_version=None)
    again = client.get(f"/iiif/presentation/imports/{import_id}/collection").json()
    assert [item["id"].rsplit("/", 2)[-2] for item in again["items"]] == [first]


def test_dataset_collections_need_permission_and_dry_runs_have_none(
    heritage_runtime: Runtime, heritage_app: object, world: World
) -> None:
    record = world.records["alpha"]
    private = record_import(heritage_runtime, "alpha", [(record, ItemAction.CREATE)])
    for person in (None, "outsider"):
        answer = client_for(heritage_app, world, person).get(
            f"/iiif/presentation/imports/{private}/collection"
        )
        assert answer.status_code == 404, (person, answer.status_code)
    public = record_import(heritage_runtime, "gamma", [(world.records["gamma"], ItemAction.CREATE)])
    anonymous = client_for(heritage_app, world, None).get(
        f"/iiif/presentation/imports/{public}/collection"
    )
    assert anonymous.status_code == 200 and len(anonymous.json()["items"]) == 1

    viewer = client_for(heritage_app, world, "viewer")
    dry = record_import(heritage_runtime, "alpha", [(record, ItemAction.CREATE)], dry_run=True)
    answer = viewer.get(f"/iiif/presentation/imports/{dry}/collection")
    assert answer.status_code == 404 and "dry run" in answer.text
    assert "iiif_collection" not in viewer.get(f"/api/imports/{dry}").json()["links"]
    assert viewer.get("/iiif/presentation/imports/nothing/collection").status_code == 404


def test_a_large_collection_lists_its_pages(
    heritage_runtime: Runtime,
    heritage_app: object,
    world: World,
    schema: jsonschema_rs.Draft7Validator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(datasets, "PAGE_SIZE", 2)
    stored = [imaged_record(heritage_runtime, f"page-{n}", f"Page {n}") for n in range(5)]
    import_id = record_import(heritage_runtime, "alpha", [(u, ItemAction.CREATE) for u in stored])
    client = client_for(heritage_app, world, "viewer")
    own = f"http://testserver/iiif/presentation/imports/{import_id}/collection"
    top = client.get(f"/iiif/presentation/imports/{import_id}/collection").json()
    assert not [str(error) for error in schema.iter_errors(top)]
    assert [item["id"] for item in top["items"]] == [f"{own}/1", f"{own}/2", f"{own}/3"]
    assert all(item["type"] == "Collection" for item in top["items"])
    seen = []
    for number in (1, 2, 3):
        page = client.get(f"/iiif/presentation/imports/{import_id}/collection/{number}").json()
        assert not [str(error) for error in schema.iter_errors(page)]
        assert page["id"] == f"{own}/{number}"
        assert page["partOf"] == [{"id": own, "type": "Collection"}]
        seen += [item["id"].rsplit("/", 2)[-2] for item in page["items"]]
    assert seen == stored
    beyond = client.get(f"/iiif/presentation/imports/{import_id}/collection/4")
    assert beyond.status_code == 404
