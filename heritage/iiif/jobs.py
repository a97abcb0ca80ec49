"""Background job: make the derivatives of a record's images."""

from __future__ import annotations

from typing import Any

from heritage.iiif.services import DERIVATIVES_JOB, ImageService
from heritage.jobs.registry import JobContext, job_kind


@job_kind(DERIVATIVES_JOB, "Make image derivatives (access copy, thumbnails)")
def make_derivatives(context: JobContext) -> dict[str, Any]:
    context.progress(0.0, "reading the images")
    # A bad image is reported on its derivative row and in the result; the job (and the
    # worker) go on with the record's other images.
    return ImageService(context.runtime).derive_record(str(context.params["record"]))
