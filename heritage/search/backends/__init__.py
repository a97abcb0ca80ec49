"""The search engines behind one interface, and the registry that picks one.

``tantivy`` (embedded, the default: an index directory in the data directory,
for one machine) and ``postgresql`` (tables in the instance's own PostgreSQL
database, for instances with several application servers). Both index the
:class:`~heritage.search.documents.SearchDocument` made by ``documents.py`` and
answer a :class:`SearchRequest`; the same tests run against both.

A backend never decides who may see what: the request names the workspaces whose
records may be counted or returned, and a backend must not let anything outside
them reach its answer (hits, totals, facet counts, histogram, suggestions).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from heritage.search.documents import SearchDocument
from heritage.search.query import Node

if TYPE_CHECKING:
    from heritage.runtime import Runtime

Sort = Literal["relevance", "date", "-date", "title", "changed"]
SORTS: tuple[Sort, ...] = ("relevance", "date", "-date", "title", "changed")


@dataclass(frozen=True)
class SearchRequest:
    query: Node | None
    workspaces: frozenset[int]  # the only workspaces whose records may appear
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)  # facet -> any of values
    years: tuple[int | None, int | None] | None = None  # overlapping this span
    bbox: tuple[float, float, float, float] | None = None  # south, west, north, east
    changed_since: int | None = None  # ms since the epoch, inclusive (saved searches' alerts)
    sort: Sort = "relevance"
    offset: int = 0
    limit: int = 20
    facets: tuple[str, ...] = ()
    facet_size: int = 10
    histogram: bool = False  # counts per decade, for the timeline


@dataclass
class SearchHits:
    total: int
    hits: list[str]  # record uuids, in order
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    histogram: list[tuple[int, int]] = field(default_factory=list)  # (decade, records)


BulkWrite = Callable[..., None]  # (prepared, deleted=()) -> None; commits


@dataclass(frozen=True)
class Location:
    uuid: str
    lat: float
    lon: float


class SearchBackend(Protocol):
    name: str

    def write(
        self, documents: Sequence[SearchDocument], deleted: Sequence[str], *, wait: float = ...
    ) -> None:
        """Add or replace ``documents`` and remove the records ``deleted``, then commit.
        ``wait``: seconds to wait for an engine's single writer (a rebuild holds it)."""

    def write_prepared(
        self, prepared: Sequence[Any], deleted: Sequence[str], *, wait: float = ...
    ) -> None:
        """:meth:`write` for documents already passed through the backend's preparer
        (which rebuilds run in other processes)."""

    def bulk(self, *, fresh: bool = False) -> AbstractContextManager[BulkWrite]:
        """A writer for many commits in a row (a rebuild): call it with prepared
        documents (and uuids to remove); each call commits. ``fresh``: the index
        was cleared, nothing needs replacing."""

    def search(self, request: SearchRequest) -> SearchHits: ...

    def locations(self, request: SearchRequest, limit: int) -> list[Location]:
        """Where the matching records are, for the map (at most ``limit``)."""

    def suggest(self, prefix: str, workspaces: frozenset[int], limit: int) -> list[str]:
        """Titles, creators and subjects of visible records that start with ``prefix``."""

    def clear(self) -> None:
        """Remove every document (a rebuild starts here)."""

    def close(self) -> None: ...


BackendFactory = Callable[["Runtime"], SearchBackend]
# A document as the backend writes it, made by a plain function so that a rebuild
# can make them in worker processes (picklable in, picklable out).
Preparer = Callable[[SearchDocument], Any]
BACKENDS: dict[str, BackendFactory] = {}
PREPARERS: dict[str, Preparer] = {}


def register(name: str, preparer: Preparer) -> Callable[[BackendFactory], BackendFactory]:
    def add(factory: BackendFactory) -> BackendFactory:
        BACKENDS[name] = factory
        PREPARERS[name] = preparer
        return factory

    return add


def _load_backends() -> None:
    # Imported here so that each backend registers itself.
    from heritage.search.backends import postgres, tantivy_index  # noqa: F401


def preparer(name: str) -> Preparer:
    _load_backends()
    return PREPARERS[name]


def open_backend(runtime: Runtime) -> SearchBackend:
    """The backend the settings name (``HERITAGE_SEARCH_BACKEND``)."""
    _load_backends()
    name = runtime.settings.search_backend
    return BACKENDS[name](runtime)
