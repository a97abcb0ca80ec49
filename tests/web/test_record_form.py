"""The record edit form's entities and representations, submitted as a browser would:
every input of the page's form, changed where a person would change it."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from lxml import html as lxml_html

from heritage.accounts.identity import SYSTEM
from heritage.records.model import Record
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.testing.forms import FormClient
from heritage.testing.world import PASSWORD, World, build_world, email_of

REMBRANDT = "http://www.wikidata.org/entity/Q5598"
LEIDEN = "https://sws.geonames.org/2751773/"
ETCHING = "http://vocab.getty.edu/aat/300053241"
IIIF_IMAGE = "https://iiif.example.org/image/map-2/full/max/0/default.jpg"

Fields = dict[str, list[str]]


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    return build_world(heritage_runtime)


@pytest.fixture
def editor(heritage_app: FastAPI, world: World) -> FormClient:
    client = FormClient(heritage_app)
    client.sign_in(email_of("editor"), PASSWORD)
    return client


@pytest.fixture
def record_id(heritage_runtime: Runtime, world: World) -> str:
    """The world's alpha record (with its stored file) given entities of every kind and
    an external image with its size and IIIF service."""
    service = RecordService(heritage_runtime)
    current = service.get(SYSTEM, world.records["alpha"])
    data = current.record.model_dump(mode="json")
    data.update(
        creator=[{"ref": REMBRANDT}],
        spatial=[{"ref": LEIDEN, "value": "Leiden"}],
        technique=[{"ref": ETCHING}],
        entities=[
            {
                "id": REMBRANDT,
                "type": "agent",
                "pref_label": [
                    {"value": "Rembrandt", "lang": "en"},
                    {"value": "Rembrandt van Rijn", "lang": "nl"},
                ],
                "alt_label": [{"value": "Rembrandt Harmenszoon van Rijn"}],
                "same_as": ["http://vocab.getty.edu/ulan/500011051"],
                "begin": "1606-07-15",
                "end": "1669-10-04",
                "profession": [{"value": "painter", "lang": "en", "ref": ETCHING}],
            },
            {"id": LEIDEN, "type": "place", "pref_label": [{"value": "Leiden"}], "lat": 52.16},
            {
                "id": ETCHING,
                "type": "concept",
                "pref_label": [{"value": "etching", "lang": "en"}],
                "broader": ["http://vocab.getty.edu/aat/300053225"],
            },
        ],
    )
    data["representations"] = [
        *data["representations"],
        {
            "url": IIIF_IMAGE,
            "width": 4000,
            "height": 3000,
            "iiif_service": "https://iiif.example.org/image/map-2",
        },
    ]
    service.update(SYSTEM, current.uuid, Record.model_validate(data), base_version=current.version)
    return current.uuid


def form_fields(page: str) -> Fields:
    """Every value the page's record form would submit, as a browser submits it."""
    document = lxml_html.fromstring(page)
    form = document.xpath('//form[contains(@class, "record-form")]')[0]
    fields: Fields = {}
    for name, value in form.form_values():
        fields.setdefault(name, []).append(value)
    return fields


def post(editor: FormClient, record_id: str, fields: Fields):  # type: ignore[no-untyped-def]
    data = {name: values if len(values) > 1 else values[0] for name, values in fields.items()}
    data.pop("csrf_token", None)
    return editor.post(f"/records/{record_id}/edit", data, follow_redirects=False)  # type: ignore[arg-type]


def stored(runtime: Runtime, record_id: str) -> Record:
    return RecordService(runtime).get(SYSTEM, record_id).record


def test_the_form_shows_entities_and_representations_and_saves_them_unchanged(
    editor: FormClient, heritage_runtime: Runtime, record_id: str
) -> None:
    before = RecordService(heritage_runtime).get(SYSTEM, record_id)
    page = editor.get(f"/records/{record_id}/edit")
    assert page.status_code == 200
    fields = form_fields(page.text)
    assert fields["entity-0.id"] == [REMBRANDT]
    assert fields["entity-0.pref_label.value"][:2] == ["Rembrandt", "Rembrandt van Rijn"]
    assert fields["entity-1.lat"] == ["52.16"]
    assert fields["entity-2.broader"] == ["http://vocab.getty.edu/aat/300053225"]
    assert fields["rep-0.file"] == ["media/notes/page.txt"]
    assert fields["rep-1.url"] == [IIIF_IMAGE]
    assert f'<option value="{REMBRANDT}">' in page.text  # links offer the entities' URIs
    assert "/static/js/records.js" in page.text and "<script>" not in page.text
    # the empty blocks to add an entity and a representation add nothing
    saved = post(editor, record_id, fields)
    assert saved.status_code == 303 and saved.headers["location"].endswith("notice=unchanged")
    assert RecordService(heritage_runtime).get(SYSTEM, record_id).version == before.version


