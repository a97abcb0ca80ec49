"""Spreadsheet column mappings saved under a name in a workspace, for reuse.

Saving, listing and loading them all need ``records.import`` in the workspace:
a mapping is part of setting up an import.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from heritage.accounts.identity import Identity
from heritage.db.base import utcnow
from heritage.errors import InvalidInput, NotFound
from heritage.policy import require
from heritage.records.importers.column_mapping import Mapping
from heritage.records.models import SavedMapping
from heritage.runtime import Runtime
from heritage.workspaces.models import Workspace
from heritage.workspaces.services import workspace_target

NAME_MAX = 200


def _workspace(session: Session, actor: Identity, slug: str) -> Workspace:
    workspace = session.scalar(select(Workspace).where(Workspace.slug == slug))
    if workspace is None:
        raise NotFound(f"No workspace '{slug}'")
    require(actor, "records.import", workspace_target(session, actor, workspace))
    return workspace


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidInput.on("mapping_name", "give the mapping a name")
    if len(cleaned) > NAME_MAX:
        raise InvalidInput.on("mapping_name", f"at most {NAME_MAX} characters")
    return cleaned


def list_mappings(runtime: Runtime, actor: Identity, workspace_slug: str) -> list[SavedMapping]:
    """The workspace's saved mappings, by name."""
    with runtime.database.session() as session:
        workspace = _workspace(session, actor, workspace_slug)
        return list(
            session.scalars(
                select(SavedMapping)
                .where(SavedMapping.workspace_id == workspace.id)
                .order_by(SavedMapping.name)
            )
        )


def save_mapping(
    runtime: Runtime, actor: Identity, workspace_slug: str, name: str, mapping: Mapping
) -> SavedMapping:
    """Save ``mapping`` as ``name``; a mapping of the same name is replaced."""
    name = _clean_name(name)
    data = mapping.model_dump(mode="json", exclude_defaults=True)
    with runtime.database.session(write=True) as session:
        workspace = _workspace(session, actor, workspace_slug)
        row = session.scalar(
            select(SavedMapping).where(
                SavedMapping.workspace_id == workspace.id, SavedMapping.name == name
            )
        )
        if row is None:
            row = SavedMapping(workspace_id=workspace.id, name=name, created_by=actor.user_id)
            session.add(row)
        row.mapping = data
        row.updated_at = utcnow()
        session.commit()
        session.refresh(row)
        return row


def get_mapping(runtime: Runtime, actor: Identity, workspace_slug: str, name: str) -> Mapping:
    """The saved mapping called ``name``."""
    with runtime.database.session() as session:
        workspace = _workspace(session, actor, workspace_slug)
        row = session.scalar(
            select(SavedMapping).where(
                SavedMapping.workspace_id == workspace.id, SavedMapping.name == name
            )
        )
        if row is None:
            raise NotFound(f"No saved mapping '{name}' in this workspace")
        return Mapping.model_validate(row.mapping)
