"""Fixity audits in the administration: failing objects, recent runs, starting a run."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from heritage.store.maintenance import FixityService
from heritage.web.deps import RuntimeDep, allowed
from heritage.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/admin/fixity")
def fixity_overview(
    request: Request, runtime: RuntimeDep, identity: allowed("fixity.view")
) -> Response:
    service = FixityService(runtime)
    settings = runtime.settings
    return render(
        request,
        "admin/fixity.html",
        {
            "summary": service.summary(identity),
            "failing": service.report(identity, failing_only=True),
            "runs": service.recent_runs(identity),
            "replica_configured": bool(settings.replica_root),
            "interval_days": settings.fixity_interval_days,
            "rate_limit": settings.fixity_bytes_per_second,
        },
    )


@router.post("/admin/fixity/run")
def start_fixity_run(
    request: Request, runtime: RuntimeDep, identity: allowed("fixity.run")
) -> Response:
    job = FixityService(runtime).start(identity)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)
