"""The FastAPI application: JSON API under /api, pages everywhere else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

from heritage import __version__
from heritage.config import Settings, load_settings
from heritage.runtime import Runtime
from heritage.web.context import RequestContextMiddleware
from heritage.web.errors import install_error_handlers
from heritage.web.routes import (
    api_accounts,
    api_institutions,
    api_misc,
    api_workspaces,
    health,
    pages_account,
    pages_admin,
    pages_auth,
    pages_institutions,
    pages_jobs,
    pages_workspaces,
)

STATIC_DIR = Path(__file__).parent / "static"

API_DESCRIPTION = """
The Heritage Cloud API. Authenticate with a personal API token
(`Authorization: Bearer hc_...`, created under *Settings → API tokens* or with
`heritage token create`). Errors are RFC 9457 problem details naming the field
and the reason.
"""

ROUTERS = [
    health.router,
    api_accounts.router,
    api_institutions.router,
    api_workspaces.router,
    api_misc.router,
    pages_auth.router,
    pages_account.router,
    pages_admin.router,
    pages_institutions.router,
    pages_workspaces.router,
    pages_jobs.router,
]


def _openapi_with_security(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, declaring the personal-token bearer scheme."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("components", {})["securitySchemes"] = {
            "personalToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "A personal API token (hc_...).",
            }
        }
        schema["security"] = [{"personalToken": []}, {}]
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(runtime: Runtime | None = None, settings: Settings | None = None) -> FastAPI:
    if runtime is None:
        runtime = Runtime(settings or load_settings())
    app = FastAPI(
        title="Heritage Cloud",
        version=__version__,
        description=API_DESCRIPTION,
        # Served by routes in health.py so they pass through the policy like all others.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.openapi = lambda: _openapi_with_security(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(RequestContextMiddleware, runtime=runtime)
    return app
