"""The instance's Ed25519 signing key, and signatures over each version's inventory.

Every version an instance commits is signed: the storage root calls
:class:`InstanceSigner` while it stages the version, and the signature file
lands in ``extensions/heritage-signed-inventories/<version>.sig.json`` of the
object before the root inventory names that version. The format, the
signed message and how to check a signature with nothing but OpenSSL are in
``docs/signatures.md``; change them only together with that page.

Keys live in the data directory: ``keys/signing.key`` (PKCS#8 PEM, mode 0600,
created on first use) and ``keys/signing-retired/*.pem`` (public keys of former
signing keys, so that old signatures keep verifying and stay published).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from heritage.config import Settings
from heritage.store.crypto.keyfiles import write_key_file
from heritage.store.ocfl.digests import digest_bytes

EXTENSION_NAME = "heritage-signed-inventories"
SIGNATURE_FORMAT = "heritage-cloud-signed-inventory"
FORMAT_VERSION = 1
ALGORITHM = "Ed25519"
INVENTORY_DIGEST_ALGORITHM = "sha512"
# Domain separation: these bytes start every signed message, so a signature made
# here can never be mistaken for a signature over anything else made with the key.
MESSAGE_PREFIX = b"heritage-cloud signed inventory v1\n"
SIGNATURE_SUFFIX = ".sig.json"
CONFIG_NAME = "config.json"

# Kept in every object, so that the object explains its own signatures to a future reader.
EXTENSION_DESCRIPTION = (
    "Heritage Cloud signed inventories. <version>.sig.json holds an Ed25519 (RFC 8032) "
    "signature over the UTF-8 bytes 'heritage-cloud signed inventory v1\\n' "
    "'object-id: <objectId>\\n' 'version: <version>\\n' "
    "'inventory-digest: sha512:<lowercase hex SHA-512 of <version>/inventory.json>\\n'. "
    "publicKey and signature are base64url without padding; keyId is 'ed25519:' and the "
    "first 16 hex digits of the SHA-256 of the 32-byte public key."
)

KEYS_DIR = Path("keys")  # under the data directory
SIGNING_KEY_NAME = "signing.key"
RETIRED_DIR_NAME = "signing-retired"

RAW_KEY_SIZE = 32
SIGNATURE_SIZE = 64


class SigningKeyError(Exception):
    """A signing key or public key file is missing, unreadable, malformed or too open."""


class SignatureFormatError(ValueError):
    """A signature file is not a well-formed heritage-cloud signed inventory."""


# --- encodings ---------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    """base64url without padding, as in JWK (RFC 7515 appendix C)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or "=" in text:
        raise ValueError("base64url without padding expected")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


def key_id_of(raw_public_key: bytes) -> str:
    """``ed25519:`` and the first 16 hex digits of the SHA-256 of the raw 32-byte key."""
    return "ed25519:" + hashlib.sha256(raw_public_key).hexdigest()[:16]


def signature_name(version: str) -> str:
    return f"{version}{SIGNATURE_SUFFIX}"


def signed_message(object_id: str, version: str, digest_algorithm: str, digest: str) -> bytes:
    """The exact bytes an Ed25519 signature covers (UTF-8, each line ending in LF).

    Only the object id may contain a line feed; version and digest cannot, so
    reading the last two lines first parses every message one way only.
    """
    text = (
        f"object-id: {object_id}\n"
        f"version: {version}\n"
        f"inventory-digest: {digest_algorithm}:{digest.lower()}\n"
    )
    return MESSAGE_PREFIX + text.encode("utf-8")


