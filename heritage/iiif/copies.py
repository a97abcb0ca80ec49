"""Copying a remote image a record shows into the preservation store, on request.

Records imported from IIIF manifests (and EDM, LIDO) show their images from their own
servers. Someone who may edit the record can ask for a copy (:meth:`RemoteCopies.request`):
a ``remote_image_copies`` row and the job ``iiif.copy-remote``. The job
(:meth:`RemoteCopies.run`) fetches the image under the limits of :mod:`heritage.iiif.remote`,
stores it as a master through the record's normal save (a new version, the store's
digest checked against ours, encrypted where the workspace encrypts), replaces the remote
representation by the stored file in the same place (role, label, rights kept; the remote
URL and service kept as ``source_url`` / ``source_service``), and the save starts the
derivatives job. The row keeps the provenance; the audit log has an entry either way.
A copy that fails changes nothing on the record; the row says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import structlog
from sqlalchemy import select

from heritage.accounts.identity import Identity
from heritage.audit.services import record as audit
from heritage.errors import InvalidInput, ServiceError
from heritage.iiif.models import CopyStatus, RemoteImageCopy
from heritage.iiif.remote import FetchError, FetchLimits, RemoteFetcher
from heritage.policy import require
from heritage.records.model import Record, Representation
from heritage.records.services import MEDIA_FOLDER, RecordService
from heritage.runtime import Runtime
from heritage.workspaces.models import Workspace
from heritage.workspaces.services import workspace_target

log = structlog.get_logger(__name__)

COPY_JOB = "iiif.copy-remote"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class CopyView:
    """A copy request as the API and the record page show it."""

    id: int
    source_url: str
    source_service: str | None
    status: CopyStatus
    error: str | None
    path: str | None
    sha256: str | None
    size: int | None
    fetched_url: str | None
    fetched_at: Any
    job_id: str | None
    created_at: Any

    @classmethod
    def of(cls, row: RemoteImageCopy) -> CopyView:
        return cls(
            id=row.id,
            source_url=row.source_url,
            source_service=row.source_service,
            status=row.status,
            error=row.error,
            path=row.path,
            sha256=row.sha256,
            size=row.size,
            fetched_url=row.fetched_url,
            fetched_at=row.fetched_at,
            job_id=row.job_id,
            created_at=row.created_at,
        )


def copyable(item: Representation) -> bool:
    """A remote representation that is an image: it has a IIIF Image service, or says
    it is an image."""
    if not item.url or urlsplit(item.url).scheme not in ("http", "https"):
        return False
    return bool(item.iiif_service) or (item.media_type or "").startswith("image/")


def file_name(item: Representation, extension: str, taken: set[str]) -> str:
    """A name in the record's media folder for the copy: the remote identifier's last
    path segment, made safe, not clashing with the record's files."""
    source = item.iiif_service or item.url or ""
    segments = [part for part in urlsplit(source).path.split("/") if part]
    if not item.iiif_service and segments:
        segments[-1] = PurePosixPath(segments[-1]).stem
    stem = _UNSAFE.sub("-", segments[-1] if segments else "image").strip(".-")[:80] or "image"
    name, number = f"{stem}.{extension}", 1
    while f"{MEDIA_FOLDER}{name}" in taken:
        number += 1
        name = f"{stem}-{number}.{extension}"
    return name


