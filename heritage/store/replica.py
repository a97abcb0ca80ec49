"""Replication: bringing an object of the replica storage root up to the primary's state.

The replica is a storage root of its own (``HERITAGE_REPLICA_ROOT``), valid
OCFL like the primary, holding byte-identical copies of the objects: every
file of the object root, signatures included, at the same relative paths. The
fixity audit repairs damaged files of the primary from it
(:mod:`heritage.store.fixity`).

``replicate_object`` is idempotent: it copies only what the replica lacks
(hashing each content file on the way and refusing content whose digest is
not the one the primary's manifest records), reuses the rest, and writes the
inventories last. What it copies is staged in the replica's
``scratch_directory()`` and installed by the replica's ``replace_tree``, with
the files it already holds carried over: on local disk the new object tree is
built beside the old one and swapped in as one step, the way the storage root
commits a version (``ocfl/local_repair.py``); on S3 it is written by the
commit protocol under the object's claim, the root inventory last
(``ocfl/s3_repair.py``). Either way the replica holds a complete, valid object
at every instant, even when a replication is cut short, and nothing here
depends on which kind of storage root either side is.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heritage.store.ocfl.digests import BLOCK_SIZE, copy_and_hash, digest_bytes, new_hash
from heritage.store.ocfl.errors import InventoryError, ObjectNotFound, OcflError, PathNotFound
from heritage.store.ocfl.fsops import write_file
from heritage.store.ocfl.inventory import (
    INVENTORY_NAME,
    Inventory,
    parse_inventory,
    parse_sidecar,
    sidecar_name,
    version_number,
)
from heritage.store.ocfl.restoring import StaleTree

_VERSION_DIR = re.compile(r"^(v\d+)/")
_SIGNATURE = re.compile(r"^extensions/[^/]+/(v\d+)\.sig\.json$")


class ReplicationError(Exception):
    """The object could not be replicated (damaged in the primary, or an unusable replica)."""


@dataclass
class ReplicationResult:
    object_id: str
    head: str | None = None
    copied: list[str] = field(default_factory=list)  # files copied from the primary
    bytes_copied: int = 0
    purged: bool = False  # the object was gone from the primary and is now gone here too
    newer: bool = False  # the replica already held a later version: left alone

    @property
    def changed(self) -> bool:
        return bool(self.copied) or self.purged

    def summary(self) -> str:
        if self.purged:
            return "purged from the replica, as from the primary"
        if self.newer:
            return "the replica already holds a later version"
        if not self.copied:
            return f"up to date at {self.head}"
        copied = f"copied {len(self.copied)} files ({self.bytes_copied} bytes)"
        return f"{copied}; the replica is at {self.head}"


@dataclass(frozen=True)
class _Snapshot:
    """One consistent state of the primary's object: its root inventory and the files to copy."""

    inventory: Inventory
    inventory_bytes: bytes
    sidecar: str
    sidecar_bytes: bytes
    files: tuple[str, ...]

    @property
    def expected(self) -> dict[str, str]:
        return {
            path: digest.lower()
            for digest, paths in self.inventory.manifest.items()
            for path in paths
        }


def _version_of(path: str) -> str | None:
    match = _VERSION_DIR.match(path) or _SIGNATURE.match(path)
    return match.group(1) if match else None


def _read(store: Any, object_id: str, path: str) -> bytes:
    with store.open_stored(object_id, path) as stream:
        data: bytes = stream.read()
        return data


def read_snapshot(source: Any, object_id: str) -> _Snapshot:
    """The primary's object as of its current root inventory (checked against its sidecar).

    Files of versions newer than that inventory (a commit landing meanwhile)
    are left for the next replication; a mismatched pair is read again.
    """
    problem = "the inventory does not match its sidecar"
    for _ in range(5):
        try:
            inventory_bytes = _read(source, object_id, INVENTORY_NAME)
            inventory = parse_inventory(inventory_bytes)
            sidecar = sidecar_name(inventory.digest_algorithm)
            sidecar_bytes = _read(source, object_id, sidecar)
            recorded = parse_sidecar(sidecar_bytes)
        except InventoryError as error:
            problem = f"the inventory is not valid: {error}"
            continue
        except ObjectNotFound:
            raise
        except (OcflError, OSError) as error:
            problem = f"cannot be read: {error}"
            continue
        if digest_bytes(inventory_bytes, inventory.digest_algorithm) != recorded:
            continue  # read across a commit's swap, or damaged: look again
        head = version_number(inventory.head)
        files = tuple(
            path
            for path in source.object_files(object_id)
            if (version := _version_of(path)) is None or version_number(version) <= head
        )
        snapshot = _Snapshot(inventory, inventory_bytes, sidecar, sidecar_bytes, files)
        missing = sorted(set(snapshot.expected) - set(files))
        if missing:
            raise ReplicationError(f"{object_id}: missing in the primary: {', '.join(missing)}")
        return snapshot
    raise ReplicationError(f"{object_id}: {problem}; not replicated")


