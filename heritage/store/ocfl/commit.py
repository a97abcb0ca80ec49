"""Putting new objects and new versions in place (the why is in ``store.py``'s docstring).

* A new object: ``build_object`` makes its whole root in a work directory,
  every file and directory durable, and ``place_new`` renames it (or its first
  missing ancestor directory) into the hierarchy, so no empty directory ever
  appears there.
* A new version: ``build_version`` stages only what it adds, and
  ``publish_version`` moves it in, the root inventory pair last, leaving an
  intent file that ``finish_interrupted_publish`` rolls forward after a crash.
* ``swap_in`` exchanges a complete tree with a live object root in one step
  (replicas use it to install a verified copy).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from heritage.store.ocfl.fsops import (
    AtomicSwapUnsupported,
    exchange,
    fsync_path,
    make_durable,
    rename_no_replace,
    write_file,
)
from heritage.store.ocfl.hooks import VersionSigner
from heritage.store.ocfl.inventory import (
    INVENTORY_NAME,
    Inventory,
    remember_written,
    sidecar_name,
    sidecar_text,
)

OBJECT_DECLARATION = "0=ocfl_object_1.1"
OBJECT_DECLARATION_TEXT = b"ocfl_object_1.1\n"
INTENT_FILE = "intent.json"


def build_object(
    target: Path,
    inventory: Inventory,
    new_content: Mapping[str, Path | bytes],
    signer: VersionSigner | None = None,
    *,
    durable: bool = True,
) -> list[Path]:
    """Create the complete root of a new object for ``inventory`` at ``target``; the
    directories made, deepest first.

    ``new_content`` maps content paths of the first version to files already on
    disk in the same file system, which are moved, not copied, or to their bytes.
    ``signer``'s files go into ``extensions/<its name>/`` of this same tree, so the
    object and its signature become visible together or not at all. The tree is
    made durable unless ``durable`` is false: then the caller syncs it (bulk
    creation syncs many objects at once).
    """
    os.mkdir(target)
    directories = [target]
    files = [target / OBJECT_DECLARATION]
    write_file(files[0], OBJECT_DECLARATION_TEXT, fsync=False)
    version_dir = target / inventory.head
    os.mkdir(version_dir)
    directories.append(version_dir)
    files += _move_content(target, new_content, directories)
    data = inventory.to_json()
    remember_written(data, inventory)
    pair = (
        (INVENTORY_NAME, data),
        (sidecar_name(inventory.digest_algorithm), sidecar_text(data, inventory.digest_algorithm)),
    )
    for directory in (version_dir, target):
        for name, content in pair:  # the sidecar last (OCFL E062)
            write_file(directory / name, content, fsync=False)
            files.append(directory / name)
    if signer is not None:
        signed = signer.sign_version(inventory.id, inventory.head, data)
        files += _write_extension_files(target, signer.extension_name, signed, directories)
    # deepest directories first, so each parent is synced after the entries below it
    if durable:
        make_durable(files, directories[::-1], anchor=target)
    return directories[::-1]


def _move_content(
    root: Path, new_content: Mapping[str, Path | bytes], directories: list[Path]
) -> list[Path]:
    """Put each new content file at its content path below ``root`` (moved there, or
    written from its bytes); the files put there.

    Directories created on the way are added to ``directories`` (to be fsynced).
    """
    moved = []
    for content_path, source in sorted(new_content.items()):
        destination = root / content_path
        missing = []
        parent = destination.parent
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        for directory in reversed(missing):
            os.mkdir(directory)
            directories.append(directory)
        if isinstance(source, bytes):
            write_file(destination, source, fsync=False)
        else:
            os.rename(source, destination)
        moved.append(destination)
    return moved


def _plain_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and "/" not in name
        and "\\" not in name
        and "\x00" not in name
    )


def _check_signer_names(extension: str, names: Iterable[str]) -> None:
    if not _plain_name(extension):
        raise ValueError(f"extension name {extension!r} must be a plain directory name")
    bad = [name for name in names if not _plain_name(name)]
    if bad:
        raise ValueError(f"signer file names must be plain names, not {bad!r}")


def _write_extension_files(
    target: Path, extension: str, contents: Mapping[str, bytes], directories: list[Path]
) -> list[Path]:
    """Write a signer's files into ``target/extensions/<extension>/`` of a new tree."""
    _check_signer_names(extension, contents)
    written: list[Path] = []
    ext_dir = target / "extensions" / extension
    for directory in (ext_dir.parent, ext_dir):
        os.mkdir(directory)
        directories.append(directory)
    for name, content in sorted(contents.items()):
        write_file(ext_dir / name, content, fsync=False)
        written.append(ext_dir / name)
    return written


