"""Resumable uploads: create, append, look up, terminate, finish into a new version.

The service speaks in tus' terms (length, offset, metadata) but knows nothing of
HTTP: the web layer parses headers and hands over the body piece by piece.
A finished upload becomes a :class:`~heritage.store.ingest.PreparedFile` (the
part file is already in its stored form, hashed) and goes through
:class:`~heritage.store.services.PreservationService` like any other file, so
permissions, the PREMIS event and the audit entry are the same.
"""

from __future__ import annotations

import fcntl
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

import structlog
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from heritage.accounts.identity import Identity
from heritage.audit.services import record
from heritage.db.base import utcnow
from heritage.db.uow import UnitOfWork
from heritage.errors import InvalidInput, NotFound, PermissionDenied, ServiceError
from heritage.jobs.models import Job
from heritage.policy import require
from heritage.runtime import Runtime
from heritage.store.crypto import CryptoError
from heritage.store.ingest import PreparedFile, check_logical_path
from heritage.store.services import PreservationService, parse_object_uuid
from heritage.uploads.models import Upload, UploadStatus
from heritage.uploads.partfile import Appender, Durable, PartFile, forget, is_disk_full
from heritage.workspaces.models import Workspace
from heritage.workspaces.services import workspace_target

log = structlog.get_logger(__name__)

ACTION = "uploads.create"
EXPIRE_JOB = "uploads.expire"
MAX_MESSAGE = 2000
MAX_METADATA = 8192  # bytes of the decoded metadata, all keys together
LOCK_WAIT_SECONDS = 5.0
EXPIRE_EVERY = timedelta(hours=1)
_HEX64 = re.compile(r"[0-9a-f]{64}")


class UploadGone(ServiceError):
    status = 410
    kind = "gone"
    title = "The upload is gone"


class OffsetMismatch(ServiceError):
    status = 409
    kind = "offset-mismatch"
    title = "Upload-Offset does not match"


class UploadTooLarge(ServiceError):
    status = 413
    kind = "too-large"
    title = "The upload is too large"


class UploadBusy(ServiceError):
    status = 423
    kind = "locked"
    title = "Another request is writing this upload"


class ChecksumMismatch(ServiceError):
    status = 460  # tus' checksum extension
    kind = "checksum-mismatch"
    title = "Checksum mismatch"


class StorageFull(ServiceError):
    status = 507
    kind = "insufficient-storage"
    title = "The server's disk is full"


@dataclass(frozen=True)
class UploadInfo:
    """What a status request tells: enough for tus headers and a link to the result."""

    id: str
    workspace_slug: str
    length: int
    offset: int
    status: UploadStatus
    expires_at: datetime
    meta: dict[str, str]
    object_uuid: str | None
    version: str | None
    error: str | None = None


def _info(upload: Upload, slug: str) -> UploadInfo:
    return UploadInfo(
        id=upload.id,
        workspace_slug=slug,
        length=upload.length,
        offset=upload.offset,
        status=upload.status,
        expires_at=upload.expires_at,
        meta=dict(upload.meta),
        object_uuid=upload.result_object or upload.object_uuid,
        version=upload.result_version,
        error=upload.error,
    )


