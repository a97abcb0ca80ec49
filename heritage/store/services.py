"""The preservation service: stored objects of a workspace, their files and versions.

Every change is a new OCFL version with a message, the acting user and the time;
nothing is overwritten. Deleting is a new version without the file; only an
administrator can purge an object, with a reason that goes into the audit log.

Order of work for a change: the incoming files are brought into their stored
form first (hashed, encrypted for workspaces that encrypt), outside any
transaction; then, in one database transaction that also serialises writers of
the object, the version is committed to the store, the index rows are updated,
the PREMIS event and the audit entry are written, and the transaction commits.
The store is the source of truth: should the database commit fail after the
version was written, ``heritage rebuild-index`` (or the next change) brings the
index back in line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from heritage.accounts.identity import SYSTEM, Identity
from heritage.audit.services import record
from heritage.db.base import utcnow
from heritage.db.uow import UnitOfWork
from heritage.errors import (
    Conflict,
    ContentUnavailable,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ServiceError,
)
from heritage.jobs.services import JobService
from heritage.runtime import Runtime
from heritage.store.crypto import CryptoError
from heritage.store.description import (
    DESCRIPTION_PATH,
    FileEntry,
    ObjectDescription,
    WorkspaceRef,
    uuid_for,
)
from heritage.store.index import (
    index_object,
    read_description,
    reindex_object,
    version_events,
    versions_after,
)
from heritage.store.ingest import (
    PreparedFile,
    check_logical_path,
    media_type_for,
    prepare_file,
)
from heritage.store.models import (
    EventOutcome,
    EventType,
    PreservationEvent,
    StoredFile,
    StoredObject,
)
from heritage.store.ocfl import (
    Changes,
    HeadMismatch,
    ObjectNotFound,
    OcflError,
    PathNotFound,
    User,
    VersionNotFound,
)
from heritage.store.reading import OpenedFile, open_stored_file
from heritage.workspaces.models import Workspace
from heritage.workspaces.services import workspace_for

log = structlog.get_logger(__name__)
FileSource = bytes | BinaryIO | PreparedFile
OBJECT_ID_PREFIX = "urn:uuid:"
MAX_TITLE = 500


def object_id_for(object_uuid: str) -> str:
    return OBJECT_ID_PREFIX + object_uuid


def parse_object_uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise NotFound(f"No object '{value}'") from None


@dataclass(frozen=True)
class ObjectView:
    row: StoredObject
    workspace_slug: str
    files: list[StoredFile]

    @property
    def uuid(self) -> str:
        return self.row.uuid


@dataclass(frozen=True)
class IndexCatchUp:
    """What :meth:`PreservationService.heal_index` did: the head the index had, and the
    versions after it the database had no record of (none when the index was ahead)."""

    previous_head: str
    missed: list[str]


@dataclass(frozen=True)
class VersionView:
    name: str
    created: Any
    message: str | None
    user: str | None
    added: list[str]
    changed: list[str]
    removed: list[str]


@dataclass(frozen=True)
class CommitHooks:
    """What a capability that keeps its own objects in the store (records) adds to a
    change, inside the change's transaction: ``before`` runs once the object's index row
    is locked and may refuse the change (a conflict); ``after`` runs once the version is
    written and indexed, with the version's name and whether anything changed."""

    before: Callable[[Session, Workspace, StoredObject | None], None] | None = None
    after: Callable[[Session, Workspace, StoredObject, str, bool], None] | None = None
    # the audit entry's action and target type, instead of the stored object's
    audit_action: str | None = None
    audit_target_type: str = "object"
    audit_target_id: str | None = None
    # runs once the change is committed, when something changed (enqueue a job)
    after_commit: Callable[[], None] | None = None


def ocfl_user(runtime: Runtime, actor: Identity) -> User:
    base = runtime.settings.base_url
    if actor.user_id is None:
        return User(actor.label, base + "/")
    return User(actor.label, f"{base}/users/{actor.user_id}")


