"""The stored-tile shortcut: whole tiles of images anyone may see are answered before the
framework's routing, with the same bytes, headers and policy as the IIIF route; every
other request reaches the route unchanged."""

from __future__ import annotations

import pytest
import pyvips
from fastapi.testclient import TestClient

from heritage.accounts.identity import SYSTEM
from heritage.iiif.services import ImageService, image_identifier
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.testing.world import World, add_world_images, build_world

TILE = "256,256,256,256/256,/0/default.jpg"


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    world = build_world(heritage_runtime)
    add_world_images(heritage_runtime, world)
    # a picture with whole stored tiles, in the public workspace (gamma) and a private one
    picture = pyvips.Image.xyz(700, 600)[0].cast("uchar").bandjoin([90, 60])
    for slug in ("gamma", "alpha"):
        RecordService(heritage_runtime).attach_file(
            SYSTEM, world.records[slug], "tiles.png", picture.pngsave_buffer()
        )
        world.images[f"{slug}-tiles"] = image_identifier(world.records[slug], "media/tiles.png")
    return world


def anonymous(app: object) -> TestClient:
    return TestClient(app, base_url="http://testserver")  # type: ignore[arg-type]


def test_whole_tiles_skip_the_route_with_the_same_answer(
    heritage_app: object, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = world.images["gamma-tiles"]
    client = anonymous(heritage_app)
    assert client.get(f"/iiif/3/{image}/info.json").status_code == 200  # facts now kept
    by_route = client.get(f"/iiif/3/{image}/{TILE}", headers={"X-Request-ID": "warm"})

    def no_render(*args: object, **kwargs: object) -> None:
        raise AssertionError("the route rendered a tile the shortcut should answer")

    monkeypatch.setattr(ImageService, "render", no_render)
    answer = client.get(f"/iiif/3/{image}/{TILE}")
    assert answer.status_code == 200
    assert answer.content == by_route.content and answer.content[:2] == b"\xff\xd8"
    for header in ("etag", "access-control-allow-origin", "cache-control", "link", "vary"):
        assert answer.headers[header] == by_route.headers[header], header
    # the context middleware still runs around it
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-request-id"]
    unchanged = client.get(
        f"/iiif/3/{image}/{TILE}", headers={"If-None-Match": answer.headers["etag"]}
    )
    assert unchanged.status_code == 304 and not unchanged.content
    # anything but a whole stored tile goes on to the route (which now cannot render)
    with pytest.raises(AssertionError, match="should answer"):
        client.get(f"/iiif/3/{image}/0,0,100,100/100,/0/default.jpg")


def test_private_tiles_and_signed_in_people_go_through_the_route(
    heritage_app: object, world: World
) -> None:
    private = world.images["alpha-tiles"]
    viewer = TestClient(
        heritage_app,  # type: ignore[arg-type]
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {world.people['viewer'].token}"},
    )
    assert viewer.get(f"/iiif/3/{private}/info.json").status_code == 200  # facts kept
    # not signed in: the shortcut declines, the route answers as the policy says
    assert anonymous(heritage_app).get(f"/iiif/3/{private}/{TILE}").status_code == 404
    outsider = TestClient(
        heritage_app,  # type: ignore[arg-type]
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {world.people['outsider'].token}"},
    )
    assert outsider.get(f"/iiif/3/{private}/{TILE}").status_code == 404
    answer = viewer.get(f"/iiif/3/{private}/{TILE}")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "private, no-cache"
    # a bad request on the short way's path shape still gets the route's clear 400
    bad = anonymous(heritage_app).get(f"/iiif/3/{world.images['gamma-tiles']}/full/max/0/x.gif")
    assert bad.status_code == 400
