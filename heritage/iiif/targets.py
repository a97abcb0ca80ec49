"""The workspace an image belongs to: what the policy checks IIIF routes against."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from heritage.errors import NotFound
from heritage.iiif.models import ImageDerivative
from heritage.workspaces.models import Workspace


def image_workspace(session: Session, identifier: str) -> Workspace:
    workspace = session.scalar(
        select(Workspace)
        .join(ImageDerivative, ImageDerivative.workspace_id == Workspace.id)
        .where(ImageDerivative.identifier == identifier[:60])
    )
    if workspace is None:
        raise NotFound(f"No image '{identifier}'")
    return workspace
