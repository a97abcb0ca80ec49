"""IIIF Image API 3.0 (level 2) under /iiif/3/, and Presentation 3.0 manifests and
collections (per workspace, per dataset) under /iiif/presentation/
([iiif.md](../../../docs/iiif.md)).

Answers carry CORS for every origin (IIIF viewers live on other sites), an ETag from
the master's digest and the request, and cache lifetimes by the workspace's visibility:
images of public workspaces may be kept by shared caches for long, those of private
ones are revalidated on every use and never kept by shared caches.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.responses import RedirectResponse, Response

from heritage.errors import InvalidInput
from heritage.iiif import image_api
from heritage.iiif.datasets import DatasetCollections
from heritage.iiif.services import ImageNotReady, ImageService, ImageView
from heritage.web import csrf
from heritage.web.deps import RuntimeDep, allowed

router = APIRouter(tags=["iiif"])

ImageId = Annotated[str, Path(max_length=60, pattern=r"^[0-9a-f-]{36}~[0-9a-f]{12}$")]
Segment = Annotated[str, Path(max_length=100)]
PROFILE_LINK = '<http://iiif.io/api/image/3/level2.json>;rel="profile"'
JSON_LD = f'application/ld+json;profile="{image_api.CONTEXT}"'
PUBLIC_TILE_AGE = 30 * 24 * 3600
PUBLIC_INFO_AGE = 24 * 3600


def image_headers(request: Request, view: ImageView, tag: str, max_age: int) -> dict[str, str]:
    # The request middleware sets a CSRF cookie on answers to requests without one; a
    # shared cache must never hand that cookie to others, so such answers stay private.
    shared = view.public and csrf.CSRF_COOKIE in request.cookies
    return {
        "Access-Control-Allow-Origin": "*",
        "Link": PROFILE_LINK,
        "ETag": f'"{tag}"',
        "Cache-Control": f"public, max-age={max_age}" if shared else "private, no-cache",
        "Vary": "Cookie, Authorization",
    }


def not_modified(request: Request, headers: dict[str, str]) -> Response | None:
    given = request.headers.get("if-none-match", "")
    if headers["ETag"] in {part.strip().removeprefix("W/") for part in given.split(",")}:
        return Response(status_code=304, headers=headers)
    return None


def request_tag(view: ImageView, *segments: str) -> str:
    """An image request's ETag: the master's digest and the request as asked."""
    return hashlib.sha256(f"{view.etag}/{'/'.join(segments)}".encode()).hexdigest()[:32]


def _unavailable(error: ImageNotReady) -> Response:
    return Response(
        str(error),
        status_code=503,
        media_type="text/plain",
        headers={"Retry-After": "5", "Access-Control-Allow-Origin": "*"},
    )


def _base(request: Request, image_id: str) -> str:
    return str(request.base_url).rstrip("/") + f"/iiif/3/{image_id}"


@router.get("/iiif/3/{image_id}", response_class=RedirectResponse, status_code=303)
def image_base(
    request: Request, image_id: ImageId, identity: allowed("images.view")
) -> RedirectResponse:
    """The image's base URI: a redirect to its image information."""
    return RedirectResponse(
        _base(request, image_id) + "/info.json",
        status_code=303,
        headers={"Access-Control-Allow-Origin": "*"},
    )


@router.get("/iiif/3/{image_id}/info.json", response_class=Response)
def image_information(
    request: Request, image_id: ImageId, runtime: RuntimeDep, identity: allowed("images.view")
) -> Response:
    """The image information document of IIIF Image API 3.0 (level 2)."""
    service = ImageService(runtime)
    view = service.image(identity, image_id)
    try:
        document = service.info(view, _base(request, image_id))
    except ImageNotReady as error:
        return _unavailable(error)
    headers = image_headers(request, view, f"{view.etag}-info", PUBLIC_INFO_AGE)
    if (unchanged := not_modified(request, headers)) is not None:
        return unchanged
    wants_ld = "application/ld+json" in request.headers.get("accept", "")
    return Response(
        json.dumps(document),
        media_type=JSON_LD if wants_ld else "application/json",
        headers=headers,
    )


@router.get("/iiif/3/{image_id}/{region}/{size}/{rotation}/{quality_format}")
def image_request(
    request: Request,
    image_id: ImageId,
    region: Segment,
    size: Segment,
    rotation: Segment,
    quality_format: Segment,
    runtime: RuntimeDep,
    identity: allowed("images.view"),
) -> Response:
    """A region of the image, scaled, turned and encoded as asked (IIIF Image API 3.0)."""
    service = ImageService(runtime)
    view = service.image(identity, image_id)
    headers = image_headers(
        request, view, request_tag(view, region, size, rotation, quality_format), PUBLIC_TILE_AGE
    )
    try:
        if (unchanged := not_modified(request, headers)) is not None:
            return unchanged
        data, media_type = service.render(view, region, size, rotation, quality_format)
    except ImageNotReady as error:
        return _unavailable(error)
    except InvalidInput as error:
        return Response(
            error.detail,
            status_code=400,
            media_type="text/plain",
            headers={"Access-Control-Allow-Origin": "*"},
        )
    return Response(data, media_type=media_type, headers=headers)


# -- Presentation API 3.0 ----------------------------------------------------------------------

PRESENTATION_LD = 'application/ld+json;profile="http://iiif.io/api/presentation/3/context.json"'


def _presentation(request: Request, document: dict[str, object]) -> Response:
    wants_ld = "application/ld+json" in request.headers.get("accept", "")
    return Response(
        json.dumps(document, ensure_ascii=False),
        media_type=PRESENTATION_LD if wants_ld else "application/json",
        headers={"Access-Control-Allow-Origin": "*", "Vary": "Cookie, Authorization"},
    )


@router.get("/iiif/presentation/records/{record_id}/manifest", response_class=Response)
def record_manifest(
    request: Request, record_id: str, runtime: RuntimeDep, identity: allowed("images.view")
) -> Response:
    """The IIIF Presentation 3.0 manifest of a record with images."""
    base = str(request.base_url).rstrip("/")
    return _presentation(request, ImageService(runtime).manifest(identity, record_id, base))


@router.get("/iiif/presentation/workspaces/{workspace_slug}/collection", response_class=Response)
def workspace_collection(
    request: Request, workspace_slug: str, runtime: RuntimeDep, identity: allowed("images.view")
) -> Response:
    """The IIIF Presentation 3.0 collection of a workspace's records with images."""
    base = str(request.base_url).rstrip("/")
    return _presentation(request, ImageService(runtime).collection(identity, workspace_slug, base))


@router.get("/iiif/presentation/imports/{import_id}/collection", response_class=Response)
def dataset_collection(
    request: Request, import_id: str, runtime: RuntimeDep, identity: allowed("images.view")
) -> Response:
    """The IIIF Presentation 3.0 collection of the records with images an import stored
    (its pages when large)."""
    base = str(request.base_url).rstrip("/")
    return _presentation(request, DatasetCollections(runtime).collection(identity, import_id, base))


@router.get("/iiif/presentation/imports/{import_id}/collection/{page}", response_class=Response)
def dataset_collection_page(
    request: Request,
    import_id: str,
    page: Annotated[int, Path(ge=1, le=1_000_000)],
    runtime: RuntimeDep,
    identity: allowed("images.view"),
) -> Response:
    """One page of a large import's IIIF collection."""
    base = str(request.base_url).rstrip("/")
    document = DatasetCollections(runtime).collection(identity, import_id, base, page)
    return _presentation(request, document)
