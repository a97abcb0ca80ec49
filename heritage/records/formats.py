"""Which importer reads a source: detection from the file, and opening its reader."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree
from pydantic import ValidationError

from heritage.errors import InvalidInput
from heritage.records.importers import xmlsafe
from heritage.records.importers.base import READERS, SourceError, SourceRecord

FORMATS = ("csv", "xlsx", "lido", "edm", "dc", "iiif")
_MODULES = {
    "csv": "heritage.records.importers.tabular",
    "xlsx": "heritage.records.importers.tabular",
    "lido": "heritage.records.importers.lido",
    "edm": "heritage.records.importers.edm",
    "dc": "heritage.records.importers.dublincore",
    "iiif": "heritage.records.importers.iiif",
}
_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".json": "iiif",
    ".jsonld": "iiif",
}
_NAMESPACES = {
    "http://www.lido-schema.org": "lido",
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#": "edm",
    "http://www.openarchives.org/OAI/2.0/oai_dc/": "dc",
}
_OAI = "http://www.openarchives.org/OAI/2.0/"
_SNIFF_BYTES = 1024 * 1024


def _sniff_xml(path: Path) -> str:
    """The format of an XML file from its first elements (an OAI-PMH response is
    named by the metadata it carries)."""
    with path.open("rb") as stream:
        head = stream.read(_SNIFF_BYTES)
    xmlsafe.check_prologue(head, path.name)
    parser = etree.XMLPullParser(
        events=("start",), resolve_entities=False, no_network=True, load_dtd=False
    )
    try:
        parser.feed(head)
        for _event, element in parser.read_events():
            namespace = etree.QName(element).namespace or ""
            if namespace in _NAMESPACES:
                return _NAMESPACES[namespace]
            if namespace != _OAI and etree.QName(element).localname not in (
                "lidoWrap",
                "records",
                "collection",
            ):
                break
    except etree.XMLSyntaxError as error:
        raise SourceError(
            f"not well-formed XML: {error.msg}", source=path.name, line=error.lineno
        ) from None
    raise SourceError(
        "this XML is not a format we import (LIDO, EDM RDF/XML, Dublin Core): its first "
        "elements are not in their namespaces",
        source=path.name,
    )


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if suffix in (".xml", ".rdf", ".lido", ".edm", ""):
        return _sniff_xml(path)
    raise InvalidInput.on(
        "format",
        f"cannot tell the format of '{path.name}' from its name; choose one of "
        + ", ".join(FORMATS),
    )


def open_reader(
    format: str, path: Path, mapping: dict[str, Any] | None = None
) -> Iterator[SourceRecord]:
    if format not in _MODULES:
        raise InvalidInput.on(
            "format", f"unknown format '{format}'; use one of " + ", ".join(FORMATS)
        )
    module = importlib.import_module(_MODULES[format])
    if format in ("csv", "xlsx"):
        chosen = None
        if mapping is not None:
            try:
                chosen = module.Mapping.model_validate(mapping)
            except ValidationError as error:
                raise InvalidInput.on("mapping", str(error)) from None
        reader = module.read_csv if format == "csv" else module.read_xlsx
        return reader(path, chosen)
    return READERS[format](path)
