"""Sign in, sign out, language choice, and the front page."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from heritage.accounts.services import AccountService
from heritage.config import SUPPORTED_LANGUAGES
from heritage.errors import AuthenticationFailed, InvalidInput, Throttled
from heritage.institutions.services import InstitutionService
from heritage.jobs.services import JobService
from heritage.search.saved import SavedSearchService
from heritage.web.context import SESSION_COOKIE, set_session_cookie
from heritage.web.deps import RuntimeDep, allowed
from heritage.web.forms import set_language_cookie
from heritage.web.i18n import gettext as _
from heritage.web.templating import render
from heritage.workspaces.services import WorkspaceService

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only local paths: a sign-in link must not redirect to another site."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/")
def home(request: Request, runtime: RuntimeDep, identity: allowed("public")) -> Response:
    if not identity.is_authenticated:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/dashboard", status_code=303)


@router.get("/dashboard")
def dashboard(
    request: Request, runtime: RuntimeDep, identity: allowed("dashboard.view")
) -> Response:
    workspaces = WorkspaceService(runtime).list_visible(identity)
    institutions = (
        InstitutionService(runtime).memberships_of(identity.user_id) if identity.user_id else []
    )
    jobs = JobService(runtime).list_for(identity, limit=5)
    saved = SavedSearchService(runtime).list(identity)
    return render(
        request,
        "dashboard.html",
        {
            "workspaces": workspaces,
            "institutions": institutions,
            "jobs": jobs,
            "saved_searches": sorted(saved, key=lambda item: -item.new_matches)[:8],
        },
    )


@router.get("/login")
def login_form(request: Request, identity: allowed("session.create"), next: str = "/") -> Response:
    if identity.is_authenticated:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"next": safe_next(next), "form": {}})


@router.post("/login")
async def login(
    request: Request,
    runtime: RuntimeDep,
    identity: allowed("session.create"),
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    accounts = AccountService(runtime)
    client = request.client.host if request.client else "unknown"
    errors: dict[str, str] = {}
    if not email.strip():
        errors["email"] = _("Enter your email address.")
    if not password:
        errors["password"] = _("Enter your password.")
    message = None
    status_code = 422
    retry_after: int | None = None
    if not errors:
        try:
            user = await run_in_threadpool(accounts.authenticate, email, password, client=client)
        except AuthenticationFailed:
            message, status_code = _("Wrong email or password."), 401
        except Throttled as error:
            message, status_code = (
                _(
                    "Too many failed sign-in attempts. Please wait %(minutes)s minutes and "
                    "try again."
                )
                % {"minutes": error.retry_after_seconds // 60},
                429,
            )
            retry_after = error.retry_after_seconds
        else:
            secret = await run_in_threadpool(
                accounts.start_session, user, user_agent=request.headers.get("user-agent", "")
            )
            response = RedirectResponse(safe_next(next), status_code=303)
            set_session_cookie(response, runtime, secret)
            return response
    page = render(
        request,
        "login.html",
        {"next": safe_next(next), "form": {"email": email}, "errors": errors, "message": message},
        status_code=status_code,
    )
    if retry_after is not None:
        page.headers["Retry-After"] = str(retry_after)
    return page


@router.post("/logout")
def logout(request: Request, runtime: RuntimeDep, identity: allowed("session.delete")) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        AccountService(runtime).end_session(cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/language")
def choose_language(
    request: Request,
    runtime: RuntimeDep,
    identity: allowed("public"),
    language: Annotated[str, Form(max_length=8)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    if language not in SUPPORTED_LANGUAGES:
        raise InvalidInput.on("language", f"must be one of {', '.join(SUPPORTED_LANGUAGES)}")
    if identity.user_id is not None:
        AccountService(runtime).update_profile(identity, language=language)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_language_cookie(response, runtime, language)
    return response
