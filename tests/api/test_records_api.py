"""Records over the API: create, read with ETag, save with If-Match, conflicts, versions,
diffs, revert, files, and imports with their reports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from heritage.runtime import Runtime
from heritage.testing.world import World, build_world

CC0 = "http://creativecommons.org/publicdomain/zero/1.0/"
RECORD = {
    "identifier": "inv-7",
    "title": [{"value": "Windmill", "lang": "en"}],
    "type": [{"value": "painting", "lang": "en", "ref": "http://vocab.getty.edu/aat/300033618"}],
    "edm_type": "IMAGE",
    "rights": CC0,
    "data_provider": [{"value": "Museum Alpha"}],
    "provider": [{"value": "Heritage Cloud"}],
    "is_shown_at": "https://museum.example/objects/7",
}


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    return build_world(heritage_runtime)


def as_person(client: TestClient, world: World, person: str) -> TestClient:
    client.headers["Authorization"] = f"Bearer {world.people[person].token}"
    return client


@pytest.fixture
def contributor(heritage_client: TestClient, world: World) -> Iterator[TestClient]:
    yield as_person(heritage_client, world, "contributor")


def test_create_read_save_and_conflict(contributor: TestClient) -> None:
    created = contributor.post("/api/workspaces/alpha/records", json={"record": RECORD})
    assert created.status_code == 201, created.text
    body = created.json()
    record_id = body["id"]
    assert body["status"] == "valid" and body["version"] == "v1"
    assert created.headers["location"] == f"/api/records/{record_id}"

    read = contributor.get(f"/api/records/{record_id}")
    assert read.headers["etag"] == '"v1"'
    assert read.json()["record"]["title"] == [{"value": "Windmill", "lang": "en", "ref": None}]

    edited = dict(RECORD, description=[{"value": "A mill.", "lang": "en"}])
    saved = contributor.put(
        f"/api/records/{record_id}", json={"record": edited}, headers={"If-Match": '"v1"'}
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == "v2"

    stale = dict(RECORD, description=[{"value": "Another text."}])
    conflict = contributor.put(
        f"/api/records/{record_id}", json={"record": stale, "base_version": "v1"}
    )
    assert conflict.status_code == 409
    assert "changed while you were editing" in conflict.json()["detail"]

    unversioned = contributor.put(f"/api/records/{record_id}", json={"record": stale})
    assert unversioned.status_code == 422

    versions = contributor.get(f"/api/records/{record_id}/versions").json()
    assert [v["name"] for v in versions] == ["v2", "v1"]
    document = contributor.get(f"/api/records/{record_id}/versions/v1")
    assert document.headers["content-type"].startswith("application/ld+json")
    assert document.json()["dc:title"] == [{"@value": "Windmill", "@language": "en"}]

    diff = contributor.get(f"/api/records/{record_id}/diff", params={"from": "v1", "to": "v2"})
    assert diff.json() == [
        {"field": "description", "label": "Description", "removed": [], "added": ["A mill. @en"]}
    ]
    reverted = contributor.post(
        f"/api/records/{record_id}/revert", json={"version": "v1", "base_version": "v2"}
    )
    assert reverted.status_code == 200, reverted.text
    assert reverted.json()["version"] == "v3"
    assert reverted.json()["record"]["description"] == []


def test_drafts_list_their_problems(contributor: TestClient) -> None:
    created = contributor.post(
        "/api/workspaces/alpha/records", json={"record": {"identifier": "x"}}
    )
    assert created.status_code == 201
    body = created.json()
    assert body["status"] == "draft"
    fields = {problem["field"] for problem in body["problems"] if problem["severity"] == "error"}
    assert {"title", "rights", "edm_type"} <= fields
    listed = contributor.get("/api/workspaces/alpha/records", params={"status": "draft"}).json()
    assert "x" in [item["identifier"] for item in listed["items"]]


def test_bad_records_are_refused_with_the_field(contributor: TestClient) -> None:
    bad = dict(RECORD, edm_type="PICTURE")
    answer = contributor.post("/api/workspaces/alpha/records", json={"record": bad})
    assert answer.status_code == 422
    assert "edm_type" in answer.text


def test_files_of_a_record(contributor: TestClient) -> None:
    record_id = contributor.post("/api/workspaces/alpha/records", json={"record": RECORD}).json()[
        "id"
    ]
    put = contributor.put(f"/api/records/{record_id}/files/front.jpg", content=b"\xff\xd8jpeg")
    assert put.status_code == 200, put.text
    representation = put.json()["representations"][0]
    assert representation["role"] == "primary"
    assert representation["links"]["download"] == f"/api/records/{record_id}/files/front.jpg"
    download = contributor.get(representation["links"]["download"])
    assert download.content == b"\xff\xd8jpeg"
    assert download.headers["content-type"] == "image/jpeg"


def test_permissions(heritage_client: TestClient, world: World) -> None:
    contributor = as_person(heritage_client, world, "contributor")
    record_id = contributor.post("/api/workspaces/alpha/records", json={"record": RECORD}).json()[
        "id"
    ]
    viewer = as_person(heritage_client, world, "viewer")
    assert viewer.get(f"/api/records/{record_id}").status_code == 200
    refused = viewer.put(f"/api/records/{record_id}", json={"record": RECORD, "base_version": "v1"})
    assert refused.status_code == 403
    outsider = as_person(heritage_client, world, "outsider")
    assert outsider.get(f"/api/records/{record_id}").status_code == 404


EDM = """<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
  xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:edm="http://www.europeana.eu/schemas/edm/"
  xmlns:ore="http://www.openarchives.org/ore/terms/">
  <edm:ProvidedCHO rdf:about="http://example.org/cho/{n}">
    <dc:title xml:lang="en">Object {n}</dc:title>
    <dc:type xml:lang="en">photograph</dc:type>
    <edm:type>IMAGE</edm:type>
  </edm:ProvidedCHO>
  <ore:Aggregation rdf:about="http://example.org/agg/{n}">
    <edm:aggregatedCHO rdf:resource="http://example.org/cho/{n}"/>
    <edm:dataProvider>Museum</edm:dataProvider>
    <edm:provider>Aggregator</edm:provider>
    <edm:isShownBy rdf:resource="http://example.org/img/{n}.jpg"/>
    <edm:rights rdf:resource="{rights}"/>
  </ore:Aggregation>