def swap_in(new_root: Path, live_root: Path, work: Path) -> None:
    """Replace ``live_root`` by ``new_root``; afterwards ``new_root`` holds the old tree.

    With RENAME_EXCHANGE there is no instant at which ``live_root`` is missing
    or partial. Without it, the fallback renames the old tree away and the new
    one in; an intent file lets recovery (and the work directory's cleanup)
    finish the second step if the process stops in between.
    """
    try:
        exchange(new_root, live_root)
    except AtomicSwapUnsupported:
        parked = work / "parked"
        intent = {"live": str(live_root), "new": str(new_root), "parked": str(parked)}
        write_file(work / INTENT_FILE, json.dumps(intent).encode("utf-8"))
        fsync_path(work)
        os.rename(live_root, parked)
        try:
            os.rename(new_root, live_root)
        except OSError:
            os.rename(parked, live_root)  # put the old version back; nothing changed
            raise
        os.rename(parked, new_root)  # the caller deletes the old tree from here either way
    fsync_path(live_root.parent)
    fsync_path(work)


def finish_interrupted_swap(work: Path) -> bool:
    """Recovery for the fallback path: put the new tree in place if the crash left none there."""
    intent_path = work / INTENT_FILE
    if not intent_path.exists():
        return False
    intent = _read_intent(intent_path)
    if intent is None:
        return False
    live, new = Path(intent["live"]), Path(intent["new"])
    if not live.exists() and (new / INVENTORY_NAME).exists():
        os.rename(new, live)
        fsync_path(live.parent)
        return True
    return False


def place_new(staged: Path, storage_root: Path, parts: list[str], *, durable: bool = True) -> None:
    """Move the staged object root ``staged/<parts...>`` into ``storage_root/<parts...>``.

    The first missing directory of the object's path is renamed into place with
    its staged subtree, so the hierarchy never holds an empty directory (E073).
    The rename is made durable unless ``durable`` is false (the caller syncs).
    Concurrent creators and purges can add or remove shared parent directories;
    the rename then fails and the loop looks again.
    """
    for _ in range(20):
        depth = 0
        while depth < len(parts) and (storage_root.joinpath(*parts[: depth + 1])).is_dir():
            depth += 1
        if depth == len(parts):
            raise FileExistsError(errno.EEXIST, "object root exists", "/".join(parts))
        source = staged.joinpath(*parts[: depth + 1])
        destination = storage_root.joinpath(*parts[: depth + 1])
        try:
            rename_no_replace(source, destination)
        except (FileExistsError, FileNotFoundError):
            continue
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                continue
            raise
        if durable:
            fsync_path(destination.parent)
        return
    raise OSError(errno.EAGAIN, "could not place the new object root", "/".join(parts))


# --- updates: a new version published in place ------------------------------------------------

PUBLISH_FILE = "publish.json"
STAGE_DIR = "stage"


