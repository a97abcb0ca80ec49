"""The search page in a browser: suggestions while typing, hits with marked words,
a facet chosen, the timeline, and the map with the records' places. Writes
docs/screenshots/search.png with HERITAGE_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "screenshots" / "search.png"


def test_search_with_suggestions_facets_timeline_and_map(admin_page, live_server) -> None:
    page = admin_page
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/search")
    box = page.get_by_label("Search the collections")
    box.press_sequentially("albat", delay=30)
    # the suggestions arrive in the box's datalist while typing
    expect(page.locator("#search-suggestions option").first).to_have_attribute(
        "value", re.compile("Albatros")
    )
    box.fill("albatros")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=albatros"))
    status = page.get_by_role("status")
    expect(status).to_contain_text(re.compile(r"\d+ records"))
    hits = page.locator(".hit")
    expect(hits.first.locator("mark").first).to_have_text(re.compile("Albatros", re.I))
    # the map shows the places of what was found, clustered
    expect(page.locator("#search-map")).to_have_attribute("data-ready", re.compile(r"\d+"))
    expect(page.locator("#search-map .leaflet-marker-icon").first).to_be_visible()
    # the timeline has a bar per decade with records
    bars = page.locator(".timeline-bars [data-decade]")
    assert bars.count() >= 3
    if os.environ.get("HERITAGE_UPDATE_SCREENSHOTS"):
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    before = int(re.search(r"(\d+) records", status.inner_text()).group(1))
    facets = page.get_by_role("complementary", name="Filters")
    facets.get_by_role("link", name="TEXT").click()
    expect(page).to_have_url(re.compile(r"type=TEXT"))
    expect(page.get_by_role("list", name="Chosen filters")).to_contain_text("TEXT")
    after = int(re.search(r"(\d+) record", page.get_by_role("status").inner_text()).group(1))
    assert 0 < after < before
    # a bar of the timeline narrows the years
    page.locator(".timeline-bars [data-decade]").first.click()
    expect(page).to_have_url(re.compile(r"year_from=\d+&year_to=\d+"))
    assert not errors, errors
