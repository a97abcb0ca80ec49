"""/api/invitations, /api/jobs and the instance-wide /api/audit."""

from __future__ import annotations

from fastapi import APIRouter, Query, status

from heritage.audit.services import list_entries, verify_chain
from heritage.jobs.services import JobService
from heritage.web.deps import MAX_ROW_ID, RuntimeDep, allowed
from heritage.web.routes.api_workspaces import workspace_out
from heritage.web.schemas import AuditEntryOut, InvitationInfo, JobOut, WorkspaceOut
from heritage.workspaces.services import WorkspaceService

router = APIRouter(prefix="/api", tags=["invitations", "jobs", "audit"])
NOT_FOUND = {404: {"description": "Not found"}}


@router.get("/invitations/{secret}", response_model=InvitationInfo, responses=NOT_FOUND)
def open_invitation(
    secret: str, runtime: RuntimeDep, identity: allowed("invitation.view")
) -> InvitationInfo:
    view = WorkspaceService(runtime).open_invitation(secret)
    return InvitationInfo(
        workspace=view.workspace.slug,
        workspace_name=view.workspace.name,
        role=view.invitation.role.value,
        expires_at=view.invitation.expires_at,
        usable=view.usable,
        reason=view.reason,
    )


@router.post("/invitations/{secret}/accept", response_model=WorkspaceOut, responses=NOT_FOUND)
def accept_invitation(
    secret: str, runtime: RuntimeDep, identity: allowed("invitation.accept")
) -> WorkspaceOut:
    service = WorkspaceService(runtime)
    workspace = service.accept_invitation(identity, secret)
    return workspace_out(runtime, workspace, service.role_of(identity, workspace))


@router.get("/jobs", response_model=list[JobOut])
def list_jobs(runtime: RuntimeDep, identity: allowed("jobs.list")) -> list[JobOut]:
    return [JobOut.model_validate(j) for j in JobService(runtime).list_for(identity)]


@router.get("/jobs/{job_id}", response_model=JobOut, responses=NOT_FOUND)
def get_job(job_id: str, runtime: RuntimeDep, identity: allowed("job.view")) -> JobOut:
    return JobOut.model_validate(JobService(runtime).get(identity, job_id))


@router.post("/jobs/{job_id}/retry", response_model=JobOut, responses=NOT_FOUND)
def retry_job(job_id: str, runtime: RuntimeDep, identity: allowed("job.retry")) -> JobOut:
    return JobOut.model_validate(JobService(runtime).retry(identity, job_id))


@router.get("/audit", response_model=list[AuditEntryOut])
def instance_audit(
    runtime: RuntimeDep,
    identity: allowed("audit.view"),
    before: int | None = Query(default=None, ge=1, le=MAX_ROW_ID),
    limit: int = Query(default=50, ge=1, le=500),
) -> list[AuditEntryOut]:
    with runtime.database.session() as session:
        entries = list_entries(session, before_seq=before, limit=limit)
    return [AuditEntryOut.model_validate(e) for e in entries]


@router.get("/audit/verification")
def audit_verification(runtime: RuntimeDep, identity: allowed("audit.view")) -> dict[str, object]:
    """Verify the whole chain now (for large logs, start the audit.verify job instead)."""
    with runtime.database.session() as session:
        report = verify_chain(session)
    return {
        "ok": report.ok,
        "checked": report.checked,
        "head_hash": report.head_hash,
        "first_bad_seq": report.first_bad_seq,
        "problem": report.problem,
    }


@router.post(
    "/audit/verification-jobs", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED
)
def start_audit_verification(runtime: RuntimeDep, identity: allowed("audit.view")) -> JobOut:
    return JobOut.model_validate(JobService(runtime).enqueue(identity, "audit.verify"))
