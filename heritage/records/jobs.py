"""Background jobs of records: imports started from the API and the pages, scheduled
harvests, batch edits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import select

from heritage.accounts.identity import SYSTEM
from heritage.errors import ServiceError
from heritage.jobs.actors import job_actor
from heritage.jobs.registry import DAILY, JobContext, job_kind
from heritage.records.imports import (
    HARVEST_FORMAT,
    HARVEST_SCHEDULE_JOB,
    IMPORT_JOB,
    ImportService,
)
from heritage.records.models import ImportStatus, RecordImport
from heritage.runtime import Runtime
from heritage.workspaces.models import Workspace

log = structlog.get_logger(__name__)


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


def repeat_scheduled_harvests(runtime: Runtime) -> list[str]:
    """Start the next incremental harvest of every harvest source on a schedule (the latest
    harvest of each endpoint, prefix and set decides), as the user who scheduled it."""
    from heritage.accounts.models import User
    from heritage.accounts.services import identity_of

    with runtime.database.session() as session:
        rows = list(
            session.scalars(
                select(RecordImport)
                .where(RecordImport.format == HARVEST_FORMAT, RecordImport.dry_run.is_(False))
                .order_by(RecordImport.created_at.desc())
            )
        )
        latest: dict[tuple[int, str, str, str | None], RecordImport] = {}
        for row in rows:
            harvest = row.options.get("harvest") or {}
            key = (row.workspace_id, row.source, harvest.get("prefix"), harvest.get("set"))
            latest.setdefault(key, row)  # type: ignore[arg-type]
        due = [
            (row, session.get(User, row.created_by) if row.created_by else None)
            for row in latest.values()
            if (row.options.get("harvest") or {}).get("schedule")
            and row.status is not ImportStatus.RUNNING
        ]
        plans = [
            (
                identity_of(user, "schedule") if user is not None else SYSTEM,
                _workspace_slug(session, row.workspace_id),
                row.source,
                row.options["harvest"],
            )
            for row, user in due
        ]
    service = ImportService(runtime)
    started = []
    for actor, slug, url, harvest in plans:
        try:
            row = service.create_harvest(
                actor,
                slug,
                url,
                prefix=harvest["prefix"],
                set_spec=harvest.get("set"),
                schedule=harvest.get("schedule"),
            )
            service.enqueue(actor, row.id)
            started.append(row.id)
        except ServiceError as error:  # e.g. the user lost the role: skip, say why
            log.warning("scheduled harvest not started", url=url, workspace=slug, error=str(error))
    return started


def run_import_job(runtime: Runtime, params: dict[str, Any], progress: Callable[..., None]) -> Any:
    """The body of a ``records.import`` job: the import runs as the user who started it."""
    actor = job_actor(runtime, params, "import")
    service = ImportService(runtime)

    def report(position: int, total: int | None, where: str) -> None:
        fraction = position / total if total else 0.0
        read = f"{position} of about {total}" if total else str(position)
        progress(min(fraction, 0.99), f"{read} records read ({where})")

    outcome = service.run(actor, params["import_id"], report)
    return {"counts": outcome.counts, "error": outcome.error}


def _workspace_slug(session: Any, workspace_id: int) -> str:
    workspace = session.get(Workspace, workspace_id)
    assert workspace is not None
    return workspace.slug
