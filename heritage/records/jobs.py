"""Background jobs of records: imports started from the API and the pages."""

from __future__ import annotations

from typing import Any

from heritage.jobs.registry import DAILY, JobContext, job_kind
from heritage.records.imports import (
    HARVEST_SCHEDULE_JOB,
    IMPORT_JOB,
    repeat_scheduled_harvests,
    run_import_job,
)


@job_kind(IMPORT_JOB, "Import records")
def import_records(context: JobContext) -> dict[str, Any]:
    context.progress(0.0, "reading the source")
    return run_import_job(context.runtime, context.params, context.progress)


@job_kind(HARVEST_SCHEDULE_JOB, "Start the scheduled OAI-PMH harvests", schedule=DAILY)
def scheduled_harvests(context: JobContext) -> dict[str, Any]:
    return {"started": repeat_scheduled_harvests(context.runtime)}


@job_kind("records.batch", "Edit records in a batch")
def batch_records(context: JobContext) -> dict[str, Any]:
    from heritage.records.batch import run_batch_job

    context.progress(0.0, "selecting the records")
    return run_batch_job(context.runtime, context.params, context.progress)
