"""Pages of 3D models: adding a model to a record, its paradata, processing it again,
and the embeddable viewer (/embed/records/{id}/model?file=...)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from heritage.accounts.identity import Identity
from heritage.errors import Conflict, InvalidInput, NotFound
from heritage.records.services import RecordView
from heritage.runtime import Runtime
from heritage.threed.paradata import EXPECTED, Paradata, Step
from heritage.threed.services import ThreeDService
from heritage.web.context import EMBED_SECURITY_HEADERS
from heritage.web.deps import RuntimeDep, allowed
from heritage.web.i18n import gettext as _
from heritage.web.templating import render
from heritage.web.threed_view import model_json, models_json, short, web_model

router = APIRouter(include_in_schema=False)
MAX_SET_BYTES = 512 * 1024**2  # through the page; larger models: tus upload, then attach


def page_models(runtime: Runtime, identity: Identity, record_uuid: str) -> list[dict[str, Any]]:
    """The record page's 3D models, each with the URL the viewer opens first."""
    found = []
    for model in models_json(runtime, identity, record_uuid).values():
        found.append({**model, "web": web_model(model), "short": short(model["file"])})
    return found


def _back(record_id: str, notice: str) -> Response:
    return RedirectResponse(
        f"/records/{record_id}?{urlencode({'notice': notice})}#models", status_code=303
    )


def _failed(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    record_id: str,
    message: str,
    status_code: int = 422,
) -> Response:
    from heritage.web.routes.pages_records import _record_page

    return _record_page(
        request, runtime, identity, record_id, message=message, status_code=status_code
    )


@router.post("/records/{record_id}/models")
async def add_model(
    request: Request,
    record_id: str,
    runtime: RuntimeDep,
    identity: allowed("records.update"),
    files: Annotated[list[UploadFile] | None, File()] = None,
    base_version: Annotated[str | None, Form(pattern=r"^v\d{1,9}$", max_length=10)] = None,
) -> Response:
    received: dict[str, bytes] = {}
    total = 0
    for upload in files or []:
        if not upload.filename:
            continue
        data = await upload.read()
        total += len(data)
        if total > MAX_SET_BYTES:
            return await run_in_threadpool(
                _failed,
                request,
                runtime,
                identity,
                record_id,
                _("The files are larger than 512 MB."),
            )
        received[upload.filename.replace("\\", "/").rsplit("/", 1)[-1]] = data
    if not received:
        return await run_in_threadpool(
            _failed,
            request,
            runtime,
            identity,
            record_id,
            _("Choose the model's files (or one zip) to add."),
        )
    service = ThreeDService(runtime)
    try:
        await run_in_threadpool(
            lambda: service.attach(identity, record_id, received, base_version=base_version)
        )
    except (InvalidInput, Conflict) as error:
        detail = "; ".join(item.reason for item in getattr(error, "errors", [])) or error.detail
        return await run_in_threadpool(
            _failed, request, runtime, identity, record_id, detail, error.status
        )
    return _back(record_id, notice="model-added")


@router.post("/records/{record_id}/models/process")
def process_model(
    request: Request,
    record_id: str,
    runtime: RuntimeDep,
    identity: allowed("records.update"),
    file: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        ThreeDService(runtime).process_later(identity, record_id, file)
    except (InvalidInput, NotFound) as error:
        return _failed(request, runtime, identity, record_id, error.detail, error.status)
    return _back(record_id, notice="model-processing")


def _number(value: str) -> float | None:
    value = value.strip().replace(",", ".")
    return float(value) if value else None


def _choice(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


@router.post("/records/{record_id}/models/paradata")
async def save_paradata(
    request: Request,
    record_id: str,
    runtime: RuntimeDep,
    identity: allowed("records.update"),
) -> Response:
    form = await request.form()

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    try:
        paradata = Paradata(
            method=text("method") or None,  # type: ignore[arg-type]
            device=text("device") or None,
            captured_on=text("captured_on") or None,  # type: ignore[arg-type]
            operator=text("operator") or None,
            object_movable=_choice(text("object_movable")),
            environment_controlled=_choice(text("environment_controlled")),
            accuracy_mm=_number(text("accuracy_mm")),
            resolution_mm=_number(text("resolution_mm")),
            uncertainty_mm=_number(text("uncertainty_mm")),
            units=text("units") or None,  # type: ignore[arg-type]
            software=[line.strip() for line in text("software").splitlines() if line.strip()],
            steps=[
                Step(description=line.strip())
                for line in text("steps").splitlines()
                if line.strip()
            ],
            notes=text("notes") or None,
        )
    except ValueError as error:  # pydantic's ValidationError and bad numbers alike
        message = _("The paradata was not saved: %(why)s") % {"why": error}
        return await run_in_threadpool(_failed, request, runtime, identity, record_id, message)
    try:
        await run_in_threadpool(
            lambda: ThreeDService(runtime).set_paradata(identity, record_id, text("file"), paradata)
        )
    except NotFound as error:
        return await run_in_threadpool(
            _failed, request, runtime, identity, record_id, error.detail, 404
        )
    return _back(record_id, notice="paradata-saved")


@router.get("/embed/records/{record_id}/model")
def embed_viewer(
    request: Request,
    record_id: str,
    runtime: RuntimeDep,
    identity: allowed("records.view"),
    file: Annotated[str, Query(min_length=1, max_length=1000)],
) -> Response:
    """The viewer alone, for iframes on other sites (and edm:isShownBy)."""
    service = ThreeDService(runtime)
    item = service.model(identity, record_id, file)
    view = service.records.get(identity, record_id)
    model = model_json(runtime, identity, record_id, item)
    model.update(web=web_model(model), short=short(model["file"]))
    response = render(
        request,
        "threed/embed.html",
        {"model": model, "record_id": view.uuid, "title": view.row.title, "expected": EXPECTED},
    )
    response.headers.update(EMBED_SECURITY_HEADERS)
    return response


def unprocessed_models(view: RecordView) -> list[str]:
    """3D files of the record attached as plain files, never analysed (the page offers
    to analyse them)."""
    from heritage.threed.formats import is_master

    return [
        short(item.file)
        for item in view.record.representations
        if item.file and is_master(item.file)
    ]
