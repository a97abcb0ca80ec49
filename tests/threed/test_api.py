"""3D models over the API: upload a set, the record's JSON carries analysis, derivative
URLs, thumbnails, paradata and quality; derivatives download; embed page and oEmbed."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from heritage.runtime import Runtime
from heritage.testing.world import World, build_world
from tests.api.test_records_api import RECORD


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    return build_world(heritage_runtime)


def as_person(client: TestClient, world: World, person: str) -> TestClient:
    client.headers["Authorization"] = f"Bearer {world.people[person].token}"
    return client


def test_model_over_the_api(
    heritage_client: TestClient, world: World, models: Path, gltf_validator, tmp_path: Path
) -> None:
    client = as_person(heritage_client, world, "owner")
    created = client.post("/api/workspaces/gamma/records", json={"record": RECORD})
    record_id = created.json()["id"]
    folder = models / "gltf" / "mask-bali-separated"
    files = [("files", (path.name, path.read_bytes())) for path in sorted(folder.iterdir())]
    added = client.post(f"/api/records/{record_id}/models", files=files)
    assert added.status_code == 201, added.text

    record = client.get(f"/api/records/{record_id}").json()
    [representation] = record["representations"]
    assert representation["media_type"] == "model/gltf+json"
    assert sorted(part.rsplit("/", 1)[1] for part in representation["parts"]) == [
        "Image_0.jpg",
        "mask-gltf-2.0-binary-valid.bin",
    ]
    model = representation["model"]
    assert model["status"] == "ready", model["error"]
    assert model["analysis"]["europeana"] == {
        "edm:vertexCount": 62383,
        "edm:polygonCount": 100000,
    }
    assert model["units"] == "m"
    assert set(model["thumbnails"]) == {"200", "400", "turntable"}
    assert "lod-100k" in model["derivatives"]
    # the viewer's level is Draco-compressed, said with its tool and parameters; the
    # uncompressed level is listed beside it for clients without a decoder
    compressed = model["derivatives"]["lod-100k"]
    assert compressed["provenance"]["compression"]["extension"] == "KHR_draco_mesh_compression"
    assert compressed["provenance"]["compression"]["position_quantization_bits"] == 14
    assert "DracoPy" in {tool["name"] for tool in compressed["provenance"]["tools"]}
    plain = model["derivatives"]["lod-100k-uncompressed"]
    assert "compression" not in plain["provenance"]
    assert compressed["bytes"] < plain["bytes"] and compressed["faces"] == plain["faces"]
    assert model["quality"]["layers"]["file_data"] > 0.5
    assert representation["links"]["viewer"] == model["viewer"]

    glb = client.get(model["derivatives"]["lod-100k"]["url"])
    assert glb.status_code == 200 and glb.headers["content-type"] == "model/gltf-binary"
    (tmp_path / "lod.glb").write_bytes(glb.content)
    [report] = gltf_validator(tmp_path / "lod.glb")
    assert report["errors"] == 0, report["messages"]
    thumb = client.get(model["thumbnails"]["200"])
    assert thumb.content[:4] == b"\x89PNG"

    paradata = {"method": "photogrammetry", "device": "Nikon D850", "units": "m"}
    saved = client.put(
        f"/api/records/{record_id}/models/paradata",
        json={"file": representation["file"], "paradata": paradata},
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["paradata"] == paradata
    bad = client.put(
        f"/api/records/{record_id}/models/paradata",
        json={"file": representation["file"], "paradata": {"method": "guessing"}},
    )
    assert bad.status_code == 422

    # the embeddable viewer may be framed anywhere; oEmbed describes it
    page = client.get(model["viewer"])
    assert page.status_code == 200 and "data-threed-viewer" in page.text
    assert "frame-ancestors *" in page.headers["content-security-policy"]
    oembed = client.get(model["oembed"])
    assert oembed.status_code == 200, oembed.text
    body = oembed.json()
    assert body["type"] == "rich" and body["version"] == "1.0"
    assert urlsplit(model["viewer"]).path in body["html"]
    assert body["thumbnail_url"].endswith(model["thumbnails"]["400"])
    # the record page frames nothing
    assert (
        "frame-ancestors 'none'"
        in client.get(f"/records/{record_id}").headers["content-security-policy"]
    )
    missing = client.get("/api/oembed", params={"url": "https://elsewhere.example/embed/x"})
    assert missing.status_code == 404


def test_private_models_stay_private(
    heritage_client: TestClient, world: World, models: Path
) -> None:
    owner = as_person(heritage_client, world, "owner")
    record_id = owner.post("/api/workspaces/alpha/records", json={"record": RECORD}).json()["id"]
    data = (models / "stl" / "stl_binary" / "Cube.stl").read_bytes()
    owner.post(f"/api/records/{record_id}/models", files=[("files", ("cube.stl", data))])
    model = owner.get(f"/api/records/{record_id}/models").json()["models"][0]
    heritage_client.headers.pop("Authorization")
    assert heritage_client.get(model["derivatives"]["lod-100k"]["url"]).status_code in (401, 404)
    assert heritage_client.get(model["oembed"]).status_code in (401, 403, 404)
    outsider = as_person(heritage_client, world, "outsider")
    assert outsider.get(model["viewer"]).status_code in (403, 404)
