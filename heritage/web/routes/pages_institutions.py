"""Institutions: the list, creating one, an institution's page and its members."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from heritage.accounts.identity import Identity
from heritage.errors import Conflict, InvalidInput
from heritage.institutions.models import InstitutionKind, InstitutionRole
from heritage.institutions.services import InstitutionService
from heritage.policy import decide
from heritage.runtime import Runtime
from heritage.web.deps import RowId, RuntimeDep, allowed
from heritage.web.i18n import N_
from heritage.web.i18n import gettext as _
from heritage.web.templating import render
from heritage.workspaces.services import WorkspaceService

router = APIRouter(include_in_schema=False)


# Labels of stored values, shown through _(value) in the templates.
KIND_LABELS = (
    N_("museum"),
    N_("archive"),
    N_("library"),
    N_("university"),
    N_("research"),
    N_("gallery"),
    N_("other"),
)
INSTITUTION_ROLE_LABELS = (N_("admin"), N_("member"))


def kind_options() -> list[tuple[str, str]]:
    return [(kind.value, _(kind.value)) for kind in InstitutionKind]


def institution_role_options() -> list[tuple[str, str]]:
    return [(role.value, _(role.value)) for role in InstitutionRole]


def _notice(request: Request) -> str | None:
    notices = {
        "created": _("The institution was created."),
        "member-saved": _("The membership was saved."),
        "member-removed": _("The member was removed."),
    }
    return notices.get(request.query_params.get("notice", ""))


@router.get("/institutions")
def list_institutions(
    request: Request, runtime: RuntimeDep, identity: allowed("institution.list")
) -> Response:
    return render(
        request,
        "institutions/list.html",
        {
            "institutions": InstitutionService(runtime).list(),
            "can_create": decide(identity, "institution.create").allowed,
        },
    )


def _new_page(
    request: Request,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "institutions/new.html",
        {
            "form": form or {"kind": InstitutionKind.MUSEUM.value},
            "errors": errors or {},
            "kind_options": kind_options(),
        },
        status_code=status_code,
    )


@router.get("/institutions/new")
def new_institution(request: Request, identity: allowed("institution.create")) -> Response:
    return _new_page(request)


@router.post("/institutions")
def create_institution(
    request: Request,
    runtime: RuntimeDep,
    identity: allowed("institution.create"),
    slug: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=1000)] = "",
    kind: Annotated[str, Form(max_length=50)] = "",
    country: Annotated[str, Form(max_length=50)] = "",
    website: Annotated[str, Form(max_length=1000)] = "",
    description: Annotated[str, Form(max_length=10000)] = "",
) -> Response:
    form = {
        "slug": slug,
        "name": name,
        "kind": kind,
        "country": country,
        "website": website,
        "description": description,
    }
    try:
        institution = InstitutionService(runtime).create(
            identity,
            slug,
            name,
            kind=kind,
            country=country,
            website=website,
            description=description,
        )
    except InvalidInput as error:
        errors = {item.field: item.reason for item in error.errors}
        return _new_page(request, form, errors, 422)
    except Conflict as error:
        return _new_page(request, form, {"slug": error.detail}, 409)
    return RedirectResponse(f"/institutions/{institution.slug}?notice=created", status_code=303)


def _detail_page(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    slug: str,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    service = InstitutionService(runtime)
    institution = service.get(identity, slug)
    with runtime.database.session() as session:
        target = service.target(session, identity, institution)
    can_view_members = decide(identity, "institution.members.view", target).allowed
    can_manage_members = decide(identity, "institution.members.manage", target).allowed
    can_create_workspace = identity.is_authenticated and (
        identity.is_admin or target.institution_role is not None
    )
    return render(
        request,
        "institutions/detail.html",
        {
            "institution": institution,
            "your_role": target.institution_role,
            "workspaces": WorkspaceService(runtime).list_for_institution(identity, institution.id),
            "members": service.members(identity, slug) if can_view_members else None,
            "can_manage_members": can_manage_members,
            "can_create_workspace": can_create_workspace,
            "role_options": institution_role_options(),
            "form": form or {"role": InstitutionRole.MEMBER.value},
            "errors": errors or {},
            "notice": _notice(request),
        },
        status_code=status_code,
    )


@router.get("/institutions/{institution_slug}")
def institution_page(
    request: Request,
    institution_slug: str,
    runtime: RuntimeDep,
    identity: allowed("institution.view"),
) -> Response:
    return _detail_page(request, runtime, identity, institution_slug)


@router.post("/institutions/{institution_slug}/members")
def set_institution_member(
    request: Request,
    institution_slug: str,
    runtime: RuntimeDep,
    identity: allowed("institution.members.manage"),
    email: Annotated[str, Form(max_length=320)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    try:
        InstitutionService(runtime).set_member(identity, institution_slug, email, role)
    except InvalidInput as error:
        return _detail_page(
            request,
            runtime,
            identity,
            institution_slug,
            form={"email": email, "role": role},
            errors={item.field: item.reason for item in error.errors},
            status_code=422,
        )
    return RedirectResponse(
        f"/institutions/{institution_slug}?notice=member-saved#members", status_code=303
    )


@router.post("/institutions/{institution_slug}/members/{user_id}/remove")
def remove_institution_member(
    institution_slug: str,
    user_id: RowId,
    runtime: RuntimeDep,
    identity: allowed("institution.members.manage"),
) -> Response:
    InstitutionService(runtime).remove_member(identity, institution_slug, user_id)
    return RedirectResponse(
        f"/institutions/{institution_slug}?notice=member-removed#members", status_code=303
    )
