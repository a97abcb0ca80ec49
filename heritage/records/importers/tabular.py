"""Spreadsheets (CSV and XLSX) read with a column mapping.

What each column holds is a :class:`~heritage.records.importers.column_mapping.Mapping`
(:mod:`heritage.records.importers.column_mapping`, with its suggestion from the header
names). A mapping saved as ``<stem>.mapping.json`` beside the file is used when none
is given; otherwise the suggested one.

Both readers stream: CSV through the :mod:`csv` module over decoded lines, XLSX
through openpyxl's read-only mode, so memory stays flat whatever the row count
(only a 12-byte digest per identifier is kept, to report duplicates).

CSV encodings: UTF-8 with or without a BOM, UTF-16 with a BOM. A line that is not
valid UTF-8 rejects its row with an error naming the line (and saying whether the
file mixes encodings); rows before and after it are kept. Delimiters ``,`` ``;``
and tab are recognised from the header line.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import unicodedata
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from heritage.records.fields import EDM_TYPES, FIELDS_BY_NAME
from heritage.records.importers.base import SourceError, SourceRecord, register
from heritage.records.importers.column_mapping import (
    MEDIA_SEPARATOR,
    SPECIAL_TARGETS,
    URI_PATTERN,
    ColumnMapping,
    Mapping,
    suggest_mapping,
)
from heritage.records.model import Record, Representation, Value
from heritage.records.problems import Problem
from heritage.records.spreadsheet_cells import unescape_formula

DELIMITERS = (",", ";", "\t")
# after this many rows rejected for their encoding the file is clearly not UTF-8
MAX_ENCODING_ERRORS = 100
ENCODING_HINT = (
    "Save the file as UTF-8 (Excel: 'CSV UTF-8'; LibreOffice: character set "
    "'Unicode (UTF-8)') and import it again."
)


# -- mapping rows -----------------------------------------------------------------------------


class _SeenIdentifiers:
    """Identifiers met so far, kept as 64-bit digests in an open-addressing table of two
    flat arrays (12 bytes a slot), with where each was first seen. Two different
    identifiers share a digest with odds of about n²/2⁶⁵: negligible."""

    def __init__(self) -> None:
        self._size = 1024
        self._count = 0
        self._keys = array("Q", bytes(8 * self._size))
        self._where = array("I", bytes(array("I").itemsize * self._size))

    def add(self, identifier: str, number: int) -> int | None:
        """Remember ``identifier`` first seen at ``number``; return the earlier number."""
        digest = hashlib.blake2b(identifier.encode("utf-8"), digest_size=8).digest()
        key = int.from_bytes(digest, "little") or 1  # 0 marks an empty slot
        slot = self._slot(key)
        if self._keys[slot] == key:
            return int(self._where[slot])
        self._keys[slot] = key
        self._where[slot] = min(number, 2**32 - 1)
        self._count += 1
        if self._count * 2 > self._size:
            self._grow()
        return None

    def _slot(self, key: int) -> int:
        mask = self._size - 1
        slot = key & mask
        while self._keys[slot] not in (0, key):
            slot = (slot + 1) & mask
        return slot

    def _grow(self) -> None:
        keys, where = self._keys, self._where
        self._size *= 2
        self._keys = array("Q", bytes(8 * self._size))
        self._where = array("I", bytes(where.itemsize * self._size))
        for key, number in zip(keys, where, strict=True):
            if key:
                slot = self._slot(key)
                self._keys[slot] = key
                self._where[slot] = number


def _message(error: ValidationError) -> str:
    return "; ".join(str(item["msg"]).removeprefix("Value error, ") for item in error.errors())


def _split(raw: str, separator: str | None) -> list[str]:
    parts = raw.split(separator) if separator else [raw]
    return [part.strip() for part in parts if part.strip()]


def check_mapping(mapping: Mapping, headers: Sequence[str], source: str) -> ColumnMapping:
    """The mapping's identifier column, once every column it names is in ``headers``;
    :class:`SourceError` saying what is missing otherwise (before any row is read)."""
    missing = [item.column for item in mapping.columns if item.column not in headers]
    available = ", ".join(f"'{h}'" for h in headers)
    if missing:
        names = ", ".join(f"'{m}'" for m in missing)
        raise SourceError(
            f"the mapping names columns the file does not have: {names}. "
            f"The file's columns are: {available}",
            source=source,
        )
    ids = [item for item in mapping.columns if item.target == "identifier"]
    if len(ids) != 1:
        raise SourceError(
            f"the mapping needs exactly one identifier column, it has {len(ids)}. "
            f"The file's columns are: {available}",
            source=source,
        )
    return ids[0]


class _RowMapper:
    """Maps the cells of one row to a :class:`SourceRecord` following a mapping."""

    def __init__(
        self, mapping: Mapping, headers: Sequence[str], source: str, where: Callable[[int], str]
    ):
        index = {header: position for position, header in enumerate(headers)}
        self.id_column = check_mapping(mapping, headers, source).column
        self.id_index = index[self.id_column]
        self.columns = [
            (index[item.column], item)
            for item in mapping.columns
            if item.target not in ("ignore", "identifier")
        ]
        self.where = where
        self.seen = _SeenIdentifiers()

    def map(self, cells: Sequence[str], number: int) -> SourceRecord:
        location = self.where(number)
        # cells exported by us that would start a formula carry an apostrophe
        cells = [unescape_formula(cell) for cell in cells]
        identifier = cells[self.id_index].strip() if self.id_index < len(cells) else ""
        if not identifier:
            problem = Problem.error(
                "import.identifier-missing",
                f"the identifier column '{self.id_column}' is empty, so the row cannot be imported",
                "Give every row an identifier (an inventory number or another stable id).",
                field="identifier",
                location=location,
            )
            return SourceRecord(None, location, [problem])
        first = self.seen.add(identifier, number)
        if first is not None:
            problem = Problem.error(
                "import.identifier-duplicate",
                f"identifier '{identifier}' was already used at {self.where(first)}; "
                "this row is not imported",
                "Give each row its own identifier, or merge the rows.",
                field="identifier",
                location=location,
            )
            return SourceRecord(None, location, [problem], identifier=identifier)
        problems: list[Problem] = []
        data: dict[str, Any] = {"identifier": identifier}
        columns_of: dict[str, list[str]] = {"identifier": [self.id_column]}
        media: list[str] = []
        for position, column in self.columns:
            raw = cells[position].strip() if position < len(cells) else ""
            if raw:
                at = f"{location}, column '{column.column}'"
                self._cell(column, raw, at, data, media, problems)
                key = "representations" if column.target == "media_url" else column.target
                columns_of.setdefault(key, []).append(column.column)
        record = _build(data, columns_of, location, problems)
        return SourceRecord(record, location, problems, media=media, identifier=identifier)

    def _cell(
        self,
        column: ColumnMapping,
        raw: str,
        at: str,
        data: dict[str, Any],
        media: list[str],
        problems: list[Problem],
    ) -> None:
        target = column.target
        if target == "media":
            media.extend(_split(raw, column.separator or MEDIA_SEPARATOR))
        elif target == "media_url":
            representations = data.setdefault("representations", [])
            for url in _split(raw, column.separator or MEDIA_SEPARATOR):
                role = "view" if representations else "primary"
                try:
                    representations.append(Representation(url=url, role=role))
                except ValidationError as error:
                    problems.append(_invalid(target, column.column, _message(error), at))
        elif target == "edm_type":
            if raw.upper() in EDM_TYPES:
                data["edm_type"] = raw.upper()
            else:
                problems.append(
                    Problem.error(
                        "import.edm-type",
                        f"'{raw}' in column '{column.column}' is not an EDM type",
                        f"Use one of {', '.join(EDM_TYPES)}.",
                        field="edm_type",
                        location=at,
                    )
                )
        elif target in ("rights", "is_shown_at", "preview"):
            if target in data:
                problems.append(
                    Problem.warning(
                        "import.single-value",
                        f"a second value for {target} in column '{column.column}' is ignored",
                        field=target,
                        location=at,
                    )
                )
            else:
                data[target] = raw
        else:
            values = data.setdefault(target, [])
            for part in _split(raw, column.separator):
                values.append(_value(part, column, at, problems))


# a value of a field; a bad language keeps the text without it and reports the tag
def _value(part: str, column: ColumnMapping, at: str, problems: list[Problem]) -> Value:
    lang = column.lang
    if column.links and not URI_PATTERN.match(part):
        problems.append(
            Problem.warning(
                "import.not-a-link",
                f"'{part[:80]}' in column '{column.column}' is not a URI; kept as text",
                "Put URIs (http://..., https://...) in link columns, or map it as text.",
                field=column.target,
                location=at,
            )
        )
    try:
        if column.links and URI_PATTERN.match(part):
            return Value.link(part, lang=lang)
        return Value.text(part, lang)
    except ValidationError as error:
        problems.append(_invalid(column.target, column.column, _message(error), at))
    # the language is the likely culprit (texts are only limited in length)
    try:
        return Value.text(part)
    except ValidationError:
        return Value.text(part[:1000])


def _invalid(target: str, column: str, message: str, at: str) -> Problem:
    return Problem.error(
        "import.invalid-value",
        f"column '{column}': {message}",
        "Correct the value in the file or the column's settings in the mapping.",
        field=target if target in FIELDS_BY_NAME or target in SPECIAL_TARGETS else None,
        location=at,
    )


def _build(
    data: dict[str, Any],
    columns_of: dict[str, list[str]],
    location: str,
    problems: list[Problem],
) -> Record | None:
    """The record; fields pydantic refuses are dropped with a problem naming their column."""
    for _attempt in range(3):
        try:
            return Record(**data)
        except ValidationError as error:
            for item in error.errors():
                name = str(item["loc"][0]) if item["loc"] else ""
                columns = ", ".join(f"'{c}'" for c in columns_of.get(name, [])) or "?"
                message = str(item["msg"]).removeprefix("Value error, ")
                problems.append(
                    Problem.error(
                        "import.invalid-value",
                        f"column {columns}: {message}",
                        "Correct the value in the file.",
                        field=name or None,
                        location=location,
                    )
                )
                if name == "identifier" or name not in data:
                    return None
                data.pop(name)
    return None


# -- CSV --------------------------------------------------------------------------------------


class _Lines:
    """The physical lines of a CSV file, decoded. Lines that are not valid UTF-8 are
    decoded with replacement characters (so the csv parser stays in step) and noted in
    ``bad`` with what is wrong, for the row that holds them to be rejected."""

    def __init__(self, handle: IO[bytes]):
        self.handle = handle
        head = handle.read(4)
        self.encoding = "utf-8"
        skip = 0
        if head.startswith(codecs.BOM_UTF8):
            self.encoding, skip = "utf-8-sig", 3
        elif head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            self.encoding = "utf-16"
        handle.seek(skip)
        self.number = 0
        self.bad: dict[int, str] = {}
        self._saw_utf8 = False  # a non-ASCII line decoded as UTF-8: bad lines mean a mix

    def __iter__(self) -> Iterator[str]:
        if self.encoding == "utf-16":
            text = io.TextIOWrapper(self.handle, encoding="utf-16", newline="")
            for line in text:
                self.number += 1
                yield line
            return
        for raw in self.handle:
            self.number += 1
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                self.bad[self.number] = self._describe(raw, error)
                line = raw.decode("utf-8", errors="replace")
            else:
                if not self._saw_utf8 and not raw.isascii():
                    self._saw_utf8 = True
            yield line

    def _describe(self, raw: bytes, error: UnicodeDecodeError) -> str:
        column = len(raw[: error.start].decode("utf-8", errors="replace")) + 1
        byte = raw[error.start]
        text = f"line {self.number} is not valid UTF-8 (byte 0x{byte:02X} at column {column})"
        if self._saw_utf8:
            text += "; earlier lines are UTF-8, so the file mixes encodings"
        try:
            raw.decode("cp1252")
            text += "; it looks like Windows-1252 / Latin-1"
        except UnicodeDecodeError:
            pass
        return text

    def take_bad(self, start: int, end: int) -> list[tuple[int, str]]:
        found = [(n, text) for n, text in self.bad.items() if start <= n <= end]
        for n in [n for n in self.bad if n <= end]:
            del self.bad[n]
        return found


def _sniff_delimiter(header_line: str) -> str:
    counts = {delimiter: header_line.count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _unique_headers(raw: Iterable[str]) -> list[str]:
    headers: list[str] = []
    for position, header in enumerate(raw, start=1):
        name = unicodedata.normalize("NFC", header).strip() or f"column {position}"
        candidate, n = name, 1
        while candidate in headers:
            n += 1
            candidate = f"{name} #{n}"
        headers.append(candidate)
    return headers


def _saved_mapping(path: Path) -> Mapping | None:
    saved = path.with_name(path.stem + ".mapping.json")
    if not saved.is_file():
        return None
    try:
        return Mapping.load(saved)
    except (ValidationError, ValueError) as error:
        raise SourceError(f"the saved mapping {saved.name} is not valid: {error}") from None


@dataclass
class _CsvRows:
    """A CSV file as (start line, cells) rows after the header, with the bad lines."""

    headers: list[str]
    rows: Iterator[tuple[int, list[str], list[tuple[int, str]]]]
    delimiter: str
    encoding: str


def _open_csv(handle: IO[bytes], source: str, delimiter: str | None) -> _CsvRows:
    lines = _Lines(handle)
    iterator = iter(lines)
    try:
        first = next(iterator)
    except StopIteration:
        raise SourceError("the file is empty", source=source) from None
    except UnicodeDecodeError as error:
        raise SourceError(
            f"not valid UTF-16: {error.reason}; {ENCODING_HINT}", source=source, line=1
        ) from None
    if lines.bad:
        raise SourceError(f"{lines.bad[1]}. {ENCODING_HINT}", source=source, line=1)
    delimiter = delimiter or _sniff_delimiter(first)
    reader = csv.reader(itertools.chain([first], iterator), delimiter=delimiter)
    try:
        header = next(reader)
    except csv.Error as error:
        raise SourceError(f"the header is not valid CSV: {error}", source=source, line=1) from None
    headers = _unique_headers(header)

    def rows() -> Iterator[tuple[int, list[str], list[tuple[int, str]]]]:
        end = reader.line_num
        while True:
            start = end + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise SourceError(f"not valid CSV: {error}", source=source, line=start) from None
            except UnicodeDecodeError as error:
                raise SourceError(
                    f"not valid UTF-16: {error.reason}. {ENCODING_HINT}",
                    source=source,
                    line=lines.number + 1,
                ) from None
            end = reader.line_num
            yield start, cells, lines.take_bad(start, end)

    return _CsvRows(headers, rows(), delimiter, lines.encoding)


def read_csv(path: Path, mapping: Mapping | None = None) -> Iterator[SourceRecord]:
    """The records of a CSV file, one per row, at "line N" (the row's first line)."""
    path = Path(path)
    source = path.name
    mapping = mapping or _saved_mapping(path)
    with path.open("rb") as handle:
        table = _open_csv(handle, source, mapping.delimiter if mapping else None)
        buffered: list[tuple[int, list[str], list[tuple[int, str]]]] = []
        if mapping is None:
            # the first rows help the suggestion (EDM type or dc:type, links, separators)
            buffered = list(itertools.islice(table.rows, 10))
            mapping = suggest_mapping(table.headers, [cells for _, cells, _ in buffered])
        mapper = _RowMapper(mapping, table.headers, source, lambda n: f"line {n}")
        rejected = 0
        for start, cells, bad in itertools.chain(buffered, table.rows):
            if not any(cell.strip() for cell in cells) and not bad:
                continue
            if bad:
                rejected += 1
                yield _encoding_row(start, bad, cells, mapper)
                if rejected >= MAX_ENCODING_ERRORS:
                    raise SourceError(
                        f"stopped after {rejected} rows that are not valid UTF-8. {ENCODING_HINT}",
                        source=source,
                        line=start,
                    )
                continue
            item = mapper.map(cells, start)
            if len(cells) != len(table.headers):
                item.problems.append(
                    Problem.warning(
                        "import.cell-count",
                        f"the row has {len(cells)} cells, the header {len(table.headers)}",
                        "Check for a missing or extra delimiter or quote in this row.",
                        location=item.location,
                    )
                )
            yield item


def _encoding_row(
    start: int, bad: list[tuple[int, str]], cells: list[str], mapper: _RowMapper
) -> SourceRecord:
    identifier = cells[mapper.id_index].strip() if mapper.id_index < len(cells) else ""
    problems = [
        Problem.error("import.encoding", text, ENCODING_HINT, location=f"line {n}")
        for n, text in bad
    ]
    return SourceRecord(
        None,
        f"line {start}",
        problems,
        identifier=identifier if "\ufffd" not in identifier else None,
    )


# -- XLSX -------------------------------------------------------------------------------------


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


@dataclass
class _Sheet:
    title: str
    headers: list[str]
    rows: Iterator[tuple[int, list[str]]]
    close: Callable[[], None] = field(repr=False)


def _open_xlsx(path: Path, sheet: str | None) -> _Sheet:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise SourceError(f"not a readable XLSX workbook: {error}", source=path.name) from None
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise SourceError(
                f"the workbook has no sheet '{sheet}'; it has "
                + ", ".join(f"'{name}'" for name in workbook.sheetnames),
                source=path.name,
            )
        worksheet = workbook[sheet] if sheet else workbook.worksheets[0]
        values = worksheet.iter_rows(values_only=True)
        header = next(values, None)
        if header is None:
            raise SourceError(f"sheet '{worksheet.title}' is empty", source=path.name)
    except BaseException:
        workbook.close()
        raise

    def rows() -> Iterator[tuple[int, list[str]]]:
        # read-only worksheets yield empty tuples for missing rows, so counting is exact
        for number, row in enumerate(values, start=2):
            yield number, [_cell_text(value) for value in row]

    headers = _unique_headers(_cell_text(value) for value in header)
    return _Sheet(worksheet.title, headers, rows(), workbook.close)


def read_xlsx(path: Path, mapping: Mapping | None = None) -> Iterator[SourceRecord]:
    """The records of a workbook's sheet, one per row, at "sheet S, row N"."""
    path = Path(path)
    mapping = mapping or _saved_mapping(path)
    sheet = _open_xlsx(path, mapping.sheet if mapping else None)
    try:
        buffered: list[tuple[int, list[str]]] = []
        if mapping is None:
            buffered = list(itertools.islice(sheet.rows, 10))
            mapping = suggest_mapping(sheet.headers, [cells for _, cells in buffered])
        title = sheet.title
        mapper = _RowMapper(mapping, sheet.headers, path.name, lambda n: f"sheet {title}, row {n}")
        for number, cells in itertools.chain(buffered, sheet.rows):
            if any(cell.strip() for cell in cells):
                yield mapper.map(cells, number)
    finally:
        sheet.close()


# -- preview ----------------------------------------------------------------------------------


@dataclass
class Preview:
    headers: list[str]
    rows: list[list[str]]
    mapping: Mapping
    format: str  # "csv" or "xlsx"
    delimiter: str | None = None
    encoding: str | None = None
    sheet: str | None = None


def preview(path: Path, rows: int = 10) -> Preview:
    """The headers, the first ``rows`` rows and a suggested mapping, for the mapping form."""
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        sheet = _open_xlsx(path, None)
        try:
            first = [cells for _, cells in itertools.islice(sheet.rows, rows)]
        finally:
            sheet.close()
        mapping = suggest_mapping(sheet.headers, first)
        return Preview(sheet.headers, first, mapping, "xlsx", sheet=sheet.title)
    with path.open("rb") as handle:
        table = _open_csv(handle, path.name, None)
        first = [cells for _, cells, _ in itertools.islice(table.rows, rows)]
    mapping = suggest_mapping(table.headers, first)
    mapping.delimiter = table.delimiter
    return Preview(
        table.headers, first, mapping, "csv", delimiter=table.delimiter, encoding=table.encoding
    )


register("csv")(read_csv)
register("xlsx")(read_xlsx)
