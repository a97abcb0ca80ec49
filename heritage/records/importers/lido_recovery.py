"""Reading the records of a LIDO file that is not well-formed, each on its own.

The file is split at ``lido:lido`` element boundaries at the byte level, block by
block (memory stays bounded by the largest record), and each piece is parsed
alone inside a wrapper that declares the root's namespaces, so one broken record
costs only itself. :mod:`.lido` maps what parses and reports what does not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from lxml import etree

from heritage.records.importers import xmlsafe

_BLOCK = 1 << 20
# one record larger than this is not split out (a runaway element)
_MAX_RECORD_BYTES = 64 << 20
_REC_ID = re.compile(rb"<(?:\w+:)?lidoRecID[^>]*>\s*([^<]{1,500}?)\s*</", re.IGNORECASE)


@dataclass(frozen=True)
class RecoveredPiece:
    """One record found by its tags: its element, or why it does not parse."""

    index: int  # 1 for the file's first record
    line: int  # where it starts in the file
    element: etree._Element | None = None  # line numbers are the file's
    error: str | None = None
    error_line: int = 0
    identifier: str | None = None  # the lidoRecID found in the bytes of a broken one


def recover_records(
    path: Path, tag: str, prefix: str | None, nsmap: dict[str | None, str], done: int
) -> Iterator[RecoveredPiece]:
    """Each record (elements ``tag``, written with ``prefix``) after the first ``done``."""
    declarations = " ".join(
        (f'xmlns:{key}="{value}"' if key else f'xmlns="{value}"') for key, value in nsmap.items()
    )
    # the wrapper is one line, so a line inside the chunk maps straight onto the file
    opening = f"<recovery {declarations}>".encode()
    with path.open("rb") as handle:
        for index, (line, chunk) in enumerate(_split(handle, prefix), start=1):
            if index <= done:
                continue
            try:
                wrapper = etree.fromstring(opening + chunk + b"</recovery>", xmlsafe.parser())
            except etree.XMLSyntaxError as error:
                found = _REC_ID.search(chunk)
                yield RecoveredPiece(
                    index,
                    line,
                    error=error.msg,
                    error_line=line + (error.lineno or 1) - 1,
                    identifier=found.group(1).decode("utf-8", "replace") if found else None,
                )
                continue
            element = wrapper[0] if len(wrapper) else None
            if element is None or element.tag != tag:
                continue
            _shift_lines(element, line - 1)
            yield RecoveredPiece(index, line, element=element)


def _split(handle: IO[bytes], prefix: str | None) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line, bytes)`` for each ``lido:lido`` element found by its tags alone,
    reading block by block so memory stays bounded by the largest record."""
    tag = re.escape(f"{prefix}:lido" if prefix else "lido").encode()
    start_tag = re.compile(rb"<" + tag + rb"(?=[\s/>])")
    end_tag = re.compile(rb"</" + tag + rb"\s*>")
    buffer = b""
    line = 1  # the line at buffer[0]
    inside = False
    while True:
        block = handle.read(_BLOCK)
        buffer += block
        while True:
            if not inside:
                match = start_tag.search(buffer)
                if not match:
                    # keep a tail that might hold the start of a split tag
                    keep = max(0, len(buffer) - 64)
                    line += buffer.count(b"\n", 0, keep)
                    buffer = buffer[keep:]
                    break
                line += buffer.count(b"\n", 0, match.start())
                buffer = buffer[match.start() :]
                inside = True
            match = end_tag.search(buffer)
            if not match:
                if len(buffer) > _MAX_RECORD_BYTES:
                    return
                break
            yield line, buffer[: match.end()]
            line += buffer.count(b"\n", 0, match.end())
            buffer = buffer[match.end() :]
            inside = False
        if not block:
            if inside and buffer.strip():
                yield line, buffer  # a record cut short at the end of the file
            return


def _shift_lines(element: etree._Element, offset: int) -> None:
    if offset <= 0:
        return
    for node in element.iter():
        if node.sourceline is not None:
            node.sourceline = node.sourceline + offset
