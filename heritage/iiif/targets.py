"""The workspace an image belongs to: what the policy checks IIIF routes against."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from heritage.errors import NotFound
from heritage.iiif.models import ImageDerivative
from heritage.workspaces.models import Workspace


def image_workspace(session: Session, identifier: str) -> Workspace:
    workspace_id = session.scalar(
        select(ImageDerivative.workspace_id).where(ImageDerivative.identifier == identifier[:60])
    )
    workspace = None if workspace_id is None else session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound(f"No image '{identifier}'")
    return workspace
