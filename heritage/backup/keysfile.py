"""The keys file (``.hckeys``): an instance's keys, encrypted with a passphrase.

What it holds: the master key (wraps every workspace data key), the retired
master keys (still wrapping data keys until a rotation re-wraps them), the
instance's Ed25519 signing key and the public keys it retired. It is written
apart from the backup on purpose: a backup alone (say, a copied disk) opens
no encrypted file, and the keys file alone holds no content.

Format (JSON, UTF-8; documented in ``docs/backup.md``)::

    {"format": "heritage-cloud-keys", "version": 1,
     "kdf": {"algorithm": "argon2id", "salt": B64, "iterations": 3, "lanes": 4,
             "memory_kib": 65536},
     "cipher": {"algorithm": "AES-256-GCM", "nonce": B64},
     "ciphertext": B64}

The key is Argon2id (RFC 9106, its second recommended parameter set) of the
passphrase (UTF-8, NFC). AES-256-GCM encrypts the content (JSON, below) with
the canonical JSON of every other field as associated data, so parameters
cannot be swapped unnoticed. A wrong passphrase and a damaged file look the
same to GCM; both are reported by the file's name and never give keys.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from heritage.backup.files import BackupError
from heritage.config import Settings
from heritage.db.base import utcnow
from heritage.store.crypto import LocalMasterKey, open_key_manager
from heritage.store.crypto.errors import CryptoError
from heritage.store.crypto.keyfiles import fsync_directory, write_key_file
from heritage.store.crypto.keys import MASTER_KEY_FILE, MASTER_KEY_SIZE
from heritage.store.keyring import RETIRED_DIR
from heritage.store.keystatus import PENDING_NAME
from heritage.store.signing import (
    KEYS_DIR,
    RETIRED_DIR_NAME,
    SIGNING_KEY_NAME,
    PublicSigningKey,
    SigningKey,
    SigningKeyError,
)

FORMAT = "heritage-cloud-keys"
VERSION = 1
SUFFIX = ".hckeys"
MIN_PASSPHRASE = 12
# RFC 9106 section 4, second recommended option: 64 MiB, 3 passes, 4 lanes.
DEFAULT_KDF = {"iterations": 3, "lanes": 4, "memory_kib": 65536}
# A hostile file must not make us spend unbounded memory or time on derivation.
KDF_LIMITS = {"iterations": (1, 16), "lanes": (1, 16), "memory_kib": (8 * 4, 1 << 20)}
AAD_PREFIX = b"heritage-cloud keys file v1\n"


class KeysFileError(BackupError):
    """A keys file cannot be written, read or opened; the message names the file."""


@dataclass(frozen=True)
class KeyEntry:
    """One key file: its name in its directory, its bytes, and the key's id."""

    name: str
    key_id: str
    data: bytes


@dataclass(frozen=True)
class KeyBundle:
    created: str
    instance: str
    key_manager: str
    master_key: KeyEntry | None  # DATA_DIR/keys/master.key, or HERITAGE_MASTER_KEY
    retired_master_keys: tuple[KeyEntry, ...]  # DATA_DIR/keys/retired/
    signing_key: KeyEntry | None  # DATA_DIR/keys/signing.key (PKCS#8 PEM)
    retired_signing_keys: tuple[KeyEntry, ...]  # DATA_DIR/keys/signing-retired/ (public PEM)

    def master_key_ids(self) -> set[str]:
        ids = {entry.key_id for entry in self.retired_master_keys}
        return ids | ({self.master_key.key_id} if self.master_key else set())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("base64 text expected")
    return base64.b64decode(text, validate=True)


def _plain_name(name: Any) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name


# --- collecting and installing ---------------------------------------------------------------


def _master_entry(data: bytes, name: str, origin: str) -> KeyEntry:
    try:
        key = LocalMasterKey(data, origin=origin)
    except CryptoError as error:
        raise KeysFileError(f"{origin}: {error}") from None
    return KeyEntry(name, key.key_id, data)


def _env_master_key(settings: Settings) -> bytes:
    assert settings.master_key is not None
    value = settings.master_key.get_secret_value().strip()
    try:
        data = base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if len(data) != MASTER_KEY_SIZE:
        raise KeysFileError("HERITAGE_MASTER_KEY is not base64 of 32 bytes")
    return data


