"""Copies of a local storage root for tests that snapshot and restore one."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from heritage.store.ocfl.store import STAGING_EXTENSION, WORK_PREFIX


def snapshot_storage_root(storage: Any, source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` without the store's finished work directories.

    The store deletes those on a background thread; copying one while it goes
    fails the copy, and a copied one means nothing to the copy's store.
    """
    storage.wait_for_cleanup()
    staging = source / "extensions" / STAGING_EXTENSION

    def transient(directory: str, names: list[str]) -> list[str]:
        if Path(directory) != staging:
            return []
        return [name for name in names if name.startswith(WORK_PREFIX)]

    shutil.copytree(source, target, symlinks=True, ignore=transient)
