"""Simple Dublin Core (``oai_dc:dc``), the format every OAI-PMH endpoint serves.

The fifteen DCMES elements map onto the record's fields; what simple DC cannot
say directly is inferred cautiously: an http(s) identifier or relation becomes
the landing page (an image URL the preview), a rights value that is a Creative
Commons or RightsStatements.org URI becomes the record's rights, and a type
that is an EDM or DCMI type becomes the EDM type.

Also the helpers the other XML importers share: languages, OAI-PMH headers and
element locations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from pydantic import ValidationError

from heritage.records.importers import xmlsafe
from heritage.records.importers.base import SourceError, SourceRecord, register
from heritage.records.model import LANGUAGE_TAG, Record, Value
from heritage.records.problems import Problem

OAI = "http://www.openarchives.org/OAI/2.0/"
OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC = "http://purl.org/dc/elements/1.1/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# DC element -> record field (dc:format is EDM's technique field, the same property)
_DC_FIELDS = {
    "title": "title",
    "creator": "creator",
    "subject": "subject",
    "description": "description",
    "publisher": "publisher",
    "contributor": "contributor",
    "date": "date",
    "type": "type",
    "format": "technique",
    "identifier": "identifiers",
    "source": "source",
    "language": "language",
    "relation": "relation",
    "rights": "rights_statement",
}
# DCMI Type vocabulary (and EDM's own types) -> edm:type
_TYPE_HINTS = {
    "text": "TEXT",
    "image": "IMAGE",
    "stillimage": "IMAGE",
    "movingimage": "VIDEO",
    "video": "VIDEO",
    "sound": "SOUND",
    "3d": "3D",
}
_DCMITYPE = "http://purl.org/dc/dcmitype/"
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)
_RIGHTS_URI = re.compile(
    r"^https?://(creativecommons\.org/(licenses|publicdomain)/|rightsstatements\.org/(vocab|page)/)",
    re.IGNORECASE,
)
_IMAGE_URL = re.compile(r"\.(jpe?g|png|gif|tiff?|jp2|webp)$", re.IGNORECASE)


# -- shared helpers -------------------------------------------------------------------------------


def qname(element: etree._Element) -> str:
    """``prefix:local`` as the document writes it, for messages."""
    tag = etree.QName(element)
    return f"{element.prefix}:{tag.localname}" if element.prefix else tag.localname


def where(element: etree._Element) -> str:
    """A location for problems: the line and a short XPath-like path."""
    parts = []
    node: etree._Element | None = element
    while node is not None and len(parts) < 3:
        parts.append(qname(node))
        node = node.getparent()
    path = "/".join(reversed(parts))
    line = element.sourceline
    return f"line {line}, {path}" if line else path


def lang_of(element: etree._Element, problems: list[Problem]) -> str | None:
    """The element's xml:lang if it is a language tag; a malformed one is reported and dropped."""
    raw = element.get(XML_LANG)
    if raw is None or not raw.strip():
        return None
    if not LANGUAGE_TAG.match(raw.strip()):
        problems.append(
            Problem.warning(
                "import.bad-language",
                f"xml:lang '{raw}' is not a language tag; the value was kept without a language",
                "Use a BCP 47 tag such as en, de or fr.",
                location=where(element),
            )
        )
        return None
    return raw.strip()


def url_of(text: str) -> str | None:
    """The text as an http(s) URL when it is one (whitespace inside dropped: wrapped lines)."""
    candidate = "".join(text.split())
    return candidate if candidate and _URL.match(candidate) else None


def rights_uri(text: str) -> str | None:
    """A Creative Commons or RightsStatements.org URI in the form Europeana accepts
    (``http://``, the ``vocab`` path, a trailing slash), or None."""
    candidate = url_of(text)
    if not candidate or not _RIGHTS_URI.match(candidate):
        return None
    candidate = "http://" + candidate.split("://", 1)[1]
    candidate = candidate.replace("rightsstatements.org/page/", "rightsstatements.org/vocab/")
    candidate = candidate.split("?", 1)[0].split("#", 1)[0]
    return candidate if candidate.endswith("/") else candidate + "/"


def edm_type_hint(value: str) -> str | None:
    key = value.strip()
    if key.lower().startswith(_DCMITYPE):
        key = key[len(_DCMITYPE) :]
    return _TYPE_HINTS.get("".join(key.split()).lower())


@dataclass
class OaiHeader:
    identifier: str | None = None
    datestamp: str | None = None
    deleted: bool = False
    sets: list[str] = field(default_factory=list)


def read_header(header: etree._Element) -> OaiHeader:
    return OaiHeader(
        identifier=xmlsafe.text_of(header.find(f"{{{OAI}}}identifier")) or None,
        datestamp=xmlsafe.text_of(header.find(f"{{{OAI}}}datestamp")) or None,
        deleted=header.get("status") == "deleted",
        sets=[xmlsafe.text_of(item) for item in header.iterfind(f"{{{OAI}}}setSpec")],
    )


