"""The chunked encrypted file format, version 1: byte layout, key derivation, geometry.

Pure functions over bytes; reading and writing streams is ``stream.py``'s job.
The layout is described byte by byte in the package docstring
(``heritage/store/crypto/__init__.py``); keep the two in step.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from heritage.store.crypto.errors import (
    NotEncrypted,
    TamperedHeader,
    Truncated,
    UnknownFormatVersion,
    WrongKey,
)

MAGIC = b"HCENC\x00"
END_MAGIC = b"HCEND\x00"
VERSION = 1

DATA_KEY_SIZE = 32  # AES-256
TAG_SIZE = 16  # GCM tag appended to every chunk
SALT_SIZE = 32
NONCE_PREFIX_SIZE = 4  # + 8-byte chunk index = the 12-byte GCM nonce
KEY_CHECK_SIZE = 32
MAC_SIZE = 32
MAX_KEY_ID_BYTES = 255

DEFAULT_CHUNK_SIZE = 1 << 20
# Readers allocate one chunk; the cap keeps a hostile header from asking for gigabytes.
MAX_CHUNK_SIZE = 1 << 26

# magic, version, chunk size, salt, nonce prefix, key id length
_FIXED = struct.Struct(">6sBI32s4sB")
FIXED_SIZE = _FIXED.size
_TRAILER = struct.Struct(">6sQ")  # end magic, plaintext length
TRAILER_SIZE = _TRAILER.size

_HKDF_INFO = b"heritage-cloud HCENC v1 file keys"


@dataclass(frozen=True, slots=True)
class FileKeys:
    """The keys of one file, derived from the data key and the file's random salt.

    A fresh content key per file means GCM nonces never repeat under one key, however
    many files a workspace key encrypts; the 96-bit nonce alone would not promise that.
    """

    content: AESGCM
    mac_key: bytes
    key_check: bytes


def derive_file_keys(data_key: bytes, salt: bytes) -> FileKeys:
    check_data_key(data_key)
    material = HKDF(algorithm=hashes.SHA256(), length=96, salt=salt, info=_HKDF_INFO).derive(
        data_key
    )
    return FileKeys(AESGCM(material[:32]), material[32:64], material[64:])


def check_data_key(data_key: bytes) -> None:
    if not isinstance(data_key, bytes | bytearray) or len(data_key) != DATA_KEY_SIZE:
        raise ValueError(f"a data key is {DATA_KEY_SIZE} bytes (AES-256)")


def check_chunk_size(chunk_size: int) -> None:
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk size must be between 1 and {MAX_CHUNK_SIZE} bytes")


def encode_key_id(key_id: str) -> bytes:
    raw = key_id.encode()
    if not 1 <= len(raw) <= MAX_KEY_ID_BYTES:
        raise ValueError(f"a key id is 1 to {MAX_KEY_ID_BYTES} bytes of UTF-8")
    return raw


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed header. ``raw`` is the exact stored bytes, which chunks authenticate."""

    chunk_size: int
    key_id: str
    salt: bytes
    nonce_prefix: bytes
    raw: bytes

    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.raw).digest()

    @classmethod
    def create(cls, data_key: bytes, key_id: str, chunk_size: int) -> tuple[Header, FileKeys]:
        """A new header with fresh randomness, and the file keys it commits to."""
        check_chunk_size(chunk_size)
        key_id_raw = encode_key_id(key_id)
        salt = secrets.token_bytes(SALT_SIZE)
        nonce_prefix = secrets.token_bytes(NONCE_PREFIX_SIZE)
        keys = derive_file_keys(data_key, salt)
        body = (
            _FIXED.pack(MAGIC, VERSION, chunk_size, salt, nonce_prefix, len(key_id_raw))
            + key_id_raw
            + keys.key_check
        )
        raw = body + hmac.digest(keys.mac_key, body, "sha256")
        return cls(chunk_size, key_id, salt, nonce_prefix, raw), keys

    @classmethod
    def decode(cls, raw: bytes) -> Header:
        """Parse ``raw``, exactly one header (see :func:`header_size`); no key needed."""
        if len(raw) != header_size(raw[:FIXED_SIZE]):
            raise ValueError("raw must be exactly one header")
        _, _, chunk_size, salt, nonce_prefix, key_id_len = _FIXED.unpack_from(raw)
        end = FIXED_SIZE + key_id_len
        try:
            key_id = raw[FIXED_SIZE:end].decode()
        except UnicodeDecodeError:
            raise TamperedHeader("the header's key id is not valid UTF-8") from None
        if not 1 <= chunk_size <= MAX_CHUNK_SIZE or key_id_len == 0:
            raise TamperedHeader(f"the header's chunk size {chunk_size} or key id is not valid")
        return cls(chunk_size, key_id, salt, nonce_prefix, raw)

    def open(self, data_key: bytes) -> FileKeys:
        """Check ``data_key`` against the header, then the header's MAC; return the file keys.

        The key check comes first so that a wrong key is reported as such, not as a
        damaged header (a wrong key fails the MAC too).
        """
        keys = derive_file_keys(data_key, self.salt)
        mac_at = self.size - MAC_SIZE
        stored_check = self.raw[mac_at - KEY_CHECK_SIZE : mac_at]
        if not hmac.compare_digest(keys.key_check, stored_check):
            raise WrongKey(self.key_id)
        mac = hmac.digest(keys.mac_key, self.raw[:mac_at], "sha256")
        if not hmac.compare_digest(mac, self.raw[mac_at:]):
            raise TamperedHeader(
                f"the header of this file (key id {self.key_id!r}) fails authentication: "
                "a field such as the chunk size, key id or nonce was changed"
            )
        return keys


