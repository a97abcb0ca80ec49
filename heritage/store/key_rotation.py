"""Rotating the instance's keys, each rotation written to the audit log.

* The master key (``heritage keys rotate``): every workspace data key is
  re-wrapped; content is never touched (:func:`heritage.store.keyring.rotate_master_key`).
* The signing key (``heritage keys rotate-signing``): the current Ed25519 key is
  retired, its public key kept in ``DATA_DIR/keys/signing-retired/`` and still
  published, and a new key signs every later version
  (:func:`heritage.store.signing.rotate_signing_key`). Nothing stored is re-signed:
  each version stays signed by the key that signed it.

Processes already running keep the key they loaded until they restart; what they
sign meanwhile verifies, since the retired key stays trusted.
"""

from __future__ import annotations

from dataclasses import dataclass

from heritage.accounts.identity import Identity
from heritage.audit.services import record
from heritage.config import Settings
from heritage.db.engine import Database
from heritage.store.crypto import LocalMasterKey
from heritage.store.keyring import RotationResult, rotate_master_key
from heritage.store.signing import KEYS_DIR, load_instance_keys, rotate_signing_key

TARGET_TYPE = "instance"
MASTER_KEY_TARGET = "master-key"
SIGNING_KEY_TARGET = "signing-key"


@dataclass(frozen=True)
class SigningRotation:
    old_key_id: str | None  # None: the instance had not signed anything yet
    new_key_id: str
    retired_key_ids: tuple[str, ...]  # every retired key, the one just retired included


def rotate_master(
    settings: Settings,
    database: Database,
    actor: Identity,
    *,
    new_key: LocalMasterKey | None = None,
) -> RotationResult:
    """Re-wrap every data key under a new master key, and say so in the audit log."""
    result = rotate_master_key(settings, database, new_key=new_key)
    with database.session(write=True) as session:
        record(
            session,
            actor,
            "keys.rotate-master",
            TARGET_TYPE,
            MASTER_KEY_TARGET,
            details={
                "old": result.old_master_key_id,
                "new": result.new_master_key_id,
                "rewrapped": result.rewrapped,
            },
        )
        session.commit()
    return result


def rotate_signing(settings: Settings, database: Database, actor: Identity) -> SigningRotation:
    """Retire the signing key and make a new one, and say so in the audit log.

    An instance without a signing key yet just gets its first one.
    """
    keys_dir = settings.ensure_data_dir() / KEYS_DIR
    old_key = load_instance_keys(keys_dir, create=False).current
    if old_key is not None:
        rotate_signing_key(keys_dir)
    keys = load_instance_keys(keys_dir, create=True)  # an instance's first key, if need be
    assert keys.current is not None
    old_key_id = old_key.key_id if old_key is not None else None
    new_key_id = keys.current.key_id
    retired = tuple(key.key_id for key in keys.retired)
    with database.session(write=True) as session:
        record(
            session,
            actor,
            "keys.rotate-signing",
            TARGET_TYPE,
            SIGNING_KEY_TARGET,
            details={"old": old_key_id, "new": new_key_id},
        )
        session.commit()
    return SigningRotation(old_key_id, new_key_id, retired)
