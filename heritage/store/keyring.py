"""Workspace data keys: created on first need, kept wrapped, unwrapped on demand.

Each workspace that encrypts files has one random 256-bit data key, named
``workspace-<workspace uid>``. That name is written into every file it encrypts
(the HCENC header), so a file says which key opens it. Only the wrapped form
(by the master key of the configured key manager) is stored, in the database.

Rotating the master key (``heritage keys rotate``) re-wraps every data key
under a new master key and never touches content. The local key manager's
rotation keeps retired master keys in ``DATA_DIR/keys/retired/`` until every
data key has been re-wrapped, so an interrupted rotation can simply run again.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from heritage.config import Settings
from heritage.db.base import utcnow
from heritage.db.engine import Database
from heritage.store.crypto import (
    KeyManager,
    LocalMasterKey,
    MasterKeyUnavailable,
    MissingKey,
    WrappedKey,
    WrongMasterKey,
    new_data_key,
    open_key_manager,
)
from heritage.store.crypto.keyfiles import fsync_directory, write_key_file
from heritage.store.crypto.keys import MASTER_KEY_FILE
from heritage.store.models import WorkspaceKey
from heritage.workspaces.models import Workspace

RETIRED_DIR = Path("keys") / "retired"


def key_id_for(workspace: Workspace) -> str:
    return f"workspace-{workspace.uid}"


def _context(key_id: str) -> dict[str, str]:
    # Binds a wrapped key to its name: a row copied onto another key id does not open.
    return {"data_key": key_id}


class WorkspaceKeyring:
    """Data keys by key id. Unwrapped keys are cached in memory for the process's life."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._manager: KeyManager | None = None

    @property
    def manager(self) -> KeyManager:
        if self._manager is None:
            self._refuse_a_second_master_key()
            self._manager = open_key_manager(self.settings)
        return self._manager

    def _refuse_a_second_master_key(self) -> None:
        """The local key manager makes its key file on first use. Where the database
        already holds data keys, they were wrapped by a master key this machine lacks (an
        application server or worker set up without the instance's keys, or a lost key
        file): a new key would open none of them, and what it wrapped could be opened
        nowhere else."""
        uses_file = self.settings.key_manager == "local" and self.settings.master_key is None
        key_file = self.settings.resolved_data_dir / MASTER_KEY_FILE
        if not uses_file or key_file.exists():
            return
        with self.database.session() as session:
            wrapped_by = session.scalar(select(WorkspaceKey.master_key_id).limit(1))
        if wrapped_by is not None:
            raise MasterKeyUnavailable(
                f"this machine has no master key ({key_file} is missing and "
                "HERITAGE_MASTER_KEY is unset), but the database holds data "
                f"keys wrapped by master key {wrapped_by!r}. Install the instance's keys "
                "(heritage keys export FILE on a machine that has them, heritage keys import "
                "FILE here) or set HERITAGE_MASTER_KEY; no new master key was made"
            )

    def existing_key(self, session: Session, workspace: Workspace) -> tuple[str, bytes] | None:
        """The workspace's key id and data key, or None when it has none yet."""
        key_id = key_id_for(workspace)
        cached = self._cache.get(key_id)
        if cached is not None:
            return key_id, cached
        row = session.get(WorkspaceKey, key_id)
        return None if row is None else (key_id, self._unwrap(row))

    def ensure_key(self, session: Session, workspace: Workspace) -> tuple[str, bytes]:
        """The workspace's key id and data key, creating (and flushing) the key if new."""
        key_id = key_id_for(workspace)
        if key_id in self._cache:
            return key_id, self._cache[key_id]
        row = session.get(WorkspaceKey, key_id)
        if row is None:
            data_key = new_data_key()
            wrapped = self.manager.wrap(data_key, _context(key_id))
            session.add(
                WorkspaceKey(
                    key_id=key_id,
                    workspace_id=workspace.id,
                    wrapped=wrapped.to_json(),
                    master_key_id=wrapped.master_key_id,
                )
            )
            session.flush()
            # cached only once committed elsewhere would be safer, but the key is
            # useless without its row, and a rolled-back row leaves no file behind
            with self._lock:
                self._cache[key_id] = data_key
            return key_id, data_key
        return key_id, self._unwrap(row)

    def data_key(self, key_id: str) -> bytes:
        """The data key named ``key_id``; :class:`MissingKey` when there is none."""
        cached = self._cache.get(key_id)
        if cached is not None:
            return cached
        with self.database.session() as session:
            row = session.get(WorkspaceKey, key_id)
            if row is None:
                raise MissingKey(key_id)
            return self._unwrap(row)

    def _unwrap(self, row: WorkspaceKey) -> bytes:
        wrapped = WrappedKey.from_json(row.wrapped)
        manager = self.manager
        if wrapped.master_key_id != manager.key_id:
            manager = self._retired_manager(wrapped.master_key_id)
        data_key = manager.unwrap(wrapped, _context(row.key_id))
        with self._lock:
            self._cache[row.key_id] = data_key
        return data_key

    def _retired_manager(self, master_key_id: str) -> KeyManager:
        for manager in retired_master_keys(self.settings):
            if manager.key_id == master_key_id:
                return manager
        raise WrongMasterKey(master_key_id, self.manager.key_id)

    def forget(self) -> None:
        """Drop cached keys (after a restore, or to make a process re-read them)."""
        with self._lock:
            self._cache.clear()
        self._manager = None


def retired_master_keys(settings: Settings) -> Iterator[LocalMasterKey]:
    directory = settings.resolved_data_dir / RETIRED_DIR
    if directory.is_dir():
        for path in sorted(directory.glob("*.key")):
            yield LocalMasterKey.from_file(path, create=False)


@dataclass(frozen=True)
class RotationResult:
    old_master_key_id: str
    new_master_key_id: str
    rewrapped: int
    already_current: int


def rotate_master_key(
    settings: Settings, database: Database, *, new_key: LocalMasterKey | None = None
) -> RotationResult:
    """Re-wrap every data key under a new master key; content is not touched.

    With the key file (the default), a new key is generated, the old one moves to
    ``keys/retired/``, and the new one becomes ``keys/master.key``. With the key
    given in ``HERITAGE_MASTER_KEY``, pass the new key: the data keys are
    re-wrapped, and the operator then sets the variable to the new key.
    """
    old = open_key_manager(settings)
    uses_file = settings.master_key is None and settings.key_manager == "local"
    key_path = settings.resolved_data_dir / MASTER_KEY_FILE
    pending = key_path.with_name("master.key.next")
    if new_key is None:
        if not uses_file:
            raise ValueError("the master key comes from HERITAGE_MASTER_KEY: give the new key")
        if not pending.exists():
            # Kept on disk before any row changes, so a crash never strands a data key.
            write_key_file(pending, secrets.token_bytes(32))
        new_key = LocalMasterKey.from_file(pending, create=False)
    managers: dict[str, KeyManager] = {old.key_id: old, new_key.key_id: new_key}
    for retired in retired_master_keys(settings):
        managers.setdefault(retired.key_id, retired)
    rewrapped = current = 0
    with database.session(write=True) as session:
        for row in session.scalars(select(WorkspaceKey).order_by(WorkspaceKey.key_id)):
            wrapped = WrappedKey.from_json(row.wrapped)
            if wrapped.master_key_id == new_key.key_id:
                current += 1
                continue
            opener = managers.get(wrapped.master_key_id)
            if opener is None:
                raise WrongMasterKey(wrapped.master_key_id, old.key_id)
            data_key = opener.unwrap(wrapped, _context(row.key_id))
            renewed = new_key.wrap(data_key, _context(row.key_id))
            row.wrapped = renewed.to_json()
            row.master_key_id = renewed.master_key_id
            row.rewrapped_at = utcnow()
            rewrapped += 1
        session.commit()
    if uses_file and pending.exists():
        retired_dir = settings.resolved_data_dir / RETIRED_DIR
        retired_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.replace(key_path, retired_dir / f"{old.key_id}.key")
        os.replace(pending, key_path)
        fsync_directory(key_path.parent)
        fsync_directory(retired_dir)
    return RotationResult(old.key_id, new_key.key_id, rewrapped, current)