def collect_keys(settings: Settings) -> KeyBundle:
    """Every key of the instance, read from the data directory (nothing is created)."""
    data_dir = settings.resolved_data_dir
    master: KeyEntry | None = None
    if settings.key_manager == "local":
        if settings.master_key is not None:
            master = _master_entry(_env_master_key(settings), "master.key", "HERITAGE_MASTER_KEY")
            if master.key_id != open_key_manager(settings).key_id:
                raise KeysFileError("HERITAGE_MASTER_KEY could not be read consistently")
        elif (data_dir / MASTER_KEY_FILE).is_file():
            path = data_dir / MASTER_KEY_FILE
            master = _master_entry(path.read_bytes(), "master.key", str(path))
    retired: list[KeyEntry] = []
    retired_dir = data_dir / RETIRED_DIR
    if retired_dir.is_dir():
        for path in sorted(retired_dir.glob("*.key")):
            retired.append(_master_entry(path.read_bytes(), path.name, str(path)))
    pending = (data_dir / MASTER_KEY_FILE).with_name(PENDING_NAME)
    if pending.is_file():
        # an interrupted rotation may have wrapped data keys with it already
        entry = _master_entry(pending.read_bytes(), "", str(pending))
        retired.append(KeyEntry(f"{entry.key_id}.key", entry.key_id, entry.data))
    keys_dir = data_dir / KEYS_DIR
    signing: KeyEntry | None = None
    if (keys_dir / SIGNING_KEY_NAME).is_file():
        key = SigningKey.from_file(keys_dir / SIGNING_KEY_NAME, create=False)
        signing = KeyEntry(SIGNING_KEY_NAME, key.key_id, key.to_pem())
    retired_signing: list[KeyEntry] = []
    if (keys_dir / RETIRED_DIR_NAME).is_dir():
        for path in sorted((keys_dir / RETIRED_DIR_NAME).glob("*.pem")):
            data = path.read_bytes()
            public = PublicSigningKey.from_pem(data, str(path))
            retired_signing.append(KeyEntry(path.name, public.key_id, data))
    return KeyBundle(
        created=utcnow().isoformat(),
        instance=settings.base_url,
        key_manager=settings.key_manager,
        master_key=master,
        retired_master_keys=tuple(retired),
        signing_key=signing,
        retired_signing_keys=tuple(retired_signing),
    )


def _install(path: Path, data: bytes) -> bool:
    """Put a key file in place; False when the same file is there already.

    A different file under the same name is never overwritten: key files are
    named after their key, so that means something is badly wrong.
    """
    if path.exists():
        if path.read_bytes() == data:
            return False
        raise KeysFileError(f"{path} exists with other contents; not overwritten")
    write_key_file(path, data, replace=True)
    return True


def install_keys(settings: Settings, bundle: KeyBundle) -> list[str]:
    """Put the bundle's keys into the data directory; what was done, one line each.

    No key is ever deleted: a different master key already in place moves to
    the retired keys, a different signing key is retired (its public key kept).
    """
    data_dir = settings.ensure_data_dir()
    keys_dir = data_dir / KEYS_DIR
    retired_dir = data_dir / RETIRED_DIR
    done: list[str] = []
    for entry in bundle.retired_master_keys:
        if _install(retired_dir / entry.name, entry.data):
            done.append(f"retired master key {entry.key_id} installed")
    if bundle.master_key is not None:
        done += _install_master_key(settings, bundle.master_key)
    for entry in bundle.retired_signing_keys:
        if _install(keys_dir / RETIRED_DIR_NAME / entry.name, entry.data):
            done.append(f"retired signing key {entry.key_id} installed")
    if bundle.signing_key is not None:
        done += _install_signing_key(keys_dir, bundle.signing_key)
    return done


