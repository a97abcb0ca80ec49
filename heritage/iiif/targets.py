"""The workspace an image belongs to: what the policy checks IIIF routes against.

Every tile request passes here and through :meth:`ImageService.image`, so both read
only the columns they need, in one query each.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from heritage.accounts.identity import Identity
from heritage.errors import NotFound
from heritage.iiif.models import ImageDerivative
from heritage.policy import Target
from heritage.workspaces.models import Visibility, Workspace
from heritage.workspaces.services import workspace_role

SERVING_COLUMNS = (
    ImageDerivative.id,
    ImageDerivative.identifier,
    ImageDerivative.workspace_id,
    ImageDerivative.record_uuid,
    ImageDerivative.path,
    ImageDerivative.master_sha256,
    ImageDerivative.status,
    ImageDerivative.error,
    ImageDerivative.width,
    ImageDerivative.height,
    ImageDerivative.levels,
    ImageDerivative.key_id,
)


def image_facts(session: Session, identifier: str) -> tuple[dict[str, Any], str, bool]:
    """What serving the image needs, its workspace's slug and whether it is public."""
    found = session.execute(
        select(*SERVING_COLUMNS, Workspace.slug, Workspace.visibility)
        .join(Workspace, Workspace.id == ImageDerivative.workspace_id)
        .where(ImageDerivative.identifier == identifier[:60])
    ).first()
    if found is None:
        raise NotFound(f"No image '{identifier}'")
    values = found._mapping
    facts = {column.key: values[column.key] for column in SERVING_COLUMNS}
    return facts, values["slug"], values["visibility"] == Visibility.PUBLIC


def image_target(session: Session, identity: Identity, identifier: str) -> Target:
    facts, _, public = image_facts(session, identifier)
    role = workspace_role(session, identity, facts["workspace_id"])
    return Target(workspace_role=role, workspace_public=public)
