"""IIIF collections per dataset: an import (a file, or a harvest of an OAI-PMH endpoint) is
the unit in which records arrive, as Europeana's dataset is the unit in which they are
submitted. Each import that is not a dry run has a Presentation 3 collection of the
records it created or updated that have an image ready to show.

Presentation 3 has no paging of collections: a large one lists sub-collections of at
most :data:`PAGE_SIZE` manifests each (``.../collection/{page}``), which viewers open as
nested collections.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from heritage.accounts.identity import Identity
from heritage.errors import NotFound
from heritage.iiif import presentation
from heritage.iiif.models import DerivativeStatus, ImageDerivative
from heritage.policy import require
from heritage.records.model import Record
from heritage.records.models import ItemAction, RecordImport, RecordImportItem, RecordRow
from heritage.runtime import Runtime
from heritage.workspaces.models import Workspace
from heritage.workspaces.services import workspace_target

PAGE_SIZE = 1000
STORING = (ItemAction.CREATE, ItemAction.UPDATE)


@dataclass(frozen=True)
class DatasetRef:
    """What a link to an import's collection needs."""

    import_id: str
    name: str
    created_at: datetime


def import_name(row: RecordImport) -> str:
    """How an import is called: the name given, else its file's name or endpoint."""
    return str(row.options.get("name") or Path(row.source).name or row.source)


def dataset_label(name: str, created_at: datetime) -> dict[str, list[str]]:
    return {"none": [f"{name} ({created_at.date().isoformat()})"]}


def _imaged_records(workspace_id: int) -> Any:
    return (
        select(ImageDerivative.record_uuid)
        .where(
            ImageDerivative.workspace_id == workspace_id,
            ImageDerivative.status == DerivativeStatus.READY,
        )
        .distinct()
    )


def _members_query(row: RecordImport) -> Any:
    """The live records with a ready image that ``row`` created or updated, first stored
    first (an import that stored a record twice lists it once)."""
    first = (
        select(
            RecordImportItem.record_uuid.label("uuid"),
            func.min(RecordImportItem.position).label("position"),
        )
        .where(
            RecordImportItem.import_id == row.id,
            RecordImportItem.action.in_(STORING),
            RecordImportItem.record_uuid.is_not(None),
        )
        .group_by(RecordImportItem.record_uuid)
        .subquery()
    )
    return (
        select(RecordRow.uuid, RecordRow.data)
        .join(first, first.c.uuid == RecordRow.uuid)
        .where(
            RecordRow.workspace_id == row.workspace_id,
            RecordRow.deleted.is_(False),
            RecordRow.uuid.in_(_imaged_records(row.workspace_id)),
        )
        .order_by(first.c.position)
    )


def workspace_datasets(session: Session, workspace_id: int) -> list[DatasetRef]:
    """The workspace's imports (not dry runs) with at least one record to show, newest first."""
    with_members = (
        select(RecordImportItem.import_id)
        .join(RecordRow, RecordRow.uuid == RecordImportItem.record_uuid)
        .where(
            RecordImportItem.action.in_(STORING),
            RecordRow.workspace_id == workspace_id,
            RecordRow.deleted.is_(False),
            RecordRow.uuid.in_(_imaged_records(workspace_id)),
        )
        .distinct()
    )
    rows = session.scalars(
        select(RecordImport)
        .where(
            RecordImport.workspace_id == workspace_id,
            RecordImport.dry_run.is_(False),
            RecordImport.id.in_(with_members),
        )
        .order_by(RecordImport.created_at.desc())
    )
    return [DatasetRef(row.id, import_name(row), row.created_at) for row in rows]


class DatasetCollections:
    """The IIIF collection of an import, after the policy allows ``images.view`` on its
    workspace."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collection(
        self, actor: Identity, import_id: str, base: str, page: int | None = None
    ) -> dict[str, Any]:
        """The import's collection; with ``page``, that page of a large one."""
        with self.runtime.database.session() as session:
            row = session.get(RecordImport, import_id)
            if row is None:
                raise NotFound(f"No import '{import_id}'")
            workspace = session.get(Workspace, row.workspace_id)
            assert workspace is not None
            require(actor, "images.view", workspace_target(session, actor, workspace))
            if row.dry_run:
                raise NotFound("A dry run stores no records, so it has no IIIF collection.")
            query = _members_query(row)
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            pages = max(1, -(-total // PAGE_SIZE))
            if page is not None and not 1 <= page <= pages:
                raise NotFound(f"The collection has {pages} page(s), not a page {page}.")
            members: list[tuple[str, Record]] = []
            if page is not None or total <= PAGE_SIZE:
                start = ((page or 1) - 1) * PAGE_SIZE
                members = [
                    (uuid_, Record.model_validate(data))
                    for uuid_, data in session.execute(query.offset(start).limit(PAGE_SIZE))
                ]
            name, created_at = import_name(row), row.created_at
            slug = workspace.slug
        return presentation.dataset_collection(
            base,
            import_id,
            dataset_label(name, created_at),
            members,
            workspace_slug=slug,
            page=page,
            pages=pages if page is None and total > PAGE_SIZE else 0,
        )
