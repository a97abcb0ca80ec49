"""/api/.../records/batch and /export: batch editing with preview and revert, and exports
of a selection as CSV or JSON-LD."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from heritage.records.batch import BatchPreview, BatchRequest, BatchService, BatchView
from heritage.records.batch_models import BatchOutcome, BatchStatus, RecordBatchItem, RevertOutcome
from heritage.records.export import CSV_MEDIA_TYPE, JSONLD_MEDIA_TYPE, ExportService
from heritage.records.models import RecordStatus
from heritage.records.selection import Selection
from heritage.web.deps import RuntimeDep, allowed

router = APIRouter(tags=["record batches and exports"])
NOT_FOUND = {404: {"description": "Not found"}}
CONFLICT = {409: {"description": "The batch is not in a state that allows this"}}


class ChangeOut(BaseModel):
    field: str
    label: str
    removed: list[str]
    added: list[str]


class PreviewItemOut(BaseModel):
    id: str
    identifier: str
    title: str
    version: str
    changes: list[ChangeOut]
    error: str | None


class PreviewOut(BaseModel):
    selected: int
    changed: int
    unchanged: int
    failed: int
    truncated: bool
    items: list[PreviewItemOut]


class BatchItemOut(BaseModel):
    record_id: str
    identifier: str
    outcome: BatchOutcome
    version_before: str
    version_after: str | None
    message: str | None
    revert_outcome: RevertOutcome | None
    revert_version: str | None
    revert_message: str | None


class BatchOut(BaseModel):
    id: str
    workspace: str
    description: str
    status: BatchStatus
    request: dict[str, Any]
    counts: dict[str, int]
    error: str | None
    job_id: str | None
    created_by: str | None
    created_at: datetime
    finished_at: datetime | None
    reverted_at: datetime | None
    items_total: int
    items: list[BatchItemOut]
    links: dict[str, str]


def _preview_out(preview: BatchPreview) -> PreviewOut:
    return PreviewOut(
        selected=preview.selected,
        changed=preview.changed,
        unchanged=preview.unchanged,
        failed=preview.failed,
        truncated=preview.truncated,
        items=[
            PreviewItemOut(
                id=item.uuid,
                identifier=item.identifier,
                title=item.title,
                version=item.version,
                changes=[ChangeOut(**change.__dict__) for change in item.changes],
                error=item.error,
            )
            for item in preview.items
        ],
    )


def _item_out(item: RecordBatchItem) -> BatchItemOut:
    return BatchItemOut(
        record_id=item.record_uuid,
        identifier=item.identifier,
        outcome=item.outcome,
        version_before=item.version_before,
        version_after=item.version_after,
        message=item.message,
        revert_outcome=item.revert_outcome,
        revert_version=item.revert_version,
        revert_message=item.revert_message,
    )


def batch_out(
    view: BatchView, total: int, items: list[RecordBatchItem], offset: int = 0
) -> BatchOut:
    batch = view.batch
    links = {"self": f"/api/batches/{batch.id}", "revert": f"/api/batches/{batch.id}/revert"}
    if batch.job_id:
        links["job"] = f"/api/jobs/{batch.job_id}"
    return BatchOut(
        id=batch.id,
        workspace=view.workspace_slug,
        description=batch.description,
        status=batch.status,
        request=batch.operation,
        counts=batch.counts,
        error=batch.error,
        job_id=batch.job_id,
        created_by=batch.created_by_label,
        created_at=batch.created_at,
        finished_at=batch.finished_at,
        reverted_at=batch.reverted_at,
        items_total=total,
        items=[_item_out(item) for item in items],
        links=links,
    )


def _respond(service: BatchService, identity: Any, view: BatchView, response: Response) -> BatchOut:
    total, items = service.items(identity, view.batch.id, limit=100)
    if view.started_job is not None:
        response.status_code = status.HTTP_202_ACCEPTED
        response.headers["Location"] = f"/api/batches/{view.batch.id}"
    return batch_out(view, total, items)


@router.post(
    "/api/workspaces/{workspace_slug}/records/batch/preview",
    response_model=PreviewOut,
    responses=NOT_FOUND,
)
def preview_batch(
    workspace_slug: str,
    body: BatchRequest,
    runtime: RuntimeDep,
    identity: allowed("records.batch"),
    limit: Annotated[int, Query(ge=0, le=1000)] = 100,
) -> PreviewOut:
    """What the batch would change in each selected record; nothing is written. The counts
    cover the whole selection, the items the first ``limit`` records that would change."""
    preview = BatchService(runtime).preview(identity, workspace_slug, body, limit=limit)
    return _preview_out(preview)


@router.post(
    "/api/workspaces/{workspace_slug}/records/batch",
    response_model=BatchOut,
    responses={**NOT_FOUND, 202: {"description": "A large batch, running as a job"}},
)
def apply_batch(
    workspace_slug: str,
    body: BatchRequest,
    response: Response,
    runtime: RuntimeDep,
    identity: allowed("records.batch"),
) -> BatchOut:
    """Apply the batch: a new version of each record that changes. A record saved by
    someone else meanwhile is a conflict in the report; the others go on. Large
    selections run as a job: 202 with the queued batch and its job."""
    service = BatchService(runtime)
    view = service.apply(identity, workspace_slug, body)
    return _respond(service, identity, view, response)


@router.get("/api/batches/{batch_id}", response_model=BatchOut, responses=NOT_FOUND)
def get_batch(
    batch_id: str,
    runtime: RuntimeDep,
    identity: allowed("records.view"),
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> BatchOut:
    """The batch, its counts, and what it did with each record it changed or could not."""
    service = BatchService(runtime)
    view = service.get(identity, batch_id)
    total, items = service.items(identity, batch_id, offset=offset, limit=limit)
    return batch_out(view, total, items, offset)


@router.post(
    "/api/batches/{batch_id}/revert",
    response_model=BatchOut,
    responses={**NOT_FOUND, **CONFLICT, 202: {"description": "Reverting as a job"}},
)
def revert_batch(
    batch_id: str, response: Response, runtime: RuntimeDep, identity: allowed("records.batch")
) -> BatchOut:
    """Put back the metadata each record had before the batch, as a new version; records
    changed since the batch are left as they are and reported."""
    service = BatchService(runtime)
    view = service.revert(identity, batch_id)
    return _respond(service, identity, view, response)


@router.get(
    "/api/workspaces/{workspace_slug}/records/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The records, streamed",
            "content": {CSV_MEDIA_TYPE: {}, JSONLD_MEDIA_TYPE: {}},
        },
        **NOT_FOUND,
    },
)
async def export_records(
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("records.view"),
    format: Annotated[Literal["csv", "jsonld"], Query()] = "csv",
    q: Annotated[str, Query(max_length=200)] = "",
    status_filter: Annotated[RecordStatus | None, Query(alias="status")] = None,
    edm_type: Annotated[str | None, Query(pattern=r"^(TEXT|IMAGE|SOUND|VIDEO|3D)$")] = None,
) -> StreamingResponse:
    """The workspace's records (without deleted ones), filtered like the list, as CSV
    (re-importable with the suggested mapping) or as one JSON-LD graph."""
    selection = Selection(q=q, status=status_filter, edm_type=edm_type)
    service = ExportService(runtime)
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    if format == "csv":
        chunks = await run_in_threadpool(service.export_csv, identity, workspace_slug, selection)
        media_type, suffix = CSV_MEDIA_TYPE, "csv"
    else:
        chunks = await run_in_threadpool(service.export_jsonld, identity, workspace_slug, selection)
        media_type, suffix = JSONLD_MEDIA_TYPE, "jsonld"
    filename = f"{workspace_slug}-records-{stamp}.{suffix}"
    return StreamingResponse(
        chunks,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
