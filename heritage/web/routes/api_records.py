"""/api/.../records: collection records, their versions, diffs and files.

Saves name the version they start from (``base_version``, or an ``If-Match``
header with the ETag a read returned); a save over a newer version is a 409
with who saved it and when, never a lost update.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from heritage.accounts.identity import Identity
from heritage.errors import InvalidInput
from heritage.iiif.presentation import remote_image
from heritage.iiif.services import image_identifier, is_image
from heritage.quality.services import QualityService
from heritage.quality.tiers import Tiers
from heritage.records.diff import FieldChange
from heritage.records.jsonld import MEDIA_TYPE
from heritage.records.model import Record, Representation
from heritage.records.models import RecordStatus
from heritage.records.services import MEDIA_FOLDER, RecordService, RecordView
from heritage.runtime import Runtime
from heritage.store.services import PreservationService
from heritage.threed.services import ThreeDService
from heritage.web.bodies import spooled_body
from heritage.web.deps import RuntimeDep, allowed
from heritage.web.downloads import file_response
from heritage.web.schemas import Output
from heritage.web.threed_view import models_json

router = APIRouter(tags=["records"])
NOT_FOUND = {404: {"description": "Not found"}}
CONFLICT = {409: {"description": "The record changed since the given version"}}
VersionName = Annotated[str, Query(pattern=r"^v\d{1,9}$", max_length=10)]


class ProblemOut(BaseModel):
    severity: str
    code: str
    message: str
    hint: str = ""
    field: str | None = None
    location: str | None = None


class RepresentationOut(Representation):
    links: dict[str, str] = Field(default_factory=dict)
    # a 3D model's analysis, derivatives, thumbnails, paradata and quality (threed_view.py)
    model: dict[str, Any] | None = None


class FindingOut(BaseModel):
    code: str
    level: str
    message: str
    hint: str = ""


class TiersOut(BaseModel):
    """Europeana's publishing tiers: content 0-4, metadata 0, A, B or C, and each
    criterion's level, reason and hint (``docs/tiers.md``)."""

    content: int
    metadata: str
    content_criteria: list[FindingOut]
    metadata_criteria: list[FindingOut]


class RecordOut(Output):
    id: str
    workspace: str
    identifier: str
    title: str
    version: str
    status: RecordStatus
    deleted: bool
    created_at: datetime
    updated_at: datetime
    updated_by: str | None
    problems: list[ProblemOut]
    tiers: TiersOut | None = None
    record: Record
    representations: list[RepresentationOut]
    links: dict[str, str]


class RecordSummary(Output):
    id: str
    identifier: str
    title: str
    edm_type: str | None
    status: RecordStatus
    error_count: int
    warning_count: int
    version: str
    updated_at: datetime


