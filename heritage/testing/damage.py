"""Stored objects to damage on purpose: fixity and replication tests (ours and extensions')."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from heritage.accounts.identity import SYSTEM
from heritage.config import Settings
from heritage.errors import NotFound
from heritage.institutions.services import InstitutionService
from heritage.runtime import Runtime
from heritage.workspaces.services import WorkspaceService


def with_replica(settings: Settings, replica: Path) -> Settings:
    """The same settings with a replica storage root at ``replica``."""
    return settings.model_copy(update={"replica_root": str(replica)})


def add_workspace(runtime: Runtime, slug: str, *, public: bool = False) -> None:
    """A workspace (public ones store files as they are, private ones encrypt them)."""
    institutions = InstitutionService(runtime)
    try:
        institutions.get(SYSTEM, "archive")
    except NotFound:
        institutions.create(SYSTEM, "archive", "City Archive", kind="archive")
    visibility = "public" if public else "private"
    WorkspaceService(runtime).create(
        SYSTEM, slug, slug.title(), institution="archive", visibility=visibility
    )


def content_path(storage: Any, object_id: str, logical_path: str) -> str:
    """Where the head version's ``logical_path`` is stored, relative to the object root."""
    inventory = storage.inventory(object_id)
    digest = inventory.head_version.logical_state()[logical_path]
    return str(inventory.manifest[inventory.manifest_key(digest) or digest][0])


def flip_byte(path: Path, offset: int = 0) -> None:
    """Invert one bit of one byte, in place (a bit rot)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    _rewrite(path, bytes(data))


def truncate(path: Path) -> None:
    """Cut the file to half its length."""
    data = path.read_bytes()
    _rewrite(path, data[: len(data) // 2])


def swap(first: Path, second: Path) -> None:
    """Exchange the contents of two files."""
    one, two = first.read_bytes(), second.read_bytes()
    _rewrite(first, two)
    _rewrite(second, one)


def _rewrite(path: Path, data: bytes) -> None:
    # stored files are read-only to the store's own writers; damage ignores that
    os.chmod(path, 0o644)
    path.write_bytes(data)
