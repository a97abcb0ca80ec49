"""Where an instance's keys stand: the master key, the data keys it wraps, the retired keys.

Read only: nothing here creates a key (unlike opening the key manager for
use, which makes the master key file on first need).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from heritage.config import Settings
from heritage.db.engine import Database
from heritage.store.crypto import open_key_manager
from heritage.store.crypto.errors import CryptoError
from heritage.store.crypto.keys import MASTER_KEY_FILE
from heritage.store.keyring import retired_master_keys
from heritage.store.models import WorkspaceKey
from heritage.store.signing import SigningKeyError, instance_keys

PENDING_NAME = "master.key.next"  # rotate_master_key's new key until the rotation finishes


@dataclass
class KeyStatus:
    key_manager: str
    master_key_id: str | None
    master_key_origin: str
    data_keys: dict[str, int]  # master key id -> data keys it wraps
    retired_master_keys: list[str]
    pending_rotation: bool
    signing_key_id: str | None
    retired_signing_keys: list[str]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def key_status(settings: Settings, database: Database) -> KeyStatus:
    problems: list[str] = []
    key_file = settings.resolved_data_dir / MASTER_KEY_FILE
    uses_file = settings.key_manager == "local" and settings.master_key is None
    origin = (
        str(key_file)
        if uses_file
        else "HERITAGE_MASTER_KEY"
        if settings.key_manager == "local"
        else f"key manager {settings.key_manager}"
    )
    master_id: str | None = None
    if not uses_file or key_file.exists():
        try:
            master_id = open_key_manager(settings).key_id
        except CryptoError as error:
            problems.append(f"the master key cannot be used: {type(error).__name__}: {error}")
    try:
        retired = [key.key_id for key in retired_master_keys(settings)]
    except CryptoError as error:
        retired = []
        problems.append(f"a retired master key cannot be read: {error}")
    with database.session() as session:
        counts = dict(
            session.execute(
                select(WorkspaceKey.master_key_id, func.count()).group_by(
                    WorkspaceKey.master_key_id
                )
            ).all()
        )
    pending = key_file.with_name(PENDING_NAME).exists()
    known = set(retired) | ({master_id} if master_id else set())
    if pending:
        problems.append("a rotation was interrupted: run `heritage keys rotate` again")
    else:
        for wrapped_by, count in sorted(counts.items()):
            if wrapped_by not in known:
                problems.append(
                    f"{count} data key(s) are wrapped by master key {wrapped_by}, which this "
                    "instance does not have: their files do not open (import the keys file)"
                )
    try:
        signing = instance_keys(settings, create=False)
        signing_id = signing.current.key_id if signing.current else None
        retired_signing = [key.key_id for key in signing.retired]
    except SigningKeyError as error:
        signing_id, retired_signing = None, []
        problems.append(f"the signing keys cannot be read: {error}")
    return KeyStatus(
        key_manager=settings.key_manager,
        master_key_id=master_id,
        master_key_origin=origin,
        data_keys=counts,
        retired_master_keys=retired,
        pending_rotation=pending,
        signing_key_id=signing_id,
        retired_signing_keys=retired_signing,
        problems=problems,
    )