class RecordPageOut(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[RecordSummary]


class RecordCreate(BaseModel):
    model_config = {"extra": "forbid"}
    record: Record
    message: str = Field(default="Created", max_length=2000)


class RecordUpdate(BaseModel):
    model_config = {"extra": "forbid"}
    record: Record
    base_version: str | None = Field(
        default=None,
        pattern=r"^v\d{1,9}$",
        description="The version the edit started from (or send If-Match).",
    )
    message: str = Field(default="Edited", max_length=2000)


class RevertRequest(BaseModel):
    model_config = {"extra": "forbid"}
    version: str = Field(pattern=r"^v\d{1,9}$")
    base_version: str | None = Field(default=None, pattern=r"^v\d{1,9}$")


class VersionOut(BaseModel):
    name: str
    created: datetime
    message: str | None
    user: str | None
    record_changed: bool
    files_added: list[str]
    files_removed: list[str]


class ChangeOut(BaseModel):
    field: str
    label: str
    removed: list[str]
    added: list[str]


def record_links(record_uuid: str) -> dict[str, str]:
    return {
        "self": f"/api/records/{record_uuid}",
        "versions": f"/api/records/{record_uuid}/versions",
        "html": f"/records/{record_uuid}",
    }


def _representations(
    view: RecordView, models: dict[str, dict[str, Any]] | None = None
) -> list[RepresentationOut]:
    items = []
    models = models or {}
    for item in view.record.representations:
        links: dict[str, str] = {}
        if item.file:
            links["download"] = f"/api/records/{view.uuid}/files/" + item.file.removeprefix(
                MEDIA_FOLDER
            )
            if is_image(item.file, item.media_type):
                links["iiif_info"] = f"/iiif/3/{image_identifier(view.uuid, item.file)}/info.json"
        elif item.url:
            links["external"] = item.url
        model = models.get(item.file or "")
        if model is not None:
            links["viewer"] = model["viewer"]
            links["oembed"] = model["oembed"]
        items.append(RepresentationOut(**item.model_dump(), links=links, model=model))
    return items


def record_out(
    view: RecordView,
    models: dict[str, dict[str, Any]] | None = None,
    tiers: Tiers | None = None,
) -> RecordOut:
    row = view.row
    links = record_links(view.uuid) | {
        "jsonld": f"/api/records/{view.uuid}/versions/{row.head_version}",
    }
    if any(
        (item.file and is_image(item.file, item.media_type)) or remote_image(item)
        for item in view.record.representations
    ):
        links["iiif_manifest"] = f"/iiif/presentation/records/{view.uuid}/manifest"
    return RecordOut(
        id=row.uuid,
        workspace=view.workspace_slug,
        identifier=row.identifier,
        title=row.title,
        version=row.head_version,
        status=row.status,
        deleted=row.deleted,
        created_at=row.created_at,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        problems=[ProblemOut(**problem.to_json()) for problem in view.problems],
        tiers=TiersOut(**tiers.to_json()) if tiers is not None else None,
        record=view.record,
        representations=_representations(view, models),
        links=links,
    )


def _respond(
    view: RecordView, response: Response, runtime: Runtime, identity: Identity
) -> RecordOut:
    response.headers["ETag"] = f'"{view.version}"'
    return record_out(
        view, models_json(runtime, identity, view.uuid), QualityService(runtime).tiers(view)
    )


def _base_version(given: str | None, if_match: str | None) -> str | None:
    if given is not None:
        return given
    if if_match:
        value = if_match.strip().removeprefix("W/").strip('"')
        if value and value != "*":
            return value
    return None


# -- a workspace's records ---------------------------------------------------------------------


@router.get(
    "/api/workspaces/{workspace_slug}/records", response_model=RecordPageOut, responses=NOT_FOUND
)
def list_records(
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("records.view"),
    q: Annotated[str, Query(max_length=200)] = "",
    status_filter: Annotated[RecordStatus | None, Query(alias="status")] = None,
    edm_type: Annotated[str | None, Query(pattern=r"^(TEXT|IMAGE|SOUND|VIDEO|3D)$")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> RecordPageOut:
    page = RecordService(runtime).list(
        identity,
        workspace_slug,
        query=q,
        status=status_filter,
        edm_type=edm_type,
        offset=offset,
        limit=limit,
    )
    return RecordPageOut(
        total=page.total,
        offset=page.offset,
        limit=page.limit,
        items=[
            RecordSummary(
                id=row.uuid,
                identifier=row.identifier,
                title=row.title,
                edm_type=row.edm_type,
                status=row.status,
                error_count=row.error_count,
                warning_count=row.warning_count,
                version=row.head_version,
                updated_at=row.updated_at,
            )
            for row in page.rows
        ],
    )


@router.post(
    "/api/workspaces/{workspace_slug}/records",
    response_model=RecordOut,
    status_code=status.HTTP_201_CREATED,
    responses={**NOT_FOUND, **CONFLICT},
)
def create_record(
    workspace_slug: str,
    body: RecordCreate,
    response: Response,
    runtime: RuntimeDep,
    identity: allowed("records.create"),
) -> RecordOut:
    """A new record. One that fails Europeana's rules is kept as a draft, its problems listed."""
    view = RecordService(runtime).create(
        identity, workspace_slug, body.record, message=body.message
    )
    response.headers["Location"] = f"/api/records/{view.uuid}"
    return _respond(view, response, runtime, identity)


# -- one record --------------------------------------------------------------------------------


@router.get("/api/records/{record_id}", response_model=RecordOut, responses=NOT_FOUND)
def get_record(
    record_id: str, response: Response, runtime: RuntimeDep, identity: allowed("records.view")
) -> RecordOut:
    return _respond(RecordService(runtime).get(identity, record_id), response, runtime, identity)


@router.put(
    "/api/records/{record_id}", response_model=RecordOut, responses={**NOT_FOUND, **CONFLICT}
)
def update_record(
    record_id: str,
    body: RecordUpdate,
    response: Response,
    runtime: RuntimeDep,
    identity: allowed("records.update"),
    if_match: Annotated[str | None, Header(max_length=100)] = None,
) -> RecordOut:
    """Save a new version. Without ``base_version`` or ``If-Match`` the save is refused:
    an API client must say which version it edited."""
    base = _base_version(body.base_version, if_match)
    if base is None:
        raise InvalidInput.on(
            "base_version", "say which version you edited (base_version or If-Match)"
        )
    view = RecordService(runtime).update(
        identity, record_id, body.record, base_version=base, message=body.message
    )
    return _respond(view, response, runtime, identity)


@router.delete(
    "/api/records/{record_id}", response_model=RecordOut, responses={**NOT_FOUND, **CONFLICT}
)
def delete_record(
    record_id: str,
    response: Response,
    runtime: RuntimeDep,
    identity: allowed("records.delete"),
    message: Annotated[str, Query(max_length=2000)] = "",
    if_match: Annotated[str | None, Header(max_length=100)] = None,
) -> RecordOut:
    """A new version marked deleted; every earlier version stays."""
    view = RecordService(runtime).delete(
        identity, record_id, message=message, base_version=_base_version(None, if_match)
    )
    return _respond(view, response, runtime, identity)


@router.get(
    "/api/records/{record_id}/versions", response_model=list[VersionOut], responses=NOT_FOUND
)
def list_versions(
    record_id: str, runtime: RuntimeDep, identity: allowed("records.view")
) -> list[VersionOut]:
    return [
        VersionOut(**version.__dict__)
        for version in RecordService(runtime).versions(identity, record_id)
    ]


@router.get(
    "/api/records/{record_id}/versions/{version}",
    responses={200: {"content": {MEDIA_TYPE: {}}, "description": "The version (JSON-LD)"}}
    | NOT_FOUND,
    response_class=Response,
)
def get_version(
    record_id: str,
    version: Annotated[str, VersionName],
    runtime: RuntimeDep,
    identity: allowed("records.view"),
) -> Response:
    """The version's record as stored: EDM in JSON-LD."""
    raw = RecordService(runtime).version_document(identity, record_id, version)
    return Response(raw, media_type=MEDIA_TYPE)


@router.get("/api/records/{record_id}/diff", response_model=list[ChangeOut], responses=NOT_FOUND)
def diff_versions(
    record_id: str,
    runtime: RuntimeDep,
    identity: allowed("records.view"),
    old: Annotated[str, VersionName, Query(alias="from")],
    new: Annotated[str, VersionName, Query(alias="to")],
) -> list[ChangeOut]:
    changes: list[FieldChange] = RecordService(runtime).diff(identity, record_id, old, new)
    return [ChangeOut(**change.__dict__) for change in changes]


@router.post(
    "/api/records/{record_id}/revert",
    response_model=RecordOut,
    responses={**NOT_FOUND, **CONFLICT},
)
def revert_record(
    record_id: str,
    body: RevertRequest,
    response: Response,
    runtime: RuntimeDep,
    identity: allowed("records.update"),
) -> RecordOut:
    """A new version with the metadata of an earlier one."""
    view = RecordService(runtime).revert(
        identity, record_id, body.version, base_version=body.base_version
    )
    return _respond(view, response, runtime, identity)


# -- files -------------------------------------------------------------------------------------


@router.head("/api/records/{record_id}/files/{file_path:path}", include_in_schema=False)
@router.get(
    "/api/records/{record_id}/files/{file_path:path}",
    responses={
        200: {"description": "The file", "content": {"application/octet-stream": {}}},
        206: {"description": "The requested byte range"},
        **NOT_FOUND,
    },
)
def download_file(
    request: Request,
    record_id: str,
    file_path: str,
    runtime: RuntimeDep,
    identity: allowed("records.view"),
    version: Annotated[str | None, Query(pattern=r"^v\d{1,9}$", max_length=10)] = None,
) -> Response:
    view = RecordService(runtime).get(identity, record_id)
    opened = PreservationService(runtime).open_file(
        identity, view.workspace_slug, view.uuid, MEDIA_FOLDER + file_path, version
    )
    return file_response(request, opened)


@router.put(
    "/api/records/{record_id}/files/{file_path:path}",
    response_model=RecordOut,
    responses={**NOT_FOUND, **CONFLICT},
)
async def put_file(
    request: Request,
    record_id: str,
    file_path: str,
    response: Response,
    runtime: RuntimeDep,
    identity: allowed("records.update"),
    primary: bool = False,
    sha256: Annotated[str | None, Query(pattern=r"^[0-9a-fA-F]{64}$")] = None,
) -> RecordOut:
    """Store the request body as a file of the record, one of its representations (a new
    version). Large files: upload them with tus, then attach."""
    service = RecordService(runtime)
    view = await run_in_threadpool(service.get, identity, record_id)
    async with spooled_body(request, runtime) as body:
        prepared = await run_in_threadpool(
            service.store.prepare, view.workspace_slug, body, expected_sha256=sha256
        )
    try:
        updated = await run_in_threadpool(
            lambda: service.attach_file(identity, record_id, file_path, prepared, primary=primary)
        )
    finally:
        prepared.discard()
    return _respond(updated, response, runtime, identity)


@router.delete(
    "/api/records/{record_id}/files/{file_path:path}",
    response_model=RecordOut,
    responses=NOT_FOUND,
)
def delete_file(
    record_id: str,
    file_path: str,
    response: Response,
    runtime: RuntimeDep,
    identity: allowed("records.delete"),
) -> RecordOut:
    view = RecordService(runtime).detach_file(identity, record_id, file_path)
    ThreeDService(runtime).prune(identity, view.uuid)  # a removed 3D model's derivatives
    return _respond(view, response, runtime, identity)
