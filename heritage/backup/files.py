"""Writing a backup directory atomically, with a manifest of SHA-512 digests, and checking one.

A backup is built in a hidden sibling of its destination,
``.<name>.partial-<random>``, each file fsynced as it is closed; only when
everything is written does the manifest go in and the directory get renamed to
its final name. An interrupted backup therefore never looks complete: the
destination either does not exist or holds a whole backup.

The manifest, ``manifest-sha512.txt``, lists every other file as
``<sha512 hex>  <path relative to the backup>`` (BagIt's manifest format), so
``sha512sum -c manifest-sha512.txt`` checks a backup from a shell too.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from heritage.store.crypto.keyfiles import fsync_directory

MANIFEST_NAME = "manifest-sha512.txt"
BLOCK = 1 << 20
_LINE = re.compile(r"^([0-9a-f]{128})  (.+)$")


class BackupError(Exception):
    """A backup cannot be taken or restored; the message says why."""


class BackupDamaged(BackupError):
    """Files of a backup are missing, extra or changed: nothing is restored from it."""

    def __init__(self, location: Path, problems: list[str]) -> None:
        shown = "; ".join(problems[:10])
        if len(problems) > 10:
            shown += f"; and {len(problems) - 10} more"
        super().__init__(f"backup {location} is damaged, nothing was restored: {shown}")
        self.problems = problems


def safe_relative(path: str) -> bool:
    """A plain relative path with ``/``: no absolute paths, no ``..``, no empty parts."""
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and all(p not in ("", ".", "..") for p in parts)


class HashingWriter:
    """A new file being written; hashes with SHA-512 as it goes and fsyncs on close."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "xb")  # noqa: SIM115 - closed by close()
        self._hash = hashlib.sha512()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        return self._file.write(data)

    def copy_from(self, stream: BinaryIO) -> None:
        while block := stream.read(BLOCK):
            self.write(block)

    def close(self) -> str:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return self._hash.hexdigest()


@dataclass
class BackupWriter:
    """Builds a backup beside ``dest``; :meth:`publish` makes it appear there whole."""

    dest: Path
    digests: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dest = self.dest.expanduser().absolute()
        if self.dest.exists() and (not self.dest.is_dir() or any(self.dest.iterdir())):
            raise BackupError(f"{self.dest} already exists; a backup goes to a new directory")
        if not self.dest.parent.is_dir():
            raise BackupError(f"{self.dest.parent} does not exist")
        self.work = self.dest.parent / f".{self.dest.name}.partial-{secrets.token_hex(6)}"
        self.work.mkdir(mode=0o700)

    @contextmanager
    def create(self, relative: str) -> Iterator[HashingWriter]:
        if not safe_relative(relative) or relative == MANIFEST_NAME:
            raise ValueError(f"not a path for a backup file: {relative!r}")
        writer = HashingWriter(self.work / relative)
        try:
            yield writer
        finally:
            self.digests[relative] = writer.close()
            self.sizes[relative] = writer.size

    def add_bytes(self, relative: str, data: bytes) -> None:
        with self.create(relative) as out:
            out.write(data)

    def remove_tree(self, relative: str) -> None:
        """Forget a part written so far (an object copied while it changed)."""
        prefix = relative.rstrip("/") + "/"
        for name in [n for n in self.digests if n.startswith(prefix)]:
            del self.digests[name], self.sizes[name]
        shutil.rmtree(self.work / relative, ignore_errors=True)

    def publish(self) -> Path:
        """Write the manifest, make everything durable, and rename into place."""
        lines = "".join(f"{self.digests[name]}  {name}\n" for name in sorted(self.digests))
        manifest = HashingWriter(self.work / MANIFEST_NAME)
        manifest.write(lines.encode("utf-8"))
        manifest.close()
        for directory, _, _ in sorted(os.walk(self.work), key=lambda e: -len(e[0])):
            fsync_directory(Path(directory))
        # replaces an empty destination directory in one step; never a full one
        os.rename(self.work, self.dest)
        fsync_directory(self.dest.parent)
        return self.dest

    def discard(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def read_manifest(location: Path) -> dict[str, str]:
    """Path -> digest from a backup's manifest; :class:`BackupDamaged` when it is unreadable."""
    try:
        text = (location / MANIFEST_NAME).read_text("utf-8")
    except FileNotFoundError:
        problem = f"{MANIFEST_NAME} is missing (an unfinished backup?)"
        raise BackupDamaged(location, [problem]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise BackupDamaged(location, [f"{MANIFEST_NAME} cannot be read: {error}"]) from None
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _LINE.match(line)
        if match is None or not safe_relative(match.group(2)):
            raise BackupDamaged(location, [f"{MANIFEST_NAME} line {number} is malformed"])
        entries[match.group(2)] = match.group(1)
    return entries


def list_files(location: Path) -> tuple[list[str], list[str]]:
    """Every file below ``location`` (relative, with ``/``), and what is neither file nor dir."""
    files: list[str] = []
    odd: list[str] = []
    for directory, dirs, names in os.walk(location):
        base = Path(directory).relative_to(location)
        for name in dirs + names:
            path = Path(directory) / name
            relative = (base / name).as_posix()
            if path.is_symlink():
                odd.append(f"{relative} is a symbolic link")
            elif name in names:
                if path.is_file():
                    files.append(relative)
                else:
                    odd.append(f"{relative} is not a regular file")
    return sorted(files), odd


def file_digest(path: Path) -> str:
    digest = hashlib.sha512()
    with path.open("rb") as stream:
        while block := stream.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def verify_backup(location: Path) -> dict[str, str]:
    """Check every file of a backup against its manifest; the manifest when all is well.

    Nothing is trusted before this passes: a missing, extra or changed file,
    or a link, makes the whole backup unusable (:class:`BackupDamaged`).
    """
    if not location.is_dir():
        raise BackupError(f"{location} is not a backup directory")
    manifest = read_manifest(location)
    files, problems = list_files(location)
    present = set(files) - {MANIFEST_NAME}
    problems += [f"{name} is missing" for name in sorted(set(manifest) - present)]
    problems += [f"{name} is not in the manifest" for name in sorted(present - set(manifest))]
    for name in sorted(present & set(manifest)):
        if file_digest(location / name) != manifest[name]:
            problems.append(f"{name} does not match its SHA-512 digest")
    if problems:
        raise BackupDamaged(location, problems)
    return manifest
