"""/api/workspaces/{slug}/objects: stored objects, their files, versions and events.

Large files go through resumable uploads (``/api/workspaces/{slug}/uploads``,
tus 1.0); ``PUT .../files/{path}`` takes a whole file in one request, for
scripts and small files.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from heritage.store.models import PreservationEvent, StoredFile, StoredObject
from heritage.store.services import ObjectView, PreservationService, VersionView
from heritage.web.bodies import spooled_body
from heritage.web.deps import RuntimeDep, allowed
from heritage.web.downloads import file_response
from heritage.web.schemas import Output, StrictInput

router = APIRouter(prefix="/api/workspaces/{workspace_slug}/objects", tags=["stored objects"])
NOT_FOUND = {404: {"description": "Not found"}}
VersionName = Annotated[str | None, Query(pattern=r"^v\d{1,9}$", max_length=10)]


class ObjectCreate(StrictInput):
    title: str = Field(default="", max_length=500)


class PurgeRequest(StrictInput):
    reason: str = Field(min_length=1, max_length=2000)


class FileOut(Output):
    path: str
    size: int
    sha256: str
    media_type: str
    encrypted: bool
    version_added: str


class ObjectOut(Output):
    id: str
    object_id: str
    workspace: str
    title: str
    kind: str
    head_version: str
    version_count: int
    deleted: bool
    created_at: datetime
    updated_at: datetime
    last_fixity_at: datetime | None
    last_fixity_outcome: str | None
    files: list[FileOut] | None = None


class VersionOut(Output):
    name: str
    created: datetime
    message: str | None
    user: str | None
    added: list[str]
    changed: list[str]
    removed: list[str]


class EventOut(Output):
    type: str
    outcome: str
    version: str | None
    detail: str
    agent: str
    at: datetime


def _file_out(row: StoredFile) -> FileOut:
    return FileOut(
        path=row.logical_path,
        size=row.size,
        sha256=row.sha256,
        media_type=row.media_type,
        encrypted=row.encrypted_with is not None,
        version_added=row.version_added,
    )


def object_out(
    row: StoredObject, workspace: str, files: list[StoredFile] | None = None
) -> ObjectOut:
    return ObjectOut(
        id=row.uuid,
        object_id=row.object_id,
        workspace=workspace,
        title=row.title,
        kind=row.kind,
        head_version=row.head_version,
        version_count=row.version_count,
        deleted=row.deleted,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_fixity_at=row.last_fixity_at,
        last_fixity_outcome=row.last_fixity_outcome.value if row.last_fixity_outcome else None,
        files=None if files is None else [_file_out(f) for f in files],
    )


def _view_out(view: ObjectView) -> ObjectOut:
    return object_out(view.row, view.workspace_slug, view.files)


def _event_out(event: PreservationEvent) -> EventOut:
    return EventOut(
        type=event.event_type.value,
        outcome=event.outcome.value,
        version=event.version,
        detail=event.detail,
        agent=event.agent,
        at=event.at,
    )


def _version_out(version: VersionView) -> VersionOut:
    return VersionOut(**version.__dict__)


@router.get("", response_model=list[ObjectOut], responses=NOT_FOUND)
def list_objects(
    workspace_slug: str, runtime: RuntimeDep, identity: allowed("objects.view")
) -> list[ObjectOut]:
    rows = PreservationService(runtime).list_objects(identity, workspace_slug)
    return [object_out(row, workspace_slug) for row in rows]


@router.post("", response_model=ObjectOut, status_code=status.HTTP_201_CREATED, responses=NOT_FOUND)
def create_object(
    workspace_slug: str,
    body: ObjectCreate,
    runtime: RuntimeDep,
    identity: allowed("objects.create"),
) -> ObjectOut:
    view = PreservationService(runtime).create_object(identity, workspace_slug, title=body.title)
    return _view_out(view)


@router.get("/{object_uuid}", response_model=ObjectOut, responses=NOT_FOUND)
def get_object(
    workspace_slug: str, object_uuid: str, runtime: RuntimeDep, identity: allowed("objects.view")
) -> ObjectOut:
    return _view_out(PreservationService(runtime).get(identity, workspace_slug, object_uuid))


@router.delete("/{object_uuid}", response_model=ObjectOut, responses=NOT_FOUND)
def delete_object(
    workspace_slug: str,
    object_uuid: str,
    runtime: RuntimeDep,
    identity: allowed("objects.delete"),
    message: Annotated[str, Query(max_length=2000)] = "",
) -> ObjectOut:
    """A new version without files, marked deleted. Earlier versions stay."""
    service = PreservationService(runtime)
    return _view_out(service.delete_object(identity, workspace_slug, object_uuid, message))


@router.post("/{object_uuid}/purge", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def purge_object(
    workspace_slug: str,
    object_uuid: str,
    body: PurgeRequest,
    runtime: RuntimeDep,
    identity: allowed("objects.purge"),
) -> Response:
    """Remove the object and all its versions for good (administrators; audited)."""
    PreservationService(runtime).purge(identity, workspace_slug, object_uuid, body.reason)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{object_uuid}/versions", response_model=list[VersionOut], responses=NOT_FOUND)
def list_versions(
    workspace_slug: str, object_uuid: str, runtime: RuntimeDep, identity: allowed("objects.view")
) -> list[VersionOut]:
    versions = PreservationService(runtime).versions(identity, workspace_slug, object_uuid)
    return [_version_out(v) for v in versions]


@router.get("/{object_uuid}/events", response_model=list[EventOut], responses=NOT_FOUND)
def list_events(
    workspace_slug: str, object_uuid: str, runtime: RuntimeDep, identity: allowed("objects.view")
) -> list[EventOut]:
    events = PreservationService(runtime).events(identity, workspace_slug, object_uuid)
    return [_event_out(e) for e in events]


@router.head("/{object_uuid}/files/{file_path:path}", include_in_schema=False)
@router.get(
    "/{object_uuid}/files/{file_path:path}",
    responses={
        200: {"description": "The file", "content": {"application/octet-stream": {}}},
        206: {"description": "The requested byte range"},
        304: {"description": "Not modified (If-None-Match)"},
        416: {"description": "Range not satisfiable"},
        **NOT_FOUND,
    },
)
def download_file(
    request: Request,
    workspace_slug: str,
    object_uuid: str,
    file_path: str,
    runtime: RuntimeDep,
    identity: allowed("objects.view"),
    version: VersionName = None,
) -> Response:
    """The file's original bytes (decrypted), with single byte ranges."""
    opened = PreservationService(runtime).open_file(
        identity, workspace_slug, object_uuid, file_path, version
    )
    return file_response(request, opened)


