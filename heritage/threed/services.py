"""The 3D service: attaching models to records, processing them, paradata, derivatives.

A model is one representation of a record (its main file, with its buffers,
materials and textures as ``parts``), stored in the record's object like any
file. Processing (analysis, levels of detail, thumbnails) runs as a job of kind
``threed.process`` and never writes to the master.

Derivatives are regenerable caches in ``DATA_DIR/derivatives/3d``. In a workspace
that encrypts its files they are written encrypted with the workspace's data key
(the store's chunked format), so no plaintext copy of a model outlives the job;
the job's own working copy of the master sits in a private temporary folder that
is removed when the job ends, whatever the outcome.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import structlog
from sqlalchemy import select

from heritage.accounts.identity import Identity
from heritage.audit.services import record as audit
from heritage.db.base import utcnow
from heritage.db.uow import UnitOfWork
from heritage.errors import Conflict, InvalidInput, NotFound
from heritage.jobs.services import JobService
from heritage.records.model import Representation
from heritage.records.services import MEDIA_FOLDER, RecordService, RecordView, media_path
from heritage.runtime import Runtime
from heritage.search import outbox as search_outbox
from heritage.store.crypto.stream import decrypt_stream, encrypt_bytes
from heritage.threed import formats
from heritage.threed.models import ModelStatus, ThreeDModel
from heritage.threed.paradata import Paradata, quality_report
from heritage.workspaces.services import workspace_for

log = structlog.get_logger(__name__)
PROCESS_JOB = "threed.process"
DERIVATIVE_MEDIA_TYPES = {
    ".glb": "model/gltf-binary",
    ".png": "image/png",
    ".webp": "image/webp",
}


@dataclass
class ModelView:
    row: ThreeDModel
    record_uuid: str
    representation: Representation | None

    @property
    def paradata(self) -> Paradata:
        return Paradata.model_validate(self.row.paradata or {})


class ThreeDService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.records = RecordService(runtime)

    # -- attaching ---------------------------------------------------------------------------

    def attach(
        self,
        actor: Identity,
        record_uuid: str,
        files: Mapping[str, bytes],
        *,
        primary: bool = False,
        base_version: str | None = None,
    ) -> RecordView:
        """Store a model (one file, or a main file with its parts) as one representation
        of the record, and start its processing. A zip is unpacked first (safely)."""
        if len(files) == 1:
            name, data = next(iter(files.items()))
            if name.lower().endswith(".zip"):
                files = formats.strip_common_folder(formats.read_bundle(io.BytesIO(data)))
        model = formats.group(list(files))
        # a set keeps its relative names (a glTF names its buffers by them) in a folder
        # of its own, so two sets with a "texture.png" each do not clash
        folder = "" if not model.parts else PurePosixPath(model.main).stem + "/"
        main = media_path(folder + model.main)
        parts = [media_path(folder + part) for part in model.parts]
        current = self.records.get(actor, record_uuid)
        record = current.record
        others = [item for item in record.representations if item.file != main]
        clash = {part for item in others for part in [item.file, *item.parts]} & {main, *parts}
        if clash:
            raise InvalidInput.on(
                "files", "these files belong to another representation: " + ", ".join(sorted(clash))
            )
        has_primary = any(item.role == "primary" for item in others)
        representation = Representation(
            file=main,
            parts=parts,
            role="primary" if primary or not has_primary else "view",
            media_type=formats.MEDIA_TYPES[model.format],
        )
        if representation.role == "primary":
            others = [item.model_copy(update={"role": "view"}) for item in others]
        updated = record.model_copy(update={"representations": [*others, representation]})
        stored = {
            path[len(MEDIA_FOLDER) :]: files[source]
            for path, source in zip([main, *parts], [model.main, *model.parts], strict=True)
        }
        view = self.records.update(
            actor,
            record_uuid,
            updated,
            base_version=base_version,
            message=f"Added the 3D model {main}",
            files=stored,
            audit_action="record.attach",
        )
        self.process_later(actor, record_uuid, main)
        return view

    def process_later(self, actor: Identity, record_uuid: str, path: str) -> ThreeDModel:
        """(Re)start the processing of the record's model ``path`` in the background."""
        view = self.records.get(actor, record_uuid)
        representation = _representation(view, path)
        form = formats.format_of(path)
        if form is None:
            raise InvalidInput.on("file", f"'{path}' is not a 3D model")
        with UnitOfWork(self.runtime.database) as uow:
            workspace = workspace_for(uow.session, actor, view.workspace_slug, "records.update")
            row = uow.session.scalar(
                select(ThreeDModel).where(
                    ThreeDModel.record_uuid == view.uuid, ThreeDModel.path == representation.file
                )
            )
            if row is None:
                row = ThreeDModel(
                    workspace_id=workspace.id,
                    record_uuid=view.uuid,
                    path=representation.file,
                    format=form,
                    analysis={},
                    derivatives={},
                    paradata={},
                )
                uow.session.add(row)
            row.status, row.error, row.updated_at = ModelStatus.QUEUED, None, utcnow()
            job = JobService(self.runtime).enqueue(
                actor,
                PROCESS_JOB,
                {"record_uuid": view.uuid, "path": representation.file, "user_id": actor.user_id},
                title=f"Process the 3D model {representation.file}",
                workspace_id=workspace.id,
                uow=uow,
            )
            row.job_id = job.id
            uow.commit()
            uow.session.refresh(row)
            return row

    # -- reading -----------------------------------------------------------------------------

    def models(self, actor: Identity, record_uuid: str) -> list[ModelView]:
        """The record's 3D models (records.view), in the order of its representations."""
        view = self.records.get(actor, record_uuid)
        with self.runtime.database.session() as session:
            rows = {
                row.path: row
                for row in session.scalars(
                    select(ThreeDModel).where(ThreeDModel.record_uuid == view.uuid)
                )
            }
        found = []
        for item in view.record.representations:
            if item.file in rows:
                found.append(ModelView(rows[item.file], view.uuid, item))
        return found

    def prune(self, actor: Identity, record_uuid: str) -> int:
        """Forget the models that are no longer representations of the record (removed
        from it): their rows and cached derivatives go; the store keeps the masters in
        earlier versions. Returns how many were forgotten."""
        view = self.records.get(actor, record_uuid)
        kept = {item.file for item in view.record.representations if item.file}
        with self.runtime.database.session(write=True) as session:
            gone = [
                row
                for row in session.scalars(
                    select(ThreeDModel).where(ThreeDModel.record_uuid == view.uuid)
                )
                if row.path not in kept
            ]
            folders = [self.cache_dir(row) for row in gone]
            for row in gone:
                session.delete(row)
            session.commit()
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        return len(folders)

    def model(self, actor: Identity, record_uuid: str, path: str) -> ModelView:
        full = _full(path)
        for item in self.models(actor, record_uuid):
            if item.row.path == full:
                return item
        raise NotFound(f"No 3D model '{path}' in this record")

    def report(self, actor: Identity, record_uuid: str, item: ModelView) -> dict[str, Any]:
        view = self.records.get(actor, record_uuid)
        complete = not any(problem.severity == "error" for problem in view.problems)
        return quality_report(
            item.row.analysis or None, item.paradata, complete, item.row.derivatives or None
        )

    def set_paradata(
        self, actor: Identity, record_uuid: str, path: str, paradata: Paradata
    ) -> ModelView:
        view = self.records.get(actor, record_uuid)
        item = self.model(actor, record_uuid, path)
        with UnitOfWork(self.runtime.database) as uow:
            workspace = workspace_for(uow.session, actor, view.workspace_slug, "records.update")
            row = uow.session.get(ThreeDModel, item.row.id)
            assert row is not None
            row.paradata = paradata.model_dump(mode="json", exclude_defaults=True)
            row.updated_at = utcnow()
            audit(
                uow.session,
                actor,
                "record.paradata",
                "record",
                view.uuid,
                workspace_id=workspace.id,
                details={"file": row.path},
            )
            uow.commit()
        return self.model(actor, record_uuid, path)

    def derivative(
        self, actor: Identity, record_uuid: str, path: str, name: str
    ) -> tuple[bytes, str]:
        """A derivative's bytes (decrypted when the workspace encrypts) and media type."""
        item = self.model(actor, record_uuid, path)
        files = (item.row.derivatives or {}).get("files") or {}
        entry = files.get(name)
        if entry is None:
            raise NotFound(f"No derivative '{name}' of this model")
        cached = self.cache_dir(item.row) / entry["file"]
        if not cached.is_file():
            raise NotFound(f"The derivative '{name}' is not in the cache; process the model again")
        if entry.get("encrypted"):
            sink = io.BytesIO()
            with cached.open("rb") as source:
                decrypt_stream(source, sink, self.runtime.keyring.data_key)
            data = sink.getvalue()
        else:
            data = cached.read_bytes()
        return data, entry["media_type"]

    def cache_dir(self, row: ThreeDModel) -> Path:
        return (
            self.runtime.settings.resolved_data_dir
            / "derivatives"
            / "3d"
            / row.record_uuid
            / str(row.id)
        )

    # -- processing (the job) ----------------------------------------------------------------

    def process(self, actor: Identity, record_uuid: str, path: str) -> dict[str, Any]:
        """Analyse the model, make its derivatives and thumbnails. A master that cannot be
        used leaves the row ``rejected`` with the reason (the master stays as it is)."""
        from heritage.threed import isolated
        from heritage.threed.loading import ModelRejected

        view = self.records.get(actor, record_uuid)
        try:
            representation = _representation(view, path)
        except NotFound:
            return {"status": "gone"}  # removed from the record while the job waited
        with self.runtime.database.session() as session:
            row = session.scalar(
                select(ThreeDModel).where(
                    ThreeDModel.record_uuid == view.uuid,
                    ThreeDModel.path == representation.file,
                )
            )
            if row is None:
                return {"status": "gone"}
            row_id, form = row.id, row.format
        key = self.records.store.encryption_key(view.workspace_slug)
        tmp_root = self.runtime.settings.resolved_data_dir / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="threed-", dir=tmp_root))  # mode 0700
        try:
            master, sha256 = self._copy_master(actor, view, representation, work / "master")
            out = work / "out"
            out.mkdir()
            try:
                result = isolated.run(master, form, out)
            except ModelRejected as error:
                self._finish(row_id, ModelStatus.REJECTED, error=str(error), sha256=sha256)
                return {"status": "rejected", "error": str(error)}
            except Exception as error:  # our failure, not the model's: the job fails, retry
                self._finish(row_id, ModelStatus.FAILED, error=f"{type(error).__name__}: {error}")
                raise
            cache = self._cache_for(row_id)
            shutil.rmtree(cache, ignore_errors=True)
            cache.mkdir(parents=True)
            files = {}
            for name, made in result.files.items():
                data = made.path.read_bytes()
                if key is not None:
                    data = encrypt_bytes(data, key[1], key[0])
                (cache / made.path.name).write_bytes(data)
                files[name] = {
                    "file": made.path.name,
                    "media_type": DERIVATIVE_MEDIA_TYPES[made.path.suffix],
                    "bytes": made.path.stat().st_size,
                    "encrypted": key is not None,
                    "provenance": made.provenance,
                    **({"faces": made.faces} if made.faces is not None else {}),
                    **({"points": made.points} if made.points is not None else {}),
                }
            self._finish(
                row_id,
                ModelStatus.READY,
                sha256=sha256,
                analysis=result.analysis,
                derivatives={"files": files, "made_at": utcnow().isoformat()},
            )
            self._describe(actor, view.uuid, representation.file or "", result.analysis)
            return {"status": "ready", "derivatives": sorted(files)}
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _describe(
        self, actor: Identity, record_uuid: str, path: str, analysis: dict[str, Any]
    ) -> None:
        """Write the counts into the record's web resource (edm:vertexCount,
        edm:polygonCount, edm:pointCount): a new version of the record, so its preserved
        EDM carries them. A save by someone else meanwhile is read again, not overwritten."""
        counts = {
            "vertex_count": analysis.get("vertex_count"),
            "polygon_count": analysis.get("face_count"),
            "point_count": analysis.get("point_count"),
        }
        for _attempt in range(3):
            view = self.records.get(actor, record_uuid)
            items = view.record.representations
            changed = [
                item.model_copy(update=counts) if item.file == path else item for item in items
            ]
            if changed == items or not any(item.file == path for item in items):
                return  # already described, or no longer a representation
            updated = view.record.model_copy(update={"representations": changed})
            try:
                self.records.update(
                    actor,
                    record_uuid,
                    updated,
                    base_version=view.version,
                    message=f"3D analysis of {path}",
                )
                return
            except Conflict:
                continue
        log.warning("3D counts not written: the record kept changing", record=record_uuid)

    def _cache_for(self, row_id: int) -> Path:
        with self.runtime.database.session() as session:
            row = session.get(ThreeDModel, row_id)
            assert row is not None
            return self.cache_dir(row)

    def _copy_master(
        self, actor: Identity, view: RecordView, representation: Representation, folder: Path
    ) -> tuple[Path, str]:
        """The master and its parts, decrypted, in ``folder`` with their relative layout."""
        assert representation.file is not None
        base = PurePosixPath(representation.file).parent
        sha256 = ""
        main = folder / PurePosixPath(representation.file).name
        for stored in [representation.file, *representation.parts]:
            relative = PurePosixPath(stored).relative_to(base)
            target = folder / formats.safe_member(str(relative))
            target.parent.mkdir(parents=True, exist_ok=True)
            opened = self.records.store.open_file(actor, view.workspace_slug, view.uuid, stored)
            with target.open("wb") as sink:
                for block in opened.iter_range():
                    sink.write(block)
            if stored == representation.file:
                sha256 = opened.sha256
        return main, sha256

    def _finish(self, row_id: int, status: ModelStatus, **values: Any) -> None:
        with self.runtime.database.session(write=True) as session:
            row = session.get(ThreeDModel, row_id)
            if row is None:
                return  # the record lost the model meanwhile
            row.status = status
            row.error = values.get("error")
            row.master_sha256 = values.get("sha256")
            row.analysis = values.get("analysis", {})
            row.derivatives = values.get("derivatives", {})
            row.updated_at = utcnow()
            # the record's content tier reads the analysis: search indexes it again
            search_outbox.queue(session, [row.record_uuid])
            session.commit()


def _full(path: str) -> str:
    return path if path.startswith(MEDIA_FOLDER) else media_path(path)


def _representation(view: RecordView, path: str) -> Representation:
    full = _full(path)
    for item in view.record.representations:
        if item.file == full:
            return item
    raise NotFound(f"No file '{path}' in this record")
