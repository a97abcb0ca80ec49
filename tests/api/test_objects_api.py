"""Stored objects over the API: creating, putting files, versions, ranges, digests, deletion."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from heritage.runtime import Runtime
from heritage.testing.world import WORLD_FILE, World, build_world


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    return build_world(heritage_runtime)


def client_for(heritage_client: TestClient, world: World, person: str) -> TestClient:
    heritage_client.headers["Authorization"] = f"Bearer {world.people[person].token}"
    return heritage_client


@pytest.fixture
def contributor(heritage_client: TestClient, world: World) -> Iterator[TestClient]:
    yield client_for(heritage_client, world, "contributor")


def test_create_put_download_with_digests(contributor: TestClient) -> None:
    created = contributor.post("/api/workspaces/alpha/objects", json={"title": "Map"})
    assert created.status_code == 201, created.text
    uuid = created.json()["id"]
    body = bytes(range(256)) * 5000  # 1.28 MB: two encryption chunks
    put = contributor.put(
        f"/api/workspaces/alpha/objects/{uuid}/files/maps/sheet 1.png",
        content=body,
        params={"message": "Scan of sheet 1", "sha256": hashlib.sha256(body).hexdigest()},
    )
    assert put.status_code == 200, put.text
    info = put.json()
    assert info["head_version"] == "v2"
    assert info["files"][0] | {"version_added": "v2"} == {
        "path": "maps/sheet 1.png",
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "media_type": "image/png",
        "encrypted": True,
        "version_added": "v2",
    }

    url = f"/api/workspaces/alpha/objects/{uuid}/files/maps/sheet 1.png"
    whole = contributor.get(url)
    assert whole.status_code == 200
    assert whole.content == body
    assert whole.headers["content-type"] == "image/png"
    assert whole.headers["accept-ranges"] == "bytes"
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert whole.headers["repr-digest"] == f"sha-256=:{digest}:"
    assert whole.headers["content-disposition"].startswith("attachment;")
    assert "sandbox" in whole.headers["content-security-policy"]

    part = contributor.get(url, headers={"Range": "bytes=1048570-1048579"})
    assert part.status_code == 206
    assert part.content == body[1048570:1048580]
    assert part.headers["content-range"] == f"bytes 1048570-1048579/{len(body)}"
    assert part.headers["repr-digest"] == whole.headers["repr-digest"]

    suffix = contributor.get(url, headers={"Range": "bytes=-5"})
    assert suffix.status_code == 206 and suffix.content == body[-5:]
    open_ended = contributor.get(url, headers={"Range": f"bytes={len(body) - 3}-"})
    assert open_ended.content == body[-3:]

    beyond = contributor.get(url, headers={"Range": f"bytes={len(body)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(body)}"

    stale = contributor.get(url, headers={"Range": "bytes=0-1", "If-Range": '"other"'})
    assert stale.status_code == 200 and stale.content == body
    cached = contributor.get(url, headers={"If-None-Match": whole.headers["etag"]})
    assert cached.status_code == 304

    head = contributor.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(body))


def test_wrong_checksum_is_refused_and_nothing_is_written(contributor: TestClient) -> None:
    uuid = contributor.post("/api/workspaces/alpha/objects", json={}).json()["id"]
    refused = contributor.put(
        f"/api/workspaces/alpha/objects/{uuid}/files/a.txt",
        content=b"abc",
        params={"sha256": "0" * 64},
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert "sha256" in refused.text
    assert contributor.get(f"/api/workspaces/alpha/objects/{uuid}").json()["head_version"] == "v1"


def test_versions_events_and_old_versions(heritage_client: TestClient, world: World) -> None:
    editor = client_for(heritage_client, world, "editor")
    uuid = world.objects["alpha"]
    base = f"/api/workspaces/alpha/objects/{uuid}"
    assert editor.put(f"{base}/files/{WORLD_FILE}", content=b"Second draft").status_code == 200
    assert editor.delete(f"{base}/files/{WORLD_FILE}").status_code == 200
    versions = editor.get(f"{base}/versions").json()
    assert [v["name"] for v in versions] == ["v3", "v2", "v1"]
    assert versions[0]["removed"] == [WORLD_FILE]
    assert editor.get(f"{base}/files/{WORLD_FILE}").status_code == 404
    old = editor.get(f"{base}/files/{WORLD_FILE}", params={"version": "v1"})
    assert old.content == b"Dear colleague,"
    assert editor.get(f"{base}/files/{WORLD_FILE}", params={"version": "v9"}).status_code == 404
    assert editor.get(f"{base}/files/{WORLD_FILE}", params={"version": "x"}).status_code == 422
    events = editor.get(f"{base}/events").json()
    assert [e["type"] for e in events] == ["deletion", "modification", "ingestion"]


def test_public_workspace_is_readable_anonymously_but_not_writable(
    heritage_client: TestClient, world: World
) -> None:
    uuid = world.objects["gamma"]
    got = heritage_client.get(f"/api/workspaces/gamma/objects/{uuid}/files/{WORLD_FILE}")
    assert got.status_code == 200 and got.content == b"Dear colleague,"
    put = heritage_client.put(f"/api/workspaces/gamma/objects/{uuid}/files/x.txt", content=b"x")
    assert put.status_code == 401
    hidden = heritage_client.get(f"/api/workspaces/alpha/objects/{world.objects['alpha']}")
    assert hidden.status_code == 404


def test_purge_is_for_administrators_with_a_reason(
    heritage_client: TestClient, world: World
) -> None:
    uuid = world.objects["alpha"]
    owner = client_for(heritage_client, world, "owner")
    url = f"/api/workspaces/alpha/objects/{uuid}/purge"
    assert owner.post(url, json={"reason": "wrong file"}).status_code == 403
    admin = client_for(heritage_client, world, "admin")
    missing = admin.post(url, json={})
    assert missing.status_code == 422 and "reason" in missing.text
    assert admin.post(url, json={"reason": "wrong file"}).status_code == 204
    assert admin.get(f"/api/workspaces/alpha/objects/{uuid}").status_code == 404


@pytest.mark.parametrize("path", ["..%2Fescape.txt", ".heritage/object.json", "a//b.txt"])
def test_bad_file_paths_get_problem_details(
    contributor: TestClient, world: World, path: str
) -> None:
    uuid = world.objects["alpha"]
    answer = contributor.put(f"/api/workspaces/alpha/objects/{uuid}/files/{path}", content=b"x")
    assert answer.status_code in (404, 422), answer.text
    assert answer.headers["content-type"] == "application/problem+json"
