"""/api/records/{id}/models: a record's 3D models, their derivatives and paradata;
/api/oembed for the embeddable viewer."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, File, Query, Response, UploadFile, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from heritage.errors import InvalidInput, NotFound
from heritage.threed.paradata import Paradata
from heritage.threed.services import ThreeDService
from heritage.web.deps import RuntimeDep, allowed
from heritage.web.threed_view import model_json, models_json

router = APIRouter(tags=["3d"])
NOT_FOUND = {404: {"description": "Not found"}}
FileQuery = Annotated[str, Query(min_length=1, max_length=1000, description="The model's file")]
EMBED_PATH = "/embed/records/"
# A model set sent in one request is held in memory; larger masters go up with tus
# (/api/uploads, into the record), then POST .../models/process analyses them.
MAX_SET_BYTES = 512 * 1024**2


@router.get("/api/records/{record_id}/models", responses=NOT_FOUND)
def list_models(
    record_id: str, runtime: RuntimeDep, identity: allowed("records.view")
) -> dict[str, Any]:
    """The record's 3D models: analysis, derivatives, thumbnails, paradata, quality."""
    return {"models": list(models_json(runtime, identity, record_id).values())}


@router.post(
    "/api/records/{record_id}/models",
    status_code=status.HTTP_201_CREATED,
    responses={**NOT_FOUND, 422: {"description": "Not a usable model set"}},
)
async def add_model(
    record_id: str,
    runtime: RuntimeDep,
    identity: allowed("records.update"),
    files: Annotated[list[UploadFile], File(description="The model's files, or one zip")],
    primary: Annotated[bool, Query()] = False,
) -> dict[str, Any]:
    """Store a 3D model (one file, a main file with its buffers, materials and textures,
    or all of them in one zip) as one representation; its processing starts."""
    received: dict[str, bytes] = {}
    total = 0
    for upload in files:
        data = await upload.read()
        total += len(data)
        if total > MAX_SET_BYTES:
            raise InvalidInput.on(
                "files",
                "the files are larger than 512 MiB: upload them with tus into the record, "
                "then ask for POST .../models/process",
            )
        received[upload.filename or "model"] = data
    service = ThreeDService(runtime)
    view = await run_in_threadpool(
        lambda: service.attach(identity, record_id, received, primary=primary)
    )
    return {"models": list(models_json(runtime, identity, view.uuid).values())}


@router.post(
    "/api/records/{record_id}/models/process",
    status_code=status.HTTP_202_ACCEPTED,
    responses=NOT_FOUND,
)
def process_model(
    record_id: str, file: FileQuery, runtime: RuntimeDep, identity: allowed("records.update")
) -> dict[str, Any]:
    """Analyse the model again and remake its derivatives (a background job)."""
    service = ThreeDService(runtime)
    service.process_later(identity, record_id, file)
    return model_json(runtime, identity, record_id, service.model(identity, record_id, file))


class ParadataUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str = Field(min_length=1, max_length=1000, description="The model's file")
    paradata: Paradata


@router.put("/api/records/{record_id}/models/paradata", responses=NOT_FOUND)
def put_paradata(
    record_id: str,
    body: ParadataUpdate,
    runtime: RuntimeDep,
    identity: allowed("records.update"),
) -> dict[str, Any]:
    """Replace the model's paradata (how it was made); the quality report follows."""
    item = ThreeDService(runtime).set_paradata(identity, record_id, body.file, body.paradata)
    return model_json(runtime, identity, record_id, item)


@router.get(
    "/api/records/{record_id}/models/derivatives",
    responses={200: {"content": {"model/gltf-binary": {}, "image/png": {}}}, **NOT_FOUND},
)
def get_derivative(
    record_id: str,
    file: FileQuery,
    name: Annotated[str, Query(pattern=r"^[a-z0-9-]{1,40}$", description="lod-100k, ...")],
    runtime: RuntimeDep,
    identity: allowed("records.view"),
) -> Response:
    """A derivative of the model: a GLB level of detail, the point cloud's web version,
    a thumbnail or the turntable."""
    data, media_type = ThreeDService(runtime).derivative(identity, record_id, file, name)
    return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=300"})


@router.get("/api/oembed", responses=NOT_FOUND)
def oembed(
    runtime: RuntimeDep,
    identity: allowed("oembed.view"),
    url: Annotated[str, Query(max_length=3000)],
    format: Annotated[str, Query(pattern="^json$")] = "json",
    maxwidth: Annotated[int | None, Query(ge=50, le=4000)] = None,
    maxheight: Annotated[int | None, Query(ge=50, le=4000)] = None,
) -> dict[str, Any]:
    """oEmbed (https://oembed.com) of an embeddable 3D viewer URL of this instance: a
    ``rich`` response with the iframe, for ``edm:isShownBy`` and web pages."""
    parts = urlsplit(url)
    base = urlsplit(runtime.settings.base_url)
    if (parts.netloc and parts.netloc != base.netloc) or not parts.path.startswith(EMBED_PATH):
        raise NotFound("This URL is not an embeddable viewer of this instance")
    record_id = parts.path[len(EMBED_PATH) :].split("/", 1)[0]
    files = parse_qs(parts.query).get("file") or []
    if not files:
        raise NotFound("The viewer URL names no model")
    service = ThreeDService(runtime)
    item = service.model(identity, record_id, files[0])  # records.view on the record
    view = service.records.get(identity, record_id)
    model = model_json(runtime, identity, record_id, item)
    width = min(maxwidth or 800, 800)
    height = min(maxheight or 600, 600)
    src = runtime.settings.base_url.rstrip("/") + model["viewer"]
    result: dict[str, Any] = {
        "version": "1.0",
        "type": "rich",
        "provider_name": "Heritage Cloud",
        "provider_url": runtime.settings.base_url,
        "title": view.row.title,
        "width": width,
        "height": height,
        "html": (
            f'<iframe src="{_attr(src)}" width="{width}" height="{height}" '
            f'title="{_attr(view.row.title)}" allow="fullscreen; xr-spatial-tracking" '
            'style="border:0"></iframe>'
        ),
    }
    if "400" in model["thumbnails"]:
        result.update(
            thumbnail_url=runtime.settings.base_url.rstrip("/") + model["thumbnails"]["400"],
            thumbnail_width=400,
            thumbnail_height=400,
        )
    return result


def _attr(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )
