"""The database index of the storage root, and rebuilding it from the store alone.

``index_object`` makes the rows of one object match its head version; the
services call it after every commit and ``rebuild_index`` calls it for every
object found by walking the storage root. Workspaces unknown to the database
(a lost database) are recreated from what the objects say about them.
``reindex_object``, ``versions_after`` and ``version_events`` serve one object
whose index a commit interrupted after the store left behind (the services'
``heal_index``).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from heritage.db.engine import Database
from heritage.institutions.models import Institution, InstitutionKind
from heritage.store.description import (
    DESCRIPTION_PATH,
    DescriptionError,
    FileEntry,
    ObjectDescription,
)
from heritage.store.models import (
    EventOutcome,
    EventType,
    PreservationEvent,
    StoredFile,
    StoredObject,
)
from heritage.store.ocfl import Inventory, OcflError
from heritage.workspaces.models import Visibility, Workspace

log = structlog.get_logger(__name__)


def read_description(storage: Any, object_id: str, version: str | None = None) -> ObjectDescription:
    with storage.read(object_id, DESCRIPTION_PATH, version) as stream:
        return ObjectDescription.from_bytes(stream.read())


def _versions_added(inventory: Inventory) -> dict[str, str]:
    """Logical path -> the version that gave it its current content."""
    added: dict[str, str] = {}
    previous: dict[str, str] = {}
    for name in inventory.version_names():
        state = inventory.versions[name].logical_state()
        for path, digest in state.items():
            if previous.get(path) != digest:
                added[path] = name
        previous = state
    return added


def index_object(
    session: Session,
    storage: Any,
    object_id: str,
    workspace: Workspace,
    description: ObjectDescription | None = None,
    inventory: Inventory | None = None,
) -> StoredObject:
    """Make the index rows of ``object_id`` match its head version in ``storage``
    (``inventory``: the head inventory a commit just wrote, to save reading it back)."""
    if inventory is None:
        inventory = storage.inventory(object_id)
    if description is None:
        description = read_description(storage, object_id)
    head = inventory.versions[inventory.head]
    state = head.logical_state()
    row = session.scalar(select(StoredObject).where(StoredObject.object_id == object_id))
    first = inventory.versions[inventory.version_names()[0]]
    if row is None:
        row = StoredObject(object_id=object_id, created_at=first.created_at)
        session.add(row)
    row.workspace_id = workspace.id
    row.uuid = description.uuid
    row.kind = description.kind
    row.title = description.title
    row.head_version = inventory.head
    row.version_count = len(inventory.versions)
    row.deleted = description.deleted
    row.updated_at = head.created_at
    files = {path: entry for path, entry in description.files.items() if path in state}
    row.file_count = len(files)
    row.total_size = sum(entry.size for entry in files.values())
    session.flush()
    session.execute(delete(StoredFile).where(StoredFile.object_pk == row.id))
    added = _versions_added(inventory)
    for path, entry in sorted(files.items()):
        session.add(file_row(row.id, path, entry, state[path], added.get(path, inventory.head)))
    session.flush()
    return row


def versions_after(inventory: Inventory, indexed_head: str | None) -> list[str]:
    """The object's versions past ``indexed_head``, the head the index knows: a commit
    interrupted after the store published its version and before its transaction
    (a killed process) leaves them. Empty when the index is not behind the store."""
    names = inventory.version_names()
    if indexed_head is None or indexed_head not in names:
        return []  # a new object, or an index not of this store: nothing to recover
    return names[names.index(indexed_head) + 1 :]


def version_events(
    inventory: Inventory, object_id: str, workspace_id: int | None, names: list[str], note: str
) -> list[PreservationEvent]:
    """PREMIS events for versions the database has no record of, from what the
    inventory proves of each (message, user, time), with ``note`` said of them."""
    events = []
    for name in names:
        version = inventory.versions[name]
        events.append(
            PreservationEvent(
                object_id=object_id,
                workspace_id=workspace_id,
                event_type=EventType.INGESTION if name == "v1" else EventType.MODIFICATION,
                outcome=EventOutcome.SUCCESS,
                version=name,
                detail=f"{version.message or ''} ({note})",
                agent=version.user.name if version.user else "unknown",
                at=version.created_at,
            )
        )
    return events


def file_row(
    object_pk: int, path: str, entry: FileEntry, stored_digest: str, version_added: str
) -> StoredFile:
    """The index row of one file of an object's head."""
    return StoredFile(
        object_pk=object_pk,
        logical_path=path,
        size=entry.size,
        sha256=entry.sha256,
        stored_digest=stored_digest,
        media_type=entry.media_type,
        encrypted_with=entry.key_id,
        version_added=version_added,
    )