# --- keys ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicSigningKey:
    """An Ed25519 public key, named by its key id."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != RAW_KEY_SIZE:
            raise SigningKeyError(f"an Ed25519 public key is {RAW_KEY_SIZE} bytes")

    @property
    def key_id(self) -> str:
        return key_id_of(self.raw)

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def to_pem(self) -> bytes:
        key = Ed25519PublicKey.from_public_bytes(self.raw)
        return key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def to_jwk(self) -> dict[str, str]:
        """RFC 8037: an OKP key of curve Ed25519."""
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(self.raw), "kid": self.key_id}

    @classmethod
    def from_pem(cls, data: bytes, origin: str = "PEM") -> PublicSigningKey:
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, UnsupportedAlgorithm):
            raise SigningKeyError(f"{origin} is not a PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise SigningKeyError(f"{origin} is not an Ed25519 public key")
        return cls(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any], origin: str = "JWK") -> PublicSigningKey:
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise SigningKeyError(f"{origin} is not an Ed25519 JWK (kty OKP, crv Ed25519)")
        try:
            key = cls(b64url_decode(jwk.get("x", "")))
        except ValueError:
            raise SigningKeyError(f"{origin}: x is not base64url") from None
        if "kid" in jwk and jwk["kid"] != key.key_id:
            raise SigningKeyError(f"{origin}: kid {jwk['kid']!r} is not this key's id")
        return key


class SigningKey:
    """An Ed25519 private key held in this process; never written anywhere but its key file."""

    def __init__(self, private_key: Ed25519PrivateKey, origin: str = "memory") -> None:
        self._key = private_key
        raw = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public = PublicSigningKey(raw)
        self.origin = origin

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def to_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @classmethod
    def from_file(cls, path: Path, *, create: bool = True) -> SigningKey:
        """Load the key file, creating it (mode 0600, a new key) when absent.

        Losing this file loses nothing already signed (its public key is in every
        signature file and published), but later versions get a new key.
        """
        if not path.exists():
            if not create:
                raise SigningKeyError(f"signing key file {path} does not exist")
            write_key_file(path, cls.generate().to_pem())
        try:
            mode = path.stat().st_mode & 0o777
            if os.name == "posix" and mode & 0o077:
                raise SigningKeyError(
                    f"signing key file {path} has mode {mode:o}, so other users may read it; "
                    f"run: chmod 600 {path}"
                )
            data = path.read_bytes()
        except OSError as error:
            raise SigningKeyError(f"signing key file {path}: {error.strerror or error}") from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise SigningKeyError(
                f"signing key file {path} is not an unencrypted PEM key"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"signing key file {path} does not hold an Ed25519 key")
        return cls(key, origin=str(path))

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r}, origin={self.origin!r})"


def _retired_file_name(key: PublicSigningKey) -> str:
    return key.key_id.replace(":", "-") + ".pem"


@dataclass(frozen=True)
class InstanceKeys:
    """The current signing key (None before the first signature) and the retired public keys."""

    current: SigningKey | None
    retired: tuple[PublicSigningKey, ...]

    def public_keys(self) -> list[PublicSigningKey]:
        """Current first, then retired ones; each key once."""
        keys = ([self.current.public] if self.current else []) + list(self.retired)
        unique: dict[str, PublicSigningKey] = {}
        for key in keys:
            unique.setdefault(key.key_id, key)
        return list(unique.values())


def load_instance_keys(keys_dir: Path, *, create: bool = True) -> InstanceKeys:
    """The keys kept in ``keys_dir`` (``DATA_DIR/keys``); creates the signing key if asked."""
    key_path = keys_dir / SIGNING_KEY_NAME
    current = SigningKey.from_file(key_path) if create or key_path.exists() else None
    return InstanceKeys(current, tuple(load_public_key_dir(keys_dir / RETIRED_DIR_NAME)))


def load_public_key_dir(directory: Path) -> list[PublicSigningKey]:
    if not directory.is_dir():
        return []
    return [
        PublicSigningKey.from_pem(path.read_bytes(), str(path))
        for path in sorted(directory.glob("*.pem"))
    ]


def rotate_signing_key(keys_dir: Path) -> SigningKey:
    """Retire the current signing key (its public key is kept and published) and make a new one.

    The retired public key is written first: a crash in between leaves the old
    key current and also listed as retired, which is harmless.
    """
    old = SigningKey.from_file(keys_dir / SIGNING_KEY_NAME)
    retired = keys_dir / RETIRED_DIR_NAME
    retired.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_key_file(retired / _retired_file_name(old.public), old.public.to_pem())
    new = SigningKey.generate()
    write_key_file(keys_dir / SIGNING_KEY_NAME, new.to_pem(), replace=True)
    return SigningKey(new._key, origin=str(keys_dir / SIGNING_KEY_NAME))


def instance_keys(settings: Settings, *, create: bool = True) -> InstanceKeys:
    """The instance's keys in ``DATA_DIR/keys``."""
    return load_instance_keys(settings.ensure_data_dir() / KEYS_DIR, create=create)


def instance_signer(settings: Settings) -> InstanceSigner:
    """The signer to hand to ``open_storage_root(settings, signer=...)``."""
    key = instance_keys(settings).current
    assert key is not None  # created above
    return InstanceSigner(key)


