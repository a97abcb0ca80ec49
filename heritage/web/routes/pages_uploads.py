"""The upload page of a workspace: the resumable upload partial on a page of its own."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from heritage.errors import NotFound
from heritage.records.services import RecordService
from heritage.web.deps import RuntimeDep, allowed
from heritage.web.routes.pages_workspaces import _workspace_context
from heritage.web.templating import render
from heritage.workspaces.services import WorkspaceService

router = APIRouter(include_in_schema=False)


@router.get("/workspaces/{workspace_slug}/upload")
def upload_page(
    request: Request, workspace_slug: str, runtime: RuntimeDep, identity: allowed("uploads.create")
) -> Response:
    workspace = WorkspaceService(runtime).get(identity, workspace_slug)
    context = _workspace_context(request, runtime, identity, workspace, "objects")
    context["workspace_slug"] = workspace.slug
    record = request.query_params.get("record")
    if record:
        # files for a record: they become its representations (see UploadService)
        view = RecordService(runtime).get(identity, record)
        if view.workspace_slug != workspace.slug:
            raise NotFound("No such record in this workspace")
        context["record_uuid"] = view.uuid
        context["record_title"] = view.row.title
    return render(request, "uploads/page.html", context)
