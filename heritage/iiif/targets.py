"""The workspace an image belongs to: what the policy checks IIIF routes against.

Every tile request passes here and through :meth:`ImageService.image`, so both read
only the columns they need, in one query each.
"""

from __future__ import annotations

import threading
import time
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


# Tile requests come by the hundred per second and per viewer: what the database says
# about an image is kept this long in each process (a change of visibility or a new
# master is seen that much later; workspace roles are always read afresh).
FACTS_SECONDS = 2.0
FACTS_KEPT = 4096
Facts = tuple[dict[str, Any], str, bool]
_facts: dict[str, tuple[float, Facts]] = {}
_lock = threading.Lock()


def image_facts(session: Session, identifier: str) -> Facts:
    """What serving the image needs, its workspace's slug and whether it is public."""
    kept = kept_image_facts(identifier)
    if kept is not None:
        return kept
    now = time.monotonic()
    facts = _read_facts(session, identifier)
    with _lock:
        if len(_facts) >= FACTS_KEPT:
            _facts.clear()
        _facts[identifier] = (now + FACTS_SECONDS, facts)
    return facts


def kept_image_facts(identifier: str) -> Facts | None:
    """What :func:`image_facts` would answer, if this process still keeps it (no query)."""
    now = time.monotonic()
    with _lock:
        kept = _facts.get(identifier)
    return kept[1] if kept is not None and kept[0] > now else None


def forget_image_facts() -> None:
    """Drop what this process keeps (after changing an image's row)."""
    with _lock:
        _facts.clear()


def _read_facts(session: Session, identifier: str) -> Facts:
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
