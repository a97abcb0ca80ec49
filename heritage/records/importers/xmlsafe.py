"""Reading untrusted XML safely and as a stream.

No DTD is loaded, no entity is resolved, nothing is fetched from the network,
and documents that declare entities at all are refused with a clear message
(rather than parsed with the entities silently dropped): external entities and
entity expansion ("billion laughs") never reach the parser's expander. Large
sources are read element by element, each finished element cleared so memory
stays flat whatever the file size.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from lxml import etree

from heritage.records.importers.base import SourceError

# How far into a file a DOCTYPE with entity declarations is looked for: a DOCTYPE
# must come before the root element, so it is near the start of any real document.
_PROLOGUE_BYTES = 256 * 1024
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)


def parser() -> etree.XMLParser:
    """A parser for small, whole documents (one harvested record, one manifest page)."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def check_prologue(head: bytes, source: str) -> None:
    """Refuse documents that declare entities (XXE, entity expansion)."""
    doctype = _DOCTYPE.search(head)
    if doctype and _ENTITY_DECLARATION.search(head, doctype.start()):
        line = head.count(b"\n", 0, doctype.start()) + 1
        raise SourceError(
            "the document declares XML entities in its DOCTYPE; entity declarations are "
            "refused for safety (external entities, entity expansion). Remove the DOCTYPE.",
            source=source,
            line=line,
        )


def parse_bytes(data: bytes, source: str) -> etree._Element:
    """Parse a small document held in memory; errors name the source and line."""
    check_prologue(data[:_PROLOGUE_BYTES], source)
    try:
        return etree.fromstring(data, parser())
    except etree.XMLSyntaxError as error:
        raise SourceError(
            f"not well-formed XML: {error.msg}", source=source, line=error.lineno
        ) from None


def iterate(
    path: Path | IO[bytes], tags: str | tuple[str, ...], *, source: str | None = None
) -> Iterator[etree._Element]:
    """Yield each element with one of ``tags`` (Clark notation, ``{ns}local``) once it
    has been read completely, then free it and everything before it.

    A syntax error raises :class:`SourceError` with its line after the elements
    read so far have been yielded, so callers can keep what came before it.
    """
    name = source or (str(path) if isinstance(path, Path) else getattr(path, "name", "input"))
    if isinstance(path, Path):
        with path.open("rb") as head_file:
            check_prologue(head_file.read(_PROLOGUE_BYTES), name)
    else:
        start = path.tell()
        check_prologue(path.read(_PROLOGUE_BYTES), name)
        path.seek(start)
    events = etree.iterparse(
        str(path) if isinstance(path, Path) else path,
        events=("end",),
        tag=tags,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
    )
    try:
        for _event, element in events:
            yield element
            # free the element and the siblings before it: memory stays flat
            element.clear(keep_tail=False)
            parent = element.getparent()
            if parent is not None:
                while element.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as error:
        raise SourceError(
            f"not well-formed XML: {error.msg}", source=name, line=error.lineno
        ) from None


def text_of(element: etree._Element | None) -> str:
    """All text inside an element, whitespace collapsed."""
    if element is None:
        return ""
    return " ".join("".join(element.itertext()).split())


def line_of(element: etree._Element) -> int | None:
    return element.sourceline
