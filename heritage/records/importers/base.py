"""What every importer yields, and the registry of importers by format.

An importer reads a source (a file, or pages from an OAI-PMH endpoint) as a
stream and yields one :class:`SourceRecord` per record found, in source order,
without holding the whole source in memory. Records it cannot map are yielded
too, with ``record=None`` and the problems that explain why, so a report can
list them; a source that cannot be read at all raises :class:`SourceError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from heritage.records.model import Record
from heritage.records.problems import Problem


class SourceError(Exception):
    """The source as a whole cannot be read: says which file, where, and why."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None):
        where = ""
        if source:
            where = source + (f", line {line}" if line else "") + ": "
        super().__init__(where + message)
        self.source = source
        self.line = line


@dataclass
class SourceRecord:
    # the mapped record; None when the source record could not be mapped at all
    record: Record | None
    # where in the source: "line 12", "record 3 (line 240)", an XPath, an OAI identifier
    location: str
    problems: list[Problem] = field(default_factory=list)
    # files named by the record, relative to the source's folder (to attach as media)
    media: list[str] = field(default_factory=list)
    # the record's identifier even when it could not be mapped (for reports)
    identifier: str | None = None
    # OAI-PMH: the record was deleted at the source
    deleted: bool = False
    # OAI-PMH: the header's identifier, which a later deletion names the record by
    source_id: str | None = None
    # OAI-PMH: the header's datestamp
    datestamp: str | None = None


Reader = Callable[[Path], Iterator[SourceRecord]]
READERS: dict[str, Reader] = {}


def register(name: str) -> Callable[[Reader], Reader]:
    def decorate(reader: Reader) -> Reader:
        READERS[name] = reader
        return reader

    return decorate
