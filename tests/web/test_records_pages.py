"""The pages of collection records: list and filters, one record, edit and create
forms (languages, validation, conflicts), versions, diff, revert, files, deletion."""

from __future__ import annotations

import html
import re

import pytest
from fastapi import FastAPI

from heritage.accounts.identity import SYSTEM
from heritage.records.model import Record, Value
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.testing.forms import FormClient
from heritage.testing.world import PASSWORD, World, build_world, email_of


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    return build_world(heritage_runtime)


def signed_in(app: FastAPI, name: str) -> FormClient:
    client = FormClient(app)
    client.sign_in(email_of(name), PASSWORD)
    return client


def form_values(page: str) -> dict[str, str]:
    """The hidden inputs of a page's record form (base_version and the like)."""
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))


def test_records_tab_lists_and_filters(
    heritage_app: FastAPI, heritage_runtime: Runtime, world: World
) -> None:
    records = RecordService(heritage_runtime)
    records.create(
        SYSTEM,
        "alpha",
        Record(identifier="herb-1", title=[Value.text("Herbarium sheet")], edm_type="IMAGE"),
    )
    records.create(
        SYSTEM, "alpha", Record(identifier="let-1", title=[Value.text("Letter")], edm_type="TEXT")
    )
    viewer = signed_in(heritage_app, "viewer")
    tab = viewer.get("/workspaces/alpha")
    assert 'href="/workspaces/alpha/records"' in tab.text
    page = viewer.get("/workspaces/alpha/records")
    assert page.status_code == 200
    assert "Herbarium sheet" in page.text and "Letter" in page.text and "alpha map" in page.text
    assert "3 records" in page.text
    assert "New record" not in page.text  # viewers do not create
    found = viewer.get("/workspaces/alpha/records?q=herb")
    assert "Herbarium sheet" in found.text and "Letter" not in found.text
    typed = viewer.get("/workspaces/alpha/records?edm_type=TEXT")
    assert "Letter" in typed.text and "Herbarium sheet" not in typed.text
    drafts = viewer.get("/workspaces/alpha/records?status=draft")
    assert drafts.status_code == 200 and "alpha map" in drafts.text
    valid = viewer.get("/workspaces/alpha/records?status=valid")
    assert "No records match." in valid.text
    # the error count of a draft is shown
    row = re.search(r"alpha map</a></th>(.*?)</tr>", drafts.text, re.S)
    assert row and re.search(r'class="count has-errors">[1-9]', row.group(1))
    assert viewer.get("/workspaces/alpha/records?status=bogus").status_code == 422
    assert signed_in(heritage_app, "outsider").get("/workspaces/alpha/records").status_code == 404


def test_record_page_shows_fields_problems_hints_and_files(
    heritage_app: FastAPI, heritage_runtime: Runtime, world: World
) -> None:
    record_id = world.records["alpha"]
    view = RecordService(heritage_runtime).get(SYSTEM, record_id)
    viewer = signed_in(heritage_app, "viewer")
    page = viewer.get(f"/records/{record_id}")
    assert page.status_code == 200
    assert "alpha map" in page.text and "alpha-1" in page.text
    assert view.problems, "the world's record is a draft"
    text = html.unescape(page.text)
    for problem in view.problems:
        assert problem.message in text
        assert problem.hint in text
    assert "How to fix it:" in page.text
    assert f'href="/records/{record_id}/files/notes/page.txt"' in page.text
    assert viewer.get(f"/records/{record_id}/files/notes/page.txt").content == b"a scan"
    assert "Edit" not in re.sub(r"<title>.*?</title>", "", page.text).split("Versions")[1][:200]
    assert "Delete record" not in page.text
    outsider = signed_in(heritage_app, "outsider")
    for path in ("", "/versions", "/edit", "/files/notes/page.txt"):
        assert outsider.get(f"/records/{record_id}{path}").status_code == 404


def test_record_page_shows_languages_and_entities(
    heritage_app: FastAPI, heritage_runtime: Runtime, world: World
) -> None:
    record = Record.model_validate(
        {
            "identifier": "map-2",
            "title": [{"value": "Karte", "lang": "de"}, {"value": "Map", "lang": "en"}],
            "creator": [{"ref": "http://www.wikidata.org/entity/Q5598"}],
            "entities": [
                {
                    "id": "http://www.wikidata.org/entity/Q5598",
                    "type": "agent",
                    "pref_label": [{"value": "Rembrandt", "lang": "en"}],
                    "same_as": ["http://vocab.getty.edu/ulan/500011051"],
                }
            ],
            "is_shown_at": "javascript:alert(1)",
        }
    )
    view = RecordService(heritage_runtime).create(SYSTEM, "alpha", record)
    page = signed_in(heritage_app, "viewer").get(f"/records/{view.uuid}")
    assert '<span class="value" lang="de">Karte' in page.text
    assert '<span class="value" lang="en">Map' in page.text
    assert "Rembrandt" in page.text
    assert 'href="http://vocab.getty.edu/ulan/500011051"' in page.text
    assert 'href="javascript:' not in page.text  # never a script link


