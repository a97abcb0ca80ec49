"""Pages of a workspace's stored objects: the list, one object, downloads, deletion."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from heritage.accounts.identity import Identity
from heritage.errors import InvalidInput, PermissionDenied
from heritage.runtime import Runtime
from heritage.store.models import EventOutcome, EventType
from heritage.store.services import PreservationService
from heritage.web.deps import RuntimeDep, allowed
from heritage.web.downloads import file_response
from heritage.web.forms import field_errors
from heritage.web.i18n import N_
from heritage.web.i18n import gettext as _
from heritage.web.routes.pages_workspaces import _workspace_context
from heritage.web.templating import render
from heritage.workspaces.services import WorkspaceService

router = APIRouter(include_in_schema=False)
VersionName = Annotated[str | None, Query(pattern=r"^v\d{1,9}$", max_length=10)]

# Stored values shown through _(value) in the templates.
EVENT_LABELS = (
    N_("ingestion"),
    N_("modification"),
    N_("fixity check"),
    N_("replication"),
    N_("migration"),
    N_("deletion"),
    N_("repair"),
    N_("validation"),
    N_("success"),
    N_("failure"),
    N_("warning"),
)
# Every stored value has its label above.
assert {kind.value for kind in EventType} | {o.value for o in EventOutcome} == set(EVENT_LABELS)


def _base(request: Request, runtime: Runtime, identity: Identity, slug: str) -> dict[str, Any]:
    service = WorkspaceService(runtime)
    workspace = service.get(identity, slug)
    context = _workspace_context(request, runtime, identity, workspace, "objects")
    context["can"] = {
        action: service.can(identity, workspace, action)
        for action in ("objects.create", "objects.update", "objects.delete", "objects.purge")
    }
    notices = {
        "created": _("The object was created."),
        "removed": _("The file was removed. Earlier versions still hold it."),
        "deleted": _("The object was deleted. Its earlier versions are kept."),
        "purged": _("The object and its whole history were purged."),
    }
    context["notice"] = notices.get(request.query_params.get("notice", ""), context["notice"])
    return context


@router.get("/workspaces/{workspace_slug}/objects")
def objects_page(
    request: Request, workspace_slug: str, runtime: RuntimeDep, identity: allowed("objects.view")
) -> Response:
    context = _base(request, runtime, identity, workspace_slug)
    context["objects"] = PreservationService(runtime).list_objects(identity, workspace_slug)
    return render(request, "objects/list.html", context)


@router.post("/workspaces/{workspace_slug}/objects")
def create_object(
    request: Request,
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("objects.create"),
    title: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    service = PreservationService(runtime)
    try:
        view = service.create_object(identity, workspace_slug, title=title)
    except InvalidInput as error:
        context = _base(request, runtime, identity, workspace_slug)
        context.update(
            objects=service.list_objects(identity, workspace_slug),
            errors=field_errors(error),
            form={"title": title},
        )
        return render(request, "objects/list.html", context, status_code=422)
    return RedirectResponse(
        f"/workspaces/{workspace_slug}/objects/{view.uuid}?notice=created", status_code=303
    )


def _object_page(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    slug: str,
    object_uuid: str,
    *,
    message: str | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    service = PreservationService(runtime)
    context = _base(request, runtime, identity, slug)
    view = service.get(identity, slug, object_uuid)
    context.update(
        object=view.row,
        object_uuid=view.uuid,
        workspace_slug=slug,
        files=view.files,
        versions=service.versions(identity, slug, object_uuid),
        events=service.events(identity, slug, object_uuid),
        message=message,
        errors=errors or {},
    )
    return render(request, "objects/detail.html", context, status_code=status_code)


@router.get("/workspaces/{workspace_slug}/objects/{object_uuid}")
def object_page(
    request: Request,
    workspace_slug: str,
    object_uuid: str,
    runtime: RuntimeDep,
    identity: allowed("objects.view"),
) -> Response:
    return _object_page(request, runtime, identity, workspace_slug, object_uuid)


@router.api_route(
    "/workspaces/{workspace_slug}/objects/{object_uuid}/files/{file_path:path}",
    methods=["GET", "HEAD"],
)
def download(
    request: Request,
    workspace_slug: str,
    object_uuid: str,
    file_path: str,
    runtime: RuntimeDep,
    identity: allowed("objects.view"),
    version: VersionName = None,
    inline: Annotated[bool, Query()] = False,
) -> Response:
    opened = PreservationService(runtime).open_file(
        identity, workspace_slug, object_uuid, file_path, version
    )
    return file_response(request, opened, inline=inline)


@router.post("/workspaces/{workspace_slug}/objects/{object_uuid}/remove-file")
def remove_file(
    request: Request,
    workspace_slug: str,
    object_uuid: str,
    runtime: RuntimeDep,
    identity: allowed("objects.delete"),
    path: Annotated[str, Form(max_length=1000)] = "",
    message: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        PreservationService(runtime).remove_files(
            identity, workspace_slug, object_uuid, [path], message
        )
    except InvalidInput as error:
        detail = "; ".join(e.reason for e in error.errors) or error.detail
        return _object_page(
            request, runtime, identity, workspace_slug, object_uuid, message=detail, status_code=422
        )
    return RedirectResponse(
        f"/workspaces/{workspace_slug}/objects/{object_uuid}?notice=removed", status_code=303
    )


@router.post("/workspaces/{workspace_slug}/objects/{object_uuid}/delete")
def delete_object(
    request: Request,
    workspace_slug: str,
    object_uuid: str,
    runtime: RuntimeDep,
    identity: allowed("objects.delete"),
    message: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        PreservationService(runtime).delete_object(identity, workspace_slug, object_uuid, message)
    except PermissionDenied as error:
        return _object_page(
            request,
            runtime,
            identity,
            workspace_slug,
            object_uuid,
            message=error.detail,
            status_code=409,
        )
    return RedirectResponse(
        f"/workspaces/{workspace_slug}/objects/{object_uuid}?notice=deleted", status_code=303
    )


@router.post("/workspaces/{workspace_slug}/objects/{object_uuid}/purge")
def purge_object(
    request: Request,
    workspace_slug: str,
    object_uuid: str,
    runtime: RuntimeDep,
    identity: allowed("objects.purge"),
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        PreservationService(runtime).purge(identity, workspace_slug, object_uuid, reason)
    except InvalidInput as error:
        return _object_page(
            request,
            runtime,
            identity,
            workspace_slug,
            object_uuid,
            errors=field_errors(error),
            status_code=422,
        )
    return RedirectResponse(f"/workspaces/{workspace_slug}/objects?notice=purged", status_code=303)
