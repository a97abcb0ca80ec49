"""The whole import pipeline on real material and on a spreadsheet with its media beside it:
every shared LIDO, EDM, CSV and IIIF file imports without a crash, failures are explained,
re-importing changes nothing, and `heritage import objects.csv` brings the files too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from heritage.accounts.identity import SYSTEM
from heritage.cli.main import app
from heritage.records.imports import ImportService
from heritage.records.models import ImportStatus
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.testing.plugin import TEST_SECRET_KEY
from heritage.testing.world import build_world

SOURCES = [
    ("lido", "lido"),
    ("edm/metis-sandbox/records", "edm"),
    ("iiif/cookbook", "iiif"),
]


@pytest.mark.parametrize(("folder", "format"), SOURCES)
def test_every_shared_file_imports_and_failures_are_explained(
    heritage_runtime: Runtime, shared_data: Path, folder: str, format: str
) -> None:
    build_world(heritage_runtime)
    service = ImportService(heritage_runtime)
    files = sorted(p for p in (shared_data / folder).rglob("*") if p.suffix in (".xml", ".json"))
    assert files
    for path in files:
        row = service.create(SYSTEM, "alpha", path, format=format)
        outcome = service.run(SYSTEM, row.id)
        done, _ = service.get(SYSTEM, row.id)
        assert done.status in (ImportStatus.FINISHED, ImportStatus.FAILED)
        if done.status is ImportStatus.FAILED:
            assert outcome.error and path.name in outcome.error  # which file, and why
        items, _ = service.items(SYSTEM, row.id)
        for item in items:
            if item.action.value == "failed":
                assert item.problems, f"{path}: {item.location} failed without a reason"
                assert all(p["message"] and p.get("hint") for p in item.problems)
    # a second import of everything changes nothing
    for path in files[:5]:
        row = service.create(SYSTEM, "alpha", path, format=format)
        service.run(SYSTEM, row.id)
        again, _ = service.get(SYSTEM, row.id)
        assert set(again.counts) <= {"unchanged", "failed"}, (path, again.counts)


def test_tate_rows_import_with_field_level_results(
    heritage_runtime: Runtime, shared_data: Path, tmp_path: Path
) -> None:
    build_world(heritage_runtime)
    source = shared_data / "csv" / "tate_artwork_data_rows_1-2000.csv"
    sample = tmp_path / "tate.csv"
    with source.open("rb") as whole, sample.open("wb") as part:
        for number, line in enumerate(whole):
            if number > 120:
                break
            part.write(line)
    service = ImportService(heritage_runtime)
    row = service.create(SYSTEM, "alpha", sample)
    outcome = service.run(SYSTEM, row.id)
    assert outcome.error is None and outcome.counts.get("create", 0) >= 100, outcome.counts
    records = RecordService(heritage_runtime)
    found = records.find(SYSTEM, "alpha", "1035")
    assert found is not None
    record = found.record
    assert record.title[0].value.startswith("A Figure Bowing before a Seated Old Man")
    assert record.creator[0].value == "Blake, Robert"
    assert any(value.value == "A00001" for value in record.identifiers)


def test_one_command_imports_a_sheet_with_its_images(
    heritage_runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_world(heritage_runtime)
    folder = tmp_path / "collection"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "mill-front.jpg").write_bytes(b"\xff\xd8front")
    (folder / "images" / "mill-back.jpg").write_bytes(b"\xff\xd8back")
    (folder / "bowl.glb").write_bytes(b"glTF\x02\x00\x00\x00")
    (folder / "objects.csv").write_text(
        "identifier,title,creator,date,type,rights,media\n"
        "inv-1,Windmill,Unknown,1890,painting,"
        "http://creativecommons.org/publicdomain/zero/1.0/,"
        "images/mill-front.jpg|images/mill-back.jpg\n"
        "inv-2,Bowl,,,vessel,http://creativecommons.org/publicdomain/zero/1.0/,bowl.glb\n"
        "inv-3,Lost,,,vessel,http://creativecommons.org/publicdomain/zero/1.0/,nowhere.jpg\n",
        encoding="utf-8",
    )
    for key in list(os.environ):
        if key.startswith("HERITAGE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    env = {
        "HERITAGE_DATA_DIR": str(heritage_runtime.settings.resolved_data_dir),
        "HERITAGE_DATABASE_URL": heritage_runtime.settings.resolved_database_url,
        "HERITAGE_SECRET_KEY": TEST_SECRET_KEY,
    }
    logging_config = structlog.get_config()
    try:
        result = CliRunner(env=env).invoke(
            app, ["import", str(folder / "objects.csv"), "--workspace", "alpha"]
        )
    finally:
        structlog.configure(**logging_config)
    assert result.exit_code == 0, result.output
    assert "3 created" in result.stdout
    assert "nowhere.jpg" in result.stdout  # the missing file is named, with the fix
    records = RecordService(heritage_runtime)
    mill = records.find(SYSTEM, "alpha", "inv-1")
    assert mill is not None
    files = [item.file for item in mill.record.representations]
    assert files == ["media/images/mill-front.jpg", "media/images/mill-back.jpg"]
    assert mill.record.primary_representation().file == "media/images/mill-front.jpg"
    stored = records.store.read_bytes(mill.row.object_id, "media/images/mill-back.jpg")
    assert stored == b"\xff\xd8back"
    bowl = records.find(SYSTEM, "alpha", "inv-2")
    assert bowl is not None
    assert bowl.record.representations[0].media_type == "model/gltf-binary"


def test_entity_declarations_are_refused_before_anything_is_read(
    heritage_runtime: Runtime, tmp_path: Path
) -> None:
    from heritage.errors import InvalidInput

    build_world(heritage_runtime)
    bomb = tmp_path / "records.xml"
    bomb.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>\n'
        '<lido:lidoWrap xmlns:lido="http://www.lido-schema.org">&b;</lido:lidoWrap>\n'
    )
    with pytest.raises(InvalidInput, match=r"records\.xml, line 2: the document declares XML"):
        ImportService(heritage_runtime).create(SYSTEM, "alpha", bomb)
