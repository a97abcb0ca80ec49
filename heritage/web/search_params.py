"""The query string of a search, shared by ``/search`` and ``/api/search``.

``q``, ``sort``, ``cursor``, ``limit``, ``year_from``, ``year_to``, ``bbox``
(``south,west,north,east``) and each facet by its name, repeated for several
values (``type=IMAGE&type=3D``: either; ``type=IMAGE&century=1600``: both).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from heritage.search.backends import SORTS
from heritage.search.params import parse_bbox
from heritage.search.services import SearchParams

FacetValues = Annotated[list[str], Query(max_length=20)]
_SORT_PATTERN = "^(" + "|".join(SORTS).replace("-", "\\-") + ")$"


def search_params(
    q: Annotated[str, Query(max_length=1000, description="What to find (see docs/search.md)")] = "",
    sort: Annotated[str, Query(pattern=_SORT_PATTERN)] = "relevance",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    year_from: Annotated[int | None, Query(ge=-10_000, le=2_200)] = None,
    year_to: Annotated[int | None, Query(ge=-10_000, le=2_200)] = None,
    bbox: Annotated[
        str | None, Query(max_length=100, description="south,west,north,east in degrees")
    ] = None,
    edm_type: Annotated[list[str], Query(alias="type", max_length=20)] = [],  # noqa: B006
    creator: FacetValues = [],  # noqa: B006
    institution: FacetValues = [],  # noqa: B006
    workspace: FacetValues = [],  # noqa: B006
    century: FacetValues = [],  # noqa: B006
    decade: FacetValues = [],  # noqa: B006
    place: FacetValues = [],  # noqa: B006
    subject: FacetValues = [],  # noqa: B006
    material: FacetValues = [],  # noqa: B006
    rights: FacetValues = [],  # noqa: B006
    media: FacetValues = [],  # noqa: B006
    status: FacetValues = [],  # noqa: B006
) -> SearchParams:
    chosen = {
        "type": edm_type,
        "creator": creator,
        "institution": institution,
        "workspace": workspace,
        "century": century,
        "decade": decade,
        "place": place,
        "subject": subject,
        "material": material,
        "rights": rights,
        "media": media,
        "status": status,
    }
    return SearchParams(
        q=q,
        filters={name: tuple(values) for name, values in chosen.items() if values},
        year_from=year_from,
        year_to=year_to,
        bbox=parse_bbox(bbox),
        sort=sort,  # type: ignore[arg-type]
        cursor=cursor,
        limit=limit,
    )
