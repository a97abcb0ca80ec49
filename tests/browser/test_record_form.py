"""A record made through the form: two titles in two languages (the second row added
with the page's script), then shown on the record page. Writes
docs/screenshots/record.png with HERITAGE_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import os
import re
import struct
import uuid
from pathlib import Path

from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "screenshots" / "record.png"
WIDTH, HEIGHT = 1280, 800


def test_create_a_record_with_two_title_languages(admin_page, live_server) -> None:
    page = admin_page
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    identifier = f"map-{uuid.uuid4().hex[:6]}"
    page.goto(f"/workspaces/{live_server.workspace}/records")
    tabs = page.get_by_role("navigation", name="Workspace")
    expect(tabs.get_by_role("link", name="Records")).to_have_attribute("aria-current", "page")
    page.get_by_role("main").get_by_role("link", name="New record").click()
    expect(page).to_have_url(re.compile(r"/records/new$"))

    page.get_by_label("Record identifier").fill(identifier)
    page.get_by_label("EDM type").select_option("IMAGE")
    page.get_by_label("Rights", exact=True).select_option(
        "http://creativecommons.org/publicdomain/zero/1.0/"
    )
    title = page.get_by_role("group", name=re.compile(r"^Title"))
    title.get_by_label("Text (Title)").first.fill("Karte des Hafens")
    title.get_by_label("Language (Title)").first.fill("de")
    # the script adds a second row
    title.get_by_role("button", name="Add a value (Title)").click()
    expect(title.get_by_label("Text (Title)")).to_have_count(2)
    title.get_by_label("Text (Title)").nth(1).fill("Map of the harbour")
    title.get_by_label("Language (Title)").nth(1).fill("en")
    creator = page.get_by_role("group", name=re.compile(r"^Creator"))
    creator.get_by_label("Text (Creator)").first.fill("Gerhard Mercator")
    creator.get_by_label("Link (URI) (Creator)").first.fill("http://www.wikidata.org/entity/Q47164")
    page.get_by_label("What changed (kept with the version)").fill("First description")
    page.get_by_role("button", name="Create record").click()

    expect(page).to_have_url(re.compile(r"/records/[0-9a-f-]{36}\?notice=created$"))
    expect(page.get_by_role("status")).to_contain_text("The record was created.")
    main = page.get_by_role("main")
    expect(main.locator('.value[lang="de"]')).to_have_text("Karte des Hafens")
    expect(main.locator('.value[lang="en"]')).to_have_text("Map of the harbour")
    expect(main.get_by_role("link", name="http://www.wikidata.org/entity/Q47164")).to_be_visible()
    expect(main.get_by_role("heading", name="Problems")).to_be_visible()
    assert not errors, errors

    page.evaluate("document.fonts.ready")
    page.mouse.move(0, HEIGHT - 1)
    image = page.screenshot(full_page=True, animations="disabled", caret="hide")
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    width, _height = struct.unpack(">II", image[16:24])
    assert width == WIDTH
    if os.environ.get("HERITAGE_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(image)


def test_entities_added_on_the_form_show_the_fields_of_their_kind(admin_page, live_server) -> None:
    page = admin_page
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.goto(f"/workspaces/{live_server.workspace}/records/new")
    page.get_by_label("Record identifier").fill(f"portrait-{uuid.uuid4().hex[:6]}")
    page.get_by_role("group", name=re.compile(r"^Title")).get_by_label("Text (Title)").first.fill(
        "Portrait"
    )
    creator = page.get_by_role("group", name=re.compile(r"^Creator"))
    creator.get_by_label("Link (URI) (Creator)").first.fill("#painter")

    # the first entity in the block the page always offers
    page.get_by_text("Add a linked entity").click()
    first = page.locator("details.add-block [data-entity]").first
    first.get_by_label("Entity URI").fill("#painter")
    first.get_by_role("group", name="Preferred name").get_by_label("Text (Preferred name)").fill(
        "Judith Leyster"
    )
    expect(first.get_by_label("Begin (born, founded, from)")).to_be_visible()
    expect(first.get_by_label("Latitude")).to_be_hidden()  # agents have no coordinates
    first.get_by_label("Begin (born, founded, from)").fill("1609")

    # a second one added by the script, a place: its coordinates show, dates hide
    page.get_by_role("button", name="Add another linked entity").click()
    second = page.locator("[data-blocks] [data-entity]").last
    second.get_by_label("Kind").select_option("place")
    expect(second.get_by_label("Latitude")).to_be_visible()
    expect(second.get_by_label("Begin (born, founded, from)")).to_be_hidden()
    second.get_by_label("Entity URI").fill("https://sws.geonames.org/2759794/")
    names = second.get_by_role("group", name="Preferred name")
    names.get_by_label("Text (Preferred name)").fill("Haarlem")
    names.get_by_role("button", name="Add a value (Preferred name)").click()
    names.get_by_label("Text (Preferred name)").nth(1).fill("Harlem")
    names.get_by_label("Language (Preferred name)").nth(1).fill("fr")
    second.get_by_label("Latitude").fill("52.38")
    second.get_by_label("Longitude").fill("4.64")
    page.get_by_role("button", name="Create record").click()

    expect(page).to_have_url(re.compile(r"/records/[0-9a-f-]{36}\?notice=created$"))
    entities = page.get_by_role("region", name="Linked entities")
    expect(entities).to_contain_text("Judith Leyster")
    expect(entities).to_contain_text("Haarlem")
    expect(page.get_by_role("main").locator(".value").first).to_be_visible()
    assert not errors, errors

    page.get_by_role("link", name="Edit").first.click()
    blocks = page.locator("[data-blocks] [data-entity]")
    uris = blocks.get_by_label("Entity URI")
    expect(uris).to_have_count(2)
    assert {uris.nth(0).input_value(), uris.nth(1).input_value()} == {
        "#painter",
        "https://sws.geonames.org/2759794/",
    }
    # entities of the record start folded, named by kind, first name and URI
    painter = page.get_by_role("group", name=re.compile(r"^agent · Judith Leyster · #painter"))
    expect(painter.get_by_label("Entity URI")).to_be_hidden()
    painter.get_by_text("Fields of this entity").click()
    expect(painter.get_by_label("Entity URI")).to_be_visible()
    expect(painter.get_by_label("Begin (born, founded, from)")).to_have_value("1609")
    expect(painter.get_by_label("Latitude")).to_be_hidden()
    if os.environ.get("HERITAGE_UPDATE_SCREENSHOTS") == "1":
        section = page.get_by_role("region", name="Linked entities")
        section.screenshot(path=str(ROOT / "docs" / "screenshots" / "record-entities.png"))
