"""Spreadsheet import: Tate's open CSVs, XLSX, mappings, encodings, bad input, memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from openpyxl import Workbook

from heritage.records.importers.base import READERS, SourceError, SourceRecord
from heritage.records.importers.column_mapping import (
    ColumnMapping,
    Mapping,
    split_language,
    suggest_mapping,
)
from heritage.records.importers.tabular import preview, read_csv, read_xlsx
from heritage.records.problems import Severity


def by_id(items: list[SourceRecord]) -> dict[str, SourceRecord]:
    return {item.identifier: item for item in items if item.identifier}


def texts(values: list) -> list[str]:
    return [value.value for value in values]


def errors(item: SourceRecord) -> list[str]:
    return [p.code for p in item.problems if p.severity is Severity.ERROR]


@pytest.fixture(scope="module")
def artworks(shared_data: Path) -> Path:
    return shared_data / "csv" / "tate_artwork_data_rows_1-2000.csv"


def test_registered() -> None:
    assert READERS["csv"] is read_csv
    assert READERS["xlsx"] is read_xlsx


def test_tate_artworks_with_the_suggested_mapping(artworks: Path) -> None:
    shown = preview(artworks)
    assert shown.delimiter == ","
    assert shown.headers[:3] == ["id", "accession_number", "artist"]
    assert len(shown.rows) == 10
    targets = {c.column: c.target for c in shown.mapping.columns}
    assert targets["id"] == "identifier"
    assert targets["accession_number"] == "identifiers"
    assert targets["artist"] == "creator"
    assert targets["title"] == "title"
    assert targets["dateText"] == "date"
    assert targets["year"] == "ignore"  # one date column is enough
    assert targets["creditLine"] == "rights_statement"
    assert targets["dimensions"] == "extent"
    assert targets["thumbnailUrl"] == "preview"
    assert targets["width"] == "ignore"

    items = list(read_csv(artworks))
    assert len(items) == 2000
    assert all(item.record is not None and not errors(item) for item in items)
    records = by_id(items)
    first = records["1035"].record
    assert first is not None
    assert records["1035"].location == "line 2"
    assert texts(first.identifiers) == ["A00001"]
    assert texts(first.creator) == ["Blake, Robert"]
    assert texts(first.title) == [
        "A Figure Bowing before a Seated Old Man with his Arm Outstretched in Benediction. "
        "Verso: Indecipherable Sketch"
    ]
    assert texts(first.extent) == ["support: 394 x 419 mm"]
    assert texts(first.rights_statement) == ["Presented by Mrs John Richmond 1922"]
    assert first.preview == "http://www.tate.org.uk/art/images/work/A/A00/A00001_8.jpg"
    third = records["1037"].record
    assert third is not None
    assert texts(third.date) == ["?c.1785"]
    assert first.date == []  # dateText is empty in the first row
    burne_jones = records["20230"].record
    assert burne_jones is not None
    assert texts(burne_jones.title) == ["Study of Heads for a Pietà"]
    # a quoted field spans two physical lines: the next record starts two lines later
    assert records["13482"].location == "line 852"
    assert records["13483"].location == "line 854"


def test_tate_artworks_with_a_saved_mapping(artworks: Path, tmp_path: Path) -> None:
    mapping = Mapping(
        columns=[
            ColumnMapping(column="accession_number", target="identifier"),
            ColumnMapping(column="title", target="title", lang="en"),
            ColumnMapping(column="artist", target="creator"),
            ColumnMapping(column="year", target="created"),
            ColumnMapping(column="dimensions", target="extent", lang="en"),
            ColumnMapping(column="units", target="medium"),
            ColumnMapping(column="thumbnailUrl", target="media_url"),
            ColumnMapping(column="id", target="ignore"),
        ]
    )
    saved = tmp_path / "mapping.json"
    mapping.save(saved)
    loaded = Mapping.load(saved)
    assert loaded == mapping
    items = by_id(list(read_csv(artworks, loaded)))
    record = items["A00003"].record
    assert record is not None
    assert record.identifier == "A00003"
    assert record.title[0].lang == "en"
    assert texts(record.created) == ["1785"]
    assert texts(record.medium) == ["mm"]
    assert record.representations[0].url.endswith("A00003_8.jpg")
    assert record.representations[0].role == "primary"
    assert record.preview is None


def test_tate_artists(shared_data: Path) -> None:
    items = by_id(list(read_csv(shared_data / "csv" / "tate_artist_data.csv")))  # UTF-8 BOM
    assert len(items) == 3532
    abbott = items["1"].record
    assert abbott is not None
    assert texts(abbott.title) == ["Abbott, Lemuel Francis"]
    assert texts(abbott.date) == ["1760–1803"]
    assert abbott.is_shown_at == "http://www.tate.org.uk/art/artists/lemuel-francis-abbott-1"


def test_suggestions() -> None:
    mapping = suggest_mapping(
        ["Inventory Number", "Title@de", "title (en)", "Dimensions (mm)", "type", "Licence"],
        [
            [
                "1",
                "Mühle",
                "Mill",
                "30",
                "IMAGE",
                "http://creativecommons.org/publicdomain/zero/1.0/",
            ]
        ],
    )
    got = [(c.column, c.target, c.lang) for c in mapping.columns]
    assert got == [
        ("Inventory Number", "identifier", None),
        ("Title@de", "title", "de"),
        ("title (en)", "title", "en"),
        ("Dimensions (mm)", "extent", None),  # a unit, not a language
        ("type", "edm_type", None),
        ("Licence", "rights", None),
    ]
    assert suggest_mapping(["id", "type"], [["1", "painting"]]).columns[1].target == "type"
    assert split_language("dc:title@fr") == ("dc:title", "fr")
    default = suggest_mapping(["identifier", "title", "creator", "date", "type", "rights", "media"])
    assert [c.target for c in default.columns] == [
        "identifier",
        "title",
        "creator",
        "date",
        "type",
        "rights",
        "media",
    ]


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_multi_values_languages_media_and_semicolons(tmp_path: Path) -> None:
    csv_path = write(
        tmp_path / "objects.csv",
        "identifier;title@de;title@en;subject;creator;media\n"
        "inv-1;Mühle;Mill;mills | water;http://www.wikidata.org/entity/Q5598;"
        "inv-1.jpg|details/inv-1b.jpg\n"
        "inv-2;Brücke;;;;\n",
    )
    mapping = suggest_mapping(
        ["identifier", "title@de", "title@en", "subject", "creator", "media"],
        [["inv-1", "Mühle", "Mill", "mills | water", "http://www.wikidata.org/entity/Q5598"]],
    )
    assert mapping.column("subject") == ColumnMapping(
        column="subject", target="subject", separator="|"
    )
    assert mapping.column("creator").links  # type: ignore[union-attr]
    items = list(read_csv(csv_path, mapping))
    first = items[0].record
    assert first is not None
    assert [(v.value, v.lang) for v in first.title] == [("Mühle", "de"), ("Mill", "en")]
    assert texts(first.subject) == ["mills", "water"]
    assert first.creator[0].ref == "http://www.wikidata.org/entity/Q5598"
    assert items[0].media == ["inv-1.jpg", "details/inv-1b.jpg"]
    assert items[1].media == []
    # without a mapping the suggestion is used, sniffing ";" and the first rows
    assert [item.identifier for item in read_csv(csv_path)] == ["inv-1", "inv-2"]


def test_xlsx_written_by_openpyxl(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Objects"
    sheet.append(["Inventory number", "Title (fr)", "Date", "Edm Type", "Image"])
    sheet.append(["inv-1", "Moulin", 1890, "image", "inv-1.jpg|inv-1b.jpg"])
    sheet.append([None, None, None, None, None])
    sheet.append(["inv-2", "Pont", 1901.0, "PAINTING", None])
    sheet.append([None, "sans numéro", None, None, None])
    path = tmp_path / "objects.xlsx"
    workbook.save(path)
    shown = preview(path)
    assert shown.sheet == "Objects"
    items = list(read_xlsx(path))
    assert [item.location for item in items] == [
        "sheet Objects, row 2",
        "sheet Objects, row 4",
        "sheet Objects, row 5",
    ]
    first = items[0].record
    assert first is not None
    assert first.identifier == "inv-1"
    assert [(v.value, v.lang) for v in first.title] == [("Moulin", "fr")]
    assert texts(first.date) == ["1890"]
    assert first.edm_type == "IMAGE"
    assert items[0].media == ["inv-1.jpg", "inv-1b.jpg"]
    # a bad EDM type is a problem on the field, the record is still mapped
    assert items[1].record is not None and items[1].record.edm_type is None
    assert [p.field for p in items[1].problems] == ["edm_type"]
    assert items[2].record is None and errors(items[2]) == ["import.identifier-missing"]
    with pytest.raises(SourceError, match="no sheet 'Other'"):
        list(read_xlsx(path, Mapping(columns=[], sheet="Other")))


def test_media_files_beside_the_sheet(tmp_path: Path) -> None:
    from heritage.records.media import MediaSource

    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "inv-1.jpg").write_bytes(b"jpeg")
    (tmp_path / "inv-2.tif").write_bytes(b"tiff")
    csv_path = write(tmp_path / "sheet.csv", "id,file\ninv-1,img/inv-1.jpg\ninv-2,\n")
    items = list(read_csv(csv_path))
    with MediaSource.open_folder(tmp_path) as media:
        found = media.find(items[0].media[0])
        assert found is not None and found.name == "img/inv-1.jpg"
        by_identifier = media.find(items[1].identifier or "")
        assert by_identifier is not None and by_identifier.name == "inv-2.tif"


def test_invalid_utf8_names_the_line_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"id,title\n1,Gr\xc3\xbcn\n2,Caf\xe9\n3,Blau\n")
    items = list(read_csv(path))
    assert [item.location for item in items] == ["line 2", "line 3", "line 4"]
    assert items[0].record is not None and texts(items[0].record.title) == ["Grün"]
    assert items[1].record is None
    problem = items[1].problems[0]
    assert problem.code == "import.encoding"
    assert problem.location == "line 3"
    assert "line 3 is not valid UTF-8" in problem.message
    assert "mixes encodings" in problem.message  # line 2 was UTF-8
    assert "UTF-8" in problem.hint
    assert items[2].record is not None


def test_invalid_header_and_utf16(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="line 1"):
        list(read_csv(write(tmp_path / "latin1.csv", "id,tître\n1,x\n", "latin-1")))
    utf16 = write(tmp_path / "utf16.csv", "\ufeffid\ttitle\n1\tÄpfel\n", "utf-16-le")
    items = list(read_csv(utf16))
    assert items[0].record is not None and texts(items[0].record.title) == ["Äpfel"]


def test_missing_columns_fail_before_reading(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "id,title\n1,x\n")
    mapping = Mapping(
        columns=[
            ColumnMapping(column="id", target="identifier"),
            ColumnMapping(column="Titel", target="title"),
            ColumnMapping(column="Datum", target="date"),
        ]
    )
    with pytest.raises(SourceError) as raised:
        next(read_csv(path, mapping))
    assert "'Titel', 'Datum'" in str(raised.value)
    assert "'id', 'title'" in str(raised.value)


def test_duplicates_empty_ids_and_bad_values(tmp_path: Path) -> None:
    path = write(
        tmp_path / "dup.csv",
        'id,title,lang title,rights\n1,a,x,\n2,b,y,\n1,"c\nd",z,\n,e,,\n'
        + "3,"
        + "x" * 600
        + ",,"
        + "r" * 600
        + "\n",
    )
    mapping = Mapping(
        columns=[
            ColumnMapping(column="id", target="identifier"),
            ColumnMapping(column="title", target="title", lang="not a tag!"),
            ColumnMapping(column="rights", target="rights"),
        ]
    )
    items = list(read_csv(path, mapping))
    assert [item.location for item in items] == ["line 2", "line 3", "line 4", "line 6", "line 7"]
    duplicate = items[2]
    assert duplicate.record is None and duplicate.identifier == "1"
    assert errors(duplicate) == ["import.identifier-duplicate"]
    assert "line 2" in duplicate.problems[0].message
    assert items[3].record is None and errors(items[3]) == ["import.identifier-missing"]
    # the bad language is a problem on the field; the text is kept without it
    first = items[0].record
    assert first is not None and [(v.value, v.lang) for v in first.title] == [("a", None)]
    assert items[0].problems[0].field == "title"
    assert "column 'title'" in items[0].problems[0].location  # type: ignore[operator]
    # a too long rights value: pydantic's error becomes a problem naming the column
    last = items[4]
    assert last.record is not None and last.record.rights is None
    assert any("column 'rights'" in p.message and p.field == "rights" for p in last.problems)


def test_mapping_rejects_unknown_targets() -> None:
    with pytest.raises(ValueError, match="not a field or target"):
        ColumnMapping(column="x", target="colour")
    with pytest.raises(ValueError):
        Mapping.from_json('{"columns": [{"column": "x", "target": "nope"}]}')


def test_flat_memory_on_100000_rows(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    filler = "a fairly long description of the object, repeated to make rows realistic " * 4
    with path.open("w", encoding="utf-8") as handle:
        handle.write("identifier,title,description,date\n")
        for n in range(100_000):
            handle.write(f'inv-{n},"Object {n}",{filler},{1800 + n % 200}\n')
    size = path.stat().st_size
    tracemalloc.start()
    try:
        count = 0
        for item in read_csv(path):
            assert item.record is not None
            count += 1
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 100_000
    assert size > 30_000_000
    # what stays is the duplicate check's digest table (12 bytes a slot) and pydantic's
    # bounded string cache: a few MB against a 32 MB file
    assert peak < size / 4, (peak, size)
