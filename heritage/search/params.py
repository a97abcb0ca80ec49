"""A search as query-string pairs and back: links, saved searches and exports
carry a search this way (``q``, facet names, ``year_from``, ``year_to``, ``bbox``,
``sort``)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode

from heritage.errors import InvalidInput
from heritage.search.backends import SORTS
from heritage.search.documents import FACETS
from heritage.search.services import SearchParams


def to_pairs(params: SearchParams) -> list[tuple[str, str]]:
    """The search as query-string pairs, without its page (cursor)."""
    pairs: list[tuple[str, str]] = []
    if params.q:
        pairs.append(("q", params.q))
    for name, values in params.filters.items():
        pairs += [(name, value) for value in values]
    if params.year_from is not None:
        pairs.append(("year_from", str(params.year_from)))
    if params.year_to is not None:
        pairs.append(("year_to", str(params.year_to)))
    if params.bbox is not None:
        pairs.append(("bbox", ",".join(f"{number:g}" for number in params.bbox)))
    if params.sort != "relevance":
        pairs.append(("sort", params.sort))
    return pairs


def to_query_string(params: SearchParams) -> str:
    return urlencode(to_pairs(params))


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if not text:
        return None
    try:
        south, west, north, east = (float(part) for part in text.split(","))
    except ValueError:
        raise InvalidInput.on("bbox", "four numbers: south,west,north,east") from None
    return south, west, north, east


def _year(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInput.on(name, "a year, such as 1642 or -350") from None


def from_pairs(pairs: Iterable[tuple[str, str]]) -> SearchParams:
    """The search the pairs describe (unknown names are left out), checked."""
    filters: dict[str, list[str]] = {}
    values: dict[str, str] = {}
    for name, value in pairs:
        if name in FACETS:
            filters.setdefault(name, []).append(value)
        elif name in ("q", "year_from", "year_to", "bbox", "sort"):
            values[name] = value
    sort = values.get("sort", "relevance")
    if sort not in SORTS:
        raise InvalidInput.on("sort", f"one of {', '.join(SORTS)}")
    return SearchParams(
        q=values.get("q", ""),
        filters={name: tuple(items) for name, items in filters.items()},
        year_from=_year("year_from", values["year_from"]) if "year_from" in values else None,
        year_to=_year("year_to", values["year_to"]) if "year_to" in values else None,
        bbox=parse_bbox(values.get("bbox")),
        sort=sort,  # type: ignore[arg-type]
    ).checked()


def from_query_string(text: str) -> SearchParams:
    return from_pairs(parse_qsl(text, keep_blank_values=False))