def _install_master_key(settings: Settings, entry: KeyEntry) -> list[str]:
    data_dir = settings.resolved_data_dir
    retired = data_dir / RETIRED_DIR / f"{entry.key_id}.key"
    if settings.key_manager != "local" or settings.master_key is not None:
        source = (
            "HERITAGE_MASTER_KEY"
            if settings.key_manager == "local"
            else f"key manager {settings.key_manager}"
        )
        with contextlib.suppress(CryptoError):
            if open_key_manager(settings).key_id == entry.key_id:
                return [f"master key {entry.key_id} is already the one in {source}"]
        # kept as a retired key: its data keys open, and `heritage keys rotate` moves them on
        _install(retired, entry.data)
        return [
            f"master key {entry.key_id} installed as a retired key; the current one comes "
            f"from {source}"
        ]
    path = data_dir / MASTER_KEY_FILE
    done: list[str] = []
    if path.exists():
        existing = path.read_bytes()
        if existing == entry.data:
            return [f"master key {entry.key_id} already in place"]
        old = _master_entry(existing, path.name, str(path))
        target = data_dir / RETIRED_DIR / f"{old.key_id}.key"
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not target.exists():
            os.replace(path, target)
            fsync_directory(target.parent)
        done.append(f"master key {old.key_id} that was in place moved to the retired keys")
        path.unlink(missing_ok=True)
    write_key_file(path, entry.data, replace=True)
    done.append(f"master key {entry.key_id} installed")
    return done


def _install_signing_key(keys_dir: Path, entry: KeyEntry) -> list[str]:
    path = keys_dir / SIGNING_KEY_NAME
    done: list[str] = []
    if path.exists():
        try:
            existing = SigningKey.from_file(path, create=False)
        except SigningKeyError as error:
            raise KeysFileError(str(error)) from None
        if existing.key_id == entry.key_id:
            return [f"signing key {entry.key_id} already in place"]
        name = existing.key_id.replace(":", "-") + ".pem"
        _install(keys_dir / RETIRED_DIR_NAME / name, existing.public.to_pem())
        done.append(f"signing key {existing.key_id} that was in place retired")
    write_key_file(path, entry.data, replace=True)
    done.append(f"signing key {entry.key_id} installed")
    return done


# --- the encrypted file -----------------------------------------------------------------------


def _entry_json(entry: KeyEntry) -> dict[str, str]:
    return {"name": entry.name, "key_id": entry.key_id, "data": _b64(entry.data)}


def _content(bundle: KeyBundle) -> bytes:
    document = {
        "created": bundle.created,
        "instance": bundle.instance,
        "key_manager": bundle.key_manager,
        "master_key": _entry_json(bundle.master_key) if bundle.master_key else None,
        "retired_master_keys": [_entry_json(e) for e in bundle.retired_master_keys],
        "signing_key": _entry_json(bundle.signing_key) if bundle.signing_key else None,
        "retired_signing_keys": [_entry_json(e) for e in bundle.retired_signing_keys],
    }
    return json.dumps(document, sort_keys=True).encode("utf-8")


def _master_from(item: Any) -> KeyEntry:
    entry = _raw_entry(item)
    checked = _master_entry(entry.data, entry.name, "the keys file")
    if checked.key_id != entry.key_id:
        raise ValueError(f"master key {entry.key_id} does not match its bytes")
    return entry


def _signing_from(item: Any, private: bool) -> KeyEntry:
    entry = _raw_entry(item)
    try:
        if private:
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            loaded = serialization.load_pem_private_key(entry.data, password=None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise ValueError("the signing key is not an Ed25519 key")
            key_id = SigningKey(loaded).key_id
        else:
            key_id = PublicSigningKey.from_pem(entry.data).key_id
    except SigningKeyError as error:
        raise ValueError(str(error)) from None
    if key_id != entry.key_id:
        raise ValueError(f"signing key {entry.key_id} does not match its bytes")
    return entry


def _raw_entry(item: Any) -> KeyEntry:
    if not isinstance(item, dict) or not _plain_name(item.get("name")):
        raise ValueError("a key entry needs a plain file name")
    if not isinstance(item.get("key_id"), str):
        raise ValueError("a key entry needs a key id")
    return KeyEntry(item["name"], item["key_id"], _unb64(item.get("data")))


def _bundle(document: Any) -> KeyBundle:
    if not isinstance(document, dict):
        raise ValueError("the content is not a JSON object")
    master = document.get("master_key")
    signing = document.get("signing_key")
    return KeyBundle(
        created=str(document.get("created", "")),
        instance=str(document.get("instance", "")),
        key_manager=str(document.get("key_manager", "local")),
        master_key=_master_from(master) if master is not None else None,
        retired_master_keys=tuple(_master_from(e) for e in document["retired_master_keys"]),
        signing_key=_signing_from(signing, True) if signing is not None else None,
        retired_signing_keys=tuple(
            _signing_from(e, False) for e in document["retired_signing_keys"]
        ),
    )


def _passphrase_bytes(passphrase: str) -> bytes:
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def _derive(passphrase: str, salt: bytes, kdf: dict[str, Any]) -> bytes:
    return Argon2id(
        salt=salt,
        length=32,
        iterations=kdf["iterations"],
        lanes=kdf["lanes"],
        memory_cost=kdf["memory_kib"],
    ).derive(_passphrase_bytes(passphrase))


def _aad(header: dict[str, Any]) -> bytes:
    canonical = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return AAD_PREFIX + canonical.encode("utf-8")


def encrypt_bundle(bundle: KeyBundle, passphrase: str, kdf: dict[str, int] | None = None) -> bytes:
    if len(passphrase) < MIN_PASSPHRASE:
        raise KeysFileError(f"the passphrase must have at least {MIN_PASSPHRASE} characters")
    params = dict(kdf or DEFAULT_KDF)
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "kdf": {"algorithm": "argon2id", "salt": _b64(salt), **params},
        "cipher": {"algorithm": "AES-256-GCM", "nonce": _b64(nonce)},
    }
    key = _derive(passphrase, salt, params)
    ciphertext = AESGCM(key).encrypt(nonce, _content(bundle), _aad(header))
    return (json.dumps({**header, "ciphertext": _b64(ciphertext)}, indent=1) + "\n").encode()


