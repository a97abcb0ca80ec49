"""Background jobs: one's list, a job's page (refreshing itself while it runs) and retry."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from heritage.accounts.identity import Identity
from heritage.errors import Conflict
from heritage.jobs.models import Job
from heritage.jobs.services import JobService
from heritage.policy import decide
from heritage.runtime import Runtime
from heritage.web.deps import RuntimeDep, allowed
from heritage.web.i18n import N_
from heritage.web.i18n import gettext as _
from heritage.web.templating import render
from heritage.workspaces.models import Workspace

router = APIRouter(include_in_schema=False)
POLL_SECONDS = 2


# Labels of job states, shown through _(status.value) in the templates.
STATUS_LABELS = (N_("queued"), N_("running"), N_("succeeded"), N_("failed"))


def _notice(request: Request) -> str | None:
    notices = {"retried": _("The job was queued again.")}
    return notices.get(request.query_params.get("notice", ""))


@router.get("/jobs")
def list_jobs(request: Request, runtime: RuntimeDep, identity: allowed("jobs.list")) -> Response:
    return render(request, "jobs/list.html", {"jobs": JobService(runtime).list_for(identity)})


def _job_context(runtime: Runtime, identity: Identity, job: Job) -> dict[str, object]:
    service = JobService(runtime)
    with runtime.database.session() as session:
        can_retry = decide(identity, "job.retry", service.target(session, identity, job)).allowed
        workspace = session.get(Workspace, job.workspace_id) if job.workspace_id else None
    return {
        "job": job,
        "can_retry": can_retry,
        "workspace": workspace,
        "percent": round(job.progress * 100),
        "result_json": (
            json.dumps(job.result, indent=2, ensure_ascii=False, sort_keys=True)
            if job.result
            else ""
        ),
        "poll_seconds": POLL_SECONDS,
    }


@router.get("/jobs/{job_id}")
def job_page(
    request: Request, job_id: str, runtime: RuntimeDep, identity: allowed("job.view")
) -> Response:
    job = JobService(runtime).get(identity, job_id)
    context = _job_context(runtime, identity, job)
    polled = request.headers.get("HX-Request") == "true"
    if polled and request.headers.get("HX-History-Restore-Request") != "true":
        # htmx polling: only the part of the page that changes while the job runs.
        response = render(request, "jobs/_status.html", context)
    else:
        context["notice"] = _notice(request)
        response = render(request, "jobs/detail.html", context)
    response.headers["Vary"] = "HX-Request"
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/jobs/{job_id}/retry")
def retry_job(
    request: Request, job_id: str, runtime: RuntimeDep, identity: allowed("job.retry")
) -> Response:
    service = JobService(runtime)
    try:
        service.retry(identity, job_id)
    except Conflict as error:
        context = _job_context(runtime, identity, service.get(identity, job_id))
        context["message"] = error.detail
        return render(request, "jobs/detail.html", context, status_code=409)
    return RedirectResponse(f"/jobs/{job_id}?notice=retried", status_code=303)