def test_edit_saves_a_version_with_two_languages(
    heritage_app: FastAPI, heritage_runtime: Runtime, world: World
) -> None:
    record_id = world.records["alpha"]
    editor = signed_in(heritage_app, "editor")
    form = editor.get(f"/records/{record_id}/edit")
    assert form.status_code == 200
    assert 'name="title.value"' in form.text and 'value="alpha map"' in form.text
    assert "data-add-row" in form.text and "/static/js/records.js" in form.text
    assert "<script>" not in form.text  # no inline script: the CSP forbids it
    base = form_values(form.text)["base_version"]
    saved = editor.post(
        f"/records/{record_id}/edit",
        {
            "base_version": base,
            "identifier": "alpha-1",
            "title.value": ["Karte von Alpha", "Map of Alpha"],
            "title.lang": ["de", "en"],
            "title.ref": ["", ""],
            "creator.value": ["Mercator"],
            "creator.lang": [""],
            "creator.ref": ["http://www.wikidata.org/entity/Q47164"],
            "edm_type": "IMAGE",
            "rights_choice": "http://creativecommons.org/publicdomain/zero/1.0/",
            "message": "two languages",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    page = editor.get(saved.headers["location"])
    assert "The record was saved as a new version." in page.text
    view = RecordService(heritage_runtime).get(SYSTEM, record_id)
    assert [(v.value, v.lang) for v in view.record.title] == [
        ("Karte von Alpha", "de"),
        ("Map of Alpha", "en"),
    ]
    assert view.record.creator[0].ref == "http://www.wikidata.org/entity/Q47164"
    assert view.record.edm_type == "IMAGE"
    assert view.version != base
    # the file the record had is still one of its representations
    assert [item.file for item in view.record.representations] == ["media/notes/page.txt"]


def test_conflict_shows_who_saved_and_keeps_the_typed_values(
    heritage_app: FastAPI, heritage_runtime: Runtime, world: World
) -> None:
    record_id = world.records["alpha"]
    editor = signed_in(heritage_app, "editor")
    base = form_values(editor.get(f"/records/{record_id}/edit").text)["base_version"]
    service = RecordService(heritage_runtime)
    current = service.get(SYSTEM, record_id)
    service.update(
        SYSTEM,
        record_id,
        current.record.model_copy(update={"title": [Value.text("Someone else's title")]}),
        base_version=base,
    )
    answer = editor.post(
        f"/records/{record_id}/edit",
        {
            "base_version": base,
            "identifier": "alpha-1",
            "title.value": ["My careful title"],
            "title.lang": ["en"],
            "title.ref": [""],
        },
    )
    assert answer.status_code == 409
    assert "was changed while you were editing it" in answer.text
    assert "system" in answer.text.lower()  # who saved
    assert 'value="My careful title"' in answer.text
    assert f'href="/records/{record_id}"' in answer.text
    assert service.get(SYSTEM, record_id).record.title[0].value == "Someone else's title"


def test_field_errors_are_shown_next_to_the_field(
    heritage_app: FastAPI, heritage_runtime: Runtime, world: World
) -> None:
    record_id = world.records["alpha"]
    editor = signed_in(heritage_app, "editor")
    base = form_values(editor.get(f"/records/{record_id}/edit").text)["base_version"]
    bad = editor.post(
        f"/records/{record_id}/edit",
        {
            "base_version": base,
            "identifier": "alpha-1",
            "title.value": ["Karte"],
            "title.lang": ["not a tag!"],
            "title.ref": [""],
        },
    )
    assert bad.status_code == 422
    assert 'id="e-title"' in bad.text and "is not a language tag" in bad.text
    assert 'value="not a tag!"' in bad.text
    other = editor.post(
        f"/records/{record_id}/edit",
        {"base_version": base, "identifier": "", "rights_choice": "other"},
    )
    assert other.status_code == 422
    assert 'id="e-identifier"' in other.text and 'id="e-rights"' in other.text
    # nothing was saved
    assert RecordService(heritage_runtime).get(SYSTEM, record_id).version == base


def test_create_through_the_form(heritage_app: FastAPI, world: World) -> None:
    contributor = signed_in(heritage_app, "contributor")
    form = contributor.get("/workspaces/alpha/records/new")
    assert form.status_code == 200 and "Create record" in form.text
    created = contributor.post(
        "/workspaces/alpha/records/new",
        {
            "identifier": "new-1",
            "title.value": ["Neue Karte", "New map"],
            "title.lang": ["de", "en"],
            "rights_choice": "other",
            "rights_other": "http://rightsstatements.org/vocab/InC/1.0/",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    page = contributor.get(created.headers["location"])
    assert "The record was created." in page.text
    assert "Neue Karte" in page.text and "New map" in page.text
    duplicate = contributor.post(
        "/workspaces/alpha/records/new", {"identifier": "new-1", "title.value": ["Again"]}
    )
    assert duplicate.status_code == 409 and "Identifiers must be unique" in duplicate.text
    assert 'value="Again"' in duplicate.text
    viewer = signed_in(heritage_app, "viewer")
    assert viewer.get("/workspaces/alpha/records/new").status_code == 403


def test_diff_and_revert(heritage_app: FastAPI, heritage_runtime: Runtime, world: World) -> None:
    record_id = world.records["alpha"]
    service = RecordService(heritage_runtime)
    current = service.get(SYSTEM, record_id)
    before = current.version
    service.update(
        SYSTEM,
        record_id,
        current.record.model_copy(update={"title": [Value.text("Karte", "de")]}),
        base_version=before,
    )
    editor = signed_in(heritage_app, "editor")
    versions = editor.get(f"/records/{record_id}/versions")
    assert versions.status_code == 200 and "v1" in versions.text and "v3" in versions.text
    diff = editor.get(f"/records/{record_id}/versions?from=v1&to=v3")
    assert diff.status_code == 200
    assert "<del>alpha map</del>" in diff.text and "<ins>Karte @de</ins>" in diff.text
    assert editor.get(f"/records/{record_id}/versions?from=v1&to=v9").status_code == 404
    assert editor.get(f"/records/{record_id}/versions?from=x").status_code == 422
    reverted = editor.post(
        f"/records/{record_id}/revert",
        {"version": "v1", "base_version": "v3"},
        follow_redirects=False,
    )
    assert reverted.status_code == 303
    assert "reverted" in editor.get(reverted.headers["location"]).text
    after = service.get(SYSTEM, record_id)
    assert after.version == "v4" and after.record.title[0].value == "alpha map"
    stale = editor.post(f"/records/{record_id}/revert", {"version": "v3", "base_version": "v3"})
    assert stale.status_code == 409 and "was changed while you were editing" in stale.text


def test_attach_remove_and_delete(
    heritage_app: FastAPI, heritage_runtime: Runtime, world: World
) -> None:
    record_id = world.records["alpha"]
    editor = signed_in(heritage_app, "editor")
    page = editor.get(f"/records/{record_id}")
    assert (
        "Attach a file" in page.text
        and f'href="/workspaces/alpha/upload?record={record_id}"' in page.text
    )
    attached = editor.client.post(
        f"/records/{record_id}/files",
        data={"csrf_token": editor.csrf},
        files={"file": ("scan.png", b"\x89PNG fake", "image/png")},
        follow_redirects=False,
    )
    assert attached.status_code == 303, attached.text
    assert editor.get(f"/records/{record_id}/files/scan.png").content == b"\x89PNG fake"
    empty = editor.client.post(f"/records/{record_id}/files", data={"csrf_token": editor.csrf})
    assert empty.status_code == 422 and "Choose a file to attach." in empty.text
    removed = editor.post(
        f"/records/{record_id}/remove-file", {"path": "scan.png"}, follow_redirects=False
    )
    assert removed.status_code == 303
    missing = editor.post(f"/records/{record_id}/remove-file", {"path": "nope.png"})
    assert missing.status_code == 404 and 'role="alert"' in missing.text
    deleted = editor.post(f"/records/{record_id}/delete", {}, follow_redirects=False)
    assert deleted.status_code == 303
    page = editor.get(deleted.headers["location"])
    assert "The record was deleted." in page.text
    assert RecordService(heritage_runtime).get(SYSTEM, record_id).row.deleted
    contributor = signed_in(heritage_app, "contributor")
    assert contributor.post(f"/records/{record_id}/delete", {}).status_code == 403


def test_record_page_shows_publishing_tiers_with_hints(
    heritage_app: FastAPI, heritage_runtime: Runtime, world: World
) -> None:
    from heritage.quality.services import QualityService

    record_id = world.records["alpha"]
    tiers = QualityService(heritage_runtime).tiers(
        RecordService(heritage_runtime).get(SYSTEM, record_id)
    )
    viewer = signed_in(heritage_app, "viewer")
    text = html.unescape(viewer.get(f"/records/{record_id}").text)
    assert "Europeana publishing tiers" in text
    assert f'class="tier tier-content">{tiers.content}<' in text
    assert f'class="tier tier-metadata">{tiers.metadata}<' in text
    findings = [*tiers.content_findings, *tiers.metadata_findings]
    assert any(finding.hint for finding in findings), "the world's record can do better"
    for finding in findings:
        assert f'data-code="{finding.code}"' in text
        assert finding.text in text
        assert finding.hint_text in text
    # shown in the reader's language, with the values filled in
    viewer.client.cookies.set("hc_lang", "de")
    german = html.unescape(viewer.get(f"/records/{record_id}").text)
    assert "Europeana-Veröffentlichungsstufen" in german
    for finding in findings:
        if finding.hint:
            assert finding.hint_text not in german  # the English hint is not left over
