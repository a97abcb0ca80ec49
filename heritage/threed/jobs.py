"""The ``threed.process`` job: analysis, derivatives and thumbnails of one 3D model."""

from __future__ import annotations

from typing import Any

from heritage.jobs.actors import job_actor
from heritage.jobs.registry import JobContext, job_kind
from heritage.threed.services import PROCESS_JOB, ThreeDService


@job_kind(PROCESS_JOB, "Analyse a 3D model and make its web versions")
def process_model(context: JobContext) -> dict[str, Any]:
    actor = job_actor(context.runtime, context.params, "3D processing")
    context.progress(0.0, "reading the model")
    return ThreeDService(context.runtime).process(
        actor, context.params["record_uuid"], context.params["path"]
    )
