"""Images of records: which need derivatives, making them, serving them by the Image API.

* :func:`plan_derivatives` runs inside a record's save (the records' commit hook): it
  notes each stored image whose master is new or changed as ``pending`` and forgets
  images no longer in the record. :func:`enqueue_derivatives` then starts the
  ``iiif.derivatives`` job once the save is committed.
* :class:`ImageService` makes derivatives (the job) and renders Image API requests,
  after the policy allows ``images.view`` on the record's workspace.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pyvips
import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from heritage.accounts.identity import SYSTEM, Identity
from heritage.db.base import utcnow
from heritage.errors import InvalidInput, NotFound
from heritage.iiif import derive, image_api, presentation, tiles
from heritage.iiif.files import ACCESS_COPY, DerivativeFiles, thumbnail_name
from heritage.iiif.models import DerivativeStatus, ImageDerivative
from heritage.iiif.targets import forget_image_facts, image_facts, kept_image_facts
from heritage.policy import Target, decide, require
from heritage.records.model import Record
from heritage.records.models import RecordRow
from heritage.runtime import Runtime
from heritage.search import outbox as search_outbox
from heritage.store.models import StoredFile, StoredObject
from heritage.workspaces.models import Workspace
from heritage.workspaces.services import workspace_role

log = structlog.get_logger(__name__)

DERIVATIVES_JOB = "iiif.derivatives"
MAX_DIMENSION = 16_384  # maxWidth / maxHeight of every image we serve
IMAGE_SUFFIXES = {
    ".tif",
    ".tiff",
    ".jpg",
    ".jpeg",
    ".png",
    ".jp2",
    ".j2k",
    ".jpx",
    ".webp",
    ".gif",
    ".bmp",
    ".heic",
    ".heif",
    ".avif",
    ".jxl",
}


def image_identifier(record_uuid: str, path: str) -> str:
    """The IIIF identifier of a record's image: stable while the record keeps the path."""
    digest = hashlib.sha256(path.encode("utf-8")).hexdigest()[:12]
    return f"{record_uuid}~{digest}"


def is_image(path: str, media_type: str | None) -> bool:
    if media_type and media_type.startswith("image/"):
        return True
    return PurePosixPath(path).suffix.lower() in IMAGE_SUFFIXES


def plan_derivatives(
    session: Session, workspace: Workspace, record_uuid: str, record: Record, stored: StoredObject
) -> bool:
    """Note the record's images in the save's transaction; True when some need making."""
    files = {
        row.logical_path: row
        for row in session.scalars(select(StoredFile).where(StoredFile.object_pk == stored.id))
    }
    wanted = {
        item.file: files[item.file]
        for item in record.representations
        if item.file in files and is_image(item.file, item.media_type)
    }
    existing = {
        row.path: row
        for row in session.scalars(
            select(ImageDerivative).where(ImageDerivative.record_uuid == record_uuid)
        )
    }
    needed = False
    for path, row in existing.items():
        if path not in wanted or stored.deleted:
            session.delete(row)
            needed = True  # the job deletes its files
    if stored.deleted:
        return needed
    for path, file in wanted.items():
        row = existing.get(path)
        if row is None:
            session.add(
                ImageDerivative(
                    identifier=image_identifier(record_uuid, path),
                    workspace_id=workspace.id,
                    record_uuid=record_uuid,
                    path=path,
                    master_sha256=file.sha256,
                    status=DerivativeStatus.PENDING,
                )
            )
            needed = True
        elif row.master_sha256 != file.sha256 or row.status is DerivativeStatus.PENDING:
            row.master_sha256 = file.sha256
            row.status = DerivativeStatus.PENDING
            row.error = None
            needed = True
    return needed


def enqueue_derivatives(runtime: Runtime, record_uuid: str, workspace_id: int) -> None:
    """Start the derivative job of a record (after its save is committed)."""
    from heritage.jobs.services import JobService

    JobService(runtime).enqueue(
        SYSTEM,
        DERIVATIVES_JOB,
        {"record": record_uuid},
        title="Make image derivatives",
        workspace_id=workspace_id,
    )


@dataclass(frozen=True)
class ImageView:
    """An image the caller may see, with what serving it needs."""

    row: ImageDerivative
    workspace_slug: str
    public: bool
    files: DerivativeFiles

    @property
    def ready(self) -> bool:
        return self.row.status is DerivativeStatus.READY

    @property
    def etag(self) -> str:
        return self.row.master_sha256[:32]


