"""The search page: full text, facets, timeline, map, suggestions while typing.

Only renders: :class:`SearchService` decides what the person may find.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from starlette.responses import RedirectResponse, Response

from heritage.errors import InvalidInput
from heritage.search.documents import FACETS
from heritage.search.params import to_pairs
from heritage.search.saved import SavedSearchService
from heritage.search.services import SearchParams, SearchResult, SearchService
from heritage.web.context import content_security_policy
from heritage.web.deps import RuntimeDep, allowed
from heritage.web.forms import field_errors
from heritage.web.i18n import N_
from heritage.web.search_params import search_params
from heritage.web.templating import render

router = APIRouter(include_in_schema=False)
Params = Annotated[SearchParams, Depends(search_params)]

# Facets in the order the page shows them, with their headings.
FACET_TITLES = {
    "type": N_("Type of object"),
    "media": N_("Media"),
    "century": N_("Century"),
    "decade": N_("Decade"),
    "creator": N_("Creator"),
    "place": N_("Place"),
    "subject": N_("Subject"),
    "material": N_("Material"),
    "institution": N_("Institution"),
    "workspace": N_("Workspace"),
    "rights": N_("Reuse"),
    "status": N_("Review state"),
    "content_tier": N_("Europeana content tier"),
    "metadata_tier": N_("Europeana metadata tier"),
}
assert set(FACET_TITLES) == set(FACETS)
VALUE_LABELS = {
    ("rights", "open"): N_("Free reuse"),
    ("rights", "restricted"): N_("Limited reuse"),
    ("rights", "closed"): N_("No free reuse"),
    ("rights", "unknown"): N_("Rights not stated"),
    ("media", "image"): N_("Image"),
    ("media", "3d"): N_("3D model"),
    ("media", "pointcloud"): N_("Point cloud"),
    ("media", "text"): N_("Text"),
    ("media", "sound"): N_("Sound"),
    ("media", "video"): N_("Video"),
    ("status", "valid"): N_("valid"),
    ("status", "draft"): N_("draft"),
    ("content_tier", "0"): N_("Tier 0"),
    ("content_tier", "1"): N_("Tier 1"),
    ("content_tier", "2"): N_("Tier 2"),
    ("content_tier", "3"): N_("Tier 3"),
    ("content_tier", "4"): N_("Tier 4"),
    ("metadata_tier", "0"): N_("Tier 0"),
    ("metadata_tier", "A"): N_("Tier A"),
    ("metadata_tier", "B"): N_("Tier B"),
    ("metadata_tier", "C"): N_("Tier C"),
}
SORT_LABELS = {
    "relevance": N_("Relevance"),
    "date": N_("Date, oldest first"),
    "-date": N_("Date, newest first"),
    "title": N_("Title"),
    "changed": N_("Last change"),
}


def _toggle(pairs: list[tuple[str, str]], name: str, value: str) -> str:
    """The link that adds a facet value to the search, or takes it away."""
    if (name, value) in pairs:
        kept = [pair for pair in pairs if pair != (name, value)]
    else:
        kept = [*pairs, (name, value)]
    return "/search?" + urlencode(kept)


def _without(pairs: list[tuple[str, str]], *names: str) -> str:
    return "/search?" + urlencode([pair for pair in pairs if pair[0] not in names])


MAX_BARS = 120


def timeline(decades: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """(first year, last year, records) bars from the first decade to the last, the
    empty ones too, so that the axis runs evenly; decades become centuries where
    there would be too many bars to see."""
    if not decades:
        return []
    counts = dict(decades)
    width = 10 if (decades[-1][0] - decades[0][0]) // 10 < MAX_BARS else 100
    first = decades[0][0] // width * width
    last = decades[-1][0] // width * width
    bars = []
    for start in range(first, last + 1, width):
        total = sum(counts.get(decade, 0) for decade in range(start, start + width, 10))
        bars.append((start, start + width - 1, total))
    return bars


def _base(pairs: list[tuple[str, str]], *names: str) -> str:
    """The search without ``names``, ready for more parameters to be appended."""
    link = _without(pairs, *names)
    return link if link.endswith("?") else link + "&"


def _content_security_policy(tiles: str) -> str:
    """The site's policy, with the base map's tile server allowed to send images."""
    parts = urlsplit(tiles)
    if parts.scheme in ("http", "https") and parts.netloc:
        origin = f"{parts.scheme}://{parts.netloc.replace('{s}.', '*.')}"
        return content_security_policy(frozenset({origin}))
    return content_security_policy()


@router.get("/search")
def search_page(
    request: Request, runtime: RuntimeDep, identity: allowed("search"), params: Params
) -> Response:
    pairs = to_pairs(params)
    result: SearchResult | None = None
    errors: dict[str, str] = {}
    try:
        result = SearchService(runtime).search(identity, params)
    except InvalidInput as error:
        errors = field_errors(error)
    facets = []
    if result is not None:
        for name in FACET_TITLES:
            values = result.facets.get(name, [])
            if not values:
                continue
            facets.append(
                {
                    "name": name,
                    "title": FACET_TITLES[name],
                    "values": [
                        {
                            "label": VALUE_LABELS.get((name, item.value), item.label),
                            "translate": (name, item.value) in VALUE_LABELS,
                            "count": item.count,
                            "selected": item.selected,
                            "url": _toggle(pairs, name, item.value),
                        }
                        for item in values
                    ],
                }
            )
    histogram = timeline(result.histogram if result is not None else [])
    tallest = max((count for _, _, count in histogram), default=0)
    context = {
        "identity": identity,
        "params": params,
        "result": result,
        "errors": errors,
        "facets": facets,
        "histogram": histogram,
        "tallest": tallest,
        "sort_labels": SORT_LABELS,
        "chosen": [
            {
                "name": name,
                "label": VALUE_LABELS.get((name, value), value),
                "translate": (name, value) in VALUE_LABELS,
                "url": _toggle(pairs, name, value),
            }
            for name, values in params.filters.items()
            for value in values
        ],
        "without_years": _without(pairs, "year_from", "year_to"),
        "without_bbox": _without(pairs, "bbox"),
        # links of the timeline's bars and the map's button end in "...&" or "...?"
        "timeline_base": _base(pairs, "year_from", "year_to"),
        "map_base": _base(pairs, "bbox"),
        "query_string": urlencode(pairs),
        "next_url": "/search?" + urlencode([*pairs, ("cursor", result.next_cursor)])
        if result is not None and result.next_cursor
        else None,
        "previous_url": "/search?" + urlencode([*pairs, ("cursor", result.previous_cursor)])
        if result is not None and result.previous_cursor
        else None,
        "map_tiles": runtime.settings.map_tiles,
        "map_attribution": runtime.settings.map_attribution,
    }
    response = render(request, "search/page.html", context)
    response.headers["Content-Security-Policy"] = _content_security_policy(
        runtime.settings.map_tiles
    )
    return response


@router.get("/search/suggest")
def suggest_fragment(
    request: Request,
    runtime: RuntimeDep,
    identity: allowed("search"),
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """The ``<option>`` list of the search box's suggestions (htmx swaps it in)."""
    suggestions = SearchService(runtime).suggest(identity, q)
    return render(request, "search/_suggestions.html", {"suggestions": suggestions})


