"""Copying the OCFL storage root into a backup, and back into a fresh instance.

Objects are read through the storage root's raw access (``object_ids``,
``object_files``, ``open_stored``), the same way verification reads them, so
nothing here depends on how the root keeps its files. Those reads are not one
snapshot: a commit may swap the object's tree between two of them. Every
object copied is therefore checked before it is accepted (the root inventory
matches its sidecar and the head version's inventory, the version directories
are exactly the inventory's versions, every content file is there and, with
SHA-512 inventories, has its digest) and copied again if it changed meanwhile.

The files of the root itself (declaration, layout, extension configuration)
are read from the directory of a local root, leaving out the transient parts
of the staging extension (work directories, lock files); a root elsewhere (S3)
has the same standard files for its layout, made afresh. A backup always
restores as a local storage root.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heritage.backup.files import BLOCK, BackupError, BackupWriter, fsync_directory
from heritage.store.ocfl.errors import InventoryError, ObjectNotFound, PathNotFound
from heritage.store.ocfl.inventory import INVENTORY_NAME, parse_inventory, parse_sidecar
from heritage.store.ocfl.store import STAGING_EXTENSION, WORK_PREFIX, StorageRoot

ATTEMPTS = 5
_VERSION_DIR = re.compile(r"^(v\d+)/")


@dataclass
class StorageCopy:
    objects: int = 0
    files: int = 0
    bytes: int = 0
    layout: str = ""
    warnings: list[str] = field(default_factory=list)


def _transient(relative: str) -> bool:
    """Files of a commit in progress, and lock files: never part of a backup."""
    prefix = f"extensions/{STAGING_EXTENSION}/"
    if not relative.startswith(prefix):
        return False
    rest = relative[len(prefix) :]
    return rest.startswith((WORK_PREFIX, "locks/")) or rest == "locks"


def _is_object_root(names: list[str]) -> bool:
    return any(name.startswith("0=ocfl_object_") for name in names)


def root_files(root: Path) -> Iterator[str]:
    """Files of the storage root that belong to no object (relative, with ``/``)."""
    for directory, dirs, files in os.walk(root):
        base = Path(directory).relative_to(root)
        if directory != str(root) and _is_object_root(files):
            dirs[:] = []
            continue
        dirs[:] = [d for d in sorted(dirs) if not _transient((base / d).as_posix())]
        for name in sorted(files):
            relative = (base / name).as_posix()
            if not _transient(relative):
                yield relative


def _copy_root_files(storage: Any, writer: BackupWriter, prefix: str, summary: StorageCopy) -> None:
    path = getattr(storage, "path", None)
    if isinstance(path, Path):
        sources = [(relative, path / relative) for relative in root_files(path)]
        _copy_files(sources, writer, prefix, summary)
        return
    # A root elsewhere (S3) has the same few files of its own as a local root with its
    # layout: they are made here the way StorageRoot.initialize makes them.
    with tempfile.TemporaryDirectory() as scratch:
        layout = storage.layout
        local = StorageRoot(Path(scratch) / "root", layout.name, layout.config()).initialize()
        sources = [(relative, local.path / relative) for relative in root_files(local.path)]
        _copy_files(sources, writer, prefix, summary)


def _copy_files(
    sources: list[tuple[str, Path]], writer: BackupWriter, prefix: str, summary: StorageCopy
) -> None:
    for relative, source in sources:
        with writer.create(f"{prefix}/{relative}") as out, open(source, "rb") as stream:
            out.copy_from(stream)
        summary.files += 1
        summary.bytes += writer.sizes[f"{prefix}/{relative}"]


def copy_storage_root(
    storage: Any,
    writer: BackupWriter,
    prefix: str,
    progress: Callable[[str], None] | None = None,
) -> StorageCopy:
    """Copy every object and the root's own files into ``writer`` below ``prefix``."""
    summary = StorageCopy(layout=storage.layout.name)
    _copy_root_files(storage, writer, prefix, summary)
    for object_id in storage.object_ids():
        target = f"{prefix}/{storage.layout.object_path(object_id)}"
        copied = _copy_object(storage, object_id, writer, target, summary.warnings)
        if copied is None:
            continue  # purged while the backup ran
        summary.objects += 1
        summary.files += copied[0]
        summary.bytes += copied[1]
        if progress is not None:
            progress(object_id)
    return summary