@router.put("/{object_uuid}/files/{file_path:path}", response_model=ObjectOut, responses=NOT_FOUND)
async def put_file(
    request: Request,
    workspace_slug: str,
    object_uuid: str,
    file_path: str,
    runtime: RuntimeDep,
    identity: allowed("objects.update"),
    message: Annotated[str, Query(max_length=2000)] = "",
    sha256: Annotated[str | None, Query(pattern=r"^[0-9a-fA-F]{64}$")] = None,
) -> ObjectOut:
    """Add or replace one file with the request body (a new version)."""
    service = PreservationService(runtime)
    async with spooled_body(request, runtime) as body:
        prepared = await run_in_threadpool(
            service.prepare, workspace_slug, body, expected_sha256=sha256
        )
    try:
        view = await run_in_threadpool(
            service.add_files, identity, workspace_slug, object_uuid, {file_path: prepared}, message
        )
    finally:
        prepared.discard()
    return _view_out(view)


@router.delete(
    "/{object_uuid}/files/{file_path:path}", response_model=ObjectOut, responses=NOT_FOUND
)
def delete_file(
    workspace_slug: str,
    object_uuid: str,
    file_path: str,
    runtime: RuntimeDep,
    identity: allowed("objects.delete"),
    message: Annotated[str, Query(max_length=2000)] = "",
) -> ObjectOut:
    """A new version without the file; earlier versions keep it."""
    view = PreservationService(runtime).remove_files(
        identity, workspace_slug, object_uuid, [file_path], message
    )
    return _view_out(view)
