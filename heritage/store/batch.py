"""Creating a batch of new stored objects in one transaction (bulk imports).

What :meth:`PreservationService.change` does for one new object (the permission
check, encryption, the OCFL commit with its signature, index rows, PREMIS
event, audit entry), done for a whole batch with the fixed costs paid once: one
permission check, one database transaction, one file-system sync for all the
objects (``StorageRoot.create_objects``), rows inserted together. Each object
still gets its own version, signature, event and audit entry.

Objects are stored before the transaction commits, as in ``change``. A batch
whose ids the caller chose deterministically can be retried after a crash
between the two: objects already in the store are adopted (indexed as stored)
instead of written again, so nothing is stored twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from heritage.accounts.identity import Identity
from heritage.audit.services import AuditItem, record_many
from heritage.db.uow import UnitOfWork
from heritage.errors import Conflict
from heritage.store.description import DESCRIPTION_PATH, ObjectDescription
from heritage.store.index import file_row, index_object, read_description
from heritage.store.ingest import check_logical_path, prepare_bytes
from heritage.store.models import (
    EventOutcome,
    EventType,
    PreservationEvent,
    StoredObject,
)
from heritage.store.ocfl.bulk import NewObject
from heritage.store.ocfl.inventory import Inventory
from heritage.store.services import PreservationService, object_id_for, ocfl_user
from heritage.workspaces.models import Workspace
from heritage.workspaces.services import workspace_for

#: how many objects one transaction and one sync take at most
BATCH_SIZE = 500


@dataclass(frozen=True)
class NewStoredObject:
    """One object of a batch: its uuid, kind, title, message, and its first version's
    files (logical path -> content; small files, held in memory)."""

    uuid: str
    kind: str
    title: str
    files: Mapping[str, bytes]
    message: str

    @property
    def object_id(self) -> str:
        return object_id_for(self.uuid)


@dataclass(frozen=True)
class StoredInBatch:
    """An object of the batch as indexed; ``adopted`` when an earlier, interrupted run
    had stored it already (its content is what that run stored)."""

    row: StoredObject
    adopted: bool


@dataclass
class BatchHooks:
    """What a sibling capability adds to the batch's transaction (records: its checks
    before anything is stored, its own index rows after)."""

    before: Callable[[Session, Workspace], None] | None = None
    after: Callable[[Session, Workspace, list[StoredInBatch]], None] | None = None
    audit_action: str = "object.create"
    audit_target_type: str = "object"
    # the audit entry's target for each object (by uuid); the object id by default
    audit_targets: dict[str, str] = field(default_factory=dict)


def create_objects(
    service: PreservationService,
    actor: Identity,
    workspace_slug: str,
    new: Sequence[NewStoredObject],
    *,
    action: str,
    hooks: BatchHooks | None = None,
) -> list[StoredInBatch]:
    """Store every object of ``new`` (at most :data:`BATCH_SIZE`) under the permission
    ``action``, in one transaction; the index rows, in the order of ``new``."""
    if len(new) > BATCH_SIZE:
        raise ValueError(f"a batch holds at most {BATCH_SIZE} objects, not {len(new)}")
    hooks = hooks or BatchHooks()
    for item in new:
        for path in item.files:
            check_logical_path(path, f"files[{path}]")
    runtime = service.runtime
    key = service.encryption_key(workspace_slug)
    with UnitOfWork(runtime.database) as uow:
        session = uow.session
        workspace = workspace_for(session, actor, workspace_slug, action)
        if hooks.before is not None:
            hooks.before(session, workspace)
        reference = service.workspace_ref(session, workspace)
        user = ocfl_user(runtime, actor)
        descriptions: dict[str, ObjectDescription] = {}
        batch: list[NewObject] = []
        for item in new:
            prepared = {path: prepare_bytes(data, key) for path, data in item.files.items()}
            description = ObjectDescription(
                object_id=item.object_id,
                uuid=item.uuid,
                kind=item.kind,
                title=item.title[:500],
                workspace=reference,
            ).with_files({path: file.entry(path) for path, file in prepared.items()}, frozenset())
            descriptions[item.object_id] = description
            files = {path: file.data for path, file in prepared.items() if file.data is not None}
            batch.append(
                NewObject(
                    item.object_id,
                    files | {DESCRIPTION_PATH: description.to_bytes()},
                    item.message,
                    user,
                )
            )
        created = service.storage.create_objects(batch)
        fresh: list[tuple[NewStoredObject, Inventory]] = []
        adopted: dict[int, StoredObject] = {}
        for position, (item, outcome) in enumerate(zip(new, created, strict=True)):
            if outcome.inventory is None:
                adopted[position] = _adopt(session, service, item, workspace)
            else:
                fresh.append((item, outcome.inventory))
        rows = iter(_index_new(session, workspace, fresh, descriptions))
        results = [
            StoredInBatch(adopted[position], True)
            if position in adopted
            else StoredInBatch(next(rows), False)
            for position in range(len(new))
        ]
        _events_and_audit(session, actor, workspace, fresh, hooks)
        if hooks.after is not None:
            hooks.after(session, workspace, results)
        for item, _ in fresh:
            service.replicate_after_commit(uow, item.object_id, workspace.id)
        uow.commit()
        return results


def _adopt(
    session: Session, service: PreservationService, item: NewStoredObject, workspace: Workspace
) -> StoredObject:
    """The object an interrupted run of the same batch stored: indexed as it is."""
    description = read_description(service.storage, item.object_id)
    if description.uuid != item.uuid or description.workspace.uid != workspace.uid:
        raise Conflict(f"{item.object_id} exists already and is another object")
    return index_object(session, service.storage, item.object_id, workspace, description)


def _index_new(
    session: Session,
    workspace: Workspace,
    fresh: list[tuple[NewStoredObject, Inventory]],
    descriptions: dict[str, ObjectDescription],
) -> list[StoredObject]:
    rows = []
    for item, inventory in fresh:
        description = descriptions[item.object_id]
        version = inventory.versions[inventory.head]
        rows.append(
            StoredObject(
                object_id=item.object_id,
                uuid=item.uuid,
                workspace_id=workspace.id,
                kind=item.kind,
                title=description.title,
                head_version=inventory.head,
                version_count=1,
                file_count=len(description.files),
                total_size=sum(entry.size for entry in description.files.values()),
                deleted=False,
                created_at=version.created_at,
                updated_at=version.created_at,
            )
        )
    session.add_all(rows)
    session.flush()  # the rows' ids, for their files
    files = []
    for (item, inventory), row in zip(fresh, rows, strict=True):
        state = inventory.versions[inventory.head].logical_state()
        for path, entry in sorted(descriptions[item.object_id].files.items()):
            files.append(file_row(row.id, path, entry, state[path], inventory.head))
    session.add_all(files)
    return rows


def _events_and_audit(
    session: Session,
    actor: Identity,
    workspace: Workspace,
    fresh: list[tuple[NewStoredObject, Inventory]],
    hooks: BatchHooks,
) -> None:
    session.add_all(
        PreservationEvent(
            object_id=item.object_id,
            workspace_id=workspace.id,
            event_type=EventType.INGESTION,
            outcome=EventOutcome.SUCCESS,
            version=inventory.head,
            detail=item.message,
            agent=actor.label,
            at=inventory.versions[inventory.head].created_at,
        )
        for item, inventory in fresh
    )
    record_many(
        session,
        actor,
        [
            AuditItem(
                hooks.audit_action,
                hooks.audit_target_type,
                hooks.audit_targets.get(item.uuid, item.object_id),
                workspace_id=workspace.id,
                details={"version": inventory.head, "added": sorted(item.files), "removed": []},
            )
            for item, inventory in fresh
        ],
    )
