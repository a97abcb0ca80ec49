"""Exporting a selection of records: a spreadsheet (CSV) or one JSON-LD graph.

Both stream: the records are read in pages (keyset by id, :data:`PAGE_SIZE` at a
time, each page its own short read) and written out page by page, so memory stays
flat whatever the selection's size. Deleted records are never exported.

**CSV** has one row per record and columns the spreadsheet importer
(:mod:`heritage.records.importers.tabular`) maps back by its suggested mapping:
``identifier``; each field of :data:`~heritage.records.fields.FIELDS` under its name (or
its EDM property where the name alone would suggest another field, such as
``dc:identifier``), with one column per language that occurs (``title@de``, in the order
first met) and one without a suffix for values without a language; then ``edm_type``,
``rights``, ``is_shown_at``, ``preview``, ``media`` (names of stored files) and
``media_url`` (external representations, the primary one first). Several values in a
cell are joined by ``" | "``; a linked value is written as its URI. A cell that a
spreadsheet program would run as a formula (``=``, ``+``, ``-``, ``@`` first) starts
with an apostrophe (:mod:`heritage.records.spreadsheet_cells`). Working out the
columns takes a first pass over the selection (languages only), the rows a second.

Re-importing the CSV with the suggested mapping gives the same records for simple
ones: one value per text field and language (the suggestion splits cells at ``|``
only for linked fields and codes; :func:`reimport_mapping` splits every field), links
without labels. Entity descriptions, labels of links, representation details and
properties without a field are not in the CSV: the JSON-LD export has everything.

**JSON-LD** is one document ``{"@context": PREFIXES, "@graph": [...]}`` whose graph
holds each record's stored JSON-LD (:func:`heritage.records.jsonld.to_jsonld`)
without its own ``@context``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
from sqlalchemy import select

from heritage.accounts.identity import Identity
from heritage.errors import NotFound
from heritage.policy import require
from heritage.records import jsonld
from heritage.records.fields import FIELDS, FIELDS_BY_NAME, PREFIXES, FieldSpec
from heritage.records.importers.column_mapping import (
    MEDIA_SEPARATOR,
    Mapping,
    suggest_mapping,
    target_for_header,
)
from heritage.records.model import Record
from heritage.records.selection import PAGE_SIZE, SelectedRow, Selection, iter_selected
from heritage.records.services import MEDIA_FOLDER
from heritage.records.spreadsheet_cells import escape_formula
from heritage.runtime import Runtime
from heritage.workspaces.models import Workspace
from heritage.workspaces.services import workspace_target

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
JSONLD_MEDIA_TYPE = "application/ld+json"
SEPARATOR = " | "
SINGLE_COLUMNS = ("edm_type", "rights", "is_shown_at", "preview", "media", "media_url")


def field_header(spec: FieldSpec) -> str:
    """The column name of a field: its name if the importer maps that back to it, else
    its EDM property (``alternative`` would not be recognised, ``dcterms:alternative`` is)."""
    return spec.name if target_for_header(spec.name) == spec.name else spec.property


def _header(spec: FieldSpec, lang: str | None) -> str:
    base = field_header(spec)
    return f"{base}@{lang}" if lang else base


def _cell_value(item: dict[str, Any]) -> str:
    return str(item.get("ref") or item.get("value") or "")


def _column_languages(
    runtime: Runtime, workspace_id: int, selection: Selection, page: int
) -> dict[str, dict[str | None, None]]:
    """Field name -> the languages its values have in the selection (None: no language),
    in the order they are first met."""
    found: dict[str, dict[str | None, None]] = {spec.name: {} for spec in FIELDS}
    for rows in iter_selected(runtime, workspace_id, selection, page):
        for row in rows:
            for spec in FIELDS:
                for item in row.data.get(spec.name) or ():
                    found[spec.name].setdefault(item.get("lang"))
    return found


def _columns(
    languages: dict[str, dict[str | None, None]],
) -> list[tuple[str, FieldSpec, str | None]]:
    columns: list[tuple[str, FieldSpec, str | None]] = []
    for spec in FIELDS:
        langs = list(languages.get(spec.name) or [None])
        ordered = ([None] if None in langs else []) + [lang for lang in langs if lang]
        columns += [(_header(spec, lang), spec, lang) for lang in ordered]
    return columns


def _row_cells(row: SelectedRow, columns: list[tuple[str, FieldSpec, str | None]]) -> list[str]:
    data = row.data
    by_column: dict[str, list[str]] = {}
    plain: dict[str, str] = {}  # field -> its first column, for a language met only now
    for header, spec, _ in columns:
        plain.setdefault(spec.name, header)
    known = {(spec.name, lang): header for header, spec, lang in columns}
    for spec in FIELDS:
        for item in data.get(spec.name) or ():
            header = known.get((spec.name, item.get("lang"))) or plain[spec.name]
            by_column.setdefault(header, []).append(_cell_value(item))
    cells = [str(data.get("identifier", row.identifier))]
    cells += [SEPARATOR.join(by_column.get(header, [])) for header, _, _ in columns]
    representations = data.get("representations") or []
    primary = [item for item in representations if item.get("role") == "primary"]
    ordered = primary + [item for item in representations if item.get("role") != "primary"]
    files = [item["file"].removeprefix(MEDIA_FOLDER) for item in ordered if item.get("file")]
    urls = [item["url"] for item in ordered if item.get("url")]
    cells += [
        str(data.get("edm_type") or ""),
        str(data.get("rights") or ""),
        str(data.get("is_shown_at") or ""),
        str(data.get("preview") or ""),
        SEPARATOR.join(files),
        SEPARATOR.join(urls),
    ]
    return [escape_formula(cell) for cell in cells]


def reimport_mapping(
    headers: Sequence[str], rows: Sequence[Sequence[str]] | None = None
) -> Mapping:
    """The suggested mapping of an exported CSV, with every field's cells split at ``|``
    (the suggestion splits linked fields and codes only)."""
    suggested = suggest_mapping(headers, rows)
    columns = [
        column.model_copy(update={"separator": MEDIA_SEPARATOR})
        if column.target in FIELDS_BY_NAME
        else column
        for column in suggested.columns
    ]
    return Mapping(columns=columns, delimiter=",")


class ExportService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def _workspace_id(self, actor: Identity, slug: str) -> int:
        """The workspace's id, once the actor may export it (checked before streaming)."""
        with self.runtime.database.session() as session:
            workspace = session.scalar(select(Workspace).where(Workspace.slug == slug))
            if workspace is None:
                raise NotFound(f"No workspace '{slug}'")
            require(actor, "records.view", workspace_target(session, actor, workspace))
            return workspace.id

    def export_csv(
        self,
        actor: Identity,
        workspace_slug: str,
        selection: Selection,
        *,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[str]:
        """The selection as CSV, in chunks of text (a header, then a chunk per page)."""
        workspace_id = self._workspace_id(actor, workspace_slug)
        return self._csv(workspace_id, selection, page_size)

    def _csv(self, workspace_id: int, selection: Selection, page_size: int) -> Iterator[str]:
        languages = _column_languages(self.runtime, workspace_id, selection, page_size)
        columns = _columns(languages)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(["identifier", *(header for header, _, _ in columns), *SINGLE_COLUMNS])
        yield buffer.getvalue()
        for rows in iter_selected(self.runtime, workspace_id, selection, page_size):
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(_row_cells(row, columns) for row in rows)
            yield buffer.getvalue()

    def export_jsonld(
        self,
        actor: Identity,
        workspace_slug: str,
        selection: Selection,
        *,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[str]:
        """The selection as one JSON-LD document, in chunks of text."""
        workspace_id = self._workspace_id(actor, workspace_slug)
        return self._jsonld(workspace_id, selection, page_size)

    def _jsonld(self, workspace_id: int, selection: Selection, page_size: int) -> Iterator[str]:
        context = orjson.dumps(PREFIXES, option=orjson.OPT_INDENT_2).decode()
        yield '{\n"@context": ' + context + ',\n"@graph": ['
        first = True
        for rows in iter_selected(self.runtime, workspace_id, selection, page_size):
            parts: list[str] = []
            for row in rows:
                node = jsonld.to_jsonld(Record.model_validate(row.data), row.uuid)
                node.pop("@context", None)
                parts.append(("\n" if first else ",\n") + orjson.dumps(node).decode())
                first = False
            yield "".join(parts)
        yield "\n]\n}\n"


__all__ = [
    "CSV_MEDIA_TYPE",
    "JSONLD_MEDIA_TYPE",
    "SEPARATOR",
    "ExportService",
    "field_header",
    "reimport_mapping",
]
