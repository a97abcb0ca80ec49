"""Background job: delete expired uploads and their part files."""

from __future__ import annotations

from typing import Any

from heritage.jobs.registry import JobContext, job_kind
from heritage.uploads.services import EXPIRE_JOB, UploadService


@job_kind(EXPIRE_JOB, "Delete expired unfinished uploads")
def expire_uploads(context: JobContext) -> dict[str, Any]:
    context.progress(0.0, "looking for expired uploads")
    return UploadService(context.runtime).expire()