def enclosing_header(element: etree._Element) -> OaiHeader | None:
    """The OAI-PMH header of the ``record`` a metadata element sits in, if it sits in one."""
    node = element.getparent()
    while node is not None and node.tag != f"{{{OAI}}}record":
        node = node.getparent()
    if node is None:
        return None
    header = node.find(f"{{{OAI}}}header")
    return read_header(header) if header is not None else None


def make_value(
    element: etree._Element,
    problems: list[Problem],
    *,
    text: str = "",
    ref: str | None = None,
    lang: str | None = None,
) -> Value | None:
    """A value, or None with a warning when the model refuses it (too long, say)."""
    try:
        return Value(value=text, ref=ref, lang=lang)
    except ValidationError as error:
        problems.append(
            Problem.warning(
                "import.value-refused",
                f"a value of {qname(element)} was not kept: {error.errors()[0]['msg']}",
                "Shorten or correct the value in the source.",
                location=where(element),
            )
        )
        return None


def build_record(fields: dict[str, Any], problems: list[Problem], location: str) -> Record | None:
    """The record, or None with an error that says which value the model refused."""
    try:
        return Record(**fields)
    except ValidationError as error:
        for item in error.errors():
            name = ".".join(str(part) for part in item["loc"])
            problems.append(
                Problem.error(
                    "import.invalid-value",
                    f"the value of {name} cannot be used: {item['msg']}",
                    "Correct the value in the source and import again.",
                    field=str(item["loc"][0]) if item["loc"] else None,
                    location=location,
                )
            )
        return None


# -- oai_dc ---------------------------------------------------------------------------------------


def map_dc(
    element: etree._Element, location: str, *, identifier: str | None = None
) -> SourceRecord:
    """Map one ``oai_dc:dc`` element. ``identifier`` (the OAI identifier when harvested)
    names the record; without it the first dc:identifier does."""
    problems: list[Problem] = []
    values: dict[str, list[Value]] = {}
    other: dict[str, list[Value]] = {}
    landing: list[str] = []  # identifier URLs first, then relation URLs
    relation_urls: list[str] = []
    edm_types: list[str] = []
    rights: str | None = None
    preview: str | None = None
    ignored: set[str] = set()
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child)
        if name.namespace != DC:
            ignored.add(qname(child))
            continue
        text = xmlsafe.text_of(child)
        if not text:
            continue
        value = make_value(child, problems, text=text, lang=lang_of(child, problems))
        if value is None:
            continue
        local = name.localname
        if local == "rights" and rights is None and (uri := rights_uri(text)):
            rights = uri
            continue
        if local in ("identifier", "relation") and (url := url_of(text)):
            if _IMAGE_URL.search(url.split("?", 1)[0]):
                preview = preview or url
            else:
                (landing if local == "identifier" else relation_urls).append(url)
        if local == "type" and (hint := edm_type_hint(text)):
            edm_types.append(hint)
        target = _DC_FIELDS.get(local)
        if target:
            values.setdefault(target, []).append(value)
        else:  # coverage, and anything unexpected in the DC namespace
            other.setdefault(f"dc:{local}", []).append(value)
    if ignored:
        problems.append(
            Problem.warning(
                "dc.not-simple-dc",
                f"elements outside Dublin Core were not kept: {', '.join(sorted(ignored))}",
                "oai_dc carries only the 15 Dublin Core elements; harvest a richer format "
                "(edm, lido) for more.",
                location=where(element),
            )
        )
    if len(set(edm_types)) > 1:
        problems.append(
            Problem.warning(
                "dc.edm-type-ambiguous",
                f"dc:type suggests several EDM types ({', '.join(dict.fromkeys(edm_types))}); "
                f"{edm_types[0]} was taken",
                "Check the EDM type of the record.",
                field="edm_type",
                location=where(element),
            )
        )
    record_id = identifier or next((v.value for v in values.get("identifiers", [])), None)
    if not record_id:
        problems.append(
            Problem.error(
                "dc.no-identifier",
                "the record has no dc:identifier, so it cannot be told apart from others",
                "Add a dc:identifier (an inventory number or a persistent URL).",
                location=where(element),
            )
        )
        return SourceRecord(None, location, problems)
    record = build_record(
        {
            "identifier": record_id,
            **values,
            "other": other,
            "edm_type": edm_types[0] if edm_types else None,
            "rights": rights,
            "is_shown_at": (landing + relation_urls or [None])[0],
            "preview": preview,
        },
        problems,
        where(element),
    )
    return SourceRecord(record, location, problems, identifier=record_id)


@register("dc")
def read_dc(path: Path) -> Iterator[SourceRecord]:
    """Every ``oai_dc:dc`` in a file: bare, in OAI-PMH ``record`` elements or a whole response."""
    count = 0
    for element in xmlsafe.iterate(path, f"{{{OAI_DC}}}dc"):
        count += 1
        header = enclosing_header(element)
        location = f"{path.name}, record {count} (line {element.sourceline})"
        result = map_dc(element, location, identifier=header.identifier if header else None)
        if header:
            result.datestamp = header.datestamp
        yield result
    if not count:
        raise SourceError("no oai_dc:dc record found in the file", source=str(path))
