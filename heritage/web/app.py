"""The FastAPI application: JSON API under /api, pages everywhere else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

from heritage import __version__
from heritage.config import Settings, load_settings
from heritage.logs import configure_logging
from heritage.runtime import Runtime
from heritage.web.context import RequestContextMiddleware
from heritage.web.errors import install_error_handlers
from heritage.web.image_tiles import StoredTileShortcut
from heritage.web.routes import (
    api_accounts,
    api_batch,
    api_imports,
    api_institutions,
    api_misc,
    api_objects,
    api_records,
    api_remote_images,
    api_search,
    api_threed,
    api_uploads,
    api_workspaces,
    health,
    iiif,
    pages_account,
    pages_admin,
    pages_auth,
    pages_fixity,
    pages_imports,
    pages_institutions,
    pages_jobs,
    pages_objects,
    pages_records,
    pages_search,
    pages_threed,
    pages_uploads,
    pages_workspaces,
    wellknown,
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
    api_objects.router,
    api_records.router,
    api_threed.router,
    api_remote_images.router,
    api_imports.router,
    api_uploads.router,
    api_misc.router,
    pages_auth.router,
    pages_account.router,
    pages_admin.router,
    pages_fixity.router,
    pages_institutions.router,
    pages_workspaces.router,
    pages_jobs.router,
    pages_objects.router,
    pages_records.router,
    pages_threed.router,
    pages_imports.router,
    pages_uploads.router,
    wellknown.router,
    api_batch.router,
    api_search.router,
    pages_search.router,
    iiif.router,
]


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "reason"],
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
}


def _describe_problems(schema: dict[str, Any]) -> None:
    """Every error answer is problem+json: say so, instead of FastAPI's default 422 body."""
    schema["components"].setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    problem = {
        "description": "Problem details (RFC 9457) naming the field and the reason",
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code in [code for code in responses if code.startswith("4")]:
                responses[code] = {**problem, "description": responses[code].get("description", "")}
            responses.setdefault("4XX", problem)
    schema["components"]["schemas"].pop("HTTPValidationError", None)
    schema["components"]["schemas"].pop("ValidationError", None)


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
        _describe_problems(schema)
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(runtime: Runtime | None = None, settings: Settings | None = None) -> FastAPI:
    if runtime is None:
        # Built directly (e.g. `uvicorn --factory`): set up logging as the CLI would,
        # so tracebacks are plain and secret-looking fields are redacted.
        runtime = Runtime(settings or load_settings())
        configure_logging(runtime.settings.log_level, json=runtime.settings.log_json)
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
    # the last added is the outermost: the context is bound before the tile shortcut runs
    app.add_middleware(StoredTileShortcut, runtime=runtime)
    app.add_middleware(RequestContextMiddleware, runtime=runtime)
    return app
