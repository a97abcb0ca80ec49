"""Liveness and readiness for process supervisors and load balancers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, JSONResponse

from heritage.web.deps import RuntimeDep, allowed
from heritage.web.schemas import Health
from heritage.web.templating import render

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(identity: allowed("public")) -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get("/ready", response_model=Health, responses={503: {"model": Health}})
def ready(runtime: RuntimeDep, identity: allowed("public")) -> JSONResponse:
    """Database, storage and job queue are reachable."""
    checks: dict[str, str] = {}
    try:
        runtime.database.ping()
        checks["database"] = "ok"
    except Exception as error:
        checks["database"] = f"unavailable: {type(error).__name__}"
    data_dir = runtime.settings.resolved_data_dir
    probe = data_dir / ".ready-probe"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
        checks["storage"] = "ok"
    except OSError as error:
        checks["storage"] = f"unavailable: {error.strerror}"
    try:
        runtime.queue.ping()
        checks["queue"] = "ok"
    except Exception as error:
        checks["queue"] = f"unavailable: {type(error).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    body = Health(status="ok" if healthy else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)


@router.get("/api/openapi.json", include_in_schema=False)
def openapi_document(request: Request, identity: allowed("public")) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/api/docs", include_in_schema=False, response_class=HTMLResponse)
def api_docs(request: Request, identity: allowed("public")) -> HTMLResponse:
    """Interactive API documentation (Swagger UI, served from our own static files)."""
    return render(request, "api_docs.html")
