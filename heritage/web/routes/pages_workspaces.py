"""Workspaces: list, create, overview, members, invitations, activity, jobs, settings.

Also the page behind an invitation link, where a signed-in person accepts it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from heritage.accounts.identity import Identity
from heritage.audit.services import list_entries
from heritage.db.base import utcnow
from heritage.errors import Conflict, InvalidInput, PermissionDenied
from heritage.institutions.models import Institution
from heritage.institutions.services import InstitutionService
from heritage.jobs.services import JobService
from heritage.runtime import Runtime
from heritage.web.deps import MAX_ROW_ID, RowId, RuntimeDep, allowed
from heritage.web.forms import field_errors
from heritage.web.i18n import N_
from heritage.web.i18n import gettext as _
from heritage.web.templating import render
from heritage.workspaces.models import Invitation, Role, Visibility, Workspace
from heritage.workspaces.services import WorkspaceService

router = APIRouter(include_in_schema=False)
AUDIT_PAGE_SIZE = 50


# Labels of stored values, shown through _(value) in the templates.
ROLE_LABELS = (N_("viewer"), N_("contributor"), N_("editor"), N_("manager"), N_("owner"))
VISIBILITY_LABELS = (N_("private"), N_("public"))
INVITATION_STATES = (N_("active"), N_("accepted"), N_("expired"), N_("revoked"))
# Reasons WorkspaceService gives for an unusable invitation.
INVITATION_REASONS = (
    N_("This invitation was withdrawn."),
    N_("This invitation has already been used."),
    N_("This invitation has expired. Ask for a new one."),
    N_(
        "This invitation was sent to another email address. Sign in with that address to accept it."
    ),
)
# Titles of the error pages (heritage/web/errors.py passes them through _()).
ERROR_TITLES = (
    N_("The request could not be carried out"),
    N_("Some values are not valid"),
    N_("Not found"),
    N_("Conflict with the current state"),
    N_("Sign-in required"),
    N_("Sign-in failed"),
    N_("Not allowed"),
    N_("Too many attempts"),
    N_("The stored content failed its integrity check"),
    N_("Method not allowed"),
    N_("Something went wrong on our side"),
)

# The workspace's sub-navigation: (key, path suffix, action needed).
TABS = (
    ("overview", "", "workspace.view"),
    ("objects", "/objects", "objects.view"),
    ("records", "/records", "records.view"),
    ("members", "/members", "workspace.members.view"),
    ("invitations", "/invitations", "workspace.invitations.manage"),
    ("activity", "/activity", "workspace.audit.view"),
    ("jobs", "/jobs", "workspace.jobs.view"),
    ("settings", "/settings", "workspace.update"),
)


def role_options() -> list[tuple[str, str]]:
    return [(role.value, _(role.value)) for role in Role]


def visibility_options() -> list[tuple[str, str, str]]:
    return [
        (
            Visibility.PRIVATE.value,
            _("private"),
            _("Only members can see the workspace."),
        ),
        (
            Visibility.PUBLIC.value,
            _("public"),
            _("Anyone can read the workspace, even without signing in."),
        ),
    ]


def _notice(request: Request) -> str | None:
    notices = {
        "created": _("The workspace was created. You are its owner."),
        "saved": _("The settings were saved."),
        "deleted": _("The workspace was deleted."),
        "member-added": _("The member was added."),
        "role-changed": _("The role was changed."),
        "member-removed": _("The member was removed."),
        "invitation-revoked": _("The invitation was withdrawn."),
        "invitation-accepted": _("Welcome! You are now a member of this workspace."),
    }
    return notices.get(request.query_params.get("notice", ""))


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _workspace_context(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    workspace: Workspace,
    current: str,
) -> dict[str, Any]:
    """What every page of a workspace shows: its name, your role and the tabs you may use."""
    service = WorkspaceService(runtime)
    tabs = [
        (key, f"/workspaces/{workspace.slug}{suffix}")
        for key, suffix, action in TABS
        if key == "overview" or service.can(identity, workspace, action)
    ]
    return {
        "workspace": workspace,
        "your_role": service.role_of(identity, workspace),
        "tabs": tabs,
        "current_tab": current,
        "notice": _notice(request),
    }


# -- list and create -------------------------------------------------------------
@router.get("/workspaces")
def list_workspaces(
    request: Request, runtime: RuntimeDep, identity: allowed("workspace.list")
) -> Response:
    return render(
        request,
        "workspaces/list.html",
        {
            "workspaces": WorkspaceService(runtime).list_visible(identity),
            "notice": _notice(request),
        },
    )


def _institution_choices(runtime: Runtime, identity: Identity) -> list[tuple[str, str]]:
    service = InstitutionService(runtime)
    if identity.is_admin:
        institutions = service.list()
    elif identity.user_id is not None:
        institutions = [
            institution for institution, _role in service.memberships_of(identity.user_id)
        ]
    else:
        institutions = []
    return [(institution.slug, institution.name) for institution in institutions]


def _new_page(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    *,
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "workspaces/new.html",
        {
            "form": form,
            "errors": errors or {},
            "institution_options": _institution_choices(runtime, identity),
            "visibility_options": visibility_options(),
        },
        status_code=status_code,
    )


@router.get("/workspaces/new")
def new_workspace(
    request: Request,
    runtime: RuntimeDep,
    identity: allowed("workspace.create"),
    institution: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    form = {"institution": institution, "visibility": Visibility.PRIVATE.value}
    return _new_page(request, runtime, identity, form=form)


@router.post("/workspaces")
def create_workspace(
    request: Request,
    runtime: RuntimeDep,
    identity: allowed("workspace.create"),
    slug: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=1000)] = "",
    institution: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=10000)] = "",
    visibility: Annotated[str, Form(max_length=20)] = "private",
) -> Response:
    form = {
        "slug": slug,
        "name": name,
        "institution": institution,
        "description": description,
        "visibility": visibility,
    }
    errors: dict[str, str] = {}
    status_code = 422
    if not institution:
        errors["institution"] = _("Choose an institution.")
    else:
        try:
            workspace = WorkspaceService(runtime).create(
                identity,
                slug,
                name,
                institution=institution,
                description=description,
                visibility=visibility,
            )
        except InvalidInput as error:
            errors = field_errors(error)
        except Conflict as error:
            errors, status_code = {"slug": error.detail}, 409
        except PermissionDenied as error:
            errors, status_code = {"institution": error.detail}, 403
        else:
            return _redirect(f"/workspaces/{workspace.slug}?notice=created")
    return _new_page(request, runtime, identity, form=form, errors=errors, status_code=status_code)


# -- one workspace -----------------------------------------------------------------
@router.get("/workspaces/{workspace_slug}")
def workspace_page(
    request: Request,
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("workspace.view"),
) -> Response:
    workspace = WorkspaceService(runtime).get(identity, workspace_slug)
    with runtime.database.session() as session:
        institution = session.get(Institution, workspace.institution_id)
    context = _workspace_context(request, runtime, identity, workspace, "overview")
    context["institution"] = institution
    return render(request, "workspaces/detail.html", context)


# -- members -----------------------------------------------------------------------
def _members_page(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    slug: str,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    service = WorkspaceService(runtime)
    workspace = service.get(identity, slug, "workspace.members.view")
    context = _workspace_context(request, runtime, identity, workspace, "members")
    context.update(
        {
            "members": service.members(identity, slug),
            "can_manage": service.can(identity, workspace, "workspace.members.manage"),
            "role_options": role_options(),
            "form": form or {"role": Role.VIEWER.value},
            "errors": errors or {},
            "message": message,
        }
    )
    return render(request, "workspaces/members.html", context, status_code=status_code)


@router.get("/workspaces/{workspace_slug}/members")
def members_page(
    request: Request,
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("workspace.members.view"),
) -> Response:
    return _members_page(request, runtime, identity, workspace_slug)


@router.post("/workspaces/{workspace_slug}/members")
def add_member(
    request: Request,
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("workspace.members.manage"),
    email: Annotated[str, Form(max_length=320)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    form = {"email": email, "role": role}
    try:
        WorkspaceService(runtime).add_member(identity, workspace_slug, email, role)
    except InvalidInput as error:
        errors, status_code = field_errors(error), 422
    except PermissionDenied as error:
        errors, status_code = {"role": error.detail}, 403
    except Conflict as error:
        errors, status_code = {"role": error.detail}, 409
    else:
        return _redirect(f"/workspaces/{workspace_slug}/members?notice=member-added")
    return _members_page(
        request,
        runtime,
        identity,
        workspace_slug,
        form=form,
        errors=errors,
        status_code=status_code,
    )


@router.post("/workspaces/{workspace_slug}/members/{user_id}/role")
def change_member_role(
    request: Request,
    workspace_slug: str,
    user_id: RowId,
    runtime: RuntimeDep,
    identity: allowed("workspace.members.manage"),
    role: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    try:
        WorkspaceService(runtime).change_role(identity, workspace_slug, user_id, role)
    except InvalidInput as error:
        message, status_code = error.detail, 422
    except (PermissionDenied, Conflict) as error:
        message, status_code = error.detail, error.status
    else:
        return _redirect(f"/workspaces/{workspace_slug}/members?notice=role-changed")
    return _members_page(
        request, runtime, identity, workspace_slug, message=message, status_code=status_code
    )


@router.post("/workspaces/{workspace_slug}/members/{user_id}/remove")
def remove_member(
    request: Request,
    workspace_slug: str,
    user_id: RowId,
    runtime: RuntimeDep,
    identity: allowed("workspace.members.manage"),
) -> Response:
    try:
        WorkspaceService(runtime).remove_member(identity, workspace_slug, user_id)
    except (PermissionDenied, Conflict) as error:
        return _members_page(
            request,
            runtime,
            identity,
            workspace_slug,
            message=error.detail,
            status_code=error.status,
        )
    if user_id == identity.user_id:
        # Whoever leaves a workspace may no longer see its members (or, if private, it).
        return _redirect("/workspaces?notice=member-removed")
    return _redirect(f"/workspaces/{workspace_slug}/members?notice=member-removed")


# -- invitations -------------------------------------------------------------------
def invitation_state(invitation: Invitation) -> str:
    if invitation.revoked_at is not None:
        return "revoked"
    if invitation.accepted_at is not None:
        return "accepted"
    if invitation.expires_at <= utcnow():
        return "expired"
    return "active"


def _invitations_page(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    slug: str,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    new_link: str | None = None,
    new_invitation: Invitation | None = None,
    status_code: int = 200,
) -> Response:
    service = WorkspaceService(runtime)
    workspace = service.get(identity, slug, "workspace.invitations.manage")
    context = _workspace_context(request, runtime, identity, workspace, "invitations")
    defaults = {
        "role": Role.VIEWER.value,
        "days": str(runtime.settings.invitation_lifetime_days),
    }
    context.update(
        {
            "invitations": [
                (invitation, invitation_state(invitation))
                for invitation in service.invitations(identity, slug)
            ],
            "role_options": role_options(),
            "form": {**defaults, **(form or {})},
            "errors": errors or {},
            "new_link": new_link,
            "new_invitation": new_invitation,
        }
    )
    return render(request, "workspaces/invitations.html", context, status_code=status_code)


@router.get("/workspaces/{workspace_slug}/invitations")
def invitations_page(
    request: Request,
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("workspace.invitations.manage"),
) -> Response:
    return _invitations_page(request, runtime, identity, workspace_slug)


@router.post("/workspaces/{workspace_slug}/invitations")
def create_invitation(
    request: Request,
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("workspace.invitations.manage"),
    role: Annotated[str, Form(max_length=20)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    days: Annotated[str, Form(max_length=10)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    form = {"role": role, "email": email, "days": days, "note": note}
    lifetime: int | None = None
    errors: dict[str, str] = {}
    status_code = 422
    if days.strip():
        try:
            lifetime = int(days.strip())
        except ValueError:
            errors["days"] = _("Enter a whole number of days.")
    if not errors:
        try:
            created = WorkspaceService(runtime).invite(
                identity, workspace_slug, role, email=email, days=lifetime, note=note
            )
        except InvalidInput as error:
            errors = field_errors(error)
        except (PermissionDenied, Conflict) as error:
            errors, status_code = {"role": error.detail}, error.status
        else:
            # The link holds the secret: it is shown on this response only.
            return _invitations_page(
                request,
                runtime,
                identity,
                workspace_slug,
                new_link=created.link(runtime.settings.base_url),
                new_invitation=created.invitation,
            )
    return _invitations_page(
        request,
        runtime,
        identity,
        workspace_slug,
        form=form,
        errors=errors,
        status_code=status_code,
    )


@router.post("/workspaces/{workspace_slug}/invitations/{invitation_id}/revoke")
def revoke_invitation(
    workspace_slug: str,
    invitation_id: RowId,
    runtime: RuntimeDep,
    identity: allowed("workspace.invitations.manage"),
) -> Response:
    WorkspaceService(runtime).revoke_invitation(identity, workspace_slug, invitation_id)
    return _redirect(f"/workspaces/{workspace_slug}/invitations?notice=invitation-revoked")


# -- activity and jobs ---------------------------------------------------------------
@router.get("/workspaces/{workspace_slug}/activity")
def activity_page(
    request: Request,
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("workspace.audit.view"),
    before: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> Response:
    workspace = WorkspaceService(runtime).get(identity, workspace_slug, "workspace.audit.view")
    with runtime.database.session() as session:
        entries = list_entries(
            session, workspace_id=workspace.id, before_seq=before, limit=AUDIT_PAGE_SIZE + 1
        )
    context = _workspace_context(request, runtime, identity, workspace, "activity")
    context.update(
        {
            "entries": entries[:AUDIT_PAGE_SIZE],
            "newer": before is not None,
            "older": entries[AUDIT_PAGE_SIZE - 1].seq if len(entries) > AUDIT_PAGE_SIZE else None,
        }
    )
    return render(request, "workspaces/activity.html", context)


@router.get("/workspaces/{workspace_slug}/jobs")
def workspace_jobs_page(
    request: Request,
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("workspace.jobs.view"),
) -> Response:
    workspace = WorkspaceService(runtime).get(identity, workspace_slug, "workspace.jobs.view")
    context = _workspace_context(request, runtime, identity, workspace, "jobs")
    context["jobs"] = JobService(runtime).list_for_workspace(workspace.id)
    return render(request, "workspaces/jobs.html", context)


# -- settings and deletion -----------------------------------------------------------
def _settings_page(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    slug: str,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    service = WorkspaceService(runtime)
    workspace = service.get(identity, slug, "workspace.update")
    context = _workspace_context(request, runtime, identity, workspace, "settings")
    values = {
        "name": workspace.name,
        "description": workspace.description,
        "visibility": workspace.visibility.value,
    }
    context.update(
        {
            "form": {**values, **(form or {})},
            "errors": errors or {},
            "visibility_options": visibility_options(),
            "can_delete": service.can(identity, workspace, "workspace.delete"),
        }
    )
    return render(request, "workspaces/settings.html", context, status_code=status_code)


@router.get("/workspaces/{workspace_slug}/settings")
def settings_page(
    request: Request,
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("workspace.update"),
) -> Response:
    return _settings_page(request, runtime, identity, workspace_slug)


@router.post("/workspaces/{workspace_slug}/settings")
def update_settings(
    request: Request,
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("workspace.update"),
    name: Annotated[str, Form(max_length=1000)] = "",
    description: Annotated[str, Form(max_length=10000)] = "",
    visibility: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    try:
        WorkspaceService(runtime).update(
            identity, workspace_slug, name=name, description=description, visibility=visibility
        )
    except InvalidInput as error:
        form = {"name": name, "description": description, "visibility": visibility}
        return _settings_page(
            request,
            runtime,
            identity,
            workspace_slug,
            form=form,
            errors=field_errors(error),
            status_code=422,
        )
    return _redirect(f"/workspaces/{workspace_slug}/settings?notice=saved")


@router.post("/workspaces/{workspace_slug}/delete")
def delete_workspace(
    request: Request,
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("workspace.delete"),
    confirm: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        WorkspaceService(runtime).delete(identity, workspace_slug, confirm_slug=confirm.strip())
    except InvalidInput:
        errors = {"confirm": _("Type the workspace's short name exactly as shown to confirm.")}
        return _settings_page(
            request, runtime, identity, workspace_slug, errors=errors, status_code=422
        )
    return _redirect("/workspaces?notice=deleted")


# -- invitation links ----------------------------------------------------------------
def _invitation_page(
    request: Request,
    runtime: Runtime,
    secret: str,
    *,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    view = WorkspaceService(runtime).open_invitation(secret)
    return render(
        request,
        "workspaces/invitation.html",
        {"view": view, "secret": secret, "message": message},
        status_code=status_code,
    )


@router.get("/invitations/{secret}")
def invitation_page(
    request: Request, secret: str, runtime: RuntimeDep, identity: allowed("invitation.view")
) -> Response:
    return _invitation_page(request, runtime, secret)


@router.post("/invitations/{secret}/accept")
def accept_invitation(
    request: Request, secret: str, runtime: RuntimeDep, identity: allowed("invitation.accept")
) -> Response:
    try:
        workspace = WorkspaceService(runtime).accept_invitation(identity, secret)
    except (Conflict, PermissionDenied) as error:
        return _invitation_page(
            request, runtime, secret, message=_(error.detail), status_code=error.status
        )
    return _redirect(f"/workspaces/{workspace.slug}?notice=invitation-accepted")