class ImageService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @property
    def root(self) -> Path:
        return self.runtime.settings.resolved_data_dir / "derivatives"

    def _files(self, row: ImageDerivative, key: tuple[str, bytes] | None = None) -> DerivativeFiles:
        lookup = self.runtime.keyring.data_key if (key or row.key_id) else None
        return DerivativeFiles(
            self.root, row.identifier, row.master_sha256, key=key, key_lookup=lookup
        )

    # -- making derivatives (the job) ----------------------------------------------------------

    def derive_record(self, record_uuid: str) -> dict[str, Any]:
        """Make the pending derivatives of a record's images; a bad image fails alone."""
        with self.runtime.database.session() as session:
            rows = list(
                session.scalars(
                    select(ImageDerivative).where(
                        ImageDerivative.record_uuid == record_uuid,
                        ImageDerivative.status == DerivativeStatus.PENDING,
                    )
                )
            )
        made, failed = [], []
        for row in rows:
            if self.derive(row.id):
                made.append(row.path)
            else:
                failed.append(row.path)
        return {"made": made, "failed": failed, "removed": self._forget_removed(record_uuid)}

    def _forget_removed(self, record_uuid: str) -> int:
        """Delete the derivative files of the record's images that are gone from it."""
        with self.runtime.database.session() as session:
            kept = set(
                session.scalars(
                    select(ImageDerivative.identifier).where(
                        ImageDerivative.record_uuid == record_uuid
                    )
                )
            )
        if not self.root.is_dir():
            return 0
        removed = 0
        for folder in self.root.glob(f"{record_uuid}~*"):
            if folder.name not in kept:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed

    def derive(self, derivative_id: int) -> bool:
        """Make one image's derivatives; False (with the reason on the row) when the
        master cannot be made into them. The master is only ever read."""
        from heritage.store.services import PreservationService

        with self.runtime.database.session() as session:
            row = session.get(ImageDerivative, derivative_id)
            if row is None:
                return False
            workspace = session.get(Workspace, row.workspace_id)
            record = session.scalar(select(RecordRow).where(RecordRow.uuid == row.record_uuid))
            if workspace is None or record is None:
                return False
            slug, path = workspace.slug, row.path
        store = PreservationService(self.runtime)
        key = store.encryption_key(slug)
        try:
            with store.open_file(SYSTEM, slug, row.record_uuid, path) as master:
                master_sha256 = master.sha256
                image = derive.open_master(
                    master.as_file(),
                    self.runtime.settings.image_max_pixels,
                    in_memory=master.encrypted or key is not None,
                )
                technical = derive.technical_metadata(image) | {
                    "file_size": master.size,
                    "media_type": master.media_type,
                }
                copy = derive.make_access_copy(image)
        except derive.ImageRejected as error:
            self._finish(derivative_id, error=str(error))
            log.info("image rejected", path=path, record=row.record_uuid, reason=str(error))
            return False
        except NotFound:
            self._finish(derivative_id, error="The file is no longer part of the record.")
            return False
        row.master_sha256 = master_sha256
        files = self._files(row, key)
        files.write(ACCESS_COPY, copy.tiff)
        for width, data in copy.thumbnails.items():
            files.write(thumbnail_name(width), data)
        provenance = {
            "tool": derive.TOOL,
            "tool_version": derive.libvips_version(),
            "binding": f"pyvips {pyvips.__version__}",
            "parameters": copy.parameters,
            "master": {"path": path, "sha256": master_sha256},
            "made_at": utcnow().isoformat(),
            "encrypted": key is not None,
        }
        self._finish(
            derivative_id,
            master_sha256=master_sha256,
            width=copy.width,
            height=copy.height,
            levels=copy.levels,
            technical=technical,
            provenance=provenance,
            key_id=key[0] if key else None,
        )
        files.remove_others()
        return True

    def _finish(self, derivative_id: int, *, error: str | None = None, **values: Any) -> None:
        with self.runtime.database.session(write=True) as session:
            row = session.get(ImageDerivative, derivative_id)
            if row is None:
                return
            if error is not None:
                row.status, row.error = DerivativeStatus.FAILED, error
            else:
                for name, value in values.items():
                    setattr(row, name, value)
                row.status, row.error = DerivativeStatus.READY, None
            # the record's content tier reads the image's size: search indexes it again
            search_outbox.queue(session, [row.record_uuid])
            session.commit()
        forget_image_facts()

    # -- reading -------------------------------------------------------------------------------

    def image(self, actor: Identity, identifier: str) -> ImageView:
        with self.runtime.database.session() as session:
            facts, slug, public = image_facts(session, identifier)
            role = workspace_role(session, actor, facts["workspace_id"])
        require(actor, "images.view", Target(workspace_role=role, workspace_public=public))
        return self._view(facts, slug, public)

    def kept_image(self, actor: Identity, identifier: str) -> ImageView | None:
        """The image as :meth:`image` gives it to someone not signed in, from what this
        process keeps: no database, so it may run on the event loop. None when nothing
        is kept, the actor is signed in (roles are always read afresh) or the policy
        says no (:meth:`image` then says why)."""
        kept = kept_image_facts(identifier)
        if kept is None or actor.user_id is not None:
            return None
        facts, slug, public = kept
        target = Target(workspace_role=None, workspace_public=public)
        if not decide(actor, "images.view", target).allowed:
            return None
        return self._view(facts, slug, public)

    def _view(self, facts: dict[str, Any], slug: str, public: bool) -> ImageView:
        row = ImageDerivative(**facts)  # detached: what serving needs, not the metadata
        return ImageView(row, slug, public, self._files(row))

    def images_of(self, actor: Identity, record_uuid: str) -> list[ImageDerivative]:
        """The record's images in the database's order (the caller checked the record)."""
        with self.runtime.database.session() as session:
            rows = list(
                session.scalars(
                    select(ImageDerivative)
                    .where(ImageDerivative.record_uuid == record_uuid)
                    .order_by(ImageDerivative.id)
                )
            )
            for row in rows:
                session.expunge(row)
            return rows

    def _ready(self, view: ImageView) -> None:
        if view.row.status is DerivativeStatus.FAILED:
            raise NotFound(f"The image has no derivatives: {view.row.error}")
        if view.row.status is not DerivativeStatus.READY:
            raise ImageNotReady("The image is still being prepared; try again in a moment.")
        if not view.files.exists(ACCESS_COPY):
            # derivatives are caches: gone (deleted, a new machine), they are made again
            self.remake(view.row.id)
            raise ImageNotReady("The image is being prepared again; try again in a moment.")

    def remake(self, derivative_id: int) -> None:
        """Mark an image's derivatives pending and start the job that makes them."""
        with self.runtime.database.session(write=True) as session:
            row = session.get(ImageDerivative, derivative_id)
            if row is None or row.status is DerivativeStatus.PENDING:
                return
            row.status, row.error = DerivativeStatus.PENDING, None
            record_uuid, workspace_id = row.record_uuid, row.workspace_id
            session.commit()
        forget_image_facts()
        enqueue_derivatives(self.runtime, record_uuid, workspace_id)

    def info(self, view: ImageView, base: str) -> dict[str, object]:
        self._ready(view)
        row = view.row
        assert row.width is not None and row.height is not None
        return image_api.info(
            base,
            row.width,
            row.height,
            row.levels,
            max_area=self.runtime.settings.iiif_max_area,
            max_width=MAX_DIMENSION,
        )

    def render(
        self, view: ImageView, region: str, size: str, rotation: str, quality_format: str
    ) -> tuple[bytes, str]:
        """The encoded image and its media type; :class:`InvalidInput` for a bad request."""
        self._ready(view)
        try:
            request = self._parse(view, region, size, rotation, quality_format)
        except image_api.BadImageRequest as error:
            raise InvalidInput.on("iiif", str(error)) from None
        # stored thumbnails and tiles are on disk already: only what is rendered is cached
        data = self._thumbnail(view, request) or self._stored_tile(view, request)
        if data is None:
            data = view.files.cached(request.cache_key)
        if data is None:
            data = self._render(view, request)
            view.files.cache(request.cache_key, data)
        return data, request.media_type

    def stored_tile(
        self, view: ImageView, region: str, size: str, rotation: str, quality_format: str
    ) -> bytes | None:
        """The answer when the request is for one of the access copy's stored tiles as it
        is stored; None for anything else (:meth:`render` answers, or says what is wrong).
        Reads a few kilobytes and decodes nothing: fit for the event loop."""
        if not view.ready or not view.files.exists(ACCESS_COPY):
            return None
        try:
            request = self._parse(view, region, size, rotation, quality_format)
        except image_api.BadImageRequest:
            return None
        return self._stored_tile(view, request)

    def _parse(
        self, view: ImageView, region: str, size: str, rotation: str, quality_format: str
    ) -> image_api.ImageRequest:
        row = view.row
        assert row.width is not None and row.height is not None
        return image_api.parse(
            region,
            size,
            rotation,
            quality_format,
            width=row.width,
            height=row.height,
            max_area=self.runtime.settings.iiif_max_area,
            max_width=MAX_DIMENSION,
        )

    def _thumbnail(self, view: ImageView, request: image_api.ImageRequest) -> bytes | None:
        """The stored thumbnail, when the request asks for exactly it."""
        row = view.row
        plain = request.rotation == 0 and not request.mirror and request.quality == "default"
        if not plain or request.format != "jpg" or request.region != (0, 0, row.width, row.height):
            return None
        for width in derive.THUMBNAIL_WIDTHS:
            name = thumbnail_name(width)
            if request.size[0] == width and view.files.exists(name):
                data = view.files.read(name)
                thumb = pyvips.Image.new_from_buffer(data, "")
                if (thumb.width, thumb.height) == request.size:
                    return data
        return None

    def _stored_tile(self, view: ImageView, request: image_api.ImageRequest) -> bytes | None:
        """The access copy's own JPEG tile, when the request asks for exactly one whole
        tile of a level as it is stored (what deep-zoom viewers ask for)."""
        row = view.row
        plain = request.rotation == 0 and not request.mirror
        if not plain or request.format != "jpg" or request.quality not in ("default", "color"):
            return None
        level = image_api.pick_level(row.levels, request)
        span = derive.TILE * 2**level
        x, y, w, h = request.region
        if request.size != (derive.TILE, derive.TILE) or (w, h) != (span, span):
            return None
        if x % span or y % span:
            return None
        column, line = x // span, y // span
        level_w, level_h = row.levels[level]
        if (column + 1) * derive.TILE > level_w or (line + 1) * derive.TILE > level_h:
            return None  # an edge tile: stored padded, so rendered
        with view.files.open(ACCESS_COPY) as stream:
            levels = tiles.LEVELS.get(f"{row.identifier}/{row.master_sha256}", stream)
            if levels is None or level >= len(levels):
                return None
            stored = levels[level]
            if (stored.width, stored.height) != (level_w, level_h) or (
                stored.tile_width,
                stored.tile_height,
            ) != (derive.TILE, derive.TILE):
                return None
            return tiles.tile_jpeg(stream, stored, column, line)

    def _render(self, view: ImageView, request: image_api.ImageRequest) -> bytes:
        streams: list[Any] = []

        def load_page(page: int) -> pyvips.Image:
            if not view.files.encrypted:
                return pyvips.Image.new_from_file(
                    str(view.files.path(ACCESS_COPY)), page=page, fail=True
                )
            stream = view.files.open(ACCESS_COPY)
            streams.append(stream)
            return pyvips.Image.new_from_source(derive.source_for(stream), "", page=page, fail=True)

        try:
            return image_api.render(request, view.row.levels, load_page)
        except pyvips.Error as error:
            log.error("iiif render failed", identifier=view.row.identifier, error=str(error))
            raise ImageNotReady(
                "The image's access copy could not be read; it will be made again."
            ) from None
        finally:
            for stream in streams:
                stream.close()

    def thumbnail_url(self, row: ImageDerivative, width: int = 400) -> str:
        return f"/iiif/3/{row.identifier}/full/{width},/0/default.jpg"

    # -- Presentation API ----------------------------------------------------------------------

    def manifest(self, actor: Identity, record_uuid: str, base: str) -> dict[str, Any]:
        """The record's manifest: its images in record order, ours and those shown from
        other IIIF servers; :class:`NotFound` when none is ready to show."""
        from heritage.institutions.models import Institution
        from heritage.records.services import RecordService

        view = RecordService(self.runtime).get(actor, record_uuid)
        images = self.images_of(actor, record_uuid)
        if not any(row.status is DerivativeStatus.READY for row in images) and not any(
            presentation.remote_image(item) for item in view.record.representations
        ):
            raise NotFound("This record has no images ready to show.")
        with self.runtime.database.session() as session:
            workspace = session.get(Workspace, view.row.workspace_id)
            assert workspace is not None
            institution = session.get(Institution, workspace.institution_id)
            holder = (institution.slug, institution.name) if institution else ("", "")
        return presentation.manifest(
            base, record_uuid, view.version, view.record, images, institution=holder
        )

    def collection(self, actor: Identity, workspace_slug: str, base: str) -> dict[str, Any]:
        """The workspace's collection: every record with a ready image, by identifier,
        then the collections of its datasets (imports) with such records."""
        from heritage.iiif.datasets import dataset_label, workspace_datasets
        from heritage.workspaces.services import workspace_for

        with self.runtime.database.session() as session:
            workspace = workspace_for(session, actor, workspace_slug, "images.view")
            with_images = (
                select(ImageDerivative.record_uuid)
                .where(
                    ImageDerivative.workspace_id == workspace.id,
                    ImageDerivative.status == DerivativeStatus.READY,
                )
                .distinct()
            )
            rows = session.execute(
                select(RecordRow.uuid, RecordRow.data)
                .where(
                    RecordRow.workspace_id == workspace.id,
                    RecordRow.deleted.is_(False),
                    RecordRow.uuid.in_(with_images),
                )
                .order_by(RecordRow.identifier)
            ).all()
            name = workspace.name
            datasets = [
                (ref.import_id, dataset_label(ref.name, ref.created_at))
                for ref in workspace_datasets(session, workspace.id)
            ]
        members = [(uuid_, Record.model_validate(data)) for uuid_, data in rows]
        return presentation.collection(base, workspace_slug, name, members, datasets)


class ImageNotReady(Exception):
    """The image's derivatives are not made yet (a 503 with Retry-After)."""