class RemoteCopies:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def limits(self) -> FetchLimits:
        settings = self.runtime.settings
        return FetchLimits(
            timeout_seconds=settings.remote_fetch_timeout_seconds,
            max_bytes=settings.remote_fetch_max_bytes,
            max_pixels=settings.image_max_pixels,
            allow_private=settings.remote_fetch_allow_private,
        )

    # -- asking --------------------------------------------------------------------------------

    def request(self, actor: Identity, record_uuid: str, url: str) -> CopyView:
        """Ask for a copy of the record's remote image ``url``; the job does the work."""
        from heritage.jobs.services import JobService

        view = RecordService(self.runtime).get(actor, record_uuid)
        with self.runtime.database.session(write=True) as session:
            workspace = session.get(Workspace, view.row.workspace_id)
            assert workspace is not None
            require(actor, "records.update", workspace_target(session, actor, workspace))
            item = next((r for r in view.record.representations if r.url == url), None)
            if item is None:
                raise InvalidInput.on("url", "the record has no remote representation at this URL")
            if not copyable(item):
                raise InvalidInput.on(
                    "url", "only an http(s) image (with a IIIF service or an image type) is copied"
                )
            waiting = session.scalar(
                select(RemoteImageCopy).where(
                    RemoteImageCopy.record_uuid == view.uuid,
                    RemoteImageCopy.source_url == url,
                    RemoteImageCopy.status.in_((CopyStatus.QUEUED, CopyStatus.RUNNING)),
                )
            )
            if waiting is not None:
                return CopyView.of(waiting)  # asked twice: one copy
            row = RemoteImageCopy(
                workspace_id=workspace.id,
                record_uuid=view.uuid,
                source_url=url,
                source_service=item.iiif_service,
                requested_by=actor.user_id,
            )
            session.add(row)
            session.commit()
            copy_id, workspace_id = row.id, workspace.id
        job = JobService(self.runtime).enqueue(
            actor,
            COPY_JOB,
            {"copy": copy_id},
            title="Copy a remote image into the store",
            workspace_id=workspace_id,
        )
        with self.runtime.database.session(write=True) as session:
            row = session.get(RemoteImageCopy, copy_id)
            assert row is not None
            row.job_id = job.id
            session.commit()
            return CopyView.of(row)

    def of_record(self, actor: Identity, record_uuid: str) -> list[CopyView]:
        """The record's copy requests, newest first (the caller may view the record)."""
        view = RecordService(self.runtime).get(actor, record_uuid)
        with self.runtime.database.session() as session:
            rows = session.scalars(
                select(RemoteImageCopy)
                .where(RemoteImageCopy.record_uuid == view.uuid)
                .order_by(RemoteImageCopy.id.desc())
            )
            return [CopyView.of(row) for row in rows]

    # -- the job -------------------------------------------------------------------------------

    def run(self, copy_id: int) -> dict[str, Any]:
        with self.runtime.database.session(write=True) as session:
            row = session.get(RemoteImageCopy, copy_id)
            if row is None:
                return {"status": "gone"}
            if row.status is CopyStatus.DONE:
                return {"status": "done", "path": row.path}  # a job run twice
            row.status, row.error = CopyStatus.RUNNING, None
            session.commit()
            record_uuid, url, service = row.record_uuid, row.source_url, row.source_service
            requester = row.requested_by
        try:
            actor = self._requester(requester)
            return self._copy(actor, copy_id, record_uuid, url, service)
        except FetchError as error:
            return self._fail(copy_id, str(error))
        except ServiceError as error:
            return self._fail(copy_id, f"The record could not be saved: {error.detail}")
        except Exception:
            log.exception("remote copy failed", copy=copy_id, url=url)
            self._fail(copy_id, "The copy failed unexpectedly; the record is unchanged.")
            raise

    def _requester(self, user_id: int | None) -> Identity:
        """Who asked: the save is theirs, under their rights as they are now."""
        from heritage.accounts.models import User
        from heritage.accounts.services import identity_of

        with self.runtime.database.session() as session:
            user = session.get(User, user_id) if user_id is not None else None
            if user is None or not user.is_active:
                raise FetchError("The person who asked for this copy no longer has an account.")
            return identity_of(user, "job")

    def _copy(
        self, actor: Identity, copy_id: int, record_uuid: str, url: str, service: str | None
    ) -> dict[str, Any]:
        records = RecordService(self.runtime)
        view = records.get(actor, record_uuid)
        index = next(
            (i for i, r in enumerate(view.record.representations) if r.url == url and not r.file),
            None,
        )
        if index is None:
            raise FetchError("The record no longer shows this remote image; nothing was copied.")
        item = view.record.representations[index]
        tmp = self.runtime.settings.resolved_data_dir / "tmp"
        with RemoteFetcher(self.limits()) as fetcher:
            fetched = fetcher.fetch(url, service, tmp)
        try:
            taken = {r.file for r in view.record.representations if r.file}
            name = file_name(item, fetched.extension, taken)
            stored = Representation.model_validate(
                {
                    **item.model_dump(exclude={"url", "iiif_service", "width", "height"}),
                    "file": MEDIA_FOLDER + name,
                    "media_type": fetched.media_type,
                    "width": fetched.width,
                    "height": fetched.height,
                    "source_url": url,
                    "source_service": service,
                }
            )
            representations = list(view.record.representations)
            representations[index] = stored
            updated: Record = view.record.model_copy(update={"representations": representations})
            with fetched.path.open("rb") as stream:
                prepared = records.store.prepare(
                    view.workspace_slug, stream, expected_sha256=fetched.sha256
                )
            try:
                saved = records.update(
                    actor,
                    record_uuid,
                    updated,
                    base_version=view.version,  # changed meanwhile: a conflict, nothing lost
                    message=f"Copied {url} into the store",
                    files={name: prepared},
                    audit_action="record.copy-remote",
                )
            finally:
                prepared.discard()
        finally:
            fetched.path.unlink(missing_ok=True)
        provenance = {
            "source_url": url,
            "source_service": service,
            "fetched_url": fetched.url,
            "fetched_at": fetched.fetched_at.isoformat(),
            "media_type": fetched.media_type,
            "sha256": fetched.sha256,
            "size": fetched.size,
            "width": fetched.width,
            "height": fetched.height,
            "service_info": fetched.service,
            "version": saved.version,
        }
        with self.runtime.database.session(write=True) as session:
            row = session.get(RemoteImageCopy, copy_id)
            assert row is not None
            row.status, row.error = CopyStatus.DONE, None
            row.path = MEDIA_FOLDER + name
            row.fetched_url, row.fetched_at = fetched.url, fetched.fetched_at
            row.sha256, row.size, row.provenance = fetched.sha256, fetched.size, provenance
            audit(
                session,
                actor,
                "image.copy-remote",
                "record",
                record_uuid,
                workspace_id=row.workspace_id,
                details={"path": row.path, **provenance},
            )
            session.commit()
        return {"status": "done", "path": MEDIA_FOLDER + name, "sha256": fetched.sha256}

    def _fail(self, copy_id: int, message: str) -> dict[str, Any]:
        from heritage.accounts.identity import SYSTEM

        with self.runtime.database.session(write=True) as session:
            row = session.get(RemoteImageCopy, copy_id)
            if row is None:
                return {"status": "gone"}
            row.status, row.error = CopyStatus.FAILED, message
            audit(
                session,
                SYSTEM,
                "image.copy-remote-failed",
                "record",
                row.record_uuid,
                workspace_id=row.workspace_id,
                details={"source_url": row.source_url, "error": message},
            )
            session.commit()
        return {"status": "failed", "error": message}
