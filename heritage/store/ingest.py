"""Bringing file contents into their stored form before a commit.

A file is read once: its plaintext SHA-256 is computed, it is encrypted when
its workspace encrypts files, the stored bytes are hashed with SHA-512 (the
OCFL content digest) and written to a temporary file beside the storage root.
The commit then only links that file into the new version.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import os
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from heritage.errors import InvalidInput
from heritage.store.crypto import encrypt_bytes, encrypt_stream, read_header
from heritage.store.description import DESCRIPTION_PATH, FileEntry
from heritage.store.ocfl.hooks import StagedFile

BLOCK = 1024 * 1024
MAX_PATH_LENGTH = 1000
RESERVED_PREFIX = ".heritage/"

# Formats of the field that Python's table does not know.
_EXTRA_TYPES = {
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".ply": "application/x-ply",
    ".obj": "model/obj",
    ".stl": "model/stl",
    ".e57": "model/e57",
    ".las": "application/vnd.las",
    ".laz": "application/vnd.laszip",
    ".jp2": "image/jp2",
    ".dng": "image/x-adobe-dng",
    ".xml": "application/xml",
    ".json": "application/json",
    ".jsonld": "application/ld+json",
    ".md": "text/markdown",
}


def media_type_for(path: str) -> str:
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in _EXTRA_TYPES:
        return _EXTRA_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or "application/octet-stream"


def check_logical_path(path: str, field_name: str = "path") -> str:
    """A safe logical path: relative, ``/``-separated, NFC, no ``.``/``..`` or empty parts."""
    if not isinstance(path, str) or not path:
        raise InvalidInput.on(field_name, "a file path is required")
    path = unicodedata.normalize("NFC", path)
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidInput.on(field_name, f"longer than {MAX_PATH_LENGTH} characters")
    if path.startswith("/") or "\\" in path:
        raise InvalidInput.on(field_name, "must be a relative path with / between folders")
    if any(ord(char) < 32 or ord(char) == 127 for char in path):
        raise InvalidInput.on(field_name, "contains control characters")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidInput.on(field_name, "empty, '.' and '..' folder names are not allowed")
    if path == DESCRIPTION_PATH or path.startswith(RESERVED_PREFIX):
        raise InvalidInput.on(field_name, f"{RESERVED_PREFIX} is reserved for the system")
    return path


@dataclass(frozen=True)
class PreparedFile:
    """A file in its stored form (encrypted with ``key_id``, or as it is): on local disk
    at ``path``, or, for small files, in memory as ``data``."""

    path: Path | None
    size: int  # of the original
    sha256: str  # of the original
    stored_digests: dict[str, str] = field(default_factory=dict)
    key_id: str | None = None
    header_sha256: str | None = None  # of the HCENC header, for encrypted files
    data: bytes | None = None

    def entry(self, path: str) -> FileEntry:
        """What the object's description says of this file stored at ``path``."""
        return FileEntry(
            size=self.size,
            sha256=self.sha256,
            media_type=media_type_for(path),
            key_id=self.key_id,
            header_sha256=self.header_sha256,
        )

    def staged(self) -> StagedFile | bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return StagedFile(self.path, self.stored_digests)

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class _HashingFile:
    """A write sink that hashes what passes through on its way to a file descriptor."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.sha512 = hashlib.sha512()
        self.size = 0

    def write(self, data: memoryview | bytes) -> int:
        view = memoryview(data)
        self.sha512.update(view)
        total = len(view)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        self.size += total
        return total


class _HashingReader(io.RawIOBase):
    def __init__(self, source: BinaryIO) -> None:
        self.source = source
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        view = memoryview(buffer)
        if hasattr(self.source, "readinto"):
            count = self.source.readinto(view) or 0
        else:
            data = self.source.read(len(view))
            count = len(data)
            view[:count] = data
        if count:
            self.sha256.update(view[:count])
            self.size += count
        return count


SMALL_FILE = 4 * 1024 * 1024  # prepared in memory: metadata versions need no temporary file


def prepare_bytes(data: bytes, key: tuple[str, bytes] | None) -> PreparedFile:
    """The stored form of a small file, in memory."""
    sha256 = hashlib.sha256(data).hexdigest()
    if key is None:
        return PreparedFile(None, len(data), sha256, {}, None, data=data)
    stored = encrypt_bytes(data, key[1], key[0])
    return PreparedFile(
        None,
        len(data),
        sha256,
        {"sha512": hashlib.sha512(stored).hexdigest()},
        key[0],
        header_sha256=read_header(io.BytesIO(stored)).digest.hex(),
        data=stored,
    )


def prepare_file(
    source: bytes | BinaryIO,
    directory: Path,
    key: tuple[str, bytes] | None,
    *,
    expected_sha256: str | None = None,
) -> PreparedFile:
    """Write ``source`` in its stored form into a new file in ``directory`` (small byte
    strings stay in memory). Not fsynced: the commit makes what it links in durable."""
    if isinstance(source, bytes) and len(source) <= SMALL_FILE:
        prepared = prepare_bytes(source, key)
        if expected_sha256 is not None and prepared.sha256 != expected_sha256.lower():
            raise InvalidInput.on(
                "sha256",
                f"the file's SHA-256 is {prepared.sha256}, not the {expected_sha256} announced",
            )
        return prepared
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"prepared-{uuid.uuid4().hex}"
    stream: BinaryIO = io.BytesIO(source) if isinstance(source, bytes) else source
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        sink = _HashingFile(fd)
        reader = _HashingReader(stream)
        if key is not None:
            key_id, data_key = key
            encrypt_stream(reader, sink, data_key, key_id)
        else:
            buffer = memoryview(bytearray(BLOCK))
            while count := reader.readinto(buffer):
                sink.write(buffer[:count])
    except BaseException:
        os.close(fd)
        target.unlink(missing_ok=True)
        raise
    os.close(fd)
    sha256 = reader.sha256.hexdigest()
    if expected_sha256 is not None and sha256 != expected_sha256.lower():
        target.unlink(missing_ok=True)
        raise InvalidInput.on(
            "sha256", f"the file's SHA-256 is {sha256}, not the {expected_sha256} announced"
        )
    return PreparedFile(
        path=target,
        size=reader.size,
        sha256=sha256,
        stored_digests={"sha512": sink.sha512.hexdigest()},
        key_id=key[0] if key else None,
        header_sha256=encrypted_header_digest(target) if key else None,
    )


def encrypted_header_digest(path: Path) -> str:
    """SHA-256 (hex) of the HCENC header of an encrypted file."""
    with path.open("rb") as stream:
        return read_header(stream).digest.hex()
