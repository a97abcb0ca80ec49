"""IIIF manifests: every shared cookbook and Presentation 2.1 fixture, field by field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heritage.records.importers.base import READERS, SourceError
from heritage.records.importers.iiif import load_json, read_iiif
from heritage.records.model import Record

COOKBOOK = "iiif/cookbook"
P2 = "iiif/presentation-2.1-fixtures"


def one(path: Path) -> Record:
    items = list(read_iiif(path))
    assert len(items) == 1
    record = items[0].record
    assert record is not None, items[0].problems
    return record


def test_registered() -> None:
    assert READERS["iiif"] is read_iiif


def test_every_shared_file_maps_or_is_explained(shared_data: Path) -> None:
    files = sorted((shared_data / "iiif").rglob("*.json"))
    assert len(files) > 100
    mapped = refused = referenced = 0
    for path in files:
        data = json.loads(path.read_bytes())
        kind = str(data.get("type") or data["@type"]).removeprefix("sc:")
        try:
            items = list(read_iiif(path))
        except SourceError as error:
            # annotation pages, lists, sequences: said what they are and what to do
            assert "not a manifest or collection" in str(error), path
            assert kind not in ("Manifest", "Collection"), path
            refused += 1
            continue
        for item in items:
            if item.record is None:
                assert [p.code for p in item.problems] == ["iiif.referenced"], path
                referenced += 1
            else:
                assert item.record.identifier.startswith("http"), path
                mapped += 1
    assert mapped == 95
    assert refused == 23
    assert referenced == 66  # collections here only reference their manifests


def test_single_image_with_language(shared_data: Path) -> None:
    record = one(shared_data / COOKBOOK / "0001-mvm-image" / "manifest.json")
    assert record.identifier == "https://iiif.io/api/cookbook/recipe/0001-mvm-image/manifest.json"
    assert [(v.value, v.lang) for v in record.title] == [("Single Image Example", "en")]
    assert record.edm_type == "IMAGE"
    (image,) = record.representations
    assert image.url.endswith("page1-full.png")
    assert (image.media_type, image.width, image.height, image.role) == (
        "image/png",
        1200,
        1800,
        "primary",
    )
    assert image.iiif_service is None


def test_image_service_rights_and_attribution(shared_data: Path) -> None:
    record = one(shared_data / COOKBOOK / "0008-rights" / "manifest.json")
    assert record.rights == "http://creativecommons.org/licenses/by-sa/3.0/"
    assert record.rights_statement[0].value == (
        "Glen Robson, IIIF Technical Coordinator. CC BY-SA 3.0"
    )
    assert record.rights_statement[0].lang == "en"
    # HTML in the summary is reduced to its text
    assert record.description[0].value == "Picture taken by the IIIF Technical Coordinator"
    image = record.primary_representation()
    assert image is not None
    assert image.iiif_service == (
        "https://iiif.io/api/image/3.0/example/reference/918ecd18c2592080851777620de9bcb5-gottingen"
    )
    assert image.iiif_profile == "http://iiif.io/api/image/3/level1.json"
    assert (image.width, image.height, image.media_type) == (4032, 3024, "image/jpeg")


def test_metadata_pairs(shared_data: Path) -> None:
    record = one(shared_data / COOKBOOK / "0029-metadata-anywhere" / "manifest.json")
    assert [v.value for v in record.creator] == ["Glindoni, Henry Gillard, 1852-1913"]
    assert [(v.value, v.lang) for v in record.date] == [("1800-1899", "en")]
    kept = [v.value for v in record.other["hc:metadata"]]
    assert "Physical Description: 1 painting : oil on canvas ; canvas 152 x 244.4 cm" in kept
    assert "Reference: Wellcome Library no. 47369i" in kept
    assert len(record.representations) == 2
    assert record.representations[1].role == "view"
    assert record.representations[0].label[0].value == "Painting under natural light"
    # an HTML link as the only value of a linked field becomes a link with its text
    formats = one(shared_data / COOKBOOK / "0007-string-formats" / "manifest.json")
    assert formats.creator[0].ref == "https://github.com/glenrobson"
    assert formats.creator[0].value == "Glen Robson"


def test_provider_thumbnail_and_part_of(shared_data: Path) -> None:
    record = one(shared_data / COOKBOOK / "0068-newspaper" / "newspaper_issue_1-manifest.json")
    assert [(v.value, v.ref) for v in record.data_provider] == [
        ("Europeana", "https://www.europeana.eu/")
    ]
    assert record.other["foaf:logo"][0].ref.endswith("europeana-logo-default.png")  # type: ignore[union-attr]
    assert record.preview is not None and record.preview.startswith("https://api.europeana.eu/")
    assert record.is_part_of[0].ref.endswith("newspaper_title-collection.json")  # type: ignore[union-attr]
    assert record.title[0].lang == "de"
    assert record.rights == "http://creativecommons.org/publicdomain/mark/1.0/"
    assert [v.value for v in record.date] == ["1925-02-16T00:00:00Z"]  # navDate


def test_audio_and_video(shared_data: Path) -> None:
    audio = one(shared_data / COOKBOOK / "0002-mvm-audio" / "manifest.json")
    assert audio.edm_type == "SOUND"
    assert audio.representations[0].media_type == "audio/mp4"
    choice = one(shared_data / COOKBOOK / "0434-choice-av" / "manifest.json")
    assert choice.representations[0].url.endswith(".m4a")  # the first option of the choice
    assert one(shared_data / COOKBOOK / "0015-start" / "manifest.json").edm_type == "VIDEO"


def test_presentation_2(shared_data: Path) -> None:
    rights = one(shared_data / P2 / "7" / "manifest.json")
    assert rights.rights == "http://creativecommons.org/licenses/by-nc/3.0/"
    assert [v.value for v in rights.rights_statement] == ["Owning Institution"]
    languages = one(shared_data / P2 / "3" / "manifest.json")
    assert [(v.value, v.lang) for v in languages.date] == [
        ("quelquetemps", "fr"),
        ("some data", "en"),
    ]
    titles = one(shared_data / P2 / "62" / "manifest.json")
    assert {v.lang for v in titles.title} == {"fr", "en"}
    described = one(shared_data / P2 / "6" / "manifest.json")
    assert [(v.value, v.lang) for v in described.description] == [
        ("This is one description", None),
        ("This is another", "en"),
    ]
    service = one(shared_data / P2 / "24" / "manifest.json")
    image = service.representations[0]
    assert image.iiif_service == "http://iiif.io/api/image/2.1/example/reference/page1-full"
    assert image.iiif_profile == "http://iiif.io/api/image/2/level1.json"
    assert (image.width, image.height) == (1200, 1800)
    choice = one(shared_data / P2 / "29" / "manifest.json")
    assert choice.representations[0].url.endswith("/default.jpg")
    (empty,) = read_iiif(shared_data / P2 / "27" / "manifest.json")
    assert empty.record is not None and empty.record.representations == []
    assert [p.code for p in empty.problems] == ["iiif.no-content"]
    v2 = one(shared_data / COOKBOOK / "0057-publishing-v2-and-v3" / "manifest-v2.json")
    v3 = one(shared_data / COOKBOOK / "0057-publishing-v2-and-v3" / "manifest-v3.json")
    assert v2.representations[0].url == v3.representations[0].url


def test_collection_with_embedded_and_referenced_manifests(
    shared_data: Path, tmp_path: Path
) -> None:
    embedded = json.loads((shared_data / COOKBOOK / "0001-mvm-image" / "manifest.json").read_text())
    collection = {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": "https://example.org/collection",
        "type": "Collection",
        "label": {"en": ["Mixed"]},
        "items": [
            embedded,
            {"id": "https://example.org/elsewhere.json", "type": "Manifest"},
            {"id": "https://example.org/sub", "type": "Collection", "items": [embedded]},
        ],
    }
    path = tmp_path / "collection.json"
    path.write_text(json.dumps(collection))
    items = list(read_iiif(path))
    assert [item.location for item in items] == ["$.items[0]", "$.items[1]", "$.items[2].items[0]"]
    assert items[0].record is not None and items[2].record is not None
    assert items[1].record is None and items[1].identifier == "https://example.org/elsewhere.json"
    assert "not fetched" in items[1].problems[0].message


def test_bad_json_is_explained(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "type": "Manifest",\n  "label": {"en": ["x"]\n')
    with pytest.raises(SourceError, match=r"broken\.json, line \d+: not valid JSON"):
        list(read_iiif(broken))
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"type": "Manifest", "label": "x" * 2000}))
    with pytest.raises(SourceError, match="more than the 1000 a manifest may have"):
        load_json(big, max_bytes=1000)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SourceError, match="nested too deeply"):
        list(read_iiif(deep))
    other = tmp_path / "other.json"
    other.write_text('{"hello": "world"}')
    with pytest.raises(SourceError, match="no 'type'"):
        list(read_iiif(other))


def test_manifest_without_id_and_with_a_bad_language(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    manifest = {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "type": "Manifest",
        "label": {"en": ["x"]},
    }
    path.write_text(json.dumps(manifest))
    (item,) = read_iiif(path)
    assert item.record is None and item.problems[0].code == "iiif.no-id"
    manifest["id"] = "https://example.org/m"
    manifest["label"] = {"not a tag!": ["Titel"]}
    path.write_text(json.dumps(manifest))
    (item,) = read_iiif(path)
    assert item.record is not None and item.record.title[0].value == "Titel"
    assert "iiif.language" in [p.code for p in item.problems]
