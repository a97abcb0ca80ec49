"""Tiers of real EDM records (Metis sandbox and Europeana's OAI-PMH samples)."""

from __future__ import annotations

from pathlib import Path

from heritage.quality.tiers import assess
from heritage.records.importers.base import SourceError
from heritage.records.importers.edm import read_edm
from heritage.records.model import Record


def one(path: Path) -> Record:
    (result,) = list(read_edm(path))
    assert result.record is not None
    return result.record


def test_every_sample_gets_tiers_with_reasons(shared_data: Path) -> None:
    assessed = 0
    for path in sorted((shared_data / "edm").rglob("*.xml")):
        try:
            results = list(read_edm(path))
        except SourceError:  # the files that are not XML: the importer's own tests
            continue
        for result in results:
            if result.record is None:
                continue
            tiers = assess(result.record)
            assert 0 <= tiers.content <= 4 and tiers.metadata in ("0", "A", "B", "C")
            for item in (*tiers.content_findings, *tiers.metadata_findings):
                assert item.text and "{" not in item.text
                assert item.hint_text or item.level in ("4", "C"), (path, item)
            assessed += 1
    assert assessed >= 30


def test_scotland_book_landing_page_and_closed_rights(shared_data: Path) -> None:
    tiers = assess(one(shared_data / "edm/metis-sandbox/records/227351442.xml"))
    # TEXT with a landing page; its IIIF image's size is not in the record
    assert tiers.content == 1
    assert [item.level for item in tiers.content_findings] == ["1", "2"]  # CNE: closed
    assert tiers.metadata == "A"


def test_video_with_embeddable_player_capped_by_its_licence(shared_data: Path) -> None:
    path = shared_data / "edm/metis-sandbox/loose/europeana_record_with_technical_metadata.xml"
    tiers = assess(one(path))
    media, licence = tiers.content_findings
    assert media.level == "4" and "vimeo.com" in media.text
    assert tiers.content == min(4, int(licence.level))


def test_carare_video_has_complete_contextual_entities(shared_data: Path) -> None:
    tiers = assess(one(shared_data / "edm/metis-sandbox/loose/debias-video-record.xml"))
    assert tiers.metadata == "C"
    assert tiers.content == 1  # a landing page; the panorama file is no video
