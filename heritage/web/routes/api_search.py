"""/api/search: full text, facets, timeline, map, suggestions and export.

Everyone may search (``search``); what a search finds, counts and suggests is
only ever what the caller may view (``records.view``), decided by the service.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, StrictBool

from heritage.accounts.identity import Identity
from heritage.runtime import Runtime
from heritage.search.saved import SavedSearchService, SavedSearchView
from heritage.search.services import SearchHit, SearchParams, SearchResult, SearchService
from heritage.web.deps import RuntimeDep, allowed
from heritage.web.search_params import search_params

router = APIRouter(tags=["search"])
Params = Annotated[SearchParams, Depends(search_params)]
EXPORT_LIMIT = 100_000
EXPORT_PAGE = 100


class SegmentOut(BaseModel):
    text: str
    marked: bool


class HitOut(BaseModel):
    id: str
    identifier: str
    title: str
    workspace: str
    edm_type: str | None
    status: str
    snippet: list[SegmentOut]
    creators: list[str]
    dates: list[str]
    media: list[str]
    links: dict[str, str]


class FacetValueOut(BaseModel):
    value: str
    label: str
    count: int
    selected: bool


class DecadeOut(BaseModel):
    decade: int
    count: int


class SearchOut(BaseModel):
    total: int
    offset: int
    hits: list[HitOut]
    facets: dict[str, list[FacetValueOut]]
    histogram: list[DecadeOut]
    next_cursor: str | None
    previous_cursor: str | None


class SuggestionsOut(BaseModel):
    suggestions: list[str]


def hit_out(hit: SearchHit) -> HitOut:
    return HitOut(
        id=hit.uuid,
        identifier=hit.identifier,
        title=hit.title,
        workspace=hit.workspace_slug,
        edm_type=hit.edm_type,
        status=hit.status,
        snippet=[SegmentOut(text=item.text, marked=item.marked) for item in hit.snippet],
        creators=hit.creators,
        dates=hit.dates,
        media=hit.media,
        links={"self": f"/api/records/{hit.uuid}", "html": f"/records/{hit.uuid}"},
    )


def search_out(result: SearchResult) -> SearchOut:
    return SearchOut(
        total=result.total,
        offset=result.offset,
        hits=[hit_out(hit) for hit in result.hits],
        facets={
            name: [
                FacetValueOut(
                    value=item.value, label=item.label, count=item.count, selected=item.selected
                )
                for item in values
            ]
            for name, values in result.facets.items()
        },
        histogram=[DecadeOut(decade=decade, count=count) for decade, count in result.histogram],
        next_cursor=result.next_cursor,
        previous_cursor=result.previous_cursor,
    )


@router.get("/api/search", response_model=SearchOut)
def search(runtime: RuntimeDep, identity: allowed("search"), params: Params) -> SearchOut:
    """Records the caller may view that match ``q`` and the facet filters, with facet
    counts, a histogram of decades, and a cursor to the next page."""
    return search_out(SearchService(runtime).search(identity, params))


@router.get("/api/search/suggest", response_model=SuggestionsOut)
def suggest(
    runtime: RuntimeDep,
    identity: allowed("search"),
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=20)] = 8,
) -> SuggestionsOut:
    """Titles, creators and subjects of viewable records that begin like ``q``."""
    return SuggestionsOut(suggestions=SearchService(runtime).suggest(identity, q, limit))


@router.get("/api/search/locations")
def locations(
    runtime: RuntimeDep,
    identity: allowed("search"),
    params: Params,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 5_000,
) -> dict[str, Any]:
    """Where the matching records are, as GeoJSON points (for the map)."""
    found = SearchService(runtime).locations(identity, params, limit)
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [item.lon, item.lat]},
                "properties": {"id": item.uuid, "html": f"/records/{item.uuid}"},
            }
            for item in found
        ],
    }


def _cell(value: str) -> str:
    # A cell a spreadsheet would run as a formula is written as text.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


EXPORT_COLUMNS = (
    "id",
    "identifier",
    "title",
    "workspace",
    "edm_type",
    "creators",
    "dates",
    "media",
    "url",
)


def _csv_rows(hits: Iterator[SearchHit]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for hit in hits:
        writer.writerow(
            [
                _cell(value)
                for value in (
                    hit.uuid,
                    hit.identifier,
                    hit.title,
                    hit.workspace_slug,
                    hit.edm_type or "",
                    " | ".join(hit.creators),
                    " | ".join(hit.dates),
                    " ".join(hit.media),
                    f"/records/{hit.uuid}",
                )
            ]
        )
        if buffer.tell() > 64_000:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _json_rows(hits: Iterator[SearchHit]) -> Iterator[bytes]:
    yield b"["
    first = True
    for hit in hits:
        yield (b"" if first else b",\n") + orjson.dumps(hit_out(hit).model_dump())
        first = False
    yield b"]\n"


def _export(
    runtime: Runtime,
    identity: Identity,
    params: SearchParams,
    rows: Callable[[Iterator[SearchHit]], Iterator[bytes]],
    media_type: str,
    filename: str,
) -> StreamingResponse:
    hits = SearchService(runtime).all_hits(identity, params, EXPORT_LIMIT, EXPORT_PAGE)
    return StreamingResponse(
        rows(hits),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/api/search/export.csv", response_class=StreamingResponse)
def export_csv(
    runtime: RuntimeDep, identity: allowed("search"), params: Params
) -> StreamingResponse:
    """The search's hits (up to 100,000) as CSV, one record per row."""
    params.checked()  # a bad parameter is a 422 before the download starts
    return _export(runtime, identity, params, _csv_rows, "text/csv; charset=utf-8", "search.csv")


