"""Small helpers the page routes share for forms and their answers."""

from __future__ import annotations

from starlette.responses import Response

from heritage.errors import InvalidInput
from heritage.runtime import Runtime
from heritage.web.context import LANGUAGE_COOKIE


def field_errors(error: InvalidInput) -> dict[str, str]:
    """The service's field errors as the templates show them (field name → reason)."""
    return {item.field: item.reason for item in error.errors} or {"form": error.detail}


def set_language_cookie(response: Response, runtime: Runtime, language: str) -> None:
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=365 * 86400,
        samesite="lax",
        secure=runtime.settings.secure_cookies,
        path="/",
    )
