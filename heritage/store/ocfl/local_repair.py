"""Repair and replication on a local storage root: one file restored, or a whole tree installed.

Both run under the object's lock, in a work directory of the storage root, as
commits do (``store.py``'s module docstring), so crash recovery and mutual
exclusion work the same way:

* ``restore_stored`` writes the new bytes into the work directory and fsyncs
  them, then renames them over the damaged file, or into place where the file
  is missing (only a path the object names: ``restoring.py``), creating and
  fsyncing any missing directories on the way. Readers see the old file or the
  new one, never a partial one.
* ``replace_tree`` builds the object's next tree in the work directory (the
  files of the given tree hard-linked in, or copied when it lies on another
  file system, plus the files of the current tree named in ``keep``), makes it
  durable with one ``syncfs``, and swaps it in as one step (``commit.swap_in``;
  ``commit.place_new`` for an object the root does not hold yet).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from heritage.store.ocfl.commit import place_new, swap_in
from heritage.store.ocfl.digests import copy_and_hash
from heritage.store.ocfl.errors import (
    CorruptObject,
    InventoryError,
    ObjectExists,
    ObjectNotFound,
    OcflError,
    PathNotFound,
)
from heritage.store.ocfl.fsops import fsync_path, make_durable
from heritage.store.ocfl.inventory import INVENTORY_NAME, Inventory, parse_inventory, version_number
from heritage.store.ocfl.restoring import (
    VERSION_DIR,
    StaleTree,
    check_created,
    check_stored_path,
    creation_refused,
    is_metadata,
    tree_inventory,
)


class LocalRepairs:
    """``restore_stored``, ``replace_tree`` and ``scratch_directory`` of ``StorageRoot``."""

    path: Path

    @contextmanager
    def scratch_directory(self) -> Iterator[Path]:
        """An empty directory on the storage root's file system, deleted afterwards.

        A tree staged here for :meth:`replace_tree` is hard-linked into place,
        not copied; a crash leaves it for the next ``open()`` to delete.
        """
        with self._work_dir() as work:  # type: ignore[attr-defined]
            yield work

    def restore_stored(self, object_id: str, relative_path: str, stream: BinaryIO) -> None:
        """Rewrite one stored file byte for byte, or recreate a missing one the object names.

        For repair from a verified replica: the bytes are not checked here
        (the caller verified them), except that a recreated inventory or
        sidecar must be one. Raises PathNotFound for a missing file the object
        does not name (``restoring.creation_refused``), ObjectNotFound when
        there is no such object.
        """
        check_stored_path(relative_path)
        with self._work_dir() as work:  # type: ignore[attr-defined]
            replacement = work / "restored"
            copy_and_hash(stream, replacement, (), fsync=True)
            with self._object_lock(object_id):  # type: ignore[attr-defined]
                live: Path = self.object_root(object_id)  # type: ignore[attr-defined]
                if not live.is_dir():
                    raise ObjectNotFound(f"no object {object_id!r}")
                _refuse_links(live, relative_path)
                target = live / relative_path
                if target.is_file() and not target.is_symlink():
                    os.chmod(replacement, target.stat().st_mode & 0o777)
                    os.rename(replacement, target)
                    fsync_path(target.parent)
                    return
                if target.exists() or target.is_symlink():
                    raise PathNotFound(f"{object_id}: {relative_path} is not a regular file")
                inventory = self._trusted_inventory(object_id)
                versions = [name for name in os.listdir(live) if VERSION_DIR.match(name)]
                refused = creation_refused(relative_path, inventory, versions)
                if refused is not None:
                    raise PathNotFound(f"{object_id} has no file {relative_path!r} ({refused})")
                if is_metadata(relative_path):
                    check_created(object_id, relative_path, replacement.read_bytes())
                created = _make_dirs(target.parent, live)
                os.rename(replacement, target)
                for directory in [target.parent, *(path.parent for path in reversed(created))]:
                    fsync_path(directory)

    def _trusted_inventory(self, object_id: str) -> Inventory | None:
        try:
            inventory: Inventory = self.inventory(object_id)  # type: ignore[attr-defined]
        except (OcflError, OSError, ValueError):
            return None
        return inventory

    def replace_tree(self, object_id: str, local_dir: Path, *, keep: Iterable[str] = ()) -> None:
        """Install a complete, verified object tree in one step (replication).

        ``local_dir`` holds the tree's new or changed files, its root
        inventory and sidecar among them; ``keep`` names the files of the
        current tree to carry over unchanged. Together they are the whole
        object: whatever else the current tree holds is dropped. Raises
        StaleTree when the root already holds a later version, PathNotFound
        when a file to keep is gone (the object changed meanwhile).
        """
        inventory, files = tree_inventory(object_id, Path(local_dir))
        kept = sorted(set(keep))
        for relative in kept:
            check_stored_path(relative)
        if set(kept) & {relative for relative, _ in files}:
            raise ValueError("a file cannot be both kept and replaced")
        parts = self.layout.object_path(object_id).split("/")  # type: ignore[attr-defined]
        with self._work_dir() as work, self._object_lock(object_id):  # type: ignore[attr-defined]
            live: Path = self.object_root(object_id)  # type: ignore[attr-defined]
            present = live.is_dir()
            current = _head_of(live) if present else None
            if current is not None and version_number(current) > version_number(inventory.head):
                raise StaleTree(f"{object_id}: the storage root holds {current} already")
            staged = work / "new"
            parents = [] if present else _stage_parents(staged, parts)
            target = staged if present else staged.joinpath(*parts)
            os.mkdir(target)
            directories = [target]
            written: list[Path] = []
            for relative in kept:
                if not present:
                    raise PathNotFound(f"{object_id}: no object to keep {relative} from")
                _refuse_links(live, relative)
                if not _is_regular(live / relative):
                    raise PathNotFound(f"{object_id}: {relative} is gone (changed meanwhile)")
                destination = target / relative
                directories += _make_dirs(destination.parent, target)
                os.link(live / relative, destination)
            for relative, file in files:
                destination = target / relative
                directories += _make_dirs(destination.parent, target)
                _link_or_copy(file, destination)
                written.append(destination)
            make_durable(written, directories[::-1] + parents, anchor=staged)
            if present:
                swap_in(target, live, work)
                return
            try:
                place_new(staged, self.path, parts)
            except FileExistsError:
                raise ObjectExists(f"object {object_id!r} appeared meanwhile") from None


def _head_of(live: Path) -> str | None:
    try:
        return parse_inventory((live / INVENTORY_NAME).read_bytes()).head
    except (OSError, InventoryError):
        return None  # a damaged copy: replaced whole


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _refuse_links(live: Path, relative_path: str) -> None:
    """No directory on the way to a stored file may be a symbolic link (OCFL E090)."""
    directory = live
    for part in relative_path.split("/")[:-1]:
        directory = directory / part
        try:
            mode = os.lstat(directory).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISLNK(mode):
            raise CorruptObject(f"{directory} is a symbolic link (OCFL E090)")


def _make_dirs(directory: Path, top: Path) -> list[Path]:
    """Create ``directory`` and its missing parents below ``top``; the new ones, top down."""
    missing = []
    while directory != top and not directory.is_dir():
        missing.append(directory)
        directory = directory.parent
    missing.reverse()
    for path in missing:
        path.mkdir()
    return missing


def _stage_parents(staged: Path, parts: list[str]) -> list[Path]:
    """Staged copies of a new object root's parent directories, deepest first."""
    staged.joinpath(*parts[:-1]).mkdir(parents=True)
    return [staged.joinpath(*parts[:depth]) for depth in range(len(parts) - 1, -1, -1)]


def _link_or_copy(source: Path, destination: Path) -> None:
    try:
        os.link(source, destination)
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        with open(source, "rb") as stream:
            copy_and_hash(stream, destination, ())