def header_size(prefix: bytes) -> int:
    """The full header length, from its first :data:`FIXED_SIZE` bytes (or fewer at EOF)."""
    if prefix[: len(MAGIC)] != MAGIC:
        raise NotEncrypted("not an encrypted file: it does not start with the HCENC magic bytes")
    if len(prefix) <= len(MAGIC):
        raise Truncated("the file ends inside its header")
    if prefix[len(MAGIC)] != VERSION:
        raise UnknownFormatVersion(prefix[len(MAGIC)])
    if len(prefix) < FIXED_SIZE:
        raise Truncated("the file ends inside its header")
    return FIXED_SIZE + prefix[FIXED_SIZE - 1] + KEY_CHECK_SIZE + MAC_SIZE


def chunk_nonce(header: Header, index: int) -> bytes:
    return header.nonce_prefix + index.to_bytes(8, "big")


def chunk_aad(header_digest: bytes, index: int, final: bool) -> bytes:
    # Index and finality in the AAD make moving, dropping or appending chunks fail
    # authentication; the header digest ties every chunk to this very header.
    return header_digest + index.to_bytes(8, "big") + (b"\x01" if final else b"\x00")


def encode_trailer(plaintext_size: int) -> bytes:
    return _TRAILER.pack(END_MAGIC, plaintext_size)


def decode_trailer(raw: bytes) -> int | None:
    """The plaintext length a trailer records, or None when ``raw`` is not a trailer."""
    if len(raw) != TRAILER_SIZE:
        return None
    magic, plaintext_size = _TRAILER.unpack(raw)
    return plaintext_size if magic == END_MAGIC else None


@dataclass(frozen=True, slots=True)
class Geometry:
    """Where each chunk lies, from the header size, chunk size and plaintext size.

    Every chunk but the last holds exactly ``chunk_size`` plaintext bytes; the last
    holds 1 to ``chunk_size`` bytes, or none when the whole file is empty.
    """

    header_size: int
    chunk_size: int
    plaintext_size: int

    @property
    def chunk_count(self) -> int:
        return max(1, -(-self.plaintext_size // self.chunk_size))

    @property
    def last_index(self) -> int:
        return self.chunk_count - 1

    @property
    def stored_size(self) -> int:
        """Bytes on disk: header, chunks with their tags, trailer."""
        chunks = self.plaintext_size + self.chunk_count * TAG_SIZE
        return self.header_size + chunks + TRAILER_SIZE

    def plaintext_length(self, index: int) -> int:
        if index < self.last_index:
            return self.chunk_size
        return self.plaintext_size - self.last_index * self.chunk_size

    def stored_offset(self, index: int) -> int:
        return self.header_size + index * (self.chunk_size + TAG_SIZE)

    def stored_length(self, index: int) -> int:
        return self.plaintext_length(index) + TAG_SIZE

    def chunks_for(self, start: int, stop: int) -> range:
        """Indexes of the chunks holding plaintext bytes ``[start, stop)``."""
        if start >= stop:
            return range(0)
        return range(start // self.chunk_size, (stop - 1) // self.chunk_size + 1)