</rdf:RDF>
"""


def test_import_through_the_api_with_a_report(contributor: TestClient) -> None:
    files = {"file": ("one.xml", EDM.format(n=1, rights=CC0).encode(), "application/xml")}
    before = contributor.get("/api/workspaces/alpha/records").json()["total"]
    dry = contributor.post("/api/workspaces/alpha/imports", files=files, data={"dry_run": "true"})
    assert dry.status_code == 202, dry.text
    report = contributor.get(dry.json()["links"]["self"]).json()
    assert report["status"] == "finished" and report["counts"] == {"create": 1}
    assert contributor.get("/api/workspaces/alpha/records").json()["total"] == before

    started = contributor.post("/api/workspaces/alpha/imports", files=files)
    report = contributor.get(started.json()["links"]["self"]).json()
    assert report["counts"] == {"create": 1}, report
    again = contributor.post("/api/workspaces/alpha/imports", files=files)
    assert contributor.get(again.json()["links"]["self"]).json()["counts"] == {"unchanged": 1}

    https = EDM.format(n=1, rights=CC0.replace("http:", "https:")).encode()
    changed = contributor.post(
        "/api/workspaces/alpha/imports", files={"file": ("one.xml", https, "application/xml")}
    )
    report = contributor.get(changed.json()["links"]["self"]).json()
    assert report["counts"] == {"update": 1}
    items = contributor.get(changed.json()["links"]["items"], params={"problems": "true"}).json()
    problem = next(p for p in items["items"][0]["problems"] if p["field"] == "rights")
    assert CC0 in problem["hint"]


def test_record_json_carries_its_tiers(contributor: TestClient) -> None:
    created = contributor.post("/api/workspaces/alpha/records", json={"record": RECORD})
    assert created.status_code == 201, created.text
    tiers = created.json()["tiers"]
    # IMAGE with a landing page and no image: content tier 0; CC0 allows tier 4
    assert tiers["content"] == 0
    media, licence = tiers["content_criteria"]
    assert media["code"] == "content.media" and media["level"] == "0"
    assert "100,000 pixels" in media["hint"]
    assert licence == {
        "code": "content.licence",
        "level": "4",
        "message": "The rights allow open reuse: the content tier is at most 4.",
        "hint": "",
    }
    # both properties whose language counts have one (title, type): C; one enabling
    # element (dc:type): A
    codes = {item["code"]: item for item in tiers["metadata_criteria"]}
    assert codes["metadata.language"]["level"] == "C"
    assert codes["metadata.enabling"]["level"] == "A" and codes["metadata.enabling"]["hint"]
    assert tiers["metadata"] == "A"
    read = contributor.get(f"/api/records/{created.json()['id']}")
    assert read.json()["tiers"] == tiers