def test_entities_are_edited_added_and_removed(
    editor: FormClient, heritage_runtime: Runtime, record_id: str
) -> None:
    fields = form_fields(editor.get(f"/records/{record_id}/edit").text)
    # a third language for Rembrandt's name, in the empty row the form offers
    fields["entity-0.pref_label.value"][2] = "Rembrandt"
    fields["entity-0.pref_label.lang"][2] = "de"
    fields["entity-0.end"] = ["1669"]
    # Leiden gets its longitude, typed with a decimal comma
    fields["entity-1.long"] = ["4,49"]
    # etching goes; a new time span comes through the block the form offers
    fields["entity-2.remove"] = ["1"]
    fields["entity-new0.type"] = ["timespan"]
    fields["entity-new0.id"] = ["#golden-age"]
    fields["entity-new0.pref_label.value"] = ["Dutch Golden Age", ""]
    fields["entity-new0.pref_label.lang"] = ["en", ""]
    fields["entity-new0.begin"] = ["1588"]
    fields["entity-new0.end"] = ["1672"]
    saved = post(editor, record_id, fields)
    assert saved.status_code == 303, saved.text
    record = stored(heritage_runtime, record_id)
    by_id = {entity.id: entity for entity in record.entities}
    assert set(by_id) == {REMBRANDT, LEIDEN, "#golden-age"}
    rembrandt = by_id[REMBRANDT]
    assert [(v.value, v.lang) for v in rembrandt.pref_label] == [
        ("Rembrandt", "en"),
        ("Rembrandt van Rijn", "nl"),
        ("Rembrandt", "de"),
    ]
    assert (rembrandt.begin, rembrandt.end) == ("1606-07-15", "1669")
    assert rembrandt.same_as == ["http://vocab.getty.edu/ulan/500011051"]
    assert [(v.value, v.ref) for v in rembrandt.profession] == [("painter", ETCHING)]
    assert (by_id[LEIDEN].lat, by_id[LEIDEN].long) == (52.16, 4.49)
    golden = by_id["#golden-age"]
    assert golden.type == "timespan" and (golden.begin, golden.end) == ("1588", "1672")
    # the values and the rest of the record are as they were
    assert record.technique[0].ref == ETCHING and record.spatial[0].value == "Leiden"
    assert [item.file for item in record.representations if item.file] == ["media/notes/page.txt"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"entity-1.lat": ["north"]}, "Latitude is a number from -90 to 90"),
        ({"entity-1.long": ["200"]}, "Latitude is a number from -90 to 90"),
        ({"entity-1.id": [REMBRANDT]}, "Another linked entity has this URI already."),
        ({"entity-0.id": [""]}, "Rembrandt: Give the entity a URI"),
        ({"entity-0.pref_label.lang": ["en", "not a tag!", ""]}, "is not a language tag"),
        ({"rep-1.url": ["javascript:alert(1)"]}, "needs an http or https URL"),
        ({"rep-0.role": ["primary"], "rep-1.role": ["primary"]}, "Only one representation"),
    ],
)
def test_bad_entity_or_representation_values_are_refused_and_kept(
    editor: FormClient,
    heritage_runtime: Runtime,
    record_id: str,
    change: Fields,
    message: str,
) -> None:
    before = RecordService(heritage_runtime).get(SYSTEM, record_id).version
    fields = form_fields(editor.get(f"/records/{record_id}/edit").text)
    fields.update(change)
    answer = post(editor, record_id, fields)
    assert answer.status_code == 422
    assert message in answer.text
    again = form_fields(answer.text)  # what was typed is on the form again
    for name, values in change.items():
        assert again[name][: len(values)] == values
    assert RecordService(heritage_runtime).get(SYSTEM, record_id).version == before


def test_representations_get_roles_captions_and_urls(
    editor: FormClient, heritage_runtime: Runtime, record_id: str
) -> None:
    fields = form_fields(editor.get(f"/records/{record_id}/edit").text)
    fields["rep-0.role"] = ["primary"]
    fields["rep-0.label.value"] = ["Transcription", ""]
    fields["rep-0.label.lang"] = ["en", ""]
    fields["rep-0.rights"] = ["http://creativecommons.org/licenses/by/4.0/"]
    fields["rep-1.label.value"] = ["Map, recto"]
    fields["rep-1.label.lang"] = ["en"]
    fields["rep-new0.url"] = ["https://example.org/video.mp4"]
    fields["rep-new0.media_type"] = ["video/mp4"]
    # a post naming a file the record does not have cannot add it
    fields["rep-x.file"] = ["../../etc/passwd"]
    saved = post(editor, record_id, fields)
    assert saved.status_code == 303, saved.text
    items = stored(heritage_runtime, record_id).representations
    assert [(item.file or item.url, item.role) for item in items] == [
        ("media/notes/page.txt", "primary"),
        (IIIF_IMAGE, "view"),
        ("https://example.org/video.mp4", "view"),
    ]
    assert items[0].label[0].value == "Transcription"
    assert items[0].rights == "http://creativecommons.org/licenses/by/4.0/"
    # the image's size and IIIF service, not on the form, stay
    assert (items[1].width, items[1].iiif_service) == (4000, "https://iiif.example.org/image/map-2")
    assert items[1].label[0].value == "Map, recto"
    assert items[2].media_type == "video/mp4"

    # the external URLs can be removed; the stored file cannot be dropped by the form
    fields = form_fields(editor.get(f"/records/{record_id}/edit").text)
    fields["rep-1.remove"] = ["1"]
    fields["rep-2.remove"] = ["1"]
    del fields["rep-0.file"]
    saved = post(editor, record_id, fields)
    assert saved.status_code == 303, saved.text
    items = stored(heritage_runtime, record_id).representations
    assert [(item.file, item.role) for item in items] == [("media/notes/page.txt", "primary")]


def test_a_form_without_the_sections_leaves_them_alone(
    editor: FormClient, heritage_runtime: Runtime, record_id: str
) -> None:
    before = stored(heritage_runtime, record_id)
    fields = form_fields(editor.get(f"/records/{record_id}/edit").text)
    kept = {
        name: values
        for name, values in fields.items()
        if not name.startswith(("entity-", "rep-"))
        and name not in ("entities_on_form", "representations_on_form")
    }
    kept["title.value"][0] = "A new title"
    saved = post(editor, record_id, kept)
    assert saved.status_code == 303, saved.text
    after = stored(heritage_runtime, record_id)
    assert after.title[0].value == "A new title"
    assert after.entities == before.entities
    assert after.representations == before.representations
