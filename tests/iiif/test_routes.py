"""The IIIF routes over HTTP: image information, image requests, caching and access,
manifests and collections validated against the official Presentation 3 JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import pytest
import pyvips
from fastapi.testclient import TestClient

from heritage.accounts.identity import SYSTEM
from heritage.records.model import Record, Value
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.testing.world import World, add_world_images, build_world
from heritage.web import csrf
from heritage.web.context import SESSION_COOKIE

CC_BY = "http://creativecommons.org/licenses/by/4.0/"


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    world = build_world(heritage_runtime)
    add_world_images(heritage_runtime, world)
    return world


def client_for(app: object, world: World, person: str | None) -> TestClient:
    headers = {"Authorization": f"Bearer {world.people[person].token}"} if person else {}
    return TestClient(app, base_url="http://testserver", headers=headers)  # type: ignore[arg-type]


def decode(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "")


def test_info_json_and_image_requests(heritage_app: object, world: World) -> None:
    client = client_for(heritage_app, world, "viewer")
    image = world.images["alpha"]
    info = client.get(f"/iiif/3/{image}/info.json")
    assert info.status_code == 200, info.text
    document = info.json()
    assert document["id"] == f"http://testserver/iiif/3/{image}"
    assert document["type"] == "ImageService3" and document["profile"] == "level2"
    assert (document["width"], document["height"]) == (64, 48)
    assert document["tiles"][0]["width"] == 256 and document["sizes"][-1]["width"] == 64
    assert info.headers["access-control-allow-origin"] == "*"
    ld = client.get(f"/iiif/3/{image}/info.json", headers={"Accept": "application/ld+json"})
    assert ld.headers["content-type"].startswith("application/ld+json")

    base = client.get(f"/iiif/3/{image}", follow_redirects=False)
    assert base.status_code == 303 and base.headers["location"].endswith("/info.json")

    cases = {
        "full/max/0/default.jpg": (64, 48, "jpegload_buffer"),
        "square/20,/0/default.png": (20, 20, "pngload_buffer"),
        "10,10,20,10/pct:50/90/gray.webp": (5, 10, "webpload_buffer"),
        "pct:0,0,50,50/^64,/!180/color.jpg": (64, 48, "jpegload_buffer"),
        "full/!32,32/0/bitonal.png": (32, 24, "pngload_buffer"),
        "full/^,96/0/default.jpg": (128, 96, "jpegload_buffer"),
        "full/10,10/0/default.jpg": (10, 10, "jpegload_buffer"),
    }
    for path, (width, height, loader) in cases.items():
        answer = client.get(f"/iiif/3/{image}/{path}")
        assert answer.status_code == 200, (path, answer.text)
        picture = decode(answer.content)
        assert (picture.width, picture.height) == (width, height), path
        assert picture.get("vips-loader") == loader
    gray = decode(client.get(f"/iiif/3/{image}/full/max/0/gray.png").content)
    assert gray.bands == 1

    for bad in (
        "full/max/45x/default.jpg",
        "full/max/0/sepia.jpg",
        "full/max/0/default.gif",
        "100,100,10,10/max/0/default.jpg",  # outside the image
        "full/128,/0/default.jpg",  # larger without ^
        "full/0,/0/default.jpg",
    ):
        answer = client.get(f"/iiif/3/{image}/{bad}")
        assert answer.status_code == 400, (bad, answer.status_code)


def test_etag_and_cache_lifetimes(heritage_app: object, world: World) -> None:
    client = client_for(heritage_app, world, "viewer")
    url = f"/iiif/3/{world.images['alpha']}/full/32,/0/default.jpg"
    first = client.get(url)
    assert first.headers["cache-control"] == "private, no-cache"
    again = client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and not again.content
    # public workspace, a browser that already has its CSRF cookie: shared caches may keep it
    public = TestClient(heritage_app, base_url="http://testserver")  # type: ignore[arg-type]
    public.cookies.set(csrf.CSRF_COOKIE, "x")
    answer = public.get(f"/iiif/3/{world.images['gamma']}/full/32,/0/default.jpg")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "public, max-age=2592000"
    # the thumbnail request is answered with the stored thumbnail of that width
    thumb = public.get(f"/iiif/3/{world.images['gamma']}/full/200,/0/default.jpg")
    assert thumb.status_code == 400  # 200 px is wider than the 64 px image without ^


def test_private_images_need_permission(heritage_app: object, world: World) -> None:
    image = world.images["alpha"]
    for person in (None, "outsider"):
        client = client_for(heritage_app, world, person)
        assert client.get(f"/iiif/3/{image}/info.json").status_code == 404
        assert client.get(f"/iiif/3/{image}/full/max/0/default.jpg").status_code == 404
        manifest = client.get(f"/iiif/presentation/records/{world.records['alpha']}/manifest")
        assert manifest.status_code == 404
    anonymous = client_for(heritage_app, world, None)
    assert anonymous.get(f"/iiif/3/{world.images['gamma']}/info.json").status_code == 200
    assert anonymous.get("/iiif/3/not-an-image/info.json").status_code in (404, 422)


@pytest.fixture
def presentation_schema(shared_data: Path) -> jsonschema_rs.Draft7Validator:
    schema = json.loads((shared_data / "schemas/iiif-presentation/iiif_3_0.json").read_text())
    return jsonschema_rs.Draft7Validator(schema)


def test_manifest_and_collection_validate(
    heritage_runtime: Runtime,
    heritage_app: object,
    world: World,
    presentation_schema: jsonschema_rs.Draft7Validator,
) -> None:
    record = Record(
        identifier="mill-7",
        title=[Value.text("Windmühle", "de"), Value.text("Windmill", "en")],
        description=[Value.text("A mill near Bentheim.", "en")],
        creator=[Value.text("Jacob van Ruisdael")],
        data_provider=[Value.text("Museum Alpha")],
        rights=CC_BY,
    )
    records = RecordService(heritage_runtime)
    uuid = records.create(SYSTEM, "alpha", record).uuid
    picture = pyvips.Image.black(300, 200).new_from_image([10, 200, 30]).cast("uchar")
    records.attach_file(SYSTEM, uuid, "front.png", picture.pngsave_buffer())
    records.attach_file(SYSTEM, uuid, "back.jpg", picture.jpegsave_buffer())
    records.attach_file(SYSTEM, uuid, "broken.jpg", b"not really a jpeg")

    client = client_for(heritage_app, world, "viewer")
    answer = client.get(f"/iiif/presentation/records/{uuid}/manifest")
    assert answer.status_code == 200, answer.text
    manifest = answer.json()
    errors = [str(error) for error in presentation_schema.iter_errors(manifest)]
    assert not errors, errors
    assert manifest["label"] == {"de": ["Windmühle"], "en": ["Windmill"]}
    assert manifest["rights"] == CC_BY
    assert manifest["requiredStatement"]["value"] == {"none": ["Museum Alpha"]}
    assert [canvas["label"]["none"][0] for canvas in manifest["items"]] == [
        "front.png",
        "back.jpg",
    ]  # the broken image has no canvas
    body = manifest["items"][0]["items"][0]["items"][0]["body"]
    assert (body["width"], body["height"]) == (300, 200)
    info = client.get(body["service"][0]["id"].removeprefix("http://testserver") + "/info.json")
    assert info.status_code == 200
    assert manifest["seeAlso"][0]["id"].endswith("/versions/v4")
    assert {"label": {"en": ["Creator"]}, "value": {"none": ["Jacob van Ruisdael"]}} in manifest[
        "metadata"
    ]

    collection = client.get("/iiif/presentation/workspaces/alpha/collection").json()
    assert not [str(error) for error in presentation_schema.iter_errors(collection)]
    assert {item["id"].rsplit("/", 2)[-2] for item in collection["items"]} == {
        uuid,
        world.records["alpha"],
    }


def test_record_json_links_manifest_and_info(heritage_app: object, world: World) -> None:
    client = client_for(heritage_app, world, "viewer")
    body = client.get(f"/api/records/{world.records['alpha']}").json()
    assert body["links"]["iiif_manifest"] == (
        f"/iiif/presentation/records/{world.records['alpha']}/manifest"
    )
    images = [item for item in body["representations"] if "iiif_info" in item["links"]]
    assert [item["links"]["iiif_info"] for item in images] == [
        f"/iiif/3/{world.images['alpha']}/info.json"
    ]


def test_record_page_has_the_viewer(heritage_app: object, world: World) -> None:
    client = TestClient(heritage_app, base_url="http://testserver")  # type: ignore[arg-type]
    client.cookies.set(SESSION_COOKIE, world.people["viewer"].session)
    page = client.get(f"/records/{world.records['alpha']}")
    assert page.status_code == 200
    assert 'id="iiif-viewer"' in page.text
    assert f"/iiif/3/{world.images['alpha']}/info.json" in page.text
    assert "/static/vendor/openseadragon/openseadragon.min.js" in page.text
    plain = client.get(f"/records/{world.records['gamma']}")  # a public record, also with an image
    assert 'id="iiif-viewer"' in plain.text


def test_record_page_says_why_a_file_has_no_viewer_images(
    heritage_runtime: Runtime, heritage_app: object, world: World
) -> None:
    records = RecordService(heritage_runtime)
    records.attach_file(SYSTEM, world.records["alpha"], "torn.jpg", b"\xff\xd8\xff\xe0 not a jpeg")
    client = TestClient(heritage_app, base_url="http://testserver")  # type: ignore[arg-type]
    client.cookies.set(SESSION_COOKIE, world.people["viewer"].session)
    page = client.get(f"/records/{world.records['alpha']}")
    assert page.status_code == 200
    assert "No viewer images could be made of this file" in page.text
    assert "not an image libvips can read" in page.text
    # the other image of the record is still shown
    assert f"/iiif/3/{world.images['alpha']}/info.json" in page.text


def test_remote_images_are_shown_from_their_own_servers(
    heritage_runtime: Runtime, heritage_app: object, world: World
) -> None:
    from heritage.records.model import Representation

    service = "https://images.example.org:8443/iiif/3/abc"
    record = Record(
        identifier="remote-1",
        title=[Value.text("Imported")],
        representations=[
            Representation(url=f"{service}/full/max/0/default.jpg", iiif_service=service),
            # a service URL that would break out of the policy is not used
            Representation(
                url="https://bad.example/x.jpg", iiif_service="https://bad.example;script-src *"
            ),
        ],
    )
    uuid = RecordService(heritage_runtime).create(SYSTEM, "alpha", record).uuid
    client = TestClient(heritage_app, base_url="http://testserver")  # type: ignore[arg-type]
    client.cookies.set(SESSION_COOKIE, world.people["viewer"].session)
    page = client.get(f"/records/{uuid}")
    assert page.status_code == 200
    start = page.text.index('data-images="') + len('data-images="')
    shown = page.text[start : page.text.index('"', start)]
    assert shown == f"[&#34;{service}/info.json&#34;]"
    policy = page.headers["content-security-policy"]
    assert "img-src 'self' data: blob: https://images.example.org:8443;" in policy
    assert "connect-src 'self' blob: https://images.example.org:8443;" in policy
    assert "script-src 'self';" in policy and "bad.example" not in policy
    assert "/manifest" not in page.text  # no image of ours: no manifest of ours
    # other pages keep the strict policy
    other = client.get(f"/records/{world.records['alpha']}")
    assert "images.example.org" not in other.headers["content-security-policy"]


def test_manifest_shows_remote_images_from_their_own_servers(
    heritage_runtime: Runtime,
    heritage_app: object,
    world: World,
    presentation_schema: jsonschema_rs.Draft7Validator,
) -> None:
    from heritage.records.model import Representation

    v3 = "https://images.example.org/iiif/3/abc"
    v2 = "https://old.example.org/iiif/2/def"
    record = Record(
        identifier="remote-2",
        title=[Value.text("Imported")],
        representations=[
            Representation(
                url=f"{v3}/full/max/0/default.jpg",
                media_type="image/jpeg",
                iiif_service=v3,
                iiif_profile="http://iiif.io/api/image/3/level1.json",
                width=4000,
                height=3000,
                label=[Value.text("Recto", "en")],
            ),
            Representation(
                url=f"{v2}/full/full/0/default.jpg",
                iiif_service=v2,
                iiif_profile="http://iiif.io/api/image/2/level2.json",
                width=800,
                height=600,
            ),
            # the service's version is not known: shown as a plain image
            Representation(
                url="https://plain.example/a.png", media_type="image/png", width=10, height=20
            ),
            # no size: no canvas can be drawn for it
            Representation(url="https://plain.example/b.png", media_type="image/png"),
        ],
    )
    records = RecordService(heritage_runtime)
    uuid = records.create(SYSTEM, "alpha", record).uuid
    client = client_for(heritage_app, world, "viewer")
    assert client.get(f"/api/records/{uuid}").json()["links"]["iiif_manifest"]
    manifest = client.get(f"/iiif/presentation/records/{uuid}/manifest").json()
    assert not [str(error) for error in presentation_schema.iter_errors(manifest)]
    bodies = [canvas["items"][0]["items"][0]["body"] for canvas in manifest["items"]]
    assert [body["id"] for body in bodies] == [
        f"{v3}/full/max/0/default.jpg",
        f"{v2}/full/full/0/default.jpg",
        "https://plain.example/a.png",
    ]
    assert bodies[0]["service"] == [{"id": v3, "type": "ImageService3", "profile": "level1"}]
    assert bodies[1]["service"] == [
        {"@id": v2, "@type": "ImageService2", "profile": "http://iiif.io/api/image/2/level2.json"}
    ]
    assert "service" not in bodies[2] and bodies[2]["format"] == "image/png"
    assert manifest["items"][0]["label"] == {"en": ["Recto"]}
    assert (manifest["items"][1]["width"], manifest["items"][1]["height"]) == (800, 600)
    # an image of ours joins them in record order
    picture = pyvips.Image.black(300, 200).new_from_image([10, 200, 30]).cast("uchar")
    records.attach_file(SYSTEM, uuid, "ours.png", picture.pngsave_buffer())
    manifest = client.get(f"/iiif/presentation/records/{uuid}/manifest").json()
    assert not [str(error) for error in presentation_schema.iter_errors(manifest)]
    assert len(manifest["items"]) == 4
    assert manifest["items"][3]["items"][0]["items"][0]["body"]["id"].startswith(
        "http://testserver/iiif/3/"
    )
    assert manifest["thumbnail"][0]["id"].startswith("http://testserver/iiif/3/")
