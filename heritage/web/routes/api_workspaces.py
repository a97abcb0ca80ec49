"""/api/workspaces: workspaces, members, invitations, audit log and jobs of a workspace."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response, status

from heritage.accounts.identity import Identity
from heritage.audit.services import list_entries
from heritage.institutions.models import Institution
from heritage.jobs.services import JobService
from heritage.runtime import Runtime
from heritage.web.deps import MAX_ROW_ID, RowId, RuntimeDep, allowed
from heritage.web.schemas import (
    AuditEntryOut,
    InvitationCreate,
    InvitationOut,
    JobOut,
    MemberAdd,
    MemberOut,
    MemberRole,
    NewInvitationOut,
    WorkspaceCreate,
    WorkspaceOut,
    WorkspaceUpdate,
)
from heritage.workspaces.models import Role, Workspace
from heritage.workspaces.services import Member, WorkspaceService

router = APIRouter(prefix="/api/workspaces", tags=["workspaces"])
NOT_FOUND = {404: {"description": "Not found"}}


def workspace_out(runtime: Runtime, workspace: Workspace, role: Role | None) -> WorkspaceOut:
    with runtime.database.session() as session:
        institution = session.get(Institution, workspace.institution_id)
    return WorkspaceOut(
        slug=workspace.slug,
        name=workspace.name,
        description=workspace.description,
        institution=institution.slug if institution else "",
        visibility=workspace.visibility.value,
        created_at=workspace.created_at,
        your_role=role.value if role else None,
    )


def member_out(member: Member) -> MemberOut:
    return MemberOut(
        user_id=member.user_id,
        email=member.email,
        display_name=member.display_name,
        role=member.role.value,
    )


def _workspace(runtime: Runtime, identity: Identity, slug: str) -> WorkspaceOut:
    service = WorkspaceService(runtime)
    workspace = service.get(identity, slug)
    return workspace_out(runtime, workspace, service.role_of(identity, workspace))


@router.get("", response_model=list[WorkspaceOut])
def list_workspaces(runtime: RuntimeDep, identity: allowed("workspace.list")) -> list[WorkspaceOut]:
    return [
        workspace_out(runtime, workspace, role)
        for workspace, role in WorkspaceService(runtime).list_visible(identity)
    ]


@router.post("", response_model=WorkspaceOut, status_code=status.HTTP_201_CREATED)
def create_workspace(
    body: WorkspaceCreate, runtime: RuntimeDep, identity: allowed("workspace.create")
) -> WorkspaceOut:
    workspace = WorkspaceService(runtime).create(
        identity,
        body.slug,
        body.name,
        institution=body.institution,
        description=body.description,
        visibility=body.visibility,
    )
    return _workspace(runtime, identity, workspace.slug)


@router.get("/{workspace_slug}", response_model=WorkspaceOut, responses=NOT_FOUND)
def get_workspace(
    workspace_slug: str, runtime: RuntimeDep, identity: allowed("workspace.view")
) -> WorkspaceOut:
    return _workspace(runtime, identity, workspace_slug)


@router.patch("/{workspace_slug}", response_model=WorkspaceOut, responses=NOT_FOUND)
def update_workspace(
    workspace_slug: str,
    body: WorkspaceUpdate,
    runtime: RuntimeDep,
    identity: allowed("workspace.update"),
) -> WorkspaceOut:
    WorkspaceService(runtime).update(
        identity, workspace_slug, **body.model_dump(exclude_unset=True)
    )
    return _workspace(runtime, identity, workspace_slug)


@router.delete("/{workspace_slug}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_workspace(
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("workspace.delete"),
    confirm: str = Query(description="The workspace's slug again, to confirm."),
) -> Response:
    WorkspaceService(runtime).delete(identity, workspace_slug, confirm_slug=confirm)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{workspace_slug}/members", response_model=list[MemberOut], responses=NOT_FOUND)
def list_members(
    workspace_slug: str, runtime: RuntimeDep, identity: allowed("workspace.members.view")
) -> list[MemberOut]:
    return [member_out(m) for m in WorkspaceService(runtime).members(identity, workspace_slug)]


@router.post(
    "/{workspace_slug}/members",
    response_model=MemberOut,
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND,
)
def add_member(
    workspace_slug: str,
    body: MemberAdd,
    runtime: RuntimeDep,
    identity: allowed("workspace.members.manage"),
) -> MemberOut:
    return member_out(
        WorkspaceService(runtime).add_member(identity, workspace_slug, body.email, body.role)
    )


@router.patch("/{workspace_slug}/members/{user_id}", response_model=MemberOut, responses=NOT_FOUND)
def change_member_role(
    workspace_slug: str,
    user_id: RowId,
    body: MemberRole,
    runtime: RuntimeDep,
    identity: allowed("workspace.members.manage"),
) -> MemberOut:
    return member_out(
        WorkspaceService(runtime).change_role(identity, workspace_slug, user_id, body.role)
    )


@router.delete(
    "/{workspace_slug}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
)
def remove_member(
    workspace_slug: str,
    user_id: RowId,
    runtime: RuntimeDep,
    identity: allowed("workspace.members.manage"),
) -> Response:
    WorkspaceService(runtime).remove_member(identity, workspace_slug, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{workspace_slug}/invitations", response_model=list[InvitationOut], responses=NOT_FOUND
)
def list_invitations(
    workspace_slug: str, runtime: RuntimeDep, identity: allowed("workspace.invitations.manage")
) -> list[InvitationOut]:
    return [
        InvitationOut.model_validate(i)
        for i in WorkspaceService(runtime).invitations(identity, workspace_slug)
    ]


@router.post(
    "/{workspace_slug}/invitations",
    response_model=NewInvitationOut,
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND,
)
def create_invitation(
    workspace_slug: str,
    body: InvitationCreate,
    runtime: RuntimeDep,
    identity: allowed("workspace.invitations.manage"),
) -> NewInvitationOut:
    new = WorkspaceService(runtime).invite(
        identity, workspace_slug, body.role, email=body.email, days=body.days, note=body.note
    )
    return NewInvitationOut(
        invitation=InvitationOut.model_validate(new.invitation),
        link=new.link(runtime.settings.base_url),
    )


@router.delete(
    "/{workspace_slug}/invitations/{invitation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
)
def revoke_invitation(
    workspace_slug: str,
    invitation_id: RowId,
    runtime: RuntimeDep,
    identity: allowed("workspace.invitations.manage"),
) -> Response:
    WorkspaceService(runtime).revoke_invitation(identity, workspace_slug, invitation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{workspace_slug}/audit", response_model=list[AuditEntryOut], responses=NOT_FOUND)
def workspace_audit(
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("workspace.audit.view"),
    before: int | None = Query(
        default=None, ge=1, le=MAX_ROW_ID, description="Entries before this seq."
    ),
    limit: int = Query(default=50, ge=1, le=500),
) -> list[AuditEntryOut]:
    workspace = WorkspaceService(runtime).get(identity, workspace_slug, "workspace.audit.view")
    with runtime.database.session() as session:
        entries = list_entries(session, workspace_id=workspace.id, before_seq=before, limit=limit)
    return [AuditEntryOut.model_validate(e) for e in entries]


@router.get("/{workspace_slug}/jobs", response_model=list[JobOut], responses=NOT_FOUND)
def workspace_jobs(
    workspace_slug: str, runtime: RuntimeDep, identity: allowed("workspace.jobs.view")
) -> list[JobOut]:
    workspace = WorkspaceService(runtime).get(identity, workspace_slug, "workspace.jobs.view")
    return [JobOut.model_validate(j) for j in JobService(runtime).list_for_workspace(workspace.id)]
