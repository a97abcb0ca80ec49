"""Background jobs: make the derivatives of a record's images; copy a remote image into
the store."""

from __future__ import annotations

from typing import Any

from heritage.iiif.copies import COPY_JOB, RemoteCopies
from heritage.iiif.services import DERIVATIVES_JOB, ImageService
from heritage.jobs.registry import JobContext, job_kind


@job_kind(DERIVATIVES_JOB, "Make image derivatives (access copy, thumbnails)")
def make_derivatives(context: JobContext) -> dict[str, Any]:
    context.progress(0.0, "reading the images")
    # A bad image is reported on its derivative row and in the result; the job (and the
    # worker) go on with the record's other images.
    return ImageService(context.runtime).derive_record(str(context.params["record"]))


@job_kind(COPY_JOB, "Copy a remote image into the store")
def copy_remote_image(context: JobContext) -> dict[str, Any]:
    context.progress(0.0, "fetching the image")
    # A copy that fails says why on its row (the record page shows it); the job ends well.
    return RemoteCopies(context.runtime).run(int(context.params["copy"]))
