"""One object's state in an S3 storage root: which inventory to trust, and settling it.

``load_head`` is what every reader runs: the root inventory when its sidecar
matches, else the newest version inventory that matches its own sidecar (a
writer is between its two root writes, or died there). ``settle`` is what a
writer holding the object's claim runs after a dead writer (``s3.py``'s module
docstring has the whole protocol).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from heritage.store.ocfl.digests import digest_bytes
from heritage.store.ocfl.errors import CorruptObject, InventoryError
from heritage.store.ocfl.inventory import (
    INVENTORY_NAME,
    Inventory,
    parse_inventory,
    parse_sidecar,
    sidecar_name,
    version_number,
)
from heritage.store.ocfl.s3_io import Bucket, KeyMissing, ObjectLocked, PreconditionFailed

log = structlog.get_logger(__name__)

VERSION_DIR = re.compile(r"^v(\d+)$")


@dataclass(frozen=True)
class Head:
    """An object's current inventory, its exact bytes and how far the root can be trusted."""

    inventory: Inventory
    data: bytes
    sidecar: bytes
    root_etag: str  # ETag of the root inventory.json, for the compare-and-swap
    trusted: bool  # False: the root did not match its sidecar, this is the newest version's


def _matches(data: bytes, sidecar: bytes | None, algorithm: str) -> bool:
    return sidecar is not None and parse_sidecar(sidecar) == digest_bytes(data, algorithm)


def load_head(bucket: Bucket, root: str, object_id: str) -> Head | None:
    """The object's head; None when there is no root inventory (no object)."""
    stored = bucket.get(f"{root}/{INVENTORY_NAME}")
    if stored is None:
        return None
    try:
        inventory = parse_inventory(stored.data)
        sidecar = bucket.get(f"{root}/{sidecar_name(inventory.digest_algorithm)}")
        sidecar_data = sidecar.data if sidecar is not None else None
        if sidecar_data is not None and _matches(
            stored.data, sidecar_data, inventory.digest_algorithm
        ):
            if inventory.id != object_id:
                raise CorruptObject(f"{root}/{INVENTORY_NAME} holds id {inventory.id!r}")
            return Head(inventory, stored.data, sidecar_data, stored.etag, trusted=True)
    except InventoryError:
        pass  # no more to be trusted than a root whose sidecar does not match
    found = newest_complete(bucket, root, object_id)
    if found is None:
        raise CorruptObject(
            f"{object_id}: {root}/{INVENTORY_NAME} does not match its sidecar (OCFL E060)"
            " and no version directory holds a complete inventory"
        )
    inventory, data, sidecar_data = found
    return Head(inventory, data, sidecar_data, stored.etag, trusted=False)


def version_dirs(bucket: Bucket, root: str) -> list[tuple[int, str]]:
    """(number, name) of the version directories under an object root, newest first."""
    _, prefixes = bucket.children(root + "/")
    found = []
    for prefix in prefixes:
        name = prefix[len(root) + 1 : -1]
        match = VERSION_DIR.match(name)
        if match:
            found.append((int(match.group(1)), name))
    return sorted(found, reverse=True)


def newest_complete(
    bucket: Bucket, root: str, object_id: str
) -> tuple[Inventory, bytes, bytes] | None:
    """The newest version inventory that matches its sidecar and names that version."""
    for _, name in version_dirs(bucket, root):
        stored = bucket.get(f"{root}/{name}/{INVENTORY_NAME}")
        if stored is None:
            continue
        try:
            inventory = parse_inventory(stored.data)
            sidecar = bucket.get(f"{root}/{name}/{sidecar_name(inventory.digest_algorithm)}")
            if sidecar is None or not _matches(
                stored.data, sidecar.data, inventory.digest_algorithm
            ):
                continue
        except InventoryError:
            continue
        if inventory.id == object_id and inventory.head == name:
            return inventory, stored.data, sidecar.data
    return None


def put_new(bucket: Bucket, key: str, data: bytes) -> None:
    """Create ``key``; one already there means another writer got in (or our retry did)."""
    try:
        bucket.put(key, data, if_none_match=True)
    except PreconditionFailed:
        current = bucket.get(key)
        if current is None or current.data != data:
            raise ObjectLocked(f"{key} was written by another writer meanwhile") from None


def swap(bucket: Bucket, key: str, data: bytes, etag: str) -> None:
    """Replace ``key`` if it still has ``etag`` (compare and swap)."""
    try:
        bucket.put(key, data, if_match=etag)
    except (PreconditionFailed, KeyMissing):  # changed, or gone (AWS answers 404)
        current = bucket.get(key)
        if current is None or current.data != data:
            raise ObjectLocked(f"{key} was changed by another writer meanwhile") from None


def settle(
    bucket: Bucket, root: str, object_id: str, dead: Mapping[str, Any] | None
) -> Head | None:
    """Bring the object to a clean state under its claim; its head (None: no object).

    ``dead`` is the body of a claim whose writer stopped (what it may have left),
    or None when the claim was free: then only a mismatched root is repaired.
    """
    head = load_head(bucket, root, object_id)
    if head is None:
        if dead is not None:
            bucket.abort_uploads(root + "/")
        leftovers = list(bucket.keys(root + "/"))
        if not leftovers:
            return None
        if dead is None or dead.get("doing") not in ("create", "import", "purge"):
            # only those run without a root inventory: anything else is damage, not ours to
            # delete (an object whose root inventory was lost can still be repaired)
            raise CorruptObject(
                f"{object_id}: {root}/ holds {len(leftovers)} files but no {INVENTORY_NAME}"
            )
        # a create, import or purge cut short: the object never was, or is gone
        bucket.delete_many(leftovers)
        log.info("ocfl_s3_leftovers_deleted", object_id=object_id, count=len(leftovers))
        return None
    if not head.trusted:
        head = roll_forward(bucket, root, object_id, head)
    if dead is not None:
        remove_orphans(bucket, root, head, dead)
    return head


def roll_forward(bucket: Bucket, root: str, object_id: str, head: Head) -> Head:
    """Make the root inventory and sidecar those of the newest, complete version."""
    versions = version_dirs(bucket, root)
    if not versions or versions[0][1] != head.inventory.head:
        raise CorruptObject(
            f"{object_id}: {root}/{INVENTORY_NAME} does not match its sidecar, and"
            f" {head.inventory.head} is not the newest version directory"
        )
    swap(bucket, f"{root}/{INVENTORY_NAME}", head.data, head.root_etag)
    bucket.put(f"{root}/{sidecar_name(head.inventory.digest_algorithm)}", head.sidecar)
    log.info("ocfl_s3_rolled_forward", object_id=object_id, version=head.inventory.head)
    settled = load_head(bucket, root, object_id)
    if settled is None or not settled.trusted:
        raise CorruptObject(f"{object_id}: the root inventory could not be repaired")
    return settled


def remove_orphans(bucket: Bucket, root: str, head: Head, dead: Mapping[str, Any]) -> None:
    """Delete what a stopped writer wrote for a version that never became the head."""
    newest = version_number(head.inventory.head)
    orphans: list[str] = []
    for number, name in version_dirs(bucket, root):
        if number > newest:
            orphans += bucket.keys(f"{root}/{name}/")
    version = dead.get("version")
    if isinstance(version, str) and VERSION_DIR.match(version) and version_number(version) > newest:
        orphans += [key for key in dead.get("new_files", []) if key.startswith(root + "/")]
    bucket.abort_uploads(root + "/")
    if orphans:
        bucket.delete_many(sorted(set(orphans)))
        log.info("ocfl_s3_orphans_deleted", root=root, count=len(orphans))
