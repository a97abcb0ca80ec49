"""/api/records/{id}/remote-images: copying a record's remote images (shown from other
IIIF servers) into the preservation store, and how those copies went
([iiif.md](../../../docs/iiif.md))."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from heritage.iiif.copies import CopyView, RemoteCopies
from heritage.iiif.models import CopyStatus
from heritage.web.deps import RuntimeDep, allowed
from heritage.web.schemas import StrictInput

router = APIRouter(tags=["iiif"])
NOT_FOUND = {404: {"description": "Not found"}}


class CopyRequest(StrictInput):
    url: str = Field(max_length=2000, description="The URL of the remote representation")


class CopyOut(BaseModel):
    id: int
    source_url: str
    source_service: str | None
    status: CopyStatus
    error: str | None
    path: str | None
    sha256: str | None
    size: int | None
    fetched_url: str | None
    fetched_at: datetime | None
    job_id: str | None
    created_at: datetime
    links: dict[str, str]


class CopiesOut(BaseModel):
    copies: list[CopyOut]


def copy_out(record_id: str, view: CopyView) -> CopyOut:
    links = {"record": f"/api/records/{record_id}"}
    if view.job_id:
        links["job"] = f"/api/jobs/{view.job_id}"
    return CopyOut(
        id=view.id,
        source_url=view.source_url,
        source_service=view.source_service,
        status=view.status,
        error=view.error,
        path=view.path,
        sha256=view.sha256,
        size=view.size,
        fetched_url=view.fetched_url,
        fetched_at=view.fetched_at,
        job_id=view.job_id,
        created_at=view.created_at,
        links=links,
    )


@router.get("/api/records/{record_id}/remote-images/copies", responses=NOT_FOUND)
def list_copies(
    record_id: str, runtime: RuntimeDep, identity: allowed("records.view")
) -> CopiesOut:
    """The record's requests to copy remote images into the store, newest first."""
    views = RemoteCopies(runtime).of_record(identity, record_id)
    return CopiesOut(copies=[copy_out(record_id, view) for view in views])


@router.post(
    "/api/records/{record_id}/remote-images/copies",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**NOT_FOUND, 422: {"description": "Not a remote image of the record"}},
)
def request_copy(
    record_id: str, body: CopyRequest, runtime: RuntimeDep, identity: allowed("records.update")
) -> CopyOut:
    """Copy the record's remote image at ``url`` into the store, in the background: it is
    fetched (within this instance's limits), stored as a master (a new version of the
    record), and the representation then points at the stored file."""
    return copy_out(record_id, RemoteCopies(runtime).request(identity, record_id, body.url))
