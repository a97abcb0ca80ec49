"""Encryption at rest: a chunked AES-256-GCM file format and workspace data keys.

Each workspace has a random 256-bit data key, stored only wrapped by a master key
(:mod:`heritage.store.crypto.keys`). Files are encrypted with it in fixed-size
chunks, so they are written as a stream and read back by range, one chunk at a
time (:mod:`heritage.store.crypto.stream`). The bytes below are what an OCFL
object stores and what its digests cover.

Encrypted file format, version 1
================================

All integers are unsigned big-endian. ``n`` is the length of the key id.

Header (``112 + n`` bytes)::

    offset   size  field
    0        6     magic: 48 43 45 4E 43 00 ("HCENC\\0")
    6        1     format version: 1
    7        4     chunk size C: plaintext bytes per chunk, 1 to 2^26
    11       32    salt: random, new for every file
    43       4     nonce prefix: random, new for every file
    47       1     n: key id length, 1 to 255
    48       n     key id: UTF-8, names the data key (e.g. a workspace's key)
    48+n     32    key check
    80+n     32    header MAC: HMAC-SHA256(mac key, header bytes [0, 80+n))

File keys: HKDF-SHA256(input key = data key, salt = salt,
info = "heritage-cloud HCENC v1 file keys", length 96) gives the content key
(bytes 0-31), the mac key (32-63) and the key check (64-95). A wrong data key
fails the key check (reported as ``WrongKey``); any other header change fails
the MAC (``TamperedHeader``). A content key of its own per file means a GCM
nonce never repeats under one key, however many files share a data key.

Chunks follow the header, numbered i = 0, 1, ...::

    AES-256-GCM(content key,
                nonce = nonce prefix (4) || i (8),
                AAD   = SHA-256(header) (32) || i (8) || final flag (1: 0x01 last, else 0x00),
                plaintext chunk i)                  -> ciphertext || 16-byte tag

Every chunk but the last holds exactly C plaintext bytes (C + 16 stored); the
last holds 1 to C bytes, and 0 only when the whole file is empty. The writer
does not know the length in advance: it seals a full chunk as not-final only once
more data arrives, and marks the last chunk final at close. Because the index and
the final flag are authenticated, reordered, dropped, duplicated or appended
chunks fail (``TamperedChunk`` naming the chunk, or ``Truncated``), and chunks
from another file fail because its content key differs.

Trailer (14 bytes)::

    offset   size  field (offsets from the trailer's start)
    0        6     end magic: 48 43 45 4E 44 00 ("HCEND\\0")
    6        8     plaintext length P

The trailer is not encrypted: it lets a reader tell a cut-off file (no end
magic: ``Truncated``) from a damaged chunk, and gives the chunk geometry without
decryption. The file must be exactly ``header + P + 16 * max(1, ceil(P / C)) + 14``
bytes, and the last chunk only authenticates at the position and length P implies
with the final flag set, so an edited trailer is detected too. Readers check the
lengths on opening and decrypt the last chunk before trusting P (``plaintext_size``,
``read_all``, and ranges that reach the end).

Range reads decrypt only chunks ``start // C`` to ``(stop - 1) // C``. Stored
size: ``P + 16 * chunks + 126 + n``; with the default 1 MiB chunks, 0.0015 % over P.

Wrapped data keys
=================

A data key is stored as JSON ``{"algorithm": "A256GCM", "ciphertext": ...,
"master_key_id": ..., "nonce": ...}`` (bytes in URL-safe base64): AES-256-GCM
under the master key with a random 12-byte nonce and, as AAD,
``"heritage-cloud wrapped data key v1\\n"`` followed by the canonical JSON
(sorted keys, no spaces, UTF-8) of ``{"algorithm", "context", "master_key_id"}``.
The context (e.g. ``{"workspace": id}``) must match to unwrap. A local master
key's id is ``"local-"`` + the first 8 bytes, in hex, of
HMAC-SHA256(master key, "heritage-cloud master key id").
"""

from heritage.store.crypto.errors import (
    Corrupted,
    CryptoError,
    DecryptionError,
    KeyManagementError,
    MalformedWrappedKey,
    MasterKeyUnavailable,
    MissingKey,
    NotEncrypted,
    TamperedChunk,
    TamperedHeader,
    Truncated,
    UnknownFormatVersion,
    UnknownKeyManager,
    UnwrapFailed,
    WrongKey,
    WrongMasterKey,
)
from heritage.store.crypto.format import DEFAULT_CHUNK_SIZE, Header
from heritage.store.crypto.keys import (
    KEY_MANAGERS,
    KeyManager,
    LocalMasterKey,
    WrappedKey,
    key_manager_backend,
    new_data_key,
    open_key_manager,
    rewrap,
    rotate,
)
from heritage.store.crypto.stream import (
    DecryptingReader,
    EncryptingWriter,
    EncryptionResult,
    PlaintextFile,
    SizedEncryptor,
    decrypt_stream,
    encrypt_bytes,
    encrypt_stream,
    read_header,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "KEY_MANAGERS",
    "Corrupted",
    "CryptoError",
    "DecryptingReader",
    "DecryptionError",
    "EncryptingWriter",
    "EncryptionResult",
    "Header",
    "KeyManagementError",
    "KeyManager",
    "LocalMasterKey",
    "MalformedWrappedKey",
    "MasterKeyUnavailable",
    "MissingKey",
    "NotEncrypted",
    "PlaintextFile",
    "SizedEncryptor",
    "TamperedChunk",
    "TamperedHeader",
    "Truncated",
    "UnknownFormatVersion",
    "UnknownKeyManager",
    "UnwrapFailed",
    "WrappedKey",
    "WrongKey",
    "WrongMasterKey",
    "decrypt_stream",
    "encrypt_bytes",
    "encrypt_stream",
    "key_manager_backend",
    "new_data_key",
    "open_key_manager",
    "read_header",
    "rewrap",
    "rotate",
]
