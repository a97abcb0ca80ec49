"""The LIDO importer against real LIDO files (shared data) and generated bad input."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from heritage.records.importers import xmlsafe
from heritage.records.importers.base import READERS, SourceError, SourceRecord
from heritage.records.importers.lido import map_record, read_lido
from heritage.records.importers.vocabularies import canonical_uri, language_tag, rights_uri
from heritage.records.model import Record
from heritage.records.problems import Severity

LIDO_NS = "http://www.lido-schema.org"


def _read(path: Path) -> list[SourceRecord]:
    return list(read_lido(path))


def _one(path: Path) -> tuple[Record, SourceRecord]:
    items = _read(path)
    assert len(items) == 1
    assert items[0].record is not None, items[0].problems
    return items[0].record, items[0]


def _codes(item: SourceRecord) -> set[str]:
    return {problem.code for problem in item.problems}


def _record(body: str, rec_id: str = "TEST/1", extra_ns: str = "") -> str:
    rec = f"<lido:lidoRecID lido:type='local'>{rec_id}</lido:lidoRecID>" if rec_id else ""
    return f"<lido:lido{extra_ns}>{rec}{body}</lido:lido>"


def _wrap(*records: str) -> str:
    inner = "\n".join(records)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<lido:lidoWrap xmlns:lido="{LIDO_NS}" xmlns:gml="http://www.opengis.net/gml">\n'
        f"{inner}\n</lido:lidoWrap>\n"
    )


TITLE = (
    "<lido:descriptiveMetadata xml:lang='en'><lido:objectIdentificationWrap><lido:titleWrap>"
    "<lido:titleSet><lido:appellationValue>{0}</lido:appellationValue></lido:titleSet>"
    "</lido:titleWrap></lido:objectIdentificationWrap></lido:descriptiveMetadata>"
)


# -- every shared file -----------------------------------------------------------------------


def test_registered() -> None:
    assert READERS["lido"] is read_lido


def test_every_shared_lido_file_imports(shared_data: Path) -> None:
    files = sorted((shared_data / "lido").rglob("*.xml"))
    assert len(files) >= 19
    total = 0
    for path in files:
        items = _read(path)  # raises on a file that cannot be read at all
        assert items, path
        for item in items:
            total += 1
            assert item.location.startswith("record "), item.location
            if item.record is None:
                # every rejected record says why, with an error
                assert any(p.severity is Severity.ERROR for p in item.problems), path
            else:
                assert item.record.identifier
                assert item.identifier == item.record.identifier
            for problem in item.problems:
                assert problem.message and problem.hint and problem.location
    assert total >= 21


# -- field-level checks on real records ------------------------------------------------------


def test_herzberg_coin(shared_data: Path) -> None:
    path = shared_data / "lido/ddb-real-data/Kulturerbe_Niedersachsen_Herzberg.xml"
    record, item = _one(path)
    assert record.identifier == "DE-MUS-283918/30922"
    assert "lidoRecID DE-MUS-283918/30922" in item.location and "(line 5)" in item.location
    assert record.title[0].value.startswith("Sterbetaler 1695")
    assert record.title[0].lang == "de"
    assert [v.value for v in record.created] == ["1695"]
    assert [v.value for v in record.date] == ["1695"]
    assert record.medium[0].value == "Silber"
    assert record.medium[0].ref == "https://d-nb.info/gnd/4133759-1"  # a known vocabulary first
    assert record.technique[0].value == "geprägt (Metalltechnik)"
    assert [v.value for v in record.identifiers] == ["MSH_NUM_00119_SMF"]
    assert record.rights == "http://creativecommons.org/licenses/by/4.0/"
    assert record.is_shown_at == "https://ku-ni.de/record_kuniweb_30922"
    assert record.data_provider[0].value == "kuniweb"
    image = record.primary_representation()
    assert image is not None and image.role == "primary"
    assert image.url and image.url.endswith("/full/full/0/default.jpg")
    assert (image.media_type, image.width, image.height) == ("image/jpeg", 1956, 1866)
    assert image.rights == "http://creativecommons.org/licenses/by/4.0/"
    assert image.iiif_service and image.iiif_service.endswith("/00000001.jpg")
    place = record.entity("https://sws.geonames.org/2905496/")
    assert place is not None and place.type == "place"
    assert (place.lat, place.long) == (51.65546, 10.33938)
    assert place.label() == "Herzberg am Harz"
    assert any(v.ref == place.id for v in record.current_location)
    # no europeana:type: inferred from the image, and said so
    assert record.edm_type == "IMAGE"
    assert "lido.edm-type-inferred" in _codes(item)


def test_graphics_portal_example(shared_data: Path) -> None:
    record, item = _one(shared_data / "lido/graphics-portal/example_record.xml")
    assert record.identifier == "DE-MUS-079214/lido/05091715,T,001"
    assert ("Die Jungfrau erscheint Johannes", "de") in [(v.value, v.lang) for v in record.title]
    durer = "https://d-nb.info/gnd/11852786X"
    assert [(v.value, v.ref) for v in record.creator] == [("Dürer, Albrecht", durer)]
    agent = record.entity(durer)
    assert agent is not None and agent.type == "agent"
    assert (agent.begin, agent.end) == ("1471-05-21", "1528-04-06")
    assert agent.alt_label[0].value == "Dürer, Albrecht (der Jüngere)"
    assert [v.ref for v in record.publisher] == [durer]  # the publication event
    assert "1511" in [v.value for v in record.issued]
    assert ("Nürnberg", "http://vocab.getty.edu/tgn/7004334") in [
        (v.value, v.ref) for v in record.spatial
    ]
    nuremberg = record.entity("http://vocab.getty.edu/tgn/7004334")
    assert nuremberg is not None and nuremberg.same_as == ["https://sws.geonames.org/3020251/"]
    assert record.technique[0].ref == "http://vocab.getty.edu/aat/300053296"
    assert "Blatt: 39,8 x 28,1 cm" in [v.value for v in record.extent]
    assert record.rights == "http://creativecommons.org/publicdomain/mark/1.0/"
    assert "gemeinfrei" in [v.value for v in record.rights_statement]
    assert record.preview == "http://www.bildindex.de/bilder/m/mi11813c13"
    assert [r.url for r in record.representations] == [
        "http://www.bildindex.de/bilder/d/mi11813c13"
    ]
    assert any("Apocalipsis" in v.value and v.lang == "la" for v in record.description)
    assert "Dürer, Albrecht: Holzschneider" in [v.value for v in record.other["hc:actorRole"]]
    assert any(v.ref == "https://d-nb.info/gnd/4194713-7" for v in record.is_part_of)
    assert any("Erwerb" in v.value and "1984" in v.value for v in record.provenance)
    # nothing says what kind of resource the image is: no EDM type, and a warning
    assert record.edm_type is None and "lido.edm-type-unknown" in _codes(item)


def test_lido_homepage_primavera(shared_data: Path) -> None:
    path = shared_data / "lido/lido-homepage/LIDO-Example_FMobj00154983-LaPrimavera.xml"
    record, item = _one(path)
    assert record.identifier == "DE-Mb112/lido-obj00154983"
    # the untagged and the en title are one: descriptiveMetadata's xml:lang applies to both
    assert [(v.value, v.lang) for v in record.title] == [("La Primavera / Spring", "en")]
    assert [v.value for v in record.creator] == ["Botticelli, Sandro"]
    assert record.creator[0].ref is None  # a local Bildindex id is not a URI: text
    assert [v.value for v in record.created] == ["1482"]
    assert [v.value for v in record.medium] == ["tempera", "poplar"]
    assert [v.value for v in record.extent] == ["203 x 314 cm"]
    assert record.edm_type == "IMAGE"  # from classification europeana:type
    assert record.current_location[0].value.startswith("Galleria degli Uffizi")
    assert [v.value for v in record.identifiers] == ["8360 (Inv. 1890)"]
    assert record.is_shown_at == "http://www.bildindex.de/dokumente/html/obj00154983"
    assert len(record.representations) == 3
    assert record.representations[0].role == "primary"
    assert record.preview == "http://www.bildindex.de/bilder/t/fmc654591"
    assert record.rights is None and "lido.no-rights" in _codes(item)


def test_lido_homepage_fontana_parts(shared_data: Path) -> None:
    path = shared_data / "lido/lido-homepage/LIDO-Example_FMobj20344012-Fontana_del_Moro.xml"
    items = _read(path)
    assert [i.identifier for i in items] == [
        "DE-Mb112/lido-obj20344012",
        "DE-Mb112/lido-obj20344012,T,001",
        "DE-Mb112/lido-obj20344012,T,002",
    ]
    assert items[1].location.startswith("record 2 (line 291)")
    part = items[2].record
    assert part is not None
    assert [v.value for v in part.creator] == [
        "Bernini, Giovanni Lorenzo",
        "Mari, Giovanni Antonio",
    ]
    assert part.is_part_of[0].ref == "http://www.bildindex.de/dokumente/html/obj20344012"
    assert [v.value for v in part.date] == ["1654"]


def test_ulan_agents_and_rights_note(shared_data: Path) -> None:
    record, item = _one(shared_data / "lido/ddb-real-data/Bildarchiv_Foto_Marburg.xml")
    semper = record.entity("http://vocab.getty.edu/ulan/500031906")
    assert semper is not None and semper.label() == "Semper, Gottfried"
    assert (semper.begin, semper.end) == ("1803-11-29", "1879-05-15")
    assert semper.same_as == ["https://d-nb.info/gnd/118613154"]
    assert [v.value for v in record.date] == ["1872/1881"]
    # the DDB licence is not CC or rightsstatements.org: one warning, not one per image
    warnings = [p for p in item.problems if p.code == "lido.rights-not-uri"]
    assert len(warnings) == 1 and warnings[0].location and "line 17" in warnings[0].location
    assert record.rights is None


def test_kenom_iiif_and_interval(shared_data: Path) -> None:
    record, _item = _one(shared_data / "lido/ddb-real-data/KENOM_Landesbib_Schwerin.xml")
    assert record.rights == "http://creativecommons.org/licenses/by-nc-nd/4.0/"
    assert [v.value for v in record.date] == ["1922-01-01/1922-12-31"]
    assert len(record.representations) == 2  # full and 300px renditions are one resource
    assert record.preview and record.preview.endswith("/full/300,/0/default.jpg")
    assert all(r.iiif_service for r in record.representations)
    assert record.publisher[0].ref == "https://d-nb.info/gnd/1075503922"


def test_manipulated_record(shared_data: Path) -> None:
    record, item = _one(shared_data / "lido/manipulated/DDB_LIDO_record_1.xml")
    assert record.identifier == "DE-MUS-059918/dc00018494"
    assert "lido.several-ids" in _codes(item)
    assert "DE-MUS-059918/dc00018495äöü?-_" in [v.value for v in record.identifiers]
    assert [v.ref for v in record.creator] == [
        "https://d-nb.info/gnd/1229708928",
        "https://d-nb.info/gnd/161108342",
        "http://viaf.org/viaf/89840489",
    ]
    assert record.medium[1].ref == "http://www.wikidata.org/entity/Q156005"
    assert record.rights == "http://creativecommons.org/publicdomain/zero/1.0/"
    assert "Höhe: 106 cm; Breite: 101,1 cm; Tiefe: 60,9 cm" in [v.value for v in record.extent]


def test_polygon_place_and_languages(shared_data: Path) -> None:
    record, _item = _one(shared_data / "lido/ddb-real-data/Museum_Uslar.xml")
    local = [e for e in record.entities if e.id.startswith("#place-")]
    assert local and local[0].lat is not None and 51 < local[0].lat < 52
    assert any(v.ref == local[0].id for v in record.spatial)


# -- mapping details on generated input ------------------------------------------------------


def _map(xml: str) -> SourceRecord:
    root = xmlsafe.parse_bytes(xml.encode(), "test")
    element = root if root.tag == f"{{{LIDO_NS}}}lido" else root[0]
    return map_record(element, "record 1 (line 1)")


def test_map_record_languages_and_vocabulary_ids() -> None:
    body = (
        "<lido:descriptiveMetadata lido:lang='deu'><lido:objectIdentificationWrap>"
        "<lido:titleWrap><lido:titleSet>"
        "<lido:appellationValue>Krug</lido:appellationValue>"
        "<lido:appellationValue xml:lang='EN'>Jug</lido:appellationValue>"
        "<lido:appellationValue xml:lang='not a tag!'>??</lido:appellationValue>"
        "</lido:titleSet></lido:titleWrap></lido:objectIdentificationWrap>"
        "<lido:eventWrap><lido:eventSet><lido:event><lido:eventType><lido:term>creation"
        "</lido:term></lido:eventType><lido:eventActor><lido:actorInRole><lido:actor>"
        "<lido:actorID lido:source='ULAN'>500115493</lido:actorID>"
        "<lido:nameActorSet><lido:appellationValue>Someone</lido:appellationValue>"
        "</lido:nameActorSet></lido:actor></lido:actorInRole></lido:eventActor>"
        "<lido:eventPlace><lido:place><lido:placeID lido:source='TGN'>7000874</lido:placeID>"
        "<lido:namePlaceSet><lido:appellationValue>Rom</lido:appellationValue>"
        "</lido:namePlaceSet><lido:gml><gml:Point><gml:pos>139.7 35.7</gml:pos></gml:Point>"
        "</lido:gml></lido:place></lido:eventPlace></lido:event></lido:eventSet>"
        "</lido:eventWrap></lido:descriptiveMetadata>"
    )
    item = _map(_wrap(_record(body)))
    record = item.record
    assert record is not None
    assert [(v.value, v.lang) for v in record.title] == [
        ("Krug", "de"),
        ("Jug", "en"),
        ("??", None),
    ]
    assert "lido.bad-language" in _codes(item)
    assert record.creator[0].ref == "http://vocab.getty.edu/ulan/500115493"
    rome = record.entity("http://vocab.getty.edu/tgn/7000874")
    assert rome is not None and (rome.lat, rome.long) == (35.7, 139.7)  # written long, lat


def test_record_without_identifier_is_rejected() -> None:
    item = _map(_wrap(_record(TITLE.format("No id"), rec_id="")))
    assert item.record is None
    assert [p.code for p in item.problems] == ["lido.no-identifier"]
    assert item.problems[0].severity is Severity.ERROR and item.problems[0].hint


def test_object_published_id_fallback_and_local_media(tmp_path: Path) -> None:
    body = (
        "<lido:objectPublishedID>https://example.org/obj/9</lido:objectPublishedID>"
        + TITLE.format("Vase")
        + "<lido:administrativeMetadata xml:lang='en'><lido:resourceWrap><lido:resourceSet>"
        "<lido:resourceRepresentation><lido:linkResource>images/vase 1.tif</lido:linkResource>"
        "</lido:resourceRepresentation><lido:rightsResource><lido:rightsType><lido:conceptID>"
        "https://rightsstatements.org/page/InC/1.0/?language=en</lido:conceptID>"
        "</lido:rightsType></lido:rightsResource></lido:resourceSet><lido:resourceSet>"
        "<lido:resourceRepresentation><lido:linkResource>../../etc/passwd</lido:linkResource>"
        "</lido:resourceRepresentation></lido:resourceSet></lido:resourceWrap>"
        "</lido:administrativeMetadata>"
    )
    path = tmp_path / "one.xml"
    path.write_text(_wrap(_record(body, rec_id="")), encoding="utf-8")
    [item] = _read(path)
    assert item.record is not None
    assert item.record.identifier == "https://example.org/obj/9"
    assert item.media == ["images/vase 1.tif"]
    assert item.record.representations[0].file == "images/vase 1.tif"
    assert item.record.representations[0].media_type == "image/tiff"
    assert item.record.rights == "http://rightsstatements.org/vocab/InC/1.0/"
    assert "lido.media-path" in _codes(item)


def test_vocabularies() -> None:
    assert canonical_uri("https://www.wikidata.org/wiki/Q638607") == (
        "http://www.wikidata.org/entity/Q638607"
    )
    assert canonical_uri("http://sws.geonames.org/2950159") == "https://sws.geonames.org/2950159/"
    assert canonical_uri("7000874", "TGN") == "http://vocab.getty.edu/tgn/7000874"
    assert canonical_uri("118613154", "GND") == "https://d-nb.info/gnd/118613154"
    assert canonical_uri("kue 02553338", "Bildindex-KUE-Datei") is None
    assert canonical_uri("300123456", "Staatliche Museen") is None  # 'aat' inside a word
    assert canonical_uri("23 D 42", "Iconclass") is None
    assert rights_uri("https://creativecommons.org/licenses/by-sa/4.0/deed.de") == (
        "http://creativecommons.org/licenses/by-sa/4.0/"
    )
    assert rights_uri("http://www.europeana.eu/rights/rr-r/") is None
    assert language_tag("ger") == ("de", True)
    assert language_tag("de_at") == ("de-AT", True)


# -- bad input -------------------------------------------------------------------------------


def test_malformed_record_is_skipped_and_the_rest_recovered(tmp_path: Path) -> None:
    good = [_record(TITLE.format(f"Object {n}"), rec_id=f"R/{n}") for n in (1, 3)]
    broken = _record(TITLE.format("Broken <b>unclosed"), rec_id="R/2")
    path = tmp_path / "broken.xml"
    path.write_text(_wrap(good[0], broken, good[1]), encoding="utf-8")
    items: list[SourceRecord] = []
    with pytest.raises(SourceError) as raised:
        for item in read_lido(path):
            items.append(item)
    assert raised.value.line == 4 and "broken.xml, line 4" in str(raised.value)
    assert [i.identifier for i in items] == ["R/1", "R/2", "R/3"]
    assert items[0].record is not None and items[2].record is not None
    assert items[2].record.title[0].value == "Object 3"
    assert items[2].location.startswith("record 3 (line 5)")
    assert items[1].record is None
    assert items[1].problems[0].code == "lido.malformed"
    assert items[1].problems[0].location == "line 4"


def test_truncated_file_keeps_records_before(tmp_path: Path) -> None:
    text = _wrap(*(_record(TITLE.format("T"), rec_id=f"R/{n}") for n in range(1, 4)))
    path = tmp_path / "cut.xml"
    path.write_text(text[: text.index("R/3") + 2], encoding="utf-8")
    items: list[SourceRecord] = []
    with pytest.raises(SourceError, match="not well-formed"):
        for item in read_lido(path):
            items.append(item)
    assert [i.record is not None for i in items] == [True, True, False]


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE lido:lidoWrap [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE lido:lidoWrap [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>',
    ],
)
def test_entities_are_refused(tmp_path: Path, doctype: str) -> None:
    text = _wrap(_record(TITLE.format("&xxe;&b;")))
    path = tmp_path / "xxe.xml"
    path.write_text(text.replace("\n", "\n" + doctype + "\n", 1), encoding="utf-8")
    with pytest.raises(SourceError, match="entities"):
        _read(path)


def test_empty_and_foreign_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.xml"
    empty.write_bytes(b"  \n")
    with pytest.raises(SourceError, match="empty"):
        _read(empty)
    foreign = tmp_path / "dc.xml"
    foreign.write_text('<oai_dc:dc xmlns:oai_dc="urn:x"/>', encoding="utf-8")
    with pytest.raises(SourceError, match=r"not a LIDO document.*urn:x"):
        _read(foreign)
    no_records = tmp_path / "wrap.xml"
    no_records.write_text(_wrap(), encoding="utf-8")
    with pytest.raises(SourceError, match="no lido:lido record"):
        _read(no_records)


# -- memory ----------------------------------------------------------------------------------

SAMPLE = _record(
    TITLE.format("Sample object")[: -len("</lido:descriptiveMetadata>")]
    + "<lido:eventWrap><lido:eventSet><lido:event><lido:eventType><lido:term>production"
    "</lido:term></lido:eventType><lido:eventDate><lido:displayDate>1900</lido:displayDate>"
    "</lido:eventDate></lido:event></lido:eventSet></lido:eventWrap></lido:descriptiveMetadata>"
    "<lido:administrativeMetadata xml:lang='en'><lido:resourceWrap><lido:resourceSet>"
    "<lido:resourceRepresentation><lido:linkResource>https://example.org/{id}.jpg"
    "</lido:linkResource></lido:resourceRepresentation></lido:resourceSet></lido:resourceWrap>"
    "</lido:administrativeMetadata>",
    rec_id="{id}",
)


def _retained(snapshot: tracemalloc.Snapshot) -> int:
    # pydantic keeps a bounded cache of validated strings (about 1 MiB at most): not ours
    kept = snapshot.filter_traces([tracemalloc.Filter(False, "*/pydantic/*")])
    return sum(stat.size for stat in kept.statistics("filename"))


def _rss() -> int:
    """Resident memory now (Linux), which also counts the parser's C-side tree."""
    statm = Path("/proc/self/statm")
    return int(statm.read_text().split()[1]) * 4096 if statm.exists() else 0


