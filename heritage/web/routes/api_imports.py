"""/api/.../imports: importing records from files, and the reports of imports."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from heritage.errors import InvalidInput
from heritage.records.formats import FORMATS
from heritage.records.imports import ImportService
from heritage.records.models import ImportStatus, ItemAction, RecordImport, RecordImportItem
from heritage.web.deps import RuntimeDep, allowed

router = APIRouter(tags=["record imports"])
NOT_FOUND = {404: {"description": "Not found"}}
COPY_BLOCK = 1024 * 1024


class ImportOut(BaseModel):
    id: str
    workspace: str
    format: str
    name: str
    dry_run: bool
    status: ImportStatus
    counts: dict[str, int]
    position: int
    error: str | None
    job_id: str | None
    created_at: datetime
    finished_at: datetime | None
    links: dict[str, str]


class ImportItemOut(BaseModel):
    position: int
    location: str
    identifier: str | None
    action: ItemAction
    record_id: str | None
    problems: list[dict[str, Any]]


class ImportItemsOut(BaseModel):
    total: int
    items: list[ImportItemOut]


def import_out(row: RecordImport, workspace: str) -> ImportOut:
    links = {
        "self": f"/api/imports/{row.id}",
        "items": f"/api/imports/{row.id}/items",
        "html": f"/imports/{row.id}",
    }
    if not row.dry_run:  # a dry run stores nothing to show
        links["iiif_collection"] = f"/iiif/presentation/imports/{row.id}/collection"
    return ImportOut(
        id=row.id,
        workspace=workspace,
        format=row.format,
        name=str(row.options.get("name") or Path(row.source).name),
        dry_run=row.dry_run,
        status=row.status,
        counts=row.counts,
        position=row.position,
        error=row.error,
        job_id=row.job_id,
        created_at=row.created_at,
        finished_at=row.finished_at,
        links=links,
    )


def _item_out(item: RecordImportItem) -> ImportItemOut:
    return ImportItemOut(
        position=item.position,
        location=item.location,
        identifier=item.identifier,
        action=item.action,
        record_id=item.record_uuid,
        problems=item.problems,
    )


def _safe_name(name: str | None) -> str:
    base = Path(name or "upload").name.strip() or "upload"
    return base[:200]


async def receive_upload(upload: UploadFile, directory: Path, limit: int) -> Path:
    """Copy an uploaded file to a temporary file under ``directory``, within ``limit``."""
    directory.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - handed on, removed by the caller
        dir=directory, delete=False, suffix=Path(_safe_name(upload.filename)).suffix
    )
    received = 0
    try:
        with handle:
            while piece := await upload.read(COPY_BLOCK):
                received += len(piece)
                if received > limit:
                    raise InvalidInput.on("file", f"larger than the {limit} bytes allowed")
                await run_in_threadpool(handle.write, piece)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return Path(handle.name)


@router.post(
    "/api/workspaces/{workspace_slug}/imports",
    response_model=ImportOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=NOT_FOUND,
)
async def start_import(
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("records.import"),
    file: Annotated[UploadFile, File(description="CSV, XLSX, LIDO, EDM, Dublin Core or IIIF")],
    format: Annotated[str, Form(description="auto or one of " + ", ".join(FORMATS))] = "auto",
    dry_run: Annotated[bool, Form()] = False,
    mapping: Annotated[str | None, Form(description="Column mapping as JSON")] = None,
) -> ImportOut:
    """Upload a file and import its records in the background; the report fills as it runs."""
    if format != "auto" and format not in FORMATS:
        raise InvalidInput.on("format", f"use auto or one of {', '.join(FORMATS)}")
    mapping_data = None
    if mapping:
        try:
            mapping_data = json.loads(mapping)
        except ValueError as error:
            raise InvalidInput.on("mapping", f"not JSON: {error}") from None
    service = ImportService(runtime)
    spool = runtime.settings.resolved_data_dir / "imports" / "incoming"
    received = await receive_upload(file, spool, runtime.settings.upload_max_bytes)
    try:
        row = await run_in_threadpool(
            lambda: service.create(
                identity,
                workspace_slug,
                received,
                format=format,
                mapping=mapping_data,
                dry_run=dry_run,
                keep_copy=True,
                source_name=_safe_name(file.filename),
            )
        )
    finally:
        received.unlink(missing_ok=True)
    try:
        row = await run_in_threadpool(service.enqueue, identity, row.id)
    except Exception:
        shutil.rmtree(service.files_dir(row.id), ignore_errors=True)
        raise
    return import_out(row, workspace_slug)


class HarvestRequest(BaseModel):
    model_config = {"extra": "forbid"}
    url: str = Field(max_length=2000, description="The OAI-PMH endpoint's base URL")
    prefix: Literal["oai_dc", "edm", "lido"] = "oai_dc"
    set: str | None = Field(default=None, max_length=500)
    dry_run: bool = False
    full: bool = Field(default=False, description="Everything, not only what changed since")
    schedule: Literal["daily"] | None = None


@router.post(
    "/api/workspaces/{workspace_slug}/harvests",
    response_model=ImportOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=NOT_FOUND,
)
def start_harvest(
    workspace_slug: str,
    body: HarvestRequest,
    runtime: RuntimeDep,
    identity: allowed("records.import"),
) -> ImportOut:
    """Harvest an OAI-PMH endpoint in the background. Harvests after the first of an
    endpoint, prefix and set are incremental; deleted records are deleted here too."""
    service = ImportService(runtime)
    row = service.create_harvest(
        identity,
        workspace_slug,
        body.url,
        prefix=body.prefix,
        set_spec=body.set,
        dry_run=body.dry_run,
        full=body.full,
        schedule=body.schedule,
    )
    return import_out(service.enqueue(identity, row.id), workspace_slug)


@router.get(
    "/api/workspaces/{workspace_slug}/imports",
    response_model=list[ImportOut],
    responses=NOT_FOUND,
)
def list_imports(
    workspace_slug: str, runtime: RuntimeDep, identity: allowed("records.view")
) -> list[ImportOut]:
    rows = ImportService(runtime).list(identity, workspace_slug)
    return [import_out(row, workspace_slug) for row in rows]


@router.get("/api/imports/{import_id}", response_model=ImportOut, responses=NOT_FOUND)
def get_import(import_id: str, runtime: RuntimeDep, identity: allowed("records.view")) -> ImportOut:
    row, slug = ImportService(runtime).get(identity, import_id)
    return import_out(row, slug)


@router.get("/api/imports/{import_id}/items", response_model=ImportItemsOut, responses=NOT_FOUND)
def list_import_items(
    import_id: str,
    runtime: RuntimeDep,
    identity: allowed("records.view"),
    problems: Annotated[bool, Query(description="Only records with problems")] = False,
    offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ImportItemsOut:
    items, total = ImportService(runtime).items(
        identity, import_id, only_problems=problems, offset=offset, limit=limit
    )
    return ImportItemsOut(total=total, items=[_item_out(item) for item in items])