def build_version(
    work: Path,
    inventory: Inventory,
    new_content: Mapping[str, Path],
    signer: VersionSigner | None = None,
) -> Path:
    """Stage everything a new version of an existing object adds, durably, in ``work/stage``.

    ``stage/<vN>/`` is the complete version directory (its content and its
    copy of the inventory with sidecar), ``stage/root/`` the new root inventory
    and sidecar, ``stage/ext/`` the signer's files. Nothing depends on how
    long the object's history is.
    """
    stage = work / STAGE_DIR
    os.mkdir(stage)
    directories = [stage]
    files: list[Path] = []
    version_dir = stage / inventory.head
    os.mkdir(version_dir)
    directories.append(version_dir)
    files += _move_content(stage, new_content, directories)
    data = inventory.to_json()
    remember_written(data, inventory)
    sidecar = sidecar_name(inventory.digest_algorithm)
    pair = ((INVENTORY_NAME, data), (sidecar, sidecar_text(data, inventory.digest_algorithm)))
    root_dir = stage / "root"
    os.mkdir(root_dir)
    directories.append(root_dir)
    for directory in (version_dir, root_dir):
        for name, content in pair:
            write_file(directory / name, content, fsync=False)
            files.append(directory / name)
    if signer is not None:
        signed = signer.sign_version(inventory.id, inventory.head, data)
        _check_signer_names(signer.extension_name, signed)
        ext_dir = stage / "ext"
        os.mkdir(ext_dir)
        directories.append(ext_dir)
        for name, content in sorted(signed.items()):
            write_file(ext_dir / name, content, fsync=False)
            files.append(ext_dir / name)
    make_durable(files, directories[::-1], anchor=stage)
    return stage


def publish_version(
    work: Path, live_root: Path, version: str, sidecar: str, extension: str | None
) -> None:
    """Make the staged version part of the live object, in an order that is safe to cut.

    1. the version directory is renamed in (the object now *holds* the version,
       but its root inventory does not name it yet: readers still see the old
       head, and recovery rolls forward from the intent file);
    2. the signer's files are renamed into ``extensions/<name>/``;
    3. the root inventory, then its sidecar, replace the old pair. Between the
       two renames readers accept the new inventory because the version
       directory's own copy and sidecar vouch for it (``store._read_inventory``).
    """
    intent = {
        "live": str(live_root),
        "version": version,
        "sidecar": sidecar,
        "extension": extension,
    }
    write_file(work / PUBLISH_FILE, json.dumps(intent).encode("utf-8"))
    fsync_path(work)
    _publish_steps(work / STAGE_DIR, live_root, version, sidecar, extension)


def _publish_steps(
    stage: Path, live: Path, version: str, sidecar: str, extension: str | None
) -> None:
    # Each step checks what is left to do, so recovery can run this again from any point.
    if (stage / version).exists():
        rename_no_replace(stage / version, live / version)
    ext_source = stage / "ext"
    if extension is not None and ext_source.is_dir():
        target = live / "extensions" / extension
        for directory in (live / "extensions", target):
            if not directory.exists():
                with contextlib.suppress(FileExistsError):
                    os.mkdir(directory)
                fsync_path(directory.parent)
        for entry in sorted(os.listdir(ext_source)):
            os.replace(ext_source / entry, target / entry)
        fsync_path(target)
    for name in (INVENTORY_NAME, sidecar):  # the sidecar last (OCFL E062)
        source = stage / "root" / name
        if source.exists():
            os.replace(source, live / name)
    fsync_path(live)


def _read_intent(path: Path) -> dict[str, Any] | None:
    """An intent file, or None when it is incomplete.

    Intents are fsynced (file and directory) before the first step they
    describe, so an incomplete one means its writer died before that step:
    nothing it planned reached the object, and there is nothing to finish.
    """
    try:
        intent = json.loads(path.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return intent if isinstance(intent, dict) else None


def finish_interrupted_publish(work: Path) -> bool:
    """Recovery: roll a cut-short publish forward, or drop it if nothing reached the object."""
    intent_path = work / PUBLISH_FILE
    if not intent_path.exists():
        return False
    intent = _read_intent(intent_path)
    if intent is None:
        return False
    live, version = Path(intent["live"]), intent["version"]
    stage = work / STAGE_DIR
    if (stage / version).exists() and not (live / version).exists():
        return False  # cut before step 1: the object never saw this version
    if not (live / version).exists():
        return False  # nothing of ours to finish (purged meanwhile)
    _publish_steps(stage, live, version, intent["sidecar"], intent["extension"])
    return True
