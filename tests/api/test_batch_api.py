"""Batch editing and exports over the API: preview, apply, report, revert, 202 jobs, exports."""

from __future__ import annotations

import csv
import io

import orjson
import pytest
from fastapi.testclient import TestClient

from heritage.runtime import Runtime
from heritage.testing.world import World, build_world

CC0 = "http://creativecommons.org/publicdomain/zero/1.0/"


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    return build_world(heritage_runtime)


def as_person(client: TestClient, world: World, person: str) -> TestClient:
    client.headers["Authorization"] = f"Bearer {world.people[person].token}"
    return client


def create(client: TestClient, n: int) -> str:
    record = {
        "identifier": f"api-{n}",
        "title": [{"value": f"Mill {n}", "lang": "en"}],
        "subject": [{"value": "mills"}],
        "edm_type": "IMAGE",
        "rights": CC0,
    }
    response = client.post("/api/workspaces/alpha/records", json={"record": record})
    assert response.status_code == 201, response.text
    return response.json()["id"]


ADD_WIND = {
    "selection": {"q": "api-"},
    "operations": [{"op": "add", "field": "subject", "value": {"value": "wind"}}],
    "description": "add wind",
}


def test_preview_apply_report_and_revert(heritage_client: TestClient, world: World) -> None:
    editor = as_person(heritage_client, world, "editor")
    ids = [create(editor, n) for n in range(2)]

    preview = editor.post("/api/workspaces/alpha/records/batch/preview", json=ADD_WIND)
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert (body["selected"], body["changed"], body["unchanged"]) == (2, 2, 0)
    assert body["items"][0]["changes"] == [
        {"field": "subject", "label": "Subject", "removed": [], "added": ["wind"]}
    ]
    assert editor.get(f"/api/records/{ids[0]}").json()["version"] == "v1"

    applied = editor.post("/api/workspaces/alpha/records/batch", json=ADD_WIND)
    assert applied.status_code == 200, applied.text
    batch = applied.json()
    assert batch["status"] == "finished" and batch["counts"]["changed"] == 2
    assert batch["items_total"] == 2
    assert {item["version_after"] for item in batch["items"]} == {"v2"}
    assert editor.get(f"/api/records/{ids[0]}").json()["version"] == "v2"

    viewer = as_person(heritage_client, world, "viewer")
    report = viewer.get(f"/api/batches/{batch['id']}")
    assert report.status_code == 200 and report.json()["description"] == "add wind"
    assert viewer.post(f"/api/batches/{batch['id']}/revert").status_code == 403

    editor = as_person(heritage_client, world, "editor")
    reverted = editor.post(f"/api/batches/{batch['id']}/revert")
    assert reverted.status_code == 200, reverted.text
    assert reverted.json()["status"] == "reverted"
    assert reverted.json()["counts"]["reverted"] == 2
    record = editor.get(f"/api/records/{ids[0]}").json()
    assert record["version"] == "v3"
    assert [v["value"] for v in record["record"]["subject"]] == ["mills"]
    assert editor.post(f"/api/batches/{batch['id']}/revert").status_code == 409


def test_bad_requests_and_permissions(heritage_client: TestClient, world: World) -> None:
    contributor = as_person(heritage_client, world, "contributor")
    assert contributor.post("/api/workspaces/alpha/records/batch", json=ADD_WIND).status_code == 403
    editor = as_person(heritage_client, world, "editor")
    bad = [
        {"operations": []},
        {"operations": [{"op": "set", "field": "identifier", "values": []}]},
        {"operations": [{"op": "replace", "field": "title", "find": "(", "regex": True}]},
        {"operations": [{"op": "set_single", "field": "edm_type", "value": "PAINTING"}]},
        {"operations": [{"op": "nope", "field": "title"}]},
        {"selection": {"uuids": ["not-a-uuid"]}, "operations": [{"op": "clear", "field": "title"}]},
    ]
    for body in bad:
        response = editor.post("/api/workspaces/alpha/records/batch/preview", json=body)
        assert response.status_code == 422, (body, response.text)
    assert editor.get("/api/batches/no-such-batch").status_code == 404


def test_large_selection_answers_202_with_a_job(
    heritage_client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from heritage.records import batch as batch_module

    editor = as_person(heritage_client, world, "editor")
    for n in range(3):
        create(editor, n)
    monkeypatch.setattr(batch_module, "INLINE_LIMIT", 2)
    response = editor.post("/api/workspaces/alpha/records/batch", json=ADD_WIND)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["job_id"] and body["links"]["job"] == f"/api/jobs/{body['job_id']}"
    assert response.headers["location"] == f"/api/batches/{body['id']}"
    job = editor.get(f"/api/jobs/{body['job_id']}").json()
    assert job["status"] == "succeeded"  # the test queue runs jobs at once
    assert editor.get(f"/api/batches/{body['id']}").json()["counts"]["changed"] == 3


def test_exports(heritage_client: TestClient, world: World) -> None:
    editor = as_person(heritage_client, world, "editor")
    for n in range(2):
        create(editor, n)
    response = editor.get("/api/workspaces/alpha/records/export", params={"q": "api-"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="alpha-')
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["identifier"] for row in rows] == ["api-0", "api-1"]

    response = editor.get(
        "/api/workspaces/alpha/records/export",
        params={"format": "jsonld", "edm_type": "IMAGE", "q": "api-1"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ld+json"
    assert response.headers["content-disposition"].endswith('.jsonld"')
    assert len(orjson.loads(response.content)["@graph"]) == 1
    assert editor.get("/api/workspaces/alpha/records/export?format=xml").status_code == 422

    outsider = as_person(heritage_client, world, "outsider")
    assert outsider.get("/api/workspaces/alpha/records/export").status_code == 404
