"""Saved searches: one's own only, alerts that count new matches as their owner."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from heritage.accounts.identity import SYSTEM
from heritage.db.base import utcnow
from heritage.errors import InvalidInput, NotFound
from heritage.records.model import Record, Value
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.search.models import SavedSearch
from heritage.search.saved import SavedSearchService, count_alerts
from heritage.testing.world import World
from heritage.web.app import create_app
from heritage.web.context import SESSION_COOKIE
from tests.search.conftest import identity


def make(runtime: Runtime, workspace: str, identifier: str, title: str) -> None:
    RecordService(runtime).create(
        SYSTEM, workspace, Record(identifier=identifier, title=[Value.text(title)])
    )


def test_alerts_count_new_matches_the_owner_may_see(
    search_runtime: Runtime, search_world: World
) -> None:
    service = SavedSearchService(search_runtime)
    viewer = identity(search_runtime, search_world, "viewer")  # alpha and public gamma
    saved = service.create(viewer, "  Globes   and spheres ", "q=globe&sort=date&colour=red")
    assert saved.name == "Globes and spheres"
    assert saved.query == "q=globe&sort=date"  # what is not a search is left out
    # seen a minute ago: everything changed since then is new
    with search_runtime.database.session(write=True) as session:
        session.execute(update(SavedSearch).values(seen_at=utcnow() - timedelta(minutes=1)))
        session.commit()
    make(search_runtime, "alpha", "g-1", "Terrestrial globe")
    make(search_runtime, "gamma", "g-2", "Celestial globe")
    make(search_runtime, "beta", "g-3", "Secret globe")  # the viewer may not see it
    count_alerts(search_runtime)

    def current() -> int:
        [found] = [item for item in service.list(viewer) if item.id == saved.id]
        return found.new_matches

    assert current() == 2
    opened = service.open(viewer, saved.id)
    assert opened.new_matches == 0 and opened.url == "/search?q=globe&sort=date"
    count_alerts(search_runtime)
    assert current() == 0  # nothing changed since it was opened


def test_saved_searches_are_their_owners_alone(
    search_runtime: Runtime, search_world: World
) -> None:
    service = SavedSearchService(search_runtime)
    viewer = identity(search_runtime, search_world, "viewer")
    editor = identity(search_runtime, search_world, "editor")
    mine = service.create(viewer, "Maps", "q=map", alert=False)
    assert mine.id not in {item.id for item in service.list(editor)}
    with pytest.raises(NotFound):
        service.open(editor, mine.id)
    with pytest.raises(NotFound):
        service.delete(editor, mine.id)
    with pytest.raises(InvalidInput) as refused:
        service.create(viewer, "", "q=map")
    assert refused.value.errors[0].field == "name"
    with pytest.raises(InvalidInput) as refused:
        service.create(viewer, "Bad", "year_from=eighteen")
    assert refused.value.errors[0].field == "year_from"
    service.delete(viewer, mine.id)
    assert mine.id not in {item.id for item in service.list(viewer)}


def test_saved_searches_through_the_api_and_the_pages(
    search_runtime: Runtime, search_world: World
) -> None:
    person = search_world.people["viewer"]
    client = TestClient(create_app(search_runtime))
    headers = {"Authorization": f"Bearer {person.token}"}
    made = client.post(
        "/api/search/saved", json={"name": "Mills", "search": "q=mill&type=IMAGE"}, headers=headers
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["links"]["search"] == "/api/search?q=mill&type=IMAGE"
    listed = client.get("/api/search/saved", headers=headers).json()
    assert "Mills" in {item["name"] for item in listed}
    bad = client.post(
        "/api/search/saved", json={"name": "x", "search": "sort=sideways"}, headers=headers
    )
    assert bad.status_code == 422 and "sort" in bad.text
    client.cookies.set(SESSION_COOKIE, person.session)
    page = client.get("/search/saved")
    assert page.status_code == 200 and "Mills" in page.text
    opened = client.get(f"/search/saved/{body['id']}", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == "/search?q=mill&type=IMAGE"
    dashboard = client.get("/dashboard")
    assert "Mills" in dashboard.text
    gone = client.delete(f"/api/search/saved/{body['id']}", headers=headers)
    assert gone.status_code == 204
    assert client.delete(f"/api/search/saved/{body['id']}", headers=headers).status_code == 404