class PreservationService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @property
    def storage(self) -> Any:
        return self.runtime.storage

    # -- loading and permissions ---------------------------------------------------------------

    def _workspace(self, session: Session, actor: Identity, slug: str, action: str) -> Workspace:
        return workspace_for(session, actor, slug, action)

    def _object(self, session: Session, workspace: Workspace, object_uuid: str) -> StoredObject:
        row = session.scalar(
            select(StoredObject).where(
                StoredObject.uuid == parse_object_uuid(object_uuid),
                StoredObject.workspace_id == workspace.id,
            )
        )
        if row is None:
            raise NotFound(f"No object '{object_uuid}' in workspace '{workspace.slug}'")
        return row

    def _object_id(self, object_uuid: str) -> str:
        """The OCFL id of the object with this uuid (imported objects keep foreign ids)."""
        with self.runtime.database.session() as session:
            object_id = session.scalar(
                select(StoredObject.object_id).where(
                    StoredObject.uuid == parse_object_uuid(object_uuid)
                )
            )
        if object_id is None:
            raise NotFound(f"No object '{object_uuid}'")
        return object_id

    def _view(self, session: Session, workspace: Workspace, row: StoredObject) -> ObjectView:
        files = list(
            session.scalars(
                select(StoredFile)
                .where(StoredFile.object_pk == row.id)
                .order_by(StoredFile.logical_path)
            )
        )
        return ObjectView(row, workspace.slug, files)

    def workspace_ref(self, session: Session, workspace: Workspace) -> WorkspaceRef:
        from heritage.institutions.models import Institution

        institution = session.get(Institution, workspace.institution_id)
        return WorkspaceRef(
            uid=workspace.uid,
            slug=workspace.slug,
            name=workspace.name,
            institution=institution.slug if institution else "",
        )

    def encryption_key(self, workspace_slug: str) -> tuple[str, bytes] | None:
        """The key new files of the workspace are encrypted with, created on first need;
        None when the workspace stores files as they are. Uploads use it too."""
        try:
            with self.runtime.database.session() as session:
                workspace = session.scalar(
                    select(Workspace).where(Workspace.slug == workspace_slug)
                )
                if workspace is None:
                    raise NotFound(f"No workspace '{workspace_slug}'")
                if not workspace.encrypt_files:
                    return None
                existing = self.runtime.keyring.existing_key(session, workspace)
            if existing is not None:
                return existing
            with self.runtime.database.session(write=True) as session:
                workspace = session.scalar(
                    select(Workspace).where(Workspace.slug == workspace_slug)
                )
                if workspace is None:
                    raise NotFound(f"No workspace '{workspace_slug}'")
                key = self.runtime.keyring.ensure_key(session, workspace)
                session.commit()
                return key
        except CryptoError as error:
            log.error("no encryption key", workspace=workspace_slug, error=str(error))
            raise ContentUnavailable(
                f"Files of workspace '{workspace_slug}' cannot be encrypted: "
                f"{type(error).__name__}: {error}. Nothing was stored."
            ) from None

    def prepare(
        self,
        workspace_slug: str,
        source: bytes | BinaryIO,
        *,
        expected_sha256: str | None = None,
    ) -> PreparedFile:
        """Bring a file into its stored form, ready for :meth:`add_files`."""
        return prepare_file(
            source,
            self.runtime.settings.resolved_data_dir / "tmp",
            self.encryption_key(workspace_slug),
            expected_sha256=expected_sha256,
        )

    # -- reading -------------------------------------------------------------------------------

    def list_objects(self, actor: Identity, workspace_slug: str) -> list[StoredObject]:
        with self.runtime.database.session() as session:
            workspace = self._workspace(session, actor, workspace_slug, "objects.view")
            return list(
                session.scalars(
                    select(StoredObject)
                    .where(StoredObject.workspace_id == workspace.id)
                    .order_by(StoredObject.updated_at.desc(), StoredObject.id.desc())
                )
            )

    def get(self, actor: Identity, workspace_slug: str, object_uuid: str) -> ObjectView:
        with self.runtime.database.session() as session:
            workspace = self._workspace(session, actor, workspace_slug, "objects.view")
            return self._view(session, workspace, self._object(session, workspace, object_uuid))

    def versions(self, actor: Identity, workspace_slug: str, object_uuid: str) -> list[VersionView]:
        with self.runtime.database.session() as session:
            workspace = self._workspace(session, actor, workspace_slug, "objects.view")
            row = self._object(session, workspace, object_uuid)
        with integrity_guard(row.object_id):
            inventory = self.storage.inventory(row.object_id)
        views: list[VersionView] = []
        previous: dict[str, str] = {}
        for name in inventory.version_names():
            version = inventory.versions[name]
            state = {
                path: digest
                for path, digest in version.logical_state().items()
                if path != DESCRIPTION_PATH
            }
            views.append(
                VersionView(
                    name=name,
                    created=version.created_at,
                    message=version.message,
                    user=version.user.name if version.user else None,
                    added=sorted(set(state) - set(previous)),
                    changed=sorted(p for p in state if p in previous and previous[p] != state[p]),
                    removed=sorted(set(previous) - set(state)),
                )
            )
            previous = state
        return views[::-1]

    def events(
        self, actor: Identity, workspace_slug: str, object_uuid: str
    ) -> list[PreservationEvent]:
        with self.runtime.database.session() as session:
            workspace = self._workspace(session, actor, workspace_slug, "objects.view")
            row = self._object(session, workspace, object_uuid)
            return list(
                session.scalars(
                    select(PreservationEvent)
                    .where(PreservationEvent.object_id == row.object_id)
                    .order_by(PreservationEvent.at.desc(), PreservationEvent.id.desc())
                )
            )

    def open_file(
        self,
        actor: Identity,
        workspace_slug: str,
        object_uuid: str,
        path: str,
        version: str | None = None,
    ) -> OpenedFile:
        """The file (of the head version by default), ready to stream by range."""
        with self.runtime.database.session() as session:
            workspace = self._workspace(session, actor, workspace_slug, "objects.view")
            row = self._object(session, workspace, object_uuid)
        if path == DESCRIPTION_PATH:
            raise NotFound(f"No file '{path}'")
        return self._open_checked(row, path, version)

    def _open_checked(self, row: StoredObject, path: str, version: str | None) -> OpenedFile:
        """The file, integrity failures and missing versions or paths named for the caller."""
        try:
            with integrity_guard(row.object_id):
                return self._open(row, path, version)
        except VersionNotFound:
            raise NotFound(f"No version '{version}'") from None
        except PathNotFound:
            raise NotFound(f"No file '{path}' in {version or 'the current version'}") from None

    def _open(self, row: StoredObject, path: str, version: str | None) -> OpenedFile:
        description = read_description(self.storage, row.object_id, version)
        entry = description.files.get(path)
        if entry is None:
            raise NotFound(f"No file '{path}' in {version or 'the current version'}")
        digest = self.storage.state(row.object_id, version).get(path)
        return open_stored_file(
            self.storage,
            row.object_id,
            path,
            version or row.head_version,
            entry,
            digest or "",
            self.runtime.keyring.data_key,
        )

    # -- writing -------------------------------------------------------------------------------

    def create_object(
        self,
        actor: Identity,
        workspace_slug: str,
        *,
        title: str = "",
        kind: str = "files",
        files: Mapping[str, FileSource] | None = None,
        message: str = "Created",
    ) -> ObjectView:
        title = title.strip()
        if len(title) > MAX_TITLE:
            raise InvalidInput.on("title", f"longer than {MAX_TITLE} characters")
        with self.runtime.database.session() as session:
            self._workspace(session, actor, workspace_slug, "objects.create")
        object_uuid = str(uuid.uuid4())
        object_id = object_id_for(object_uuid)
        return self.change(
            actor,
            workspace_slug,
            object_id,
            files or {},
            frozenset(),
            message,
            action="objects.create",
            new={"title": title, "kind": kind, "uuid": object_uuid},
        )

    def add_files(
        self,
        actor: Identity,
        workspace_slug: str,
        object_uuid: str,
        files: Mapping[str, FileSource],
        message: str = "",
    ) -> ObjectView:
        if not files:
            raise InvalidInput.on("files", "no files given")
        object_id = self._object_id(object_uuid)
        names = ", ".join(sorted(files))
        return self.change(
            actor,
            workspace_slug,
            object_id,
            files,
            frozenset(),
            message or f"Added {names}",
            action="objects.update",
        )

    def remove_files(
        self,
        actor: Identity,
        workspace_slug: str,
        object_uuid: str,
        paths: list[str],
        message: str = "",
    ) -> ObjectView:
        if not paths:
            raise InvalidInput.on("paths", "no files given")
        checked = frozenset(check_logical_path(p) for p in paths)
        object_id = self._object_id(object_uuid)
        return self.change(
            actor,
            workspace_slug,
            object_id,
            {},
            checked,
            message or f"Removed {', '.join(sorted(checked))}",
            action="objects.delete",
        )

    def delete_object(
        self, actor: Identity, workspace_slug: str, object_uuid: str, message: str = ""
    ) -> ObjectView:
        """A new version without any file, marked deleted; every earlier version stays."""
        object_id = self._object_id(object_uuid)
        return self.change(
            actor,
            workspace_slug,
            object_id,
            {},
            None,
            message or "Deleted",
            action="objects.delete",
            delete=True,
        )

    def read_bytes(self, object_id: str, path: str, version: str | None = None) -> bytes:
        """A small stored file's content (decrypted), checked against its digests."""
        with self.runtime.database.session() as session:
            row = session.scalar(select(StoredObject).where(StoredObject.object_id == object_id))
        if row is None:
            raise NotFound(f"No object '{object_id}'")
        with self._open_checked(row, path, version) as opened, integrity_guard(object_id):
            return opened.read_all()

    def import_ocfl(
        self, actor: Identity, workspace_slug: str, source: Path, *, title: str = ""
    ) -> ObjectView:
        """Import an OCFL object from another repository (Fedora 6, another OCFL tool).

        Validated first: any OCFL error refuses it with :class:`ImportRefused`
        naming the codes. Accepted objects keep their id, versions and digests;
        one more version adds the object description (``.heritage/object.json``),
        so the workspace, title and each file's SHA-256 travel with the object.
        """
        from heritage.store.ocfl.validate import import_object

        with self.runtime.database.session() as session:
            self._workspace(session, actor, workspace_slug, "objects.create")
        result = import_object(source, self.storage)
        object_id = result.object_id
        try:
            state = self.storage.state(object_id)
            if DESCRIPTION_PATH in state:
                raise InvalidInput.on(
                    "source", f"the object already holds {DESCRIPTION_PATH}, which is reserved"
                )
            files: dict[str, FileEntry] = {}
            for path in sorted(state):
                hasher, size = hashlib.sha256(), 0
                with self.storage.read(object_id, path) as stream:
                    while block := stream.read(1024 * 1024):
                        hasher.update(block)
                        size += len(block)
                files[path] = FileEntry(size, hasher.hexdigest(), media_type_for(path))
            with UnitOfWork(self.runtime.database) as uow:
                workspace = self._workspace(uow.session, actor, workspace_slug, "objects.create")
                description = ObjectDescription(
                    object_id=object_id,
                    uuid=uuid_for(object_id),
                    kind="imported",
                    title=title.strip()[:MAX_TITLE] or object_id,
                    workspace=self.workspace_ref(uow.session, workspace),
                    files=files,
                )
                commit = self.storage.create_or_update(
                    object_id,
                    Changes.of({DESCRIPTION_PATH: description.to_bytes()}),
                    "Imported into Heritage Cloud",
                    ocfl_user(self.runtime, actor),
                )
                row = index_object(uow.session, self.storage, object_id, workspace, description)
                warnings = "; ".join(f"{w.code} {w.message}" for w in result.warnings)
                self._event(
                    uow.session,
                    object_id,
                    workspace.id,
                    EventType.INGESTION,
                    commit.version,
                    f"imported from {source.name} at {result.head}"
                    + (f" (validator warnings: {warnings})" if warnings else ""),
                    actor,
                    EventOutcome.WARNING if result.warnings else EventOutcome.SUCCESS,
                )
                record(
                    uow.session,
                    actor,
                    "object.import",
                    "object",
                    object_id,
                    workspace_id=workspace.id,
                    details={"source": source.name, "versions": result.head},
                )
                self.replicate_after_commit(uow, object_id, workspace.id)
                uow.commit()
                return self._view(uow.session, workspace, row)
        except BaseException:
            # an import that could not be recorded must not stay half-done in the store
            self.storage.purge(object_id)
            raise

    def purge(self, actor: Identity, workspace_slug: str, object_uuid: str, reason: str) -> None:
        """Remove the object and its whole history from the store. Administrators only."""
        reason = reason.strip()
        if not reason:
            raise InvalidInput.on("reason", "a purge needs a reason, kept in the audit log")
        with UnitOfWork(self.runtime.database) as uow:
            workspace = self._workspace(uow.session, actor, workspace_slug, "objects.purge")
            row = self._object(uow.session, workspace, object_uuid)
            object_id = row.object_id
            summary = {
                "reason": reason,
                "versions": row.version_count,
                "files": row.file_count,
                "bytes": row.total_size,
            }
            uow.session.delete(row)
            self.storage.purge(object_id)
            self.replicate_after_commit(uow, object_id, workspace.id)  # the replica lets it go too
            self._event(
                uow.session,
                object_id,
                workspace.id,
                EventType.DELETION,
                None,
                f"purged with its whole history: {reason}",
                actor,
            )
            record(
                uow.session,
                actor,
                "object.purge",
                "object",
                object_id,
                workspace_id=workspace.id,
                details=summary,
            )
            uow.commit()

    def change(
        self,
        actor: Identity,
        workspace_slug: str,
        object_id: str,
        files: Mapping[str, FileSource],
        remove: frozenset[str] | None,
        message: str,
        *,
        action: str,
        new: dict[str, str] | None = None,
        delete: bool = False,
        hooks: CommitHooks | None = None,
    ) -> ObjectView:
        """One new version of an object: ``files`` added or replaced, ``remove`` taken out
        (all files when ``delete``), under the permission ``action``. Sibling capabilities
        that keep their own objects in the store (records) add to the transaction with
        ``hooks``."""
        checked = {
            check_logical_path(path, f"files[{path}]"): source for path, source in files.items()
        }
        with self.runtime.database.session() as session:
            self._workspace(session, actor, workspace_slug, action)
        prepared: dict[str, PreparedFile] = {}
        owned: list[PreparedFile] = []
        try:
            for path, source in checked.items():
                if isinstance(source, PreparedFile):
                    prepared[path] = source
                else:
                    made = self.prepare(workspace_slug, source)
                    owned.append(made)
                    prepared[path] = made
            arguments = (actor, workspace_slug, object_id, prepared, remove, message, action)
            try:
                view = self._commit(*arguments, new, delete, hooks or CommitHooks())
            except HeadMismatch:
                # The store is ahead of the index: a commit was interrupted after its
                # version was published. Catch the index up, then decide on the
                # recorded state (an edit begun before that version is refused).
                if self._heal_before_retry(object_id) is None:
                    raise Conflict("The object changed meanwhile; try again.") from None
                try:
                    view = self._commit(*arguments, new, delete, hooks or CommitHooks())
                except HeadMismatch:
                    raise Conflict("The object changed meanwhile; try again.") from None
        finally:
            for made in owned:
                made.discard()
        for given in prepared.values():
            given.discard()  # the store holds its own link now
        return view

    def _commit(
        self,
        actor: Identity,
        workspace_slug: str,
        object_id: str,
        prepared: Mapping[str, PreparedFile],
        remove: frozenset[str] | None,
        message: str,
        action: str,
        new: dict[str, str] | None,
        delete: bool,
        hooks: CommitHooks,
    ) -> ObjectView:
        with UnitOfWork(self.runtime.database) as uow:
            session = uow.session
            # Checked again inside the transaction: a role may have changed meanwhile.
            workspace = self._workspace(session, actor, workspace_slug, action)
            row = session.scalar(
                select(StoredObject).where(StoredObject.object_id == object_id).with_for_update()
            )
            if new is None:
                if row is None or row.workspace_id != workspace.id:
                    raise NotFound(f"No object '{object_id}' in workspace '{workspace.slug}'")
                current = read_description(self.storage, object_id)
            else:
                current = ObjectDescription(
                    object_id=object_id,
                    uuid=new["uuid"],
                    kind=new["kind"],
                    title=new["title"],
                    workspace=self.workspace_ref(session, workspace),
                )
            if row is not None and row.deleted and not delete:
                raise PermissionDenied("This object was deleted; restore it before changing it.")
            if hooks.before is not None:
                hooks.before(session, workspace, row)
            if delete:
                remove = frozenset(current.files)
            assert remove is not None
            missing = sorted(path for path in remove if path not in current.files)
            if missing:
                raise InvalidInput.on("paths", f"not in the object: {', '.join(missing)}")
            entries = {path: file.entry(path) for path, file in prepared.items()}
            description = current.with_files(entries, remove)
            if delete:
                description = dataclasses.replace(description, deleted=True)
            changes = Changes.of(
                {path: file.staged() for path, file in prepared.items()}
                | {DESCRIPTION_PATH: description.to_bytes()},
                set(remove),
            )
            result = self.storage.create_or_update(
                object_id,
                changes,
                message,
                ocfl_user(self.runtime, actor),
                expected_head=row.head_version if row is not None else None,
            )
            indexed = index_object(
                session, self.storage, object_id, workspace, description, result.inventory
            )
            if result.changed:
                event_type = (
                    EventType.INGESTION
                    if new is not None
                    else EventType.DELETION
                    if delete or (remove and not prepared)
                    else EventType.MODIFICATION
                )
                self._event(
                    session, object_id, workspace.id, event_type, result.version, message, actor
                )
                record(
                    session,
                    actor,
                    hooks.audit_action
                    or {
                        "objects.create": "object.create",
                        "objects.update": "object.update",
                        "objects.delete": "object.delete" if delete else "object.remove-files",
                    }[action],
                    hooks.audit_target_type,
                    hooks.audit_target_id or object_id,
                    workspace_id=workspace.id,
                    details={
                        "version": result.version,
                        "added": sorted(prepared),
                        "removed": sorted(remove),
                    },
                )
            if hooks.after is not None:
                hooks.after(session, workspace, indexed, result.version, result.changed)
            if result.changed:
                self.replicate_after_commit(uow, object_id, workspace.id)
                if hooks.after_commit is not None:
                    uow.after_commit(hooks.after_commit)
            uow.commit()
            return self._view(session, workspace, indexed)

    def _heal_before_retry(self, object_id: str) -> IndexCatchUp | None:
        try:
            return self.heal_index(object_id)
        except (OcflError, CryptoError, ServiceError, OSError) as error:
            log.error("index could not catch up", object_id=object_id, error=str(error))
            raise ContentUnavailable(
                f"Object {object_id} has a newer version in the store than its index, left by "
                f"an interrupted save, and the index could not be brought up to it ({error}). "
                "Nothing was changed. An administrator can run 'heritage rebuild-index'."
            ) from None

    def heal_index(self, object_id: str) -> IndexCatchUp | None:
        """Bring the index of one object to the store's head where it is elsewhere: a
        commit interrupted after publishing its version (a killed process) leaves it
        behind. Writes the index rows of the head, a PREMIS event for each version the
        database never recorded, and an audit entry; None when the index was current."""
        with UnitOfWork(self.runtime.database) as uow:
            session = uow.session
            row = session.scalar(
                select(StoredObject).where(StoredObject.object_id == object_id).with_for_update()
            )
            if row is None:
                return None
            inventory = self.storage.inventory(object_id)
            if inventory.head == row.head_version:
                return None
            caught_up = IndexCatchUp(row.head_version, versions_after(inventory, row.head_version))
            workspace = session.get(Workspace, row.workspace_id)
            assert workspace is not None
            reindex_object(
                session, self.storage, object_id, workspace, self.runtime.keyring.data_key
            )
            note = "published by an interrupted commit, recorded afterwards"
            session.add_all(
                version_events(inventory, object_id, workspace.id, caught_up.missed, note)
            )
            record(
                session,
                SYSTEM,
                "object.reindex",
                "object",
                object_id,
                workspace_id=workspace.id,
                details={"from": caught_up.previous_head, "versions": caught_up.missed},
            )
            uow.commit()
        log.warning(
            "index caught up with the store",
            object_id=object_id,
            previous_head=caught_up.previous_head,
            versions=caught_up.missed,
        )
        return caught_up

    def replicate_after_commit(self, uow: UnitOfWork, object_id: str, workspace_id: int) -> None:
        """Have the replica follow: a ``store.replicate`` job, queued once this commits."""
        if not self.runtime.settings.replica_root:
            return
        JobService(self.runtime).enqueue(
            SYSTEM,
            "store.replicate",
            {"object_id": object_id},
            title=f"Replicate {object_id}",
            workspace_id=workspace_id,
            uow=uow,
        )

    @staticmethod
    def _event(
        session: Session,
        object_id: str,
        workspace_id: int | None,
        event_type: EventType,
        version: str | None,
        detail: str,
        actor: Identity,
        outcome: EventOutcome = EventOutcome.SUCCESS,
    ) -> None:
        session.add(
            PreservationEvent(
                object_id=object_id,
                workspace_id=workspace_id,
                event_type=event_type,
                outcome=outcome,
                version=version,
                detail=detail,
                agent=actor.label,
                at=utcnow(),
            )
        )


@contextmanager
def integrity_guard(object_id: str) -> Iterator[None]:
    """Integrity failures of stored content become :class:`ContentUnavailable`, named."""
    try:
        yield
    except (VersionNotFound, PathNotFound, ObjectNotFound):
        raise
    except (CryptoError, OcflError) as error:
        log.error("stored content failed an integrity check", object=object_id, error=str(error))
        raise ContentUnavailable(
            f"{object_id}: {type(error).__name__}: {error}. The content is not served; "
            "an administrator can check it with `heritage verify` and repair it from a "
            "replica or backup."
        ) from None