def replicate_object(
    source: Any, replica: Any, object_id: str, *, verify_existing: bool = False
) -> ReplicationResult:
    """Make the replica's copy of ``object_id`` match the primary's current version.

    ``verify_existing`` re-hashes the content the replica already holds and
    replaces what no longer matches (slower; ``heritage replicate --verify``).
    Raises :class:`~heritage.store.ocfl.errors.ObjectNotFound` when the
    primary has no such object, :class:`ReplicationError` when it cannot be
    copied faithfully.
    """
    snapshot = read_snapshot(source, object_id)
    for _ in range(2):
        with suppress(PathNotFound):  # a file to keep went away meanwhile: look again
            return _replicate(source, replica, object_id, snapshot, verify_existing)
    try:
        return _replicate(source, replica, object_id, snapshot, verify_existing)
    except PathNotFound as error:
        raise ReplicationError(f"{object_id}: {error}; not replicated") from error


def purge_replica(replica: Any, object_id: str) -> bool:
    """Remove a purged object from the replica too; whether there was one."""
    try:
        replica.purge(object_id)
    except ObjectNotFound:
        return False
    return True


def _replicate(
    source: Any, replica: Any, object_id: str, snapshot: _Snapshot, verify_existing: bool
) -> ReplicationResult:
    """Stage what the replica lacks, then have it install the object's new tree in one step."""
    result = ReplicationResult(object_id, head=snapshot.inventory.head)
    algorithm = snapshot.inventory.digest_algorithm
    expected = snapshot.expected
    try:
        have = set(replica.object_files(object_id))
    except ObjectNotFound:
        have = set()
    current = _read_or_none(replica, object_id, INVENTORY_NAME) if have else None
    head = _head_of(current)
    if head is not None and version_number(head) > version_number(snapshot.inventory.head):
        result.newer = True
        return result
    keep: list[str] = []
    with replica.scratch_directory() as scratch:
        target = Path(scratch) / "tree"
        target.mkdir()
        for path in snapshot.files:
            if path in (INVENTORY_NAME, snapshot.sidecar):
                continue  # written last, from the snapshot
            if _reuse(replica, object_id, path, have, head, expected, algorithm, verify_existing):
                keep.append(path)
                continue
            destination = target / path
            destination.parent.mkdir(parents=True, exist_ok=True)
            if _version_of(path) is None and path in have:
                # small files outside the versions (declaration, extension config):
                # compared byte for byte, copied only when they differ
                data = _read(source, object_id, path)
                if _read_or_none(replica, object_id, path) == data:
                    keep.append(path)
                    continue
                write_file(destination, data, fsync=False)
                result.copied.append(path)
                result.bytes_copied += len(data)
                continue
            with source.open_stored(object_id, path) as stream:
                digests, size = copy_and_hash(stream, destination, (algorithm,))
            if path in expected and digests[algorithm] != expected[path]:
                raise ReplicationError(
                    f"{object_id}: {path} in the primary does not match its {algorithm} "
                    "digest; not replicated (the fixity audit reports and repairs it)"
                )
            result.copied.append(path)
            result.bytes_copied += size
        _check_version_inventories(target, result.copied, algorithm, object_id)
        if not result.copied and current == snapshot.inventory_bytes:
            return result  # nothing lacking: leave the replica's copy untouched
        # the inventories last, so every file they name is already in place
        for name, data in (
            (INVENTORY_NAME, snapshot.inventory_bytes),
            (snapshot.sidecar, snapshot.sidecar_bytes),
        ):
            write_file(target / name, data, fsync=False)
        if not result.copied:
            result.copied.append(INVENTORY_NAME)
        try:
            replica.replace_tree(object_id, target, keep=keep)
        except StaleTree:
            return ReplicationResult(object_id, head=snapshot.inventory.head, newer=True)
    return result


def _reuse(
    replica: Any,
    object_id: str,
    path: str,
    have: set[str],
    head: str | None,
    expected: dict[str, str],
    algorithm: str,
    verify: bool,
) -> bool:
    """Whether the replica's own file can stay (carried over into the new tree)."""
    if path not in have or head is None:
        return False
    version = _version_of(path)
    if version is None or version_number(version) > version_number(head):
        return False  # root and extension files change between versions: compared afresh
    if path not in expected:
        return True  # a version's inventory, sidecar or signature: immutable once written
    if not verify:
        return True
    return _digest_stored(replica, object_id, path, algorithm) == expected[path]


def _read_or_none(store: Any, object_id: str, path: str) -> bytes | None:
    try:
        return _read(store, object_id, path)
    except (OcflError, OSError):
        return None


def _digest_stored(store: Any, object_id: str, path: str, algorithm: str) -> str | None:
    hasher = new_hash(algorithm)
    try:
        with store.open_stored(object_id, path) as stream:
            while block := stream.read(BLOCK_SIZE):
                hasher.update(block)
    except (OcflError, OSError):
        return None
    return hasher.hexdigest()


def _head_of(inventory: bytes | None) -> str | None:
    if inventory is None:
        return None
    try:
        return parse_inventory(inventory).head
    except InventoryError:
        return None  # a damaged replica copy: rebuilt from the primary


def _check_version_inventories(
    target: Path, copied: list[str], algorithm: str, object_id: str
) -> None:
    """Each copied version inventory must match its sidecar, as in the primary."""
    for path in copied:
        if not path.endswith("/" + INVENTORY_NAME):
            continue
        sidecar = target / (path + "." + algorithm)
        inventory = (target / path).read_bytes()
        try:
            ok = sidecar.is_file() and parse_sidecar(sidecar.read_bytes()) == digest_bytes(
                inventory, algorithm
            )
        except InventoryError:
            ok = False
        if not ok:
            raise ReplicationError(f"{object_id}: {path} does not match its sidecar in the primary")