def decrypt_bundle(data: bytes, passphrase: str, origin: str) -> KeyBundle:
    """The keys in a keys file's bytes; :class:`KeysFileError` naming ``origin`` otherwise."""
    try:
        document = json.loads(data)
        header = {key: document[key] for key in ("format", "version", "kdf", "cipher")}
        if header["format"] != FORMAT:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise KeysFileError(f"{origin} is not a Heritage Cloud keys file") from None
    if header["version"] != VERSION:
        raise KeysFileError(f"{origin}: keys file version {header['version']!r} is not supported")
    try:
        kdf, cipher = header["kdf"], header["cipher"]
        if kdf["algorithm"] != "argon2id" or cipher["algorithm"] != "AES-256-GCM":
            raise ValueError("unknown algorithms")
        params = {name: kdf[name] for name in DEFAULT_KDF}
        for name, (low, high) in KDF_LIMITS.items():
            if not isinstance(params[name], int) or not low <= params[name] <= high:
                raise ValueError(f"{name} out of range")
        salt, nonce = _unb64(kdf["salt"]), _unb64(cipher["nonce"])
        ciphertext = _unb64(document["ciphertext"])
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise KeysFileError(f"{origin}: malformed keys file header ({error})") from None
    try:
        key = _derive(passphrase, salt, params)
    except ValueError as error:  # parameters Argon2 refuses (memory below 8 per lane, ...)
        raise KeysFileError(f"{origin}: malformed keys file header ({error})") from None
    try:
        content = AESGCM(key).decrypt(nonce, ciphertext, _aad(header))
    except (InvalidTag, ValueError):
        raise KeysFileError(
            f"{origin}: wrong passphrase, or the keys file is damaged (it does not decrypt)"
        ) from None
    try:
        return _bundle(json.loads(content))
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise KeysFileError(f"{origin}: the keys in it are malformed ({error})") from None


def write_keys_file(
    path: Path, bundle: KeyBundle, passphrase: str, kdf: dict[str, int] | None = None
) -> Path:
    """Write the keys file (mode 0600) atomically; an existing file is never replaced."""
    data = encrypt_bundle(bundle, passphrase, kdf)
    path = path.expanduser().absolute()
    if path.exists():
        raise KeysFileError(f"{path} already exists; keys files are never overwritten")
    if not path.parent.is_dir():
        raise KeysFileError(f"{path.parent} does not exist")
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)  # fails if the name appeared meanwhile
    except FileExistsError:
        raise KeysFileError(f"{path} already exists; keys files are never overwritten") from None
    finally:
        temporary.unlink(missing_ok=True)
    fsync_directory(path.parent)
    return path


def read_keys_file(path: Path, passphrase: str) -> KeyBundle:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise KeysFileError(f"{path}: {error.strerror or error}") from None
    return decrypt_bundle(data, passphrase, str(path))