def _lock(fd: int, wait: float) -> None:
    """One writer per part file, across processes; a second waits a moment (the first
    may be a request whose client has just gone), then gets 423."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise UploadBusy(
                    "Another request is still writing this upload; try again shortly."
                ) from None
            time.sleep(0.05)


class UploadService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @property
    def directory(self) -> Path:
        # Beside the default storage root, on the same file system: finishing is a link.
        return self.runtime.settings.resolved_data_dir / "uploads"

    def part_path(self, upload_id: str) -> Path:
        return self.directory / f"{upload_id}.part"

    def _expiry(self) -> datetime:
        return utcnow() + timedelta(hours=self.runtime.settings.upload_expiry_hours)

    # -- loading and permissions -------------------------------------------------------

    def _workspace(self, session: Session, actor: Identity, slug: str) -> Workspace:
        workspace = session.scalar(select(Workspace).where(Workspace.slug == slug))
        if workspace is None:
            raise NotFound(f"No workspace '{slug}'")
        require(actor, ACTION, workspace_target(session, actor, workspace))
        return workspace

    def _upload(self, session: Session, actor: Identity, slug: str, upload_id: str) -> Upload:
        workspace = self._workspace(session, actor, slug)
        upload = session.get(Upload, upload_id)
        if upload is None or upload.workspace_id != workspace.id:
            raise NotFound(f"No upload '{upload_id}' in workspace '{slug}'")
        if upload.user_id != actor.user_id:
            raise PermissionDenied("Only the person who started an upload can continue it.")
        if upload.status is UploadStatus.FAILED:
            raise UploadGone(f"The upload failed and cannot be continued: {upload.error}")
        if upload.expires_at <= utcnow() and upload.status is not UploadStatus.COMMITTED:
            raise UploadGone("The upload expired; start it again.")
        return upload

    # -- creating ----------------------------------------------------------------------

    def create(
        self, actor: Identity, workspace_slug: str, length: int, metadata: Mapping[str, str]
    ) -> UploadInfo:
        """Check what the upload announces and make its (empty) part file."""
        settings = self.runtime.settings
        if length < 0:
            raise InvalidInput.on("Upload-Length", "must not be negative")
        if length > settings.upload_max_bytes:
            raise UploadTooLarge(
                f"The file is {length} bytes; this server takes at most "
                f"{settings.upload_max_bytes} bytes per upload."
            )
        if sum(len(k) + len(v.encode()) for k, v in metadata.items()) > MAX_METADATA:
            raise InvalidInput.on("Upload-Metadata", f"longer than {MAX_METADATA} bytes")
        path = check_logical_path(metadata.get("filename", ""), "filename")
        sha256 = metadata.get("sha256")
        if sha256 is not None:
            sha256 = sha256.strip().lower()
            if not _HEX64.fullmatch(sha256):
                raise InvalidInput.on("sha256", "must be 64 hexadecimal digits")
        if len(metadata.get("message", "")) > MAX_MESSAGE:
            raise InvalidInput.on("message", f"longer than {MAX_MESSAGE} characters")
        object_uuid = metadata.get("object") or None
        preservation = PreservationService(self.runtime)
        with self.runtime.database.session() as session:
            self._workspace(session, actor, workspace_slug)
        if object_uuid is not None:
            try:
                object_uuid = str(uuid.UUID(object_uuid))
            except ValueError:
                raise InvalidInput.on("object", "must be an object's UUID") from None
            preservation.get(actor, workspace_slug, object_uuid)  # exists, visible
        if metadata.get("record"):
            # The file becomes one of a record's representations once it is complete.
            from heritage.records.services import RecordService

            if object_uuid is not None:
                raise InvalidInput.on("record", "give either an object or a record, not both")
            try:
                metadata["record"] = str(uuid.UUID(metadata["record"]))
            except ValueError:
                raise InvalidInput.on("record", "must be a record's UUID") from None
            target = RecordService(self.runtime).get(actor, metadata["record"])
            if target.workspace_slug != workspace_slug:
                raise InvalidInput.on("record", "the record is in another workspace")
        key = preservation.encryption_key(workspace_slug)
        upload_id = secrets.token_urlsafe(24)
        part = PartFile.create(self.part_path(upload_id), length, key)
        try:
            with UnitOfWork(self.runtime.database) as uow:
                workspace = self._workspace(uow.session, actor, workspace_slug)
                upload = Upload(
                    id=upload_id,
                    user_id=actor.user_id,
                    workspace_id=workspace.id,
                    object_uuid=object_uuid,
                    logical_path=path,
                    length=length,
                    offset=0,
                    meta=dict(metadata),
                    expected_sha256=sha256,
                    key_id=key[0] if key else None,
                    chunk_size=part.encryptor.chunk_size if part.encryptor else None,
                    status=UploadStatus.RECEIVING,
                    expires_at=self._expiry(),
                )
                uow.session.add(upload)
                record(
                    uow.session,
                    actor,
                    "upload.create",
                    "upload",
                    upload_id,
                    workspace_id=workspace.id,
                    details={"path": path, "length": length, "object": object_uuid},
                )
                self._schedule_expiry(uow, actor, workspace.id)
                uow.commit()
        except BaseException:
            part.close()
            part.path.unlink(missing_ok=True)
            forget(part.path)
            raise
        try:
            if length == 0:
                # Nothing will follow (clients send no PATCH): commit now.
                return self._commit(actor, workspace_slug, upload, part)
            return _info(upload, workspace_slug)
        finally:
            part.close()

    def _schedule_expiry(self, uow: UnitOfWork, actor: Identity, workspace_id: int) -> None:
        """Clean-up of expired uploads rides on new ones: at most one job an hour."""
        recent = uow.session.scalar(
            select(Job.id).where(Job.kind == EXPIRE_JOB, Job.created_at > utcnow() - EXPIRE_EVERY)
        )
        if recent is None:
            from heritage.jobs.services import JobService

            JobService(self.runtime).enqueue(actor, EXPIRE_JOB, uow=uow)

    # -- reading -----------------------------------------------------------------------

    def status(self, actor: Identity, workspace_slug: str, upload_id: str) -> UploadInfo:
        with self.runtime.database.session() as session:
            return _info(self._upload(session, actor, workspace_slug, upload_id), workspace_slug)

    # -- appending ---------------------------------------------------------------------

    def begin(
        self,
        actor: Identity,
        workspace_slug: str,
        upload_id: str,
        offset: int,
        checksum: str | None = None,
    ) -> Append:
        """Get ready to append at ``offset``, which must be the durable offset (else 409).
        Blocking (locks, may re-hash the part file): call it from a worker thread."""
        with self.runtime.database.session() as session:
            upload = self._upload(session, actor, workspace_slug, upload_id)
        data_key = None
        if upload.key_id is not None:
            data_key = self.runtime.keyring.data_key(upload.key_id)

        def lock(fd: int) -> int:
            nonlocal upload
            _lock(fd, LOCK_WAIT_SECONDS)
            # Read again under the lock: a request before this one may have moved on.
            with self.runtime.database.session() as session:
                upload = self._upload(session, actor, workspace_slug, upload_id)
            if upload.status is not UploadStatus.RECEIVING:
                raise OffsetMismatch("Every byte of this upload has arrived already.")
            if offset != upload.offset:
                raise OffsetMismatch(
                    f"Upload-Offset is {offset} but the upload holds {upload.offset} bytes: "
                    "ask with HEAD and continue from there."
                )
            return upload.offset

        try:
            part = PartFile.open(self.part_path(upload_id), upload.length, data_key, lock)
        except FileNotFoundError:
            raise UploadGone("The upload's data is gone; start it again.") from None
        except CryptoError as error:
            # Re-reading the part file authenticates it: damage is not carried on.
            self._fail(upload_id, f"the part file is damaged: {error}")
            raise UploadGone(
                f"The upload's stored part is damaged ({error}); start it again."
            ) from None
        if part.state.offset != upload.offset:
            # The file held less than recorded (it was damaged or restored): it wins.
            self._record_offset(upload_id, part.state.offset)
            part.close()
            raise OffsetMismatch(
                f"The upload holds {part.state.offset} bytes; continue from there."
            )
        return Append(self, actor, workspace_slug, upload, part, checksum)

    def _record_offset(self, upload_id: str, offset: int, **values: object) -> None:
        with self.runtime.database.session(write=True) as session:
            upload = session.get(Upload, upload_id)
            if upload is None:
                return
            upload.offset = offset
            upload.updated_at = utcnow()
            if upload.status is UploadStatus.RECEIVING:
                upload.expires_at = self._expiry()
            for name, value in values.items():
                setattr(upload, name, value)
            session.commit()

    def _fail(self, upload_id: str, reason: str) -> None:
        with self.runtime.database.session(write=True) as session:
            upload = session.get(Upload, upload_id)
            if upload is not None:
                upload.status = UploadStatus.FAILED
                upload.error = reason[:2000]
                upload.updated_at = utcnow()
                session.commit()
        self.part_path(upload_id).unlink(missing_ok=True)
        forget(self.part_path(upload_id))

    # -- finishing ---------------------------------------------------------------------

    def _commit(
        self, actor: Identity, workspace_slug: str, upload: Upload, part: PartFile
    ) -> UploadInfo:
        state = part.state
        sha256 = state.sha256.hexdigest()
        if upload.expected_sha256 is not None and sha256 != upload.expected_sha256:
            reason = (
                f"the file's SHA-256 is {sha256}, not the {upload.expected_sha256} announced; "
                "nothing was stored"
            )
            self._fail(upload.id, reason)
            raise ChecksumMismatch(f"The upload was refused: {reason}.")
        prepared = PreparedFile(
            path=part.path,
            size=upload.length,
            sha256=sha256,
            stored_digests={"sha512": state.sha512.hexdigest()},
            key_id=upload.key_id,
        )
        preservation = PreservationService(self.runtime)
        message = upload.meta.get("message", "")
        record_uuid = upload.meta.get("record")
        try:
            if record_uuid:
                from heritage.records.services import RecordService

                attached = RecordService(self.runtime).attach_file(
                    actor,
                    record_uuid,
                    PurePosixPath(upload.logical_path).name,
                    prepared,
                )
                view = preservation.get(actor, workspace_slug, attached.uuid)
            elif upload.object_uuid is None:
                view = preservation.create_object(
                    actor,
                    workspace_slug,
                    title=PurePosixPath(upload.logical_path).name,
                    files={upload.logical_path: prepared},
                    message=message or f"Uploaded {upload.logical_path}",
                )
            else:
                view = preservation.add_files(
                    actor,
                    workspace_slug,
                    parse_object_uuid(upload.object_uuid),
                    {upload.logical_path: prepared},
                    message,
                )
        except ServiceError as error:
            # Refused for good (the object was deleted, the role taken away...).
            self._fail(upload.id, error.detail)
            raise
        forget(part.path)
        self._record_offset(
            upload.id,
            upload.length,
            status=UploadStatus.COMMITTED,
            result_object=view.uuid,
            result_version=view.row.head_version,
        )
        with self.runtime.database.session() as session:
            committed = session.get(Upload, upload.id)
            assert committed is not None
            return _info(committed, workspace_slug)

    # -- terminating and expiring ------------------------------------------------------

    def terminate(self, actor: Identity, workspace_slug: str, upload_id: str) -> None:
        with UnitOfWork(self.runtime.database) as uow:
            upload = self._upload(uow.session, actor, workspace_slug, upload_id)
            path = self.part_path(upload_id)
            try:
                with open(path, "rb") as handle:
                    _lock(handle.fileno(), LOCK_WAIT_SECONDS)
                    path.unlink()
            except FileNotFoundError:
                pass
            forget(path)
            record(
                uow.session,
                actor,
                "upload.terminate",
                "upload",
                upload_id,
                workspace_id=upload.workspace_id,
                details={"path": upload.logical_path, "offset": upload.offset},
            )
            uow.session.delete(upload)
            uow.commit()

    def expire(self, now: datetime | None = None) -> dict[str, int]:
        """Delete expired uploads and their part files, and part files nobody knows."""
        now = now or utcnow()
        removed_files = 0
        with self.runtime.database.session(write=True) as session:
            expired = list(session.scalars(select(Upload.id).where(Upload.expires_at <= now)))
            session.execute(delete(Upload).where(Upload.id.in_(expired)))
            session.commit()
            known = set(session.scalars(select(Upload.id)))
        for upload_id in expired:
            path = self.part_path(upload_id)
            if path.exists():
                path.unlink(missing_ok=True)
                removed_files += 1
            forget(path)
        if self.directory.is_dir():
            # Left by a crash between making a part file and recording its upload.
            cutoff = now.timestamp() - self.runtime.settings.upload_expiry_hours * 3600
            for path in self.directory.glob("*.part"):
                if path.stem not in known and path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
                    removed_files += 1
        return {"uploads": len(expired), "files": removed_files}


class Append:
    """One request appending to an upload: feed the body (async), then ``finish`` or
    ``abort`` from a worker thread. Holds the part file's lock until then."""

    def __init__(
        self,
        service: UploadService,
        actor: Identity,
        workspace_slug: str,
        upload: Upload,
        part: PartFile,
        checksum: str | None,
    ) -> None:
        self.service = service
        self.actor = actor
        self.workspace_slug = workspace_slug
        self.upload = upload
        self.part = part
        self.appender: Appender = part.appender(checksum)

    async def feed(self, data: bytes) -> None:
        try:
            await self.appender.feed(data)
        except ValueError:
            raise UploadTooLarge(
                f"The request goes past the upload's length of {self.upload.length} bytes."
            ) from None

    def finish(self, expected_checksum: bytes | None = None) -> UploadInfo:
        """Make what arrived durable; commit the file if it is complete."""
        try:
            try:
                state = self.appender.finish()
            except BaseException as error:
                self.abort(error)
                raise
            if expected_checksum is not None and not self.appender.checksum_matches(
                expected_checksum
            ):
                self.appender.rewind()
                raise ChecksumMismatch(
                    "The request's body does not match its Upload-Checksum; nothing of it "
                    "was kept. Send it again."
                )
            self.service._record_offset(self.upload.id, state.offset)
            self.upload.offset = state.offset
            if state.offset == self.upload.length:
                return self.service._commit(self.actor, self.workspace_slug, self.upload, self.part)
            return _info(self.upload, self.workspace_slug)
        finally:
            self.part.close()

    def abort(self, error: BaseException | None = None) -> Durable:
        """The request failed or its client went away: keep the whole blocks written,
        make them durable, and turn a full disk into :class:`StorageFull`."""
        try:
            state = self.appender.abort()
            self.service._record_offset(self.upload.id, state.offset)
        finally:
            self.part.close()
        if error is not None and is_disk_full(error):
            raise StorageFull(
                "The server ran out of disk space while writing this upload. "
                f"{state.offset} bytes are kept; continue from there once space is freed."
            ) from error
        return state
