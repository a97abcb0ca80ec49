"""Jinja2 environment: autoescaping, gettext, and helpers every page uses."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from heritage import __version__
from heritage.web import i18n

TEMPLATES_DIR = Path(__file__).parent / "templates"

_environment = Environment(
    loader=FileSystemLoader(str(TEMPLATES_DIR)),
    autoescape=select_autoescape(["html", "xml"]),
    extensions=["jinja2.ext.i18n"],
)
templates = Jinja2Templates(env=_environment)
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    gettext=i18n.gettext, ngettext=i18n.ngettext, newstyle=True
)


def _datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _number(value: float | int | None) -> str:
    """A number as the page's language writes it (100,000 · 100.000 · 100 000)."""
    from babel.numbers import format_decimal

    if value is None:
        return ""
    return format_decimal(value, format="#,##0.######", locale=i18n.current_language.get())


templates.env.filters["datetime"] = _datetime
templates.env.filters["number"] = _number
templates.env.globals["version"] = __version__
templates.env.globals["language_names"] = i18n.LANGUAGE_NAMES
templates.env.globals["field_label"] = i18n.field_label


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    values: dict[str, Any] = {
        "identity": request.state.identity,
        "csrf_token": request.state.csrf_token,
        "language": request.state.language,
        "request_id": request.state.request_id,
        "errors": {},
        "form": {},
    }
    values.update(context or {})
    return templates.TemplateResponse(request, name, values, status_code=status_code)
