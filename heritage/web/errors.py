"""Errors as RFC 9457 problem details for the API and as human pages for browsers.

No traceback ever reaches a user: unexpected errors are logged with the request
id, and the user sees that id so an administrator can find the log entry.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from heritage.errors import AuthenticationRequired, FieldError, ServiceError, Throttled
from heritage.web.i18n import gettext as _
from heritage.web.templating import render

log = structlog.get_logger("heritage.web.errors")
PROBLEM_TYPE = "urn:heritage-cloud:problem:"

_HTTP_KINDS = {
    400: "bad-request",
    401: "authentication-required",
    403: "permission-denied",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
    429: "throttled",
}


def wants_json(request: Request) -> bool:
    if request.url.path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def problem(
    request: Request,
    status: int,
    kind: str,
    title: str,
    detail: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    request_id = getattr(request.state, "request_id", "")
    if wants_json(request):
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE + kind,
            "title": title,
            "status": status,
            "detail": detail,
            "instance": request.url.path,
            "request_id": request_id,
        }
        if errors:
            body["errors"] = [{"field": e.field, "reason": e.reason} for e in errors]
        return JSONResponse(
            body, status_code=status, media_type="application/problem+json", headers=headers
        )
    if status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    response = render(
        request,
        "error.html",
        {"status": status, "title": _(title), "detail": detail, "field_errors": errors or []},
        status_code=status,
    )
    if headers:
        response.headers.update(headers)
    return response


def _field_of(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path", "form")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, error: ServiceError) -> Response:
        headers = None
        if isinstance(error, Throttled):
            headers = {"Retry-After": str(error.retry_after_seconds)}
        if isinstance(error, AuthenticationRequired) and wants_json(request):
            headers = {"WWW-Authenticate": 'Bearer realm="heritage"'}
        return problem(
            request, error.status, error.kind, error.title, error.detail, error.errors, headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        errors = [
            FieldError(
                "body" if item["type"] == "json_invalid" else _field_of(item["loc"]), item["msg"]
            )
            for item in error.errors()
        ]
        detail = "; ".join(f"{e.field}: {e.reason}" for e in errors)
        return problem(request, 422, "invalid-input", "Some values are not valid", detail, errors)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        kind = _HTTP_KINDS.get(error.status_code, "error")
        title = {404: "Not found", 405: "Method not allowed"}.get(
            error.status_code, "The request could not be carried out"
        )
        detail = error.detail if isinstance(error.detail, str) else title
        return problem(
            request, error.status_code, kind, title, detail, headers=getattr(error, "headers", None)
        )

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> Response:
        log.exception("unexpected error", path=request.url.path, error_type=type(error).__name__)
        return problem(
            request,
            500,
            "internal-error",
            "Something went wrong on our side",
            "The error has been logged. If it persists, give this request id to your "
            f"administrator: {getattr(request.state, 'request_id', '')}",
        )