@dataclass
class RebuildReport:
    indexed: int = 0
    removed: int = 0
    workspaces_recreated: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _workspace_for(
    session: Session, description: ObjectDescription, report: RebuildReport
) -> Workspace:
    ref = description.workspace
    workspace = session.scalar(select(Workspace).where(Workspace.uid == ref.uid))
    if workspace is not None:
        return workspace
    institution = session.scalar(select(Institution).where(Institution.slug == ref.institution))
    if institution is None:
        institution = Institution(
            slug=ref.institution, name=ref.institution, kind=InstitutionKind.OTHER
        )
        session.add(institution)
        session.flush()
    slug = ref.slug
    taken = set(session.scalars(select(Workspace.slug).where(Workspace.slug.like(f"{ref.slug}%"))))
    counter = 2
    while slug in taken:
        slug, counter = f"{ref.slug[:58]}-{counter}", counter + 1
    # Recovered workspaces are private and have no members: an administrator
    # decides who gets access again.
    workspace = Workspace(
        uid=ref.uid,
        slug=slug,
        name=ref.name,
        institution_id=institution.id,
        visibility=Visibility.PRIVATE,
        encrypt_files=True,
    )
    session.add(workspace)
    session.flush()
    report.workspaces_recreated.append(slug)
    return workspace


KeyLookup = Callable[[str], bytes]


@dataclass(frozen=True)
class KindIndexer:
    """How a capability that keeps objects of its own kind in the store (records) rebuilds
    its own index rows: ``index`` one object at its head, ``prune`` the rows of objects
    not among those found."""

    index: Callable[[Session, Any, Workspace, StoredObject, ObjectDescription, KeyLookup], None]
    prune: Callable[[Session, set[str]], int]


KIND_INDEXERS: dict[str, KindIndexer] = {}
# Modules that register kind indexers; imported by rebuild_index.
KIND_INDEXER_MODULES = ["heritage.records.services"]


def _no_keys(key_id: str) -> bytes:
    raise LookupError(f"no key given for {key_id}")


def kind_indexer(kind: str) -> KindIndexer | None:
    """The indexer of a kind of object (records), once the modules that register them
    are imported."""
    for module in KIND_INDEXER_MODULES:
        importlib.import_module(module)
    return KIND_INDEXERS.get(kind)


def reindex_object(
    session: Session, storage: Any, object_id: str, workspace: Workspace, key_lookup: KeyLookup
) -> StoredObject:
    """The index rows of one object from its head in the store, its kind's rows included."""
    description = read_description(storage, object_id)
    row = index_object(session, storage, object_id, workspace, description)
    indexer = kind_indexer(description.kind)
    if indexer is not None:
        indexer.index(session, storage, workspace, row, description, key_lookup)
    return row


def rebuild_index(
    database: Database,
    storage: Any,
    *,
    key_lookup: KeyLookup | None = None,
    progress: Callable[[str], None] | None = None,
) -> RebuildReport:
    """Re-create every index row from the storage root; rows of vanished objects go.

    ``key_lookup`` (a keyring's ``data_key``) lets index rows that depend on encrypted
    content (records) be rebuilt as well."""
    for module in KIND_INDEXER_MODULES:
        importlib.import_module(module)
    report = RebuildReport()
    seen: set[str] = set()
    for object_id in storage.object_ids():
        try:
            description = read_description(storage, object_id)
        except (OcflError, DescriptionError, json.JSONDecodeError, OSError) as error:
            report.problems.append(f"{object_id}: {error}")
            continue
        with database.session(write=True) as session:
            workspace = _workspace_for(session, description, report)
            row = index_object(session, storage, object_id, workspace, description)
            indexer = KIND_INDEXERS.get(description.kind)
            if indexer is not None:
                try:
                    with session.begin_nested():
                        indexer.index(
                            session, storage, workspace, row, description, key_lookup or _no_keys
                        )
                except Exception as error:  # one unreadable object must not stop the rebuild
                    report.problems.append(f"{object_id}: its {description.kind} index: {error}")
            has_events = session.scalar(
                select(PreservationEvent.id)
                .where(PreservationEvent.object_id == object_id)
                .limit(1)
            )
            if has_events is None:
                inventory = storage.inventory(object_id)
                # The events themselves lived in the lost database; the inventory
                # still proves each version, so those are put back on record.
                session.add_all(
                    version_events(
                        inventory,
                        object_id,
                        workspace.id,
                        inventory.version_names(),
                        "recovered by rebuild-index",
                    )
                )
            session.commit()
        seen.add(object_id)
        report.indexed += 1
        if progress is not None:
            progress(object_id)
    with database.session(write=True) as session:
        stale = [row for row in session.scalars(select(StoredObject)) if row.object_id not in seen]
        for row in stale:
            session.delete(row)
        report.removed = len(stale)
        for indexer in KIND_INDEXERS.values():
            report.removed += indexer.prune(session, seen)
        session.commit()
    log.info("index rebuilt", indexed=report.indexed, removed=report.removed)
    return report