# -- saved searches -----------------------------------------------------------------


@router.get("/search/saved")
def saved_searches_page(
    request: Request, runtime: RuntimeDep, identity: allowed("search.save")
) -> Response:
    saved = SavedSearchService(runtime).list(identity)
    return render(request, "search/saved.html", {"saved": saved})


@router.post("/search/saved")
def save_search(
    request: Request,
    runtime: RuntimeDep,
    identity: allowed("search.save"),
    name: Annotated[str, Form(max_length=300)] = "",
    query: Annotated[str, Form(max_length=5000)] = "",
    alert: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    service = SavedSearchService(runtime)
    try:
        service.create(identity, name, query, alert=bool(alert))
    except InvalidInput as error:
        context = {"saved": service.list(identity), "errors": field_errors(error)}
        context["form"] = {"name": name, "query": query}
        return render(request, "search/saved.html", context, status_code=422)
    return RedirectResponse("/search/saved", status_code=303)


@router.get("/search/saved/{saved_id}")
def open_saved_search(
    saved_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    runtime: RuntimeDep,
    identity: allowed("search.save"),
) -> Response:
    saved = SavedSearchService(runtime).open(identity, saved_id)
    return RedirectResponse(saved.url, status_code=303)


@router.post("/search/saved/{saved_id}/delete")
def delete_saved_search(
    saved_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    runtime: RuntimeDep,
    identity: allowed("search.save"),
) -> Response:
    SavedSearchService(runtime).delete(identity, saved_id)
    return RedirectResponse("/search/saved", status_code=303)
