"""One's own account: profile, password and personal API tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from heritage.accounts.identity import Identity
from heritage.accounts.services import AccountService
from heritage.config import SUPPORTED_LANGUAGES
from heritage.db.base import utcnow
from heritage.errors import InvalidInput
from heritage.runtime import Runtime
from heritage.web.context import SESSION_COOKIE, set_session_cookie
from heritage.web.deps import RowId, RuntimeDep, allowed
from heritage.web.forms import field_errors, set_language_cookie
from heritage.web.i18n import LANGUAGE_NAMES
from heritage.web.i18n import gettext as _
from heritage.web.templating import render

router = APIRouter(include_in_schema=False)


def _notice(request: Request) -> str | None:
    notices = {
        "profile": _("Your profile was saved."),
        "password": _("Your password was changed. Other browsers have been signed out."),
        "revoked": _("The token was revoked. It can no longer be used."),
    }
    return notices.get(request.query_params.get("notice", ""))


# -- profile and password -----------------------------------------------------
def _settings_page(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    user = AccountService(runtime).get_user(identity.user_id or 0)
    values = {
        "display_name": user.display_name,
        "language": user.language or request.state.language,
    }
    values.update(form or {})
    return render(
        request,
        "account/settings.html",
        {
            "user": user,
            "form": values,
            "errors": errors or {},
            "language_options": [(code, LANGUAGE_NAMES[code]) for code in SUPPORTED_LANGUAGES],
            "notice": _notice(request),
        },
        status_code=status_code,
    )


@router.get("/settings")
def settings_page(
    request: Request, runtime: RuntimeDep, identity: allowed("account.view")
) -> Response:
    return _settings_page(request, runtime, identity)


@router.post("/settings/profile")
def update_profile(
    request: Request,
    runtime: RuntimeDep,
    identity: allowed("account.update"),
    display_name: Annotated[str, Form(max_length=1000)] = "",
    language: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    form = {"display_name": display_name, "language": language}
    if language not in SUPPORTED_LANGUAGES:
        errors = {"language": _("Choose one of the languages offered.")}
        return _settings_page(request, runtime, identity, form=form, errors=errors, status_code=422)
    try:
        AccountService(runtime).update_profile(
            identity, display_name=display_name, language=language
        )
    except InvalidInput as error:
        return _settings_page(
            request, runtime, identity, form=form, errors=field_errors(error), status_code=422
        )
    response = RedirectResponse("/settings?notice=profile", status_code=303)
    set_language_cookie(response, runtime, language)
    return response


@router.post("/settings/password")
def change_password(
    request: Request,
    runtime: RuntimeDep,
    identity: allowed("account.update"),
    current_password: Annotated[str, Form(max_length=1024)] = "",
    new_password: Annotated[str, Form(max_length=2048)] = "",
    new_password_confirm: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    errors: dict[str, str] = {}
    if not current_password:
        errors["current_password"] = _("Enter your current password.")
    if not new_password:
        errors["new_password"] = _("Enter a new password.")
    elif new_password != new_password_confirm:
        errors["new_password_confirm"] = _("The two new passwords do not match.")
    accounts = AccountService(runtime)
    if not errors:
        try:
            accounts.change_password(identity, current_password, new_password)
        except InvalidInput as error:
            errors = field_errors(error)
    if errors:
        return _settings_page(request, runtime, identity, errors=errors, status_code=422)
    response = RedirectResponse("/settings?notice=password", status_code=303)
    if request.cookies.get(SESSION_COOKIE) and identity.user_id is not None:
        # Changing the password ends every session, this one included: start a new one
        # so the person who just changed it stays signed in here.
        user = accounts.get_user(identity.user_id)
        secret = accounts.start_session(user, user_agent=request.headers.get("user-agent", ""))
        set_session_cookie(response, runtime, secret)
    return response


# -- API tokens -------------------------------------------------------------------
def _token_state(token: Any) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at <= utcnow():
        return "expired"
    return "active"


def _tokens_page(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    new_token: Any = None,
    status_code: int = 200,
) -> Response:
    tokens = AccountService(runtime).list_tokens(identity)
    values: dict[str, Any] = {"name": "", "days": str(runtime.settings.token_default_days)}
    values.update(form or {})
    return render(
        request,
        "account/tokens.html",
        {
            "tokens": [(token, _token_state(token)) for token in tokens],
            "form": values,
            "errors": errors or {},
            "new_token": new_token,
            "notice": _notice(request),
        },
        status_code=status_code,
    )


@router.get("/settings/tokens")
def tokens_page(
    request: Request, runtime: RuntimeDep, identity: allowed("account.view")
) -> Response:
    return _tokens_page(request, runtime, identity)


@router.post("/settings/tokens")
def create_token(
    request: Request,
    runtime: RuntimeDep,
    identity: allowed("tokens.create"),
    name: Annotated[str, Form(max_length=1000)] = "",
    days: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    form = {"name": name, "days": days}
    lifetime: int | None = None
    if days.strip():
        try:
            lifetime = int(days.strip())
        except ValueError:
            errors = {"days": _("Enter a whole number of days.")}
            return _tokens_page(
                request, runtime, identity, form=form, errors=errors, status_code=422
            )
    try:
        new_token = AccountService(runtime).create_token(identity, name, days=lifetime)
    except InvalidInput as error:
        return _tokens_page(
            request, runtime, identity, form=form, errors=field_errors(error), status_code=422
        )
    # The secret is shown on this response only; it is never stored.
    return _tokens_page(request, runtime, identity, new_token=new_token)


@router.post("/settings/tokens/{token_id}/revoke")
def revoke_token(
    token_id: RowId, runtime: RuntimeDep, identity: allowed("tokens.revoke")
) -> Response:
    AccountService(runtime).revoke_token(identity, token_id)
    return RedirectResponse("/settings/tokens?notice=revoked", status_code=303)
