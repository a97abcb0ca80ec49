"""The record count estimated for progress bars: equal to what the readers yield on the
real files, whatever the chunking, and what an import's progress reports against."""

from __future__ import annotations

from pathlib import Path

import pytest

from heritage.accounts.identity import SYSTEM
from heritage.records.formats import detect_format, open_reader
from heritage.records.importers import estimate
from heritage.records.importers.base import SourceError
from heritage.records.importers.estimate import estimate_records
from heritage.records.imports import ImportService
from heritage.records.jobs import run_import_job
from heritage.runtime import Runtime
from heritage.testing.world import build_world

LIDO = "http://www.lido-schema.org"


def readable_files(shared_data: Path) -> list[tuple[str, Path]]:
    found = []
    for folder in ("lido", "edm", "oai-pmh", "csv"):
        for path in sorted((shared_data / folder).rglob("*")):
            if path.suffix.lower() not in (".xml", ".csv"):
                continue
            try:
                found.append((detect_format(path), path))
            except SourceError:
                continue  # not a record format (OAI-PMH verbs without records)
    return found


def test_the_estimate_is_the_count_the_readers_yield_on_the_real_files(
    shared_data: Path,
) -> None:
    files = readable_files(shared_data)
    assert len(files) > 40
    wrong = []
    for format, path in files:
        try:
            read = sum(1 for _ in open_reader(format, path))
        except SourceError:
            continue  # a broken file: its reader reports it, progress does not matter
        estimated = estimate_records(format, path)
        if path.name == "tate_artwork_data_rows_1-2000.csv":
            # cells with line breaks count as several lines: more, never fewer
            assert read == 2000 and estimated is not None and 2000 < estimated < 2500
        elif estimated != read:
            wrong.append((path.name, read, estimated))
    assert not wrong


def lido_wrap(count: int, prefix: str = "lido") -> bytes:
    tag = f"{prefix}:" if prefix else ""
    declaration = f'xmlns:{prefix}="{LIDO}"' if prefix else f'xmlns="{LIDO}"'
    records = "".join(
        f"<{tag}lido><{tag}lidoRecID>r{number}</{tag}lidoRecID></{tag}lido>\n"
        for number in range(count)
    )
    return f"<{tag}lidoWrap {declaration}>\n{records}</{tag}lidoWrap>\n".encode()


@pytest.mark.parametrize("chunk", [5, 7, 13, 4096])
@pytest.mark.parametrize("prefix", ["lido", "", "l"])
def test_end_tags_across_chunk_boundaries_count_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, prefix: str
) -> None:
    path = tmp_path / "wrap.xml"
    path.write_bytes(lido_wrap(37, prefix))
    monkeypatch.setattr(estimate, "CHUNK", chunk)
    assert estimate_records("lido", path) == 37


def test_csv_rows_without_a_final_line_break_and_unknown_formats(tmp_path: Path) -> None:
    csv = tmp_path / "objects.csv"
    csv.write_bytes(b"identifier,title\na,One\nb,Two")
    assert estimate_records("csv", csv) == 2
    csv.write_bytes(b"identifier,title\n")
    assert estimate_records("csv", csv) is None  # a header and nothing else
    csv.write_bytes(b"")
    assert estimate_records("csv", csv) is None
    assert estimate_records("iiif", csv) is None
    assert estimate_records("lido", tmp_path / "missing.xml") is None
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b'<!DOCTYPE x [<!ENTITY a "b">]><x/>')
    assert estimate_records("lido", broken) is None  # the reader refuses it, with its reason


def test_a_file_import_reports_progress_against_the_estimate(
    heritage_runtime: Runtime, tmp_path: Path
) -> None:
    build_world(heritage_runtime)
    path = tmp_path / "wrap.xml"
    path.write_bytes(lido_wrap(450))
    service = ImportService(heritage_runtime)
    row = service.create(SYSTEM, "alpha", path, format="lido", dry_run=True)
    seen: list[tuple[int, int | None]] = []
    service.run(SYSTEM, row.id, lambda done, total, where: seen.append((done, total)))
    assert seen[0][1] == 450 and 0 < seen[0][0] < 450  # the bar moves before the end
    assert seen[-1] == (450, 450)


@pytest.mark.parametrize("chunk", [5, 7, 11, 13, 64])
def test_needles_of_different_lengths_count_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """A file binding LIDO as the default namespace and to a prefix: a short end tag can
    lie whole in the tail carried to the next chunk."""
    records = "".join(
        f"<lido><lidoRecID>d{n}</lidoRecID></lido><lido:lido><lido:lidoRecID>p{n}"
        "</lido:lidoRecID></lido:lido>\n"
        for n in range(20)
    )
    path = tmp_path / "mixed.xml"
    path.write_text(f'<lido:lidoWrap xmlns:lido="{LIDO}" xmlns="{LIDO}">{records}</lido:lidoWrap>')
    monkeypatch.setattr(estimate, "CHUNK", chunk)
    assert estimate_records("lido", path) == sum(1 for _ in open_reader("lido", path)) == 40


def test_the_import_job_moves_its_progress_bar(heritage_runtime: Runtime, tmp_path: Path) -> None:
    build_world(heritage_runtime)
    path = tmp_path / "wrap.xml"
    path.write_bytes(lido_wrap(450))
    row = ImportService(heritage_runtime).create(SYSTEM, "alpha", path, format="lido", dry_run=True)
    reported: list[tuple[float, str]] = []
    run_import_job(
        heritage_runtime,
        {"import_id": row.id},
        lambda fraction, message: reported.append((fraction, message)),
    )
    fraction, message = reported[0]
    assert 0.4 < fraction < 0.5 and message.startswith("200 of about 450 records read")
    assert reported[-1][0] == 0.99  # the job itself marks the end
