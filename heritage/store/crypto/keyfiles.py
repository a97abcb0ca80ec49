"""Writing key files: mode 0600 from the first byte, never seen half-written, durable.

Master keys, the signing key, retired keys and restored keys all go through
here, so they share one careful way of reaching the disk.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Make new names in ``directory`` survive a power cut."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_key_file(path: Path, data: bytes, *, replace: bool = False) -> bool:
    """Write ``data`` to ``path`` with mode 0600 (its directory 0700 if made here).

    The bytes go to a temporary file first, fsynced, then take the name: with
    ``replace`` by ``rename`` over any file there, otherwise by ``link``, which
    keeps a file already there (two processes creating a key at once end up
    with one). True when ``path`` now holds ``data`` from this call.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    written = True
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                written = False
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    fsync_directory(path.parent)
    return written
