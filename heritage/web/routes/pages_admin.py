"""Instance administration: user accounts and the instance-wide audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from heritage.accounts.identity import Identity
from heritage.accounts.services import AccountService
from heritage.audit.services import ChainReport, list_entries, verify_chain
from heritage.errors import Conflict, InvalidInput
from heritage.runtime import Runtime
from heritage.web.deps import MAX_ROW_ID, RuntimeDep, allowed
from heritage.web.i18n import gettext as _
from heritage.web.templating import render

router = APIRouter(include_in_schema=False)
AUDIT_PAGE_SIZE = 50


def _notice(request: Request) -> str | None:
    notices = {"user-created": _("The account was created.")}
    return notices.get(request.query_params.get("notice", ""))


def _admin_page(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "admin/overview.html",
        {
            "users": AccountService(runtime).list_users(identity),
            "form": form or {},
            "errors": errors or {},
            "notice": _notice(request),
        },
        status_code=status_code,
    )


@router.get("/admin")
def admin_overview(
    request: Request, runtime: RuntimeDep, identity: allowed("users.view")
) -> Response:
    return _admin_page(request, runtime, identity)


@router.post("/admin/users")
def create_user(
    request: Request,
    runtime: RuntimeDep,
    identity: allowed("users.create"),
    email: Annotated[str, Form(max_length=320)] = "",
    display_name: Annotated[str, Form(max_length=1000)] = "",
    password: Annotated[str, Form(max_length=2048)] = "",
    is_admin: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    form = {"email": email, "display_name": display_name, "is_admin": bool(is_admin)}
    errors: dict[str, str] = {}
    status_code = 422
    if not email.strip():
        errors["email"] = _("Enter an email address.")
    if not password:
        errors["password"] = _("Enter a first password for the account.")
    if not errors:
        try:
            AccountService(runtime).create_user(
                identity, email, password, display_name=display_name, is_admin=bool(is_admin)
            )
        except InvalidInput as error:
            errors = {item.field: item.reason for item in error.errors}
        except Conflict as error:
            errors, status_code = {"email": error.detail}, 409
        else:
            return RedirectResponse("/admin?notice=user-created", status_code=303)
    return _admin_page(
        request, runtime, identity, form=form, errors=errors, status_code=status_code
    )


def _audit_page(
    request: Request,
    runtime: Runtime,
    *,
    before: int | None,
    report: ChainReport | None = None,
) -> Response:
    with runtime.database.session() as session:
        entries = list_entries(session, before_seq=before, limit=AUDIT_PAGE_SIZE + 1)
    older = entries[AUDIT_PAGE_SIZE - 1].seq if len(entries) > AUDIT_PAGE_SIZE else None
    return render(
        request,
        "admin/audit.html",
        {
            "entries": entries[:AUDIT_PAGE_SIZE],
            "newer": before is not None,
            "older": older,
            "report": report,
        },
    )


@router.get("/admin/audit")
def audit_log(
    request: Request,
    runtime: RuntimeDep,
    identity: allowed("audit.view"),
    before: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> Response:
    return _audit_page(request, runtime, before=before)


@router.post("/admin/audit/verify")
def verify_audit_log(
    request: Request, runtime: RuntimeDep, identity: allowed("audit.view")
) -> Response:
    with runtime.database.session() as session:
        report = verify_chain(session)
    return _audit_page(request, runtime, before=None, report=report)
