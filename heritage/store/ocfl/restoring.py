"""What both storage roots need for repair and replication: which files may be recreated.

``restore_stored`` (local disk: ``local_repair.py``; S3: ``s3_repair.py``)
rewrites one stored file byte for byte with bytes the caller has verified. A
file that exists may always be rewritten. A missing one is created only when
the object itself names it, never at an arbitrary path:

* a content path in the manifest of the object's current root inventory (one
  that matches its sidecar, or that the head version's copy vouches for);
* the object's conformance declaration ``0=ocfl_object_1.1``;
* the root inventory or its sidecar, when the object holds a version;
* a version's ``inventory.json``, its sidecar, or its signature
  ``extensions/<name>/vN.sig.json``, for a version the object holds (its
  directory exists, or the root inventory names it).

A recreated inventory must parse, carry the object's id and, inside a version
directory, name that version as its head; a recreated sidecar must hold a
digest. Anything else is refused with :class:`PathNotFound`.

``replace_tree`` installs a whole object tree built on local disk (a replica
brought up to date): ``tree_files`` lists it, refusing symbolic links.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from heritage.store.ocfl.commit import OBJECT_DECLARATION
from heritage.store.ocfl.digests import CONTENT_ALGORITHMS
from heritage.store.ocfl.errors import CorruptObject, InventoryError, OcflError
from heritage.store.ocfl.inventory import (
    CONTENT_PATH_CODES,
    INVENTORY_NAME,
    Inventory,
    parse_inventory,
    parse_sidecar,
    path_problem,
)

_SIDECARS = "|".join(re.escape(f"{INVENTORY_NAME}.{name}") for name in CONTENT_ALGORITHMS)
_ROOT_METADATA = re.compile(rf"^(?:{re.escape(INVENTORY_NAME)}|{_SIDECARS})$")
_VERSION_METADATA = re.compile(rf"^(v\d+)/(?:{re.escape(INVENTORY_NAME)}|{_SIDECARS})$")
_SIGNATURE = re.compile(r"^extensions/[^/]+/(v\d+)\.sig\.json$")
VERSION_DIR = re.compile(r"^v\d+$")


class StaleTree(OcflError):
    """The storage root already holds a later version of the object than the tree offered."""


def check_stored_path(relative_path: str) -> None:
    """Refuse absolute paths and ``..``: raw access never leaves the object root."""
    problem = path_problem(relative_path, CONTENT_PATH_CODES)
    if problem is not None:
        raise ValueError(f"stored path {relative_path!r} {problem[1]}")


def is_metadata(relative_path: str) -> bool:
    """An inventory, a sidecar, a signature or the declaration (small files, checked whole)."""
    return bool(
        relative_path == OBJECT_DECLARATION
        or _ROOT_METADATA.match(relative_path)
        or _VERSION_METADATA.match(relative_path)
        or _SIGNATURE.match(relative_path)
    )


def creation_refused(
    relative_path: str, inventory: Inventory | None, versions: Iterable[str]
) -> str | None:
    """Why a missing ``relative_path`` may not be created; None when the object names it.

    ``inventory`` is the object's current root inventory (None when it cannot
    be trusted or read), ``versions`` the version directories the object holds.
    """
    held = set(versions) | (set(inventory.versions) if inventory is not None else set())
    if inventory is not None and any(
        relative_path in paths for paths in inventory.manifest.values()
    ):
        return None
    if relative_path == OBJECT_DECLARATION or _ROOT_METADATA.match(relative_path):
        return None if held else "the object holds no version"
    match = _VERSION_METADATA.match(relative_path) or _SIGNATURE.match(relative_path)
    if match:
        if match.group(1) in held:
            return None
        return f"the object holds no version {match.group(1)}"
    if inventory is None:
        return "the object's inventory cannot be trusted, so no content path can be recreated"
    return "the object's manifest does not name it"


def check_created(object_id: str, relative_path: str, data: bytes) -> None:
    """A recreated inventory or sidecar must be one (CorruptObject otherwise)."""
    if relative_path.endswith(INVENTORY_NAME):
        try:
            inventory = parse_inventory(data)
        except InventoryError as error:
            message = f"{object_id}: {relative_path} is not an inventory: {error}"
            raise CorruptObject(message) from None
        if inventory.id != object_id:
            raise CorruptObject(f"{object_id}: {relative_path} is {inventory.id!r}'s inventory")
        version = relative_path.partition("/")[0] if "/" in relative_path else None
        if version is not None and inventory.head != version:
            raise CorruptObject(f"{object_id}: {relative_path} names {inventory.head} as its head")
    elif _ROOT_METADATA.match(relative_path) or _VERSION_METADATA.match(relative_path):
        try:
            parse_sidecar(data)
        except InventoryError as error:
            raise CorruptObject(f"{object_id}: {relative_path} is not a sidecar: {error}") from None


def tree_files(source: Path) -> Iterator[tuple[str, Path]]:
    """(relative path with '/', file) for every file below ``source``; refuses symbolic links."""
    for path in sorted(source.rglob("*")):
        if path.is_symlink():
            raise CorruptObject(f"{path} is a symbolic link (OCFL E090)")
        if path.is_file():
            yield path.relative_to(source).as_posix(), path


def tree_inventory(object_id: str, source: Path) -> tuple[Inventory, list[tuple[str, Path]]]:
    """The root inventory of a tree to install, and its files (checked: the object's id)."""
    try:
        data = (source / INVENTORY_NAME).read_bytes()
        inventory = parse_inventory(data)
    except (OSError, InventoryError) as error:
        raise CorruptObject(f"{source}: no valid {INVENTORY_NAME} ({error})") from None
    if inventory.id != object_id:
        raise CorruptObject(f"{source} holds {inventory.id!r}, not {object_id!r}")
    return inventory, list(tree_files(source))
