"""Streaming stored files by range, decrypting only the chunks a range touches.

Encrypted files are authenticated chunk by chunk as they are read, so damaged or
tampered bytes are never handed out. Files stored as they are have no such
per-chunk proof: a whole-file read re-hashes them on the way out and fails
(cutting the response short) when the digest no longer matches the inventory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from heritage.store.crypto import DecryptingReader
from heritage.store.description import FileEntry
from heritage.store.ocfl import CorruptObject

BLOCK = 1024 * 1024


class ContentDamaged(CorruptObject):
    """The stored bytes no longer match the digest recorded for them."""


@dataclass
class OpenedFile:
    object_id: str
    path: str
    version: str
    entry: FileEntry
    stored_digest: str  # sha512 of the stored bytes (the OCFL content digest)
    _stream: BinaryIO
    _reader: DecryptingReader | None

    @property
    def size(self) -> int:
        return self.entry.size

    @property
    def media_type(self) -> str:
        return self.entry.media_type

    @property
    def sha256(self) -> str:
        return self.entry.sha256

    @property
    def encrypted(self) -> bool:
        return self._reader is not None

    def iter_range(self, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """Plaintext bytes ``[start, stop)`` in pieces of at most a chunk or 1 MiB."""
        stop = self.size if stop is None else min(stop, self.size)
        if start >= stop:
            return
        if self._reader is not None:
            yield from self._reader.iter_range(start, stop)
            return
        if start == 0 and stop == self.size:
            yield from self._verified_whole()
            return
        self._stream.seek(start)
        remaining = stop - start
        while remaining > 0:
            block = self._stream.read(min(BLOCK, remaining))
            if not block:
                raise ContentDamaged(f"{self.object_id}: {self.path} is shorter than recorded")
            remaining -= len(block)
            yield block

    def read_all(self) -> bytes:
        return b"".join(self.iter_range())

    def as_file(self) -> BinaryIO:
        """A seekable file object over the plaintext, for readers that jump about (image
        decoders). Encrypted files are decrypted chunk by chunk, in memory; files stored
        as they are are not re-hashed on the way (the fixity audit checks them)."""
        if self._reader is not None:
            return self._reader.as_file()  # type: ignore[return-value]
        self._stream.seek(0)
        return self._stream

    def _verified_whole(self) -> Iterator[bytes]:
        self._stream.seek(0)
        hasher = hashlib.sha256()
        size = 0
        while block := self._stream.read(BLOCK):
            hasher.update(block)
            size += len(block)
            if size > self.size:
                break
            yield block
        if size != self.size or hasher.hexdigest() != self.entry.sha256:
            raise ContentDamaged(
                f"{self.object_id}: {self.path} ({self.version}) does not match its recorded "
                "SHA-256; the stored file is damaged"
            )

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> OpenedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_stored_file(
    storage: Any,
    object_id: str,
    path: str,
    version: str,
    entry: FileEntry,
    stored_digest: str,
    key_lookup: Callable[[str], bytes],
) -> OpenedFile:
    stream = storage.read(object_id, path, version)
    reader = None
    try:
        if entry.key_id is None:
            stream.seek(0, 2)
            stored_size = stream.tell()
            stream.seek(0)
            if stored_size != entry.size:
                raise ContentDamaged(
                    f"{object_id}: {path} ({version}) holds {stored_size} bytes, not the "
                    f"{entry.size} recorded (damaged, replaced or swapped)"
                )
        else:
            reader = DecryptingReader(stream, key_lookup)
            if (
                entry.header_sha256 is not None
                and reader.header.digest.hex() != entry.header_sha256
            ):
                raise ContentDamaged(
                    f"{object_id}: the stored file at {path} ({version}) is not the one "
                    "recorded for that path (replaced or swapped with another file)"
                )
            if reader.geometry.plaintext_size != entry.size:
                raise ContentDamaged(
                    f"{object_id}: {path} decrypts to {reader.geometry.plaintext_size} bytes, "
                    f"not the {entry.size} recorded"
                )
    except BaseException:
        stream.close()
        raise
    return OpenedFile(object_id, path, version, entry, stored_digest, stream, reader)