def test_memory_stays_flat(tmp_path: Path) -> None:
    """20,000 records generated from a sample under new identifiers: memory kept after
    2,000 and after 20,000 records is the same, and the peak stays small."""
    path = tmp_path / "large.xml"
    with path.open("w", encoding="utf-8") as out:  # streamed: the file is never in memory
        out.write(_wrap("").rsplit("</lido:lidoWrap>", 1)[0])
        for n in range(20_000):
            out.write(SAMPLE.replace("{id}", f"GEN/{n}") + "\n")
        out.write("</lido:lidoWrap>\n")
    assert path.stat().st_size > 15_000_000
    tracemalloc.start()
    try:
        seen = 0
        for item in read_lido(path):
            assert item.record is not None
            seen += 1
            if seen == 2_000:
                after_small = _retained(tracemalloc.take_snapshot())
                _current, peak_small = tracemalloc.get_traced_memory()
                rss_small = _rss()
        after_large = _retained(tracemalloc.take_snapshot())
        _current, peak_large = tracemalloc.get_traced_memory()
        rss_large = _rss()
    finally:
        tracemalloc.stop()
    assert seen == 20_000
    assert after_large - after_small < 64 * 1024, (after_small, after_large)
    assert peak_large < 4 * 1024 * 1024, peak_large
    # ten times the records: the peak grows by no more than pydantic's bounded cache
    assert peak_large - peak_small < 1_500_000, (peak_small, peak_large)
    # a tree kept in lxml would be some 50 MB here; tracemalloc does not see it
    assert rss_large - rss_small < 16 * 1024 * 1024, (rss_small, rss_large)
