"""Where derivatives live: ``DATA_DIR/derivatives/<identifier>/<master digest>/``.

Derivatives are caches, regenerable from the master at any time, so they stay out of
the preservation store (no OCFL versions, no replication, no fixity audits) and a
directory per master digest lets a new master's derivatives be written beside the old
ones before the old ones go.

Workspaces that encrypt their files get their derivatives encrypted too, with the
workspace's data key in the store's chunked format (small chunks: a tile read decrypts
only the few chunks it touches), and no tile cache on disk: what a request renders is
kept only in memory.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from heritage.store.crypto import DecryptingReader, encrypt_bytes

ACCESS_COPY = "access.tif"
CHUNK_SIZE = 64 * 1024


def thumbnail_name(width: int) -> str:
    return f"thumbnail-{width}.jpg"


class DerivativeFiles:
    """The derivative files of one master of one image."""

    def __init__(
        self,
        root: Path,
        identifier: str,
        master_sha256: str,
        *,
        key: tuple[str, bytes] | None = None,
        key_lookup: Callable[[str], bytes] | None = None,
    ) -> None:
        self.base = root / identifier
        self.directory = self.base / master_sha256[:32]
        self.key = key
        self.key_lookup = key_lookup

    @property
    def encrypted(self) -> bool:
        return self.key is not None or self.key_lookup is not None

    def path(self, name: str) -> Path:
        return self.directory / name

    def write(self, name: str, data: bytes) -> None:
        """Write ``name`` whole or not at all (a crash leaves no half file)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.key is not None:
            key_id, key = self.key
            data = encrypt_bytes(data, key, key_id, CHUNK_SIZE)
        partial = self.directory / f".{name}.{uuid.uuid4().hex}.part"
        with open(partial, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, self.path(name))

    def open(self, name: str) -> BinaryIO:
        """A seekable file object over the plaintext of ``name``."""
        raw = open(self.path(name), "rb")  # noqa: SIM115 - handed to the caller
        if self.key_lookup is None:
            return raw
        try:
            return DecryptingReader(raw, self.key_lookup).as_file()  # type: ignore[return-value]
        except BaseException:
            raw.close()
            raise

    def read(self, name: str) -> bytes:
        with self.open(name) as stream:
            return stream.read()

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def remove_others(self) -> None:
        """Delete the derivatives of earlier masters of this image."""
        if not self.base.is_dir():
            return
        for other in self.base.iterdir():
            if other != self.directory:
                shutil.rmtree(other, ignore_errors=True)

    def remove_all(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)

    # -- the tile cache (plaintext workspaces only) ---------------------------------------------

    def cached(self, key: str) -> bytes | None:
        if self.encrypted:
            return None
        try:
            return (self.directory / "cache" / key).read_bytes()
        except OSError:
            return None

    def cache(self, key: str, data: bytes) -> None:
        if self.encrypted:
            return
        folder = self.directory / "cache"
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{key}.{uuid.uuid4().hex}.part"
        partial.write_bytes(data)
        os.replace(partial, folder / key)
