"""Background jobs of records: imports started from the API and the pages."""

from __future__ import annotations

from typing import Any

from heritage.jobs.registry import JobContext, job_kind
from heritage.records.imports import IMPORT_JOB, run_import_job


@job_kind(IMPORT_JOB, "Import records")
def import_records(context: JobContext) -> dict[str, Any]:
    context.progress(0.0, "reading the source")
    return run_import_job(context.runtime, context.params, context.progress)