def load_public_keys(path: Path) -> list[PublicSigningKey]:
    """Public keys from a file: a PEM public key, a JWK, or a JWK Set (the well-known URL's)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SigningKeyError(f"{path}: {error.strerror or error}") from None
    if data.lstrip().startswith(b"-----BEGIN"):
        return [PublicSigningKey.from_pem(data, str(path))]
    try:
        document = json.loads(data)
    except ValueError:
        raise SigningKeyError(f"{path} is neither a PEM public key nor JSON") from None
    if isinstance(document, dict) and isinstance(document.get("keys"), list):
        return [
            PublicSigningKey.from_jwk(jwk, f"{path} key {number}")
            for number, jwk in enumerate(document["keys"])
            if isinstance(jwk, dict)
        ]
    if isinstance(document, dict):
        return [PublicSigningKey.from_jwk(document, str(path))]
    raise SigningKeyError(f"{path} holds no JWK or JWK Set")


# --- signature files -------------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureRecord:
    """The content of one ``<version>.sig.json``."""

    object_id: str
    version: str
    digest_algorithm: str
    digest: str
    key_id: str
    public_key: PublicSigningKey
    signed: str
    signature: bytes

    def message(self) -> bytes:
        return signed_message(self.object_id, self.version, self.digest_algorithm, self.digest)

    def to_json(self) -> bytes:
        document = {
            "format": SIGNATURE_FORMAT,
            "formatVersion": FORMAT_VERSION,
            "objectId": self.object_id,
            "version": self.version,
            "inventoryDigest": {"algorithm": self.digest_algorithm, "value": self.digest},
            "algorithm": ALGORITHM,
            "keyId": self.key_id,
            "publicKey": b64url(self.public_key.raw),
            "signed": self.signed,
            "signature": b64url(self.signature),
        }
        return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> SignatureRecord:
        """Parse a signature file; :class:`SignatureFormatError` says what is wrong."""
        try:
            document = json.loads(data)
        except ValueError:
            raise SignatureFormatError("not UTF-8 JSON") from None
        if not isinstance(document, dict):
            raise SignatureFormatError("not a JSON object")
        if document.get("format") != SIGNATURE_FORMAT:
            raise SignatureFormatError(f"format is not {SIGNATURE_FORMAT!r}")
        if document.get("formatVersion") != FORMAT_VERSION:
            raise SignatureFormatError(f"formatVersion {document.get('formatVersion')!r} unknown")
        if document.get("algorithm") != ALGORITHM:
            raise SignatureFormatError(f"algorithm {document.get('algorithm')!r} is not Ed25519")
        text_fields = ("objectId", "version", "keyId", "publicKey", "signed", "signature")
        missing = [name for name in text_fields if not isinstance(document.get(name), str)]
        digest = document.get("inventoryDigest")
        if not isinstance(digest, dict) or not all(
            isinstance(digest.get(name), str) for name in ("algorithm", "value")
        ):
            missing.append("inventoryDigest")
        if missing:
            raise SignatureFormatError(f"missing or not strings: {', '.join(missing)}")
        try:
            public_key = PublicSigningKey(b64url_decode(document["publicKey"]))
            signature = b64url_decode(document["signature"])
        except (ValueError, SigningKeyError):
            raise SignatureFormatError("publicKey or signature is not base64url") from None
        if len(signature) != SIGNATURE_SIZE:
            raise SignatureFormatError(f"an Ed25519 signature is {SIGNATURE_SIZE} bytes")
        if document["keyId"] != public_key.key_id:
            raise SignatureFormatError(
                f"keyId {document['keyId']} is not the id of publicKey ({public_key.key_id})"
            )
        return cls(
            object_id=document["objectId"],
            version=document["version"],
            digest_algorithm=digest["algorithm"],
            digest=digest["value"].lower(),
            key_id=document["keyId"],
            public_key=public_key,
            signed=document["signed"],
            signature=signature,
        )


def sign_inventory(
    key: SigningKey, object_id: str, version: str, inventory_bytes: bytes, signed: str
) -> SignatureRecord:
    digest = digest_bytes(inventory_bytes, INVENTORY_DIGEST_ALGORITHM)
    message = signed_message(object_id, version, INVENTORY_DIGEST_ALGORITHM, digest)
    return SignatureRecord(
        object_id=object_id,
        version=version,
        digest_algorithm=INVENTORY_DIGEST_ALGORITHM,
        digest=digest,
        key_id=key.key_id,
        public_key=key.public,
        signed=signed,
        signature=key.sign(message),
    )


def _now() -> datetime:
    return datetime.now(UTC)


class InstanceSigner:
    """Implements ``VersionSigner``: one ``<version>.sig.json`` per version, and ``config.json``."""

    extension_name = EXTENSION_NAME

    def __init__(self, key: SigningKey, clock: Callable[[], datetime] = _now) -> None:
        self.key = key
        self._clock = clock

    def sign_version(
        self, object_id: str, version: str, inventory_bytes: bytes
    ) -> Mapping[str, bytes]:
        signed = self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        record = sign_inventory(self.key, object_id, version, inventory_bytes, signed)
        return {signature_name(version): record.to_json(), CONFIG_NAME: extension_config()}


def extension_config() -> bytes:
    """The extension's ``config.json``: names it, as OCFL extensions do."""
    document = {"extensionName": EXTENSION_NAME, "description": EXTENSION_DESCRIPTION}
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def jwk_set(keys: Iterable[PublicSigningKey]) -> dict[str, list[dict[str, str]]]:
    """A JWK Set (RFC 7517) of public signing keys, each marked for signatures."""
    return {"keys": [{**key.to_jwk(), "use": "sig"} for key in keys]}