@router.get("/api/search/export.json", response_class=StreamingResponse)
def export_json(
    runtime: RuntimeDep, identity: allowed("search"), params: Params
) -> StreamingResponse:
    """The search's hits (up to 100,000) as a JSON array, as ``/api/search`` shows them."""
    params.checked()
    return _export(runtime, identity, params, _json_rows, "application/json", "search.json")


# -- saved searches -----------------------------------------------------------------


class SavedSearchIn(BaseModel):
    model_config = {"extra": "forbid"}
    name: str = Field(min_length=1, max_length=200)
    # not "query": error locations name the request's parts so (body, query, path)
    search: str = Field(
        max_length=4000, description="The search as a query string: q=...&type=IMAGE&..."
    )
    alert: StrictBool = True


class SavedSearchOut(BaseModel):
    id: int
    name: str
    search: str
    alert: bool
    new_matches: int
    seen_at: datetime
    created_at: datetime
    links: dict[str, str]


def saved_out(saved: SavedSearchView) -> SavedSearchOut:
    return SavedSearchOut(
        id=saved.id,
        name=saved.name,
        search=saved.query,
        alert=saved.alert,
        new_matches=saved.new_matches,
        seen_at=saved.seen_at,
        created_at=saved.created_at,
        links={"search": f"/api/search?{saved.query}", "html": f"/search/saved/{saved.id}"},
    )


@router.get("/api/search/saved", response_model=list[SavedSearchOut])
def list_saved(runtime: RuntimeDep, identity: allowed("search.save")) -> list[SavedSearchOut]:
    """One's saved searches, each with the number of matching records changed since it
    was last opened (counted hourly)."""
    return [saved_out(item) for item in SavedSearchService(runtime).list(identity)]


@router.post("/api/search/saved", response_model=SavedSearchOut, status_code=201)
def create_saved(
    body: SavedSearchIn, runtime: RuntimeDep, identity: allowed("search.save")
) -> SavedSearchOut:
    """Keep a search; with ``alert``, its new matches are counted for the dashboard."""
    saved = SavedSearchService(runtime).create(identity, body.name, body.search, alert=body.alert)
    return saved_out(saved)


@router.delete(
    "/api/search/saved/{saved_id}",
    status_code=204,
    responses={404: {"description": "Not found"}},
    response_class=Response,
)
def delete_saved(
    saved_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    runtime: RuntimeDep,
    identity: allowed("search.save"),
) -> Response:
    SavedSearchService(runtime).delete(identity, saved_id)
    return Response(status_code=204)