def _copy_object(
    storage: Any, object_id: str, writer: BackupWriter, target: str, warnings: list[str]
) -> tuple[int, int] | None:
    for _ in range(ATTEMPTS):
        try:
            files = storage.object_files(object_id)
        except ObjectNotFound:
            return None
        kept: dict[str, bytes] = {}
        digests: dict[str, str] = {}
        size = 0
        try:
            # content first, the root inventory and sidecar last: a commit in between
            # shows as a head version missing from the listing, and the copy is redone
            for relative in sorted(files, key=lambda name: "/" not in name):
                with (
                    closing(storage.open_stored(object_id, relative)) as stream,
                    writer.create(f"{target}/{relative}") as out,
                ):
                    hasher = hashlib.sha512()
                    small = relative.endswith((INVENTORY_NAME, ".sha512", ".sha256"))
                    buffer = bytearray()
                    while block := stream.read(BLOCK):
                        out.write(block)
                        hasher.update(block)
                        if small:
                            buffer += block
                    if small:
                        kept[relative] = bytes(buffer)
                    digests[relative] = hasher.hexdigest()
                    size += out.size
        except (ObjectNotFound, PathNotFound, FileNotFoundError):
            writer.remove_tree(target)
            continue  # swapped out and deleted under us: read the new tree
        found: list[str] = []
        problem = _consistency_problem(files, kept, digests, found, object_id)
        if problem is None:
            warnings.extend(found)  # only those of the copy that is kept
            return len(files), size
        writer.remove_tree(target)
    raise BackupError(f"object {object_id} kept changing or is damaged: {problem}")


def _consistency_problem(
    files: list[str],
    kept: dict[str, bytes],
    digests: dict[str, str],
    warnings: list[str],
    object_id: str,
) -> str | None:
    root_inventory = kept.get(INVENTORY_NAME)
    if root_inventory is None:
        return "no root inventory"
    try:
        inventory = parse_inventory(root_inventory)
    except InventoryError as error:
        return f"root inventory unreadable: {error}"
    algorithm = inventory.digest_algorithm
    sidecar = kept.get(f"{INVENTORY_NAME}.{algorithm}")
    if sidecar is None:
        return "no inventory sidecar"
    expected = hashlib.new(algorithm, root_inventory).hexdigest()
    if parse_sidecar(sidecar) != expected:
        return "the root inventory does not match its sidecar"
    if kept.get(f"{inventory.head}/{INVENTORY_NAME}") != root_inventory:
        return "the head version's inventory is not the root inventory"
    versions = {m.group(1) for name in files if (m := _VERSION_DIR.match(name))}
    if versions != set(inventory.versions):
        return "the version directories are not the inventory's versions"
    listed = set(files)
    for digest, paths in inventory.manifest.items():
        for path in paths:
            if path not in listed:
                return f"content file {path} is missing"
            if algorithm == "sha512" and digests.get(path) != digest.lower():
                # the backup keeps what is there; fixity repair is another tool's job
                warnings.append(f"{object_id}: {path} does not match its inventory digest")
    return None


# --- restoring ------------------------------------------------------------------------------


def storage_root_is_empty(path: Path) -> bool:
    """No objects, no commit in progress: absent, an empty directory, or a bare root."""
    if not path.exists():
        return True
    if not path.is_dir():
        return False
    for directory, _, files in os.walk(path):
        relative = Path(directory).relative_to(path).as_posix()
        if _is_object_root(files):
            return False
        staging = f"extensions/{STAGING_EXTENSION}"
        if relative == staging and any(
            entry.name.startswith(WORK_PREFIX) for entry in os.scandir(directory)
        ):
            return False
    return True


class StagedRoot:
    """A storage root restored next to its final place, waiting to be put there."""

    def __init__(self, building: Path, target: Path) -> None:
        self.building = building
        self.target = target

    def put_in_place(self) -> None:
        target = self.target
        if target.exists() and any(target.iterdir()):
            # a bare root of a fresh instance (checked empty before): set aside, then removed
            aside = target.with_name(f".{target.name}.replaced-{secrets.token_hex(6)}")
            os.rename(target, aside)
            os.rename(self.building, target)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.rename(self.building, target)  # over an empty directory, or to a new name
        fsync_directory(target.parent)

    def discard(self) -> None:
        shutil.rmtree(self.building, ignore_errors=True)


def restore_storage_root(
    source: Path, manifest: dict[str, str], prefix: str, target: Path
) -> StagedRoot:
    """Copy the backup's storage root next to ``target``, checking every digest again.

    It is put in place (:meth:`StagedRoot.put_in_place`) only once the database
    is loaded, so a failed load leaves the instance as it was.
    """
    target = target.absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.with_name(f".{target.name}.restore-{secrets.token_hex(6)}")
    building.mkdir(mode=0o755)
    staged = StagedRoot(building, target)
    try:
        directories = {building}
        for relative, digest in sorted(manifest.items()):
            if not relative.startswith(prefix + "/"):
                continue
            path = building / relative[len(prefix) + 1 :]
            if not path.parent.exists():
                path.parent.mkdir(parents=True)
                directories.update(p for p in path.parents if building in p.parents)
            if _copy_checked(source / relative, path) != digest:
                raise BackupError(f"{relative} changed while it was being restored")
        for directory in sorted(directories, key=lambda p: -len(p.parts)):
            fsync_directory(directory)
    except BaseException:
        staged.discard()
        raise
    return staged


def _copy_checked(source: Path, target: Path) -> str:
    hasher = hashlib.sha512()
    with open(source, "rb") as stream, open(target, "xb") as out:
        while block := stream.read(BLOCK):
            hasher.update(block)
            out.write(block)
        out.flush()
        os.fsync(out.fileno())
    return hasher.hexdigest()
