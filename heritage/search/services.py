"""``SearchService``: what pages, the API and saved searches call to search.

Who may see what is decided here, once, through the policy: a search names the
workspaces whose records the actor may view (``records.view``), the backend
counts and returns nothing outside them, and the records of the hits are read
back from the database with the same workspaces again before anything is shown.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from sqlalchemy import select

from heritage.accounts.identity import Identity
from heritage.errors import InvalidInput
from heritage.institutions.models import Institution
from heritage.policy.decide import Target, decide
from heritage.records.models import RecordRow
from heritage.runtime import Runtime
from heritage.search import analysis, query
from heritage.search.backends import SORTS, Location, SearchHits, SearchRequest, Sort
from heritage.search.documents import FACETS, media_kinds
from heritage.workspaces.models import Workspace
from heritage.workspaces.services import WorkspaceService

MAX_LIMIT = 100
MAX_FILTER_VALUES = 20
SNIPPET_WORDS = 30
_WORD_SPAN = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class SearchParams:
    """A search as people ask for it (page form, API query string, CLI)."""

    q: str = ""
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    year_from: int | None = None
    year_to: int | None = None
    bbox: tuple[float, float, float, float] | None = None
    changed_since: int | None = None  # only records changed since (ms since the epoch)
    sort: Sort = "relevance"
    cursor: str | None = None
    limit: int = 20
    facets: tuple[str, ...] = FACETS
    facet_size: int = 10
    histogram: bool = True  # the timeline's counts per decade

    def checked(self) -> SearchParams:
        """Raise :class:`InvalidInput` naming the parameter a client got wrong."""
        if self.sort not in SORTS:
            raise InvalidInput.on("sort", f"one of {', '.join(SORTS)}")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidInput.on("limit", f"between 1 and {MAX_LIMIT}")
        for name, values in self.filters.items():
            if name not in FACETS:
                raise InvalidInput.on(name, f"not a facet; facets are {', '.join(FACETS)}")
            if len(values) > MAX_FILTER_VALUES:
                raise InvalidInput.on(name, f"at most {MAX_FILTER_VALUES} values")
        unknown = [name for name in self.facets if name not in FACETS]
        if unknown:
            raise InvalidInput.on("facets", f"unknown facets: {', '.join(unknown)}")
        if self.bbox is not None:
            south, west, north, east = self.bbox
            if not (-90 <= south <= north <= 90 and -180 <= west <= 180 and -180 <= east <= 180):
                raise InvalidInput.on("bbox", "south,west,north,east in degrees, south <= north")
        if not 1 <= self.facet_size <= 100:
            raise InvalidInput.on("facet_size", "between 1 and 100")
        return self


@dataclass(frozen=True)
class Segment:
    text: str
    marked: bool = False


@dataclass
class SearchHit:
    uuid: str
    identifier: str
    title: str
    workspace_slug: str
    workspace_name: str
    edm_type: str | None
    status: str
    snippet: list[Segment]
    creators: list[str]
    dates: list[str]
    media: list[str]


@dataclass
class FacetValue:
    value: str
    count: int
    label: str
    selected: bool = False


@dataclass
class SearchResult:
    total: int
    hits: list[SearchHit]
    facets: dict[str, list[FacetValue]]
    histogram: list[tuple[int, int]]
    offset: int
    next_cursor: str | None
    previous_cursor: str | None


@dataclass
class SyncReport:
    indexed: int = 0
    removed: int = 0


def _encode_cursor(offset: int, sort: str) -> str:
    raw = orjson.dumps({"o": offset, "s": sort})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str | None, sort: str) -> int:
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded))
        offset = int(data["o"])
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidInput.on("cursor", "not a cursor this search returned") from error
    if data.get("s") != sort or offset < 0:
        raise InvalidInput.on("cursor", "belongs to a search in another order: start again")
    return offset


def snippet(texts: Sequence[str], words: set[str], prefixes: set[str]) -> list[Segment]:
    """A window of the first text that contains a query word, the words marked."""
    if not texts:
        return []
    stems = {stem for word in words for stem in analysis.query_stems(word)}
    # A word's stems begin with its first letters (Snowball cuts endings): words
    # that do not are not stemmed at all, which keeps long texts cheap.
    beginnings = tuple({stem[:3] for stem in stems})

    def matches(token: str) -> bool:
        folded = analysis.fold(token)
        if folded in words or any(folded.startswith(prefix) for prefix in prefixes):
            return True
        if not folded.startswith(beginnings):
            return False
        return not analysis.query_stems(folded).isdisjoint(stems)

    for source in texts:
        spans = list(_WORD_SPAN.finditer(source))
        hits = [index for index, span in enumerate(spans) if matches(span.group())]
        if not hits and source is not texts[-1]:
            continue
        first = max(0, (hits[0] if hits else 0) - 8)
        window = spans[first : first + SNIPPET_WORDS]
        if not window:
            return []
        start, end = window[0].start(), window[-1].end()
        segments: list[Segment] = []
        if first > 0:
            segments.append(Segment("… "))
        position = start
        for span in window:
            if matches(span.group()):
                if span.start() > position:
                    segments.append(Segment(source[position : span.start()]))
                segments.append(Segment(span.group(), True))
                position = span.end()
        segments.append(Segment(source[position:end]))
        if end < len(source.rstrip()):
            segments.append(Segment(" …"))
        return segments
    return []


def _values(data: dict[str, Any], name: str) -> list[str]:
    return [item["value"] for item in data.get(name, ()) if item.get("value")]


class SearchService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @property
    def backend(self) -> Any:
        return self.runtime.search

    # -- who sees what ---------------------------------------------------------------

    def visible_workspaces(self, actor: Identity) -> dict[int, Workspace]:
        """The workspaces whose records ``actor`` may view, by id."""
        visible: dict[int, Workspace] = {}
        for workspace, role in WorkspaceService(self.runtime).list_visible(actor):
            target = Target(workspace_role=role, workspace_public=workspace.is_public)
            if decide(actor, "records.view", target).allowed:
                visible[workspace.id] = workspace
        return visible

    # -- searching -------------------------------------------------------------------

    @staticmethod
    def _request(
        params: SearchParams,
        workspaces: dict[int, Workspace],
        parsed: query.Node | None,
        offset: int = 0,
    ) -> SearchRequest:
        return SearchRequest(
            query=parsed,
            workspaces=frozenset(workspaces),
            filters={name: values for name, values in params.filters.items() if values},
            years=(params.year_from, params.year_to)
            if params.year_from is not None or params.year_to is not None
            else None,
            bbox=params.bbox,
            changed_since=params.changed_since,
            sort=params.sort if parsed is not None or params.sort != "relevance" else "changed",
            offset=offset,
            limit=params.limit,
            facets=params.facets,
            facet_size=params.facet_size,
            histogram=params.histogram,
        )

    def search(self, actor: Identity, params: SearchParams) -> SearchResult:
        params = params.checked()
        workspaces = self.visible_workspaces(actor)
        offset = _decode_cursor(params.cursor, params.sort)
        parsed = query.parse(params.q)
        found: SearchHits = self.backend.search(self._request(params, workspaces, parsed, offset))
        hits = self._hits(found.hits, workspaces, parsed)
        end = offset + len(found.hits)
        return SearchResult(
            total=found.total,
            hits=hits,
            facets=self._facets(found.facets, params.filters, workspaces),
            histogram=found.histogram,
            offset=offset,
            next_cursor=_encode_cursor(end, params.sort) if end < found.total else None,
            previous_cursor=_encode_cursor(max(0, offset - params.limit), params.sort)
            if offset > 0
            else None,
        )

    def all_hits(
        self, actor: Identity, params: SearchParams, limit: int, page: int = 100
    ) -> Iterator[SearchHit]:
        """Every hit of the search in its order, at most ``limit`` (exports). The
        viewable workspaces are decided once, for the whole run."""
        params = replace(params.checked(), limit=page, facets=(), histogram=False)
        workspaces = self.visible_workspaces(actor)
        parsed = query.parse(params.q)
        offset = 0
        while offset < limit:
            found = self.backend.search(self._request(params, workspaces, parsed, offset))
            yield from self._hits(found.hits, workspaces, parsed)[: limit - offset]
            offset += len(found.hits)
            if not found.hits or offset >= found.total:
                return

    def _hits(
        self, uuids: list[str], workspaces: dict[int, Workspace], parsed: query.Node | None
    ) -> list[SearchHit]:
        if not uuids:
            return []
        with self.runtime.database.session() as session:
            rows = {
                row.uuid: row
                # by uuid alone: a condition on the workspace could lead the planner
                # to scan a workspace's rows; it is checked below instead
                for row in session.scalars(select(RecordRow).where(RecordRow.uuid.in_(uuids)))
                if row.workspace_id in workspaces and not row.deleted
            }
        words = query.positive_words(parsed)
        prefixes = query.prefix_words(parsed)
        hits = []
        for uuid in uuids:
            row = rows.get(uuid)
            if row is None:
                continue  # removed or moved since the index saw it
            data = row.data
            workspace = workspaces[row.workspace_id]
            texts = [*_values(data, "description"), *_values(data, "title")]
            hits.append(
                SearchHit(
                    uuid=row.uuid,
                    identifier=row.identifier,
                    title=row.title,
                    workspace_slug=workspace.slug,
                    workspace_name=workspace.name,
                    edm_type=row.edm_type,
                    status=row.status.value,
                    snippet=snippet(texts, words, prefixes) if words else [],
                    creators=_values(data, "creator")[:3],
                    dates=(_values(data, "date") or _values(data, "created"))[:2],
                    media=media_kinds(data),
                )
            )
        return hits

    def _facets(
        self,
        counted: dict[str, list[tuple[str, int]]],
        chosen: dict[str, tuple[str, ...]],
        workspaces: dict[int, Workspace],
    ) -> dict[str, list[FacetValue]]:
        institution_ids = {
            int(value) for value, _ in counted.get("institution", ()) if value.isdigit()
        }
        institutions: dict[int, str] = {}
        if institution_ids:
            with self.runtime.database.session() as session:
                institutions = dict(
                    session.execute(
                        select(Institution.id, Institution.name).where(
                            Institution.id.in_(institution_ids)
                        )
                    ).all()
                )
        result: dict[str, list[FacetValue]] = {}
        for name, buckets in counted.items():
            values = []
            for value, count in buckets:
                label = value
                if name == "workspace" and value.isdigit() and int(value) in workspaces:
                    label = workspaces[int(value)].name
                elif name == "institution" and value.isdigit():
                    label = institutions.get(int(value), value)
                elif name == "century" and value.lstrip("-").isdigit():
                    label = f"{int(value)}–{int(value) + 99}"
                elif name == "decade" and value.lstrip("-").isdigit():
                    label = f"{int(value)}s"
                values.append(FacetValue(value, count, label, value in chosen.get(name, ())))
            # a chosen value stays on offer even when nothing else matches it
            for value in chosen.get(name, ()):
                if not any(item.value == value for item in values):
                    values.append(FacetValue(value, 0, value, True))
            result[name] = values
        return result

    def locations(
        self, actor: Identity, params: SearchParams, limit: int = 5_000
    ) -> list[Location]:
        params = params.checked()
        workspaces = self.visible_workspaces(actor)
        request = self._request(params, workspaces, query.parse(params.q))
        return self.backend.locations(request, limit)

    def suggest(self, actor: Identity, prefix: str, limit: int = 8) -> list[str]:
        if not prefix.strip():
            return []
        workspaces = self.visible_workspaces(actor)
        return self.backend.suggest(prefix[:200], frozenset(workspaces), min(limit, 20))
