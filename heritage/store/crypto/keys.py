"""Data keys per workspace, wrapped by a master key behind a small key-management interface.

Content is encrypted with data keys; data keys are stored only wrapped (encrypted)
by a master key held by a :class:`KeyManager`. Rotating the master key re-wraps
the data keys and leaves content alone. ``local`` (embedded default) keeps the
master key in a file or an environment secret; a KMS or HSM plugs in as another
entry in :data:`KEY_MANAGERS`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from heritage.config import Settings
from heritage.store.crypto.errors import (
    MalformedWrappedKey,
    MasterKeyUnavailable,
    UnknownKeyManager,
    UnwrapFailed,
    WrongMasterKey,
)
from heritage.store.crypto.format import DATA_KEY_SIZE, check_data_key
from heritage.store.crypto.keyfiles import write_key_file

MASTER_KEY_SIZE = 32
MASTER_KEY_ENV = "HERITAGE_MASTER_KEY"
MASTER_KEY_FILE = Path("keys") / "master.key"  # under the data directory
WRAP_ALGORITHM = "A256GCM"

Context = Mapping[str, str]


def new_data_key() -> bytes:
    """A fresh random AES-256 data key."""
    return secrets.token_bytes(DATA_KEY_SIZE)


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key encrypted by a master key: safe to store beside the data it protects."""

    master_key_id: str
    algorithm: str
    nonce: bytes
    ciphertext: bytes

    def to_json(self) -> str:
        return json.dumps(
            {
                "master_key_id": self.master_key_id,
                "algorithm": self.algorithm,
                "nonce": _b64(self.nonce),
                "ciphertext": _b64(self.ciphertext),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> WrappedKey:
        try:
            data = json.loads(text)
        except ValueError:
            raise MalformedWrappedKey("a wrapped key is not valid JSON") from None
        fields = ("master_key_id", "algorithm", "nonce", "ciphertext")
        if not isinstance(data, dict) or not all(isinstance(data.get(f), str) for f in fields):
            raise MalformedWrappedKey(f"a wrapped key is a JSON object with string {fields}")
        try:
            nonce = base64.b64decode(data["nonce"], altchars=b"-_", validate=True)
            ciphertext = base64.b64decode(data["ciphertext"], altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise MalformedWrappedKey("a wrapped key's nonce or ciphertext is not base64") from None
        return cls(data["master_key_id"], data["algorithm"], nonce, ciphertext)


class KeyManager(Protocol):
    """Wraps and unwraps data keys with a master key it never hands out."""

    @property
    def key_id(self) -> str:
        """Names the master key; stored in every wrapped key it makes."""
        ...

    def wrap(self, data_key: bytes, context: Context) -> WrappedKey:
        """Encrypt ``data_key``, bound to ``context`` (e.g. the workspace id)."""
        ...

    def unwrap(self, wrapped: WrappedKey, context: Context) -> bytes:
        """The data key; the same ``context`` as at wrapping is required."""
        ...


class LocalMasterKey:
    """A 256-bit master key held in this process: from a key file or an environment secret.

    Its id is derived from the key itself, so a wrapped key names the master key
    that can open it without revealing anything about it.
    """

    def __init__(self, master_key: bytes, *, origin: str = "memory") -> None:
        if len(master_key) != MASTER_KEY_SIZE:
            raise MasterKeyUnavailable(f"a master key is {MASTER_KEY_SIZE} bytes (from {origin})")
        self._aead = AESGCM(master_key)
        fingerprint = hmac.digest(master_key, b"heritage-cloud master key id", "sha256")
        self._key_id = "local-" + fingerprint[:8].hex()
        self.origin = origin

    @classmethod
    def generate(cls) -> LocalMasterKey:
        return cls(secrets.token_bytes(MASTER_KEY_SIZE))

    @classmethod
    def from_file(cls, path: Path, *, create: bool = True) -> LocalMasterKey:
        """Load the key file, creating it (mode 0600, 32 random bytes) when absent.

        Losing this file loses every encrypted file: back it up apart from the data.
        """
        if not path.exists():
            if not create:
                raise MasterKeyUnavailable(f"master key file {path} does not exist")
            write_key_file(path, secrets.token_bytes(MASTER_KEY_SIZE))
        try:
            mode = path.stat().st_mode & 0o777
            if os.name == "posix" and mode & 0o077:
                raise MasterKeyUnavailable(
                    f"master key file {path} has mode {mode:o}, so other users may read it; "
                    f"run: chmod 600 {path}"
                )
            data = path.read_bytes()
        except OSError as error:
            raise MasterKeyUnavailable(
                f"master key file {path}: {error.strerror or error}"
            ) from None
        if len(data) != MASTER_KEY_SIZE:
            raise MasterKeyUnavailable(
                f"master key file {path} holds {len(data)} bytes; it must hold exactly "
                f"{MASTER_KEY_SIZE} random bytes"
            )
        return cls(data, origin=str(path))

    @classmethod
    def from_env(
        cls, variable: str = MASTER_KEY_ENV, environ: Mapping[str, str] | None = None
    ) -> LocalMasterKey:
        """The key from an environment secret: base64 of 32 bytes (`openssl rand -base64 32`)."""
        value = (os.environ if environ is None else environ).get(variable, "").strip()
        if not value:
            raise MasterKeyUnavailable(f"environment variable {variable} is not set")
        try:
            # Accept both alphabets, so that URL-safe secrets from other tools work too.
            data = base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            data = b""
        if len(data) != MASTER_KEY_SIZE:
            # The message never includes the value: it is a secret even when malformed.
            raise MasterKeyUnavailable(
                f"{variable} must be base64 of exactly {MASTER_KEY_SIZE} bytes "
                "(e.g. the output of `openssl rand -base64 32`)"
            )
        return cls(data, origin=f"${variable}")

    @property
    def key_id(self) -> str:
        return self._key_id

    def wrap(self, data_key: bytes, context: Context) -> WrappedKey:
        check_data_key(data_key)
        nonce = secrets.token_bytes(12)
        aad = _wrap_aad(self._key_id, WRAP_ALGORITHM, context)
        ciphertext = self._aead.encrypt(nonce, data_key, aad)
        return WrappedKey(self._key_id, WRAP_ALGORITHM, nonce, ciphertext)

    def unwrap(self, wrapped: WrappedKey, context: Context) -> bytes:
        if wrapped.master_key_id != self._key_id:
            raise WrongMasterKey(wrapped.master_key_id, self._key_id)
        if wrapped.algorithm != WRAP_ALGORITHM:
            raise UnwrapFailed(f"wrapping algorithm {wrapped.algorithm!r} is not supported")
        aad = _wrap_aad(wrapped.master_key_id, wrapped.algorithm, context)
        try:
            data_key = self._aead.decrypt(wrapped.nonce, wrapped.ciphertext, aad)
        except (InvalidTag, ValueError):
            raise UnwrapFailed(
                f"the data key wrapped by master key {self._key_id!r} does not open with "
                f"context {dict(context)!r}: the context is wrong or the wrapped key is damaged"
            ) from None
        return data_key

    def __repr__(self) -> str:
        return f"LocalMasterKey(key_id={self._key_id!r}, origin={self.origin!r})"


def _wrap_aad(master_key_id: str, algorithm: str, context: Context) -> bytes:
    # Canonical JSON, so that the same context always gives the same bytes, and a
    # data key wrapped for one workspace cannot be passed off as another's.
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in context.items()):
        raise TypeError("a wrapping context maps strings to strings")
    bound = {"algorithm": algorithm, "context": dict(context), "master_key_id": master_key_id}
    canonical = json.dumps(bound, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return b"heritage-cloud wrapped data key v1\n" + canonical.encode()


def rewrap(old: KeyManager, new: KeyManager, wrapped: WrappedKey, context: Context) -> WrappedKey:
    """``wrapped`` re-wrapped by ``new``; one already wrapped by ``new`` comes back as is."""
    if wrapped.master_key_id == new.key_id:
        # Lets an interrupted rotation simply run again.
        return wrapped
    return new.wrap(old.unwrap(wrapped, context), context)


def rotate(
    old: KeyManager, new: KeyManager, wrapped_keys: Iterable[tuple[WrappedKey, Context]]
) -> Iterator[WrappedKey]:
    """Re-wrap each ``(wrapped key, context)`` in order, lazily, so callers can store each
    as it comes. Content encrypted with the data keys is untouched."""
    for wrapped, context in wrapped_keys:
        yield rewrap(old, new, wrapped, context)


KeyManagerFactory = Callable[[Settings], KeyManager]
KEY_MANAGERS: dict[str, KeyManagerFactory] = {}


def key_manager_backend(name: str) -> Callable[[KeyManagerFactory], KeyManagerFactory]:
    def register(factory: KeyManagerFactory) -> KeyManagerFactory:
        KEY_MANAGERS[name] = factory
        return factory

    return register


@key_manager_backend("local")
def _local(settings: Settings) -> KeyManager:
    # The secret setting (environment or .env) wins, so containers need no key file.
    if settings.master_key is not None:
        secret = settings.master_key.get_secret_value()
        return LocalMasterKey.from_env(environ={MASTER_KEY_ENV: secret})
    return LocalMasterKey.from_file(settings.ensure_data_dir() / MASTER_KEY_FILE)


def open_key_manager(settings: Settings, name: str | None = None) -> KeyManager:
    name = name or settings.key_manager
    factory = KEY_MANAGERS.get(name)
    if factory is None:
        known = ", ".join(sorted(KEY_MANAGERS))
        raise UnknownKeyManager(f"unknown key manager {name!r} (known: {known})")
    return factory(settings)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()
