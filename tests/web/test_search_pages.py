"""The search page and /api/search: what each person finds, facets as links,
timeline and map data, suggestions while typing, exports, and bad input."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from heritage.accounts.identity import SYSTEM
from heritage.records.model import Entity, Record, Value
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.testing.forms import FormClient
from heritage.testing.world import PASSWORD, World, build_world, email_of

CC0 = "http://creativecommons.org/publicdomain/zero/1.0/"


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    world = build_world(heritage_runtime)
    records = RecordService(heritage_runtime)
    records.create(
        SYSTEM,
        "alpha",
        Record(
            identifier="mill-private",
            title=[Value.text("Windmill at Wijk", "en")],
            description=[Value.text("A private windmill painting, =HYPERLINK(1)", "en")],
            creator=[Value.text("=cmd|' /C calc'!A0")],
            date=[Value.text("1670")],
            spatial=[Value.link("#wijk")],
            entities=[
                Entity(
                    id="#wijk", type="place", pref_label=[Value.text("Wijk")], lat=51.97, long=5.35
                )
            ],
            rights=CC0,
            edm_type="IMAGE",
        ),
    )
    records.create(
        SYSTEM,
        "gamma",
        Record(
            identifier="mill-public",
            title=[Value.text("Windmill by the river", "en")],
            description=[Value.text("A public windmill drawing.", "en")],
            date=[Value.text("1820")],
            rights=CC0,
            edm_type="IMAGE",
        ),
    )
    return world


def signed_in(app: FastAPI, name: str) -> FormClient:
    client = FormClient(app)
    client.sign_in(email_of(name), PASSWORD)
    return client


def test_search_page_shows_only_viewable_records(heritage_app: FastAPI, world: World) -> None:
    anonymous = TestClient(heritage_app)
    page = anonymous.get("/search", params={"q": "windmill"})
    assert page.status_code == 200
    assert "Windmill by the river" in page.text
    assert "Windmill at Wijk" not in page.text and "private" not in page.text
    assert "1 record" in page.text
    viewer = signed_in(heritage_app, "viewer")
    page = viewer.get("/search", params={"q": "windmill"})
    assert "Windmill at Wijk" in page.text and "Windmill by the river" in page.text
    assert "<mark>windmill</mark>" in page.text
    # facet values are links that add the filter; chosen ones take it away
    assert 'href="/search?q=windmill&amp;century=1600"' in page.text
    narrowed = viewer.get("/search", params={"q": "windmill", "century": "1600"})
    assert "Windmill at Wijk" in narrowed.text and "Windmill by the river" not in narrowed.text
    assert 'aria-current="true"' in narrowed.text
    # the timeline's bars filter by decade; the map's data carries the search
    assert "year_from=1670&amp;year_to=1679" in page.text
    assert 'data-locations="/api/search/locations?q=windmill"' in page.text


def test_search_page_allows_the_map_tiles_and_nothing_else(
    heritage_app: FastAPI, world: World
) -> None:
    page = TestClient(heritage_app).get("/search")
    policy = page.headers["Content-Security-Policy"]
    images = re.search(r"img-src ([^;]*);", policy).group(1).split()
    assert images == ["'self'", "data:", "blob:", "https://tile.openstreetmap.org"]
    assert "script-src 'self';" in policy
    other = TestClient(heritage_app).get("/login")
    assert "tile.openstreetmap.org" not in other.headers["Content-Security-Policy"]


def test_search_api(heritage_app: FastAPI, world: World) -> None:
    viewer = signed_in(heritage_app, "viewer")
    answer = viewer.get("/api/search", params={"q": "windmill", "sort": "date"})
    assert answer.status_code == 200
    body = answer.json()
    assert [hit["identifier"] for hit in body["hits"]] == ["mill-private", "mill-public"]
    assert body["total"] == 2
    assert {item["decade"] for item in body["histogram"]} == {1670, 1820}
    assert {item["value"] for item in body["facets"]["century"]} == {"1600", "1800"}
    assert body["hits"][0]["links"]["html"].startswith("/records/")
    places = viewer.get("/api/search/locations", params={"q": "windmill"}).json()
    assert places["features"][0]["geometry"]["coordinates"] == [5.35, 51.97]
    anonymous = TestClient(heritage_app)
    assert anonymous.get("/api/search/locations", params={"q": "windmill"}).json()["features"] == []
    assert anonymous.get("/api/search/suggest", params={"q": "windm"}).json() == {
        "suggestions": ["Windmill by the river"]
    }
    fragment = anonymous.get("/search/suggest", params={"q": "windm"})
    assert fragment.text.strip() == '<option value="Windmill by the river"></option>'


def test_search_paging_and_bad_input(heritage_app: FastAPI, world: World) -> None:
    viewer = signed_in(heritage_app, "viewer")
    first = viewer.get("/api/search", params={"q": "windmill", "limit": 1, "sort": "title"}).json()
    assert first["next_cursor"] and first["previous_cursor"] is None
    second = viewer.get(
        "/api/search",
        params={"q": "windmill", "limit": 1, "sort": "title", "cursor": first["next_cursor"]},
    ).json()
    assert second["offset"] == 1 and second["hits"][0]["id"] != first["hits"][0]["id"]
    for params, field in (
        ({"cursor": "garbage"}, "cursor"),
        ({"colour": "red", "type": ["X"] * 21}, "type"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"sort": "random"}, "sort"),
    ):
        answer = viewer.get("/api/search", params=params)
        assert answer.status_code == 422, params
        assert field in answer.text
    page = viewer.get("/search", params={"cursor": "garbage"})
    assert page.status_code == 200 and "not a cursor this search returned" in page.text


def test_exports_stream_what_the_person_may_see(heritage_app: FastAPI, world: World) -> None:
    viewer = signed_in(heritage_app, "viewer")
    exported = viewer.get("/api/search/export.csv", params={"q": "windmill", "sort": "date"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [row["identifier"] for row in rows] == ["mill-private", "mill-public"]
    # a value a spreadsheet would run as a formula arrives as text
    assert rows[0]["creators"] == "'=cmd|' /C calc'!A0"
    as_json = viewer.get("/api/search/export.json", params={"q": "windmill"}).json()
    assert {item["identifier"] for item in as_json} == {"mill-private", "mill-public"}
    anonymous = TestClient(heritage_app).get("/api/search/export.json", params={"q": "windmill"})
    assert [item["identifier"] for item in anonymous.json()] == ["mill-public"]
