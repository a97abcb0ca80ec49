"""Background job: verify the whole audit chain."""

from __future__ import annotations

from typing import Any

from heritage.audit.services import verify_chain
from heritage.jobs.registry import JobContext, job_kind


@job_kind("audit.verify", "Verify the audit log's hash chain")
def verify_audit_log(context: JobContext) -> dict[str, Any]:
    context.progress(0.0, "reading the audit log")
    with context.runtime.database.session() as session:
        report = verify_chain(session)
    if not report.ok:
        raise RuntimeError(report.problem)
    return {"checked": report.checked, "head_hash": report.head_hash}
