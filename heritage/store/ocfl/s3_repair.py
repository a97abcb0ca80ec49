"""Repair and replication on an S3 storage root: one file restored, or a whole tree installed.

Both hold the object's claim (``s3.py``'s module docstring) and follow its
commit protocol:

* ``restore_stored`` replaces one key in one PUT (or multipart upload), which
  readers see whole or not at all. A missing file is created only at a path the
  object names (``restoring.py``); a recreated inventory, sidecar or signature
  is written with ``If-None-Match: *``.
* ``replace_tree`` writes what the tree brings in the order of a commit: the
  content and other files first, then the version inventories and sidecars,
  then signatures, and last the root inventory (``If-Match`` on the ETag it was
  planned from, or ``If-None-Match: *`` for a new object) and its sidecar.
  The claim records the version and the new files outside the version
  directories, so a writer that dies midway leaves the replica at its old
  version and the next writer deletes what it wrote. Files the new tree no
  longer holds are deleted after the root inventory is written.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from heritage.store.ocfl.errors import (
    CorruptObject,
    InventoryError,
    ObjectNotFound,
    PathNotFound,
)
from heritage.store.ocfl.inventory import (
    INVENTORY_NAME,
    parse_inventory,
    sidecar_name,
    version_number,
)
from heritage.store.ocfl.restoring import (
    VERSION_DIR,
    StaleTree,
    check_created,
    check_stored_path,
    creation_refused,
    is_metadata,
    tree_inventory,
)
from heritage.store.ocfl.s3_io import HashingReader
from heritage.store.ocfl.s3_state import put_new, swap, version_dirs


class S3Repairs:
    """``restore_stored``, ``replace_tree`` and ``scratch_directory`` of ``S3StorageRoot``."""

    _bucket: Any
    _claims: Any
    transfer_config: Any

    @contextmanager
    def scratch_directory(self) -> Iterator[Path]:
        """An empty local directory to stage a tree for :meth:`replace_tree`, deleted after."""
        with tempfile.TemporaryDirectory(prefix="heritage-s3-tree-") as directory:
            yield Path(directory)

    def restore_stored(self, object_id: str, relative_path: str, stream: BinaryIO) -> None:
        """Rewrite one stored file byte for byte, or recreate a missing one the object names.

        For repair from a verified replica: one PUT (or multipart upload)
        replaces the key atomically, under the claim. Raises PathNotFound for
        a missing file the object does not name, ObjectNotFound when there is
        no such object.
        """
        check_stored_path(relative_path)
        bucket = self._bucket
        with self._claimed(object_id, "restore", lenient=True) as work:  # type: ignore[attr-defined]
            key = f"{work.root}/{relative_path}"
            if bucket.head(key) is not None:
                self._start(work, "restore")  # type: ignore[attr-defined]
                reader = HashingReader(stream, "sha256")  # read in order, memory bounded
                bucket.upload(key, reader, self.transfer_config)
                return
            if bucket.first_key(work.root + "/") is None:
                raise ObjectNotFound(f"no object {object_id!r}")
            inventory = work.head.inventory if work.head is not None else None
            versions = [name for _, name in version_dirs(bucket, work.root)]
            refused = creation_refused(relative_path, inventory, versions)
            if refused is not None:
                raise PathNotFound(f"{object_id} has no file {relative_path!r} ({refused})")
            if is_metadata(relative_path):
                data = stream.read()
                check_created(object_id, relative_path, data)
                self._start(work, "restore")  # type: ignore[attr-defined]
                put_new(bucket, key, data)
                return
            self._start(work, "restore")  # type: ignore[attr-defined]
            bucket.upload(key, HashingReader(stream, "sha256"), self.transfer_config)

    def replace_tree(self, object_id: str, local_dir: Path, *, keep: Iterable[str] = ()) -> None:
        """Install a complete, verified object tree (replication), by the commit protocol.

        ``local_dir`` holds the tree's new or changed files, its root
        inventory and sidecar among them; ``keep`` names the files of the
        current object to carry over unchanged. Together they are the whole
        object: whatever else it holds is deleted once the new root inventory
        is in place. Raises StaleTree when the root already holds a later
        version, PathNotFound when a file to keep is gone.
        """
        inventory, files = tree_inventory(object_id, Path(local_dir))
        kept = set(keep)
        for relative in kept:
            check_stored_path(relative)
        brought = {relative for relative, _ in files}
        if kept & brought:
            raise ValueError("a file cannot be both kept and replaced")
        sidecar = sidecar_name(inventory.digest_algorithm)
        root_pair = {INVENTORY_NAME, sidecar}
        if not root_pair <= brought:
            raise CorruptObject(f"{local_dir}: the root inventory or its sidecar is missing")
        bucket = self._bucket
        with self._claimed(object_id, "replace", lenient=True) as work:  # type: ignore[attr-defined]
            prefix = work.root + "/"
            existing = {key[len(prefix) :] for key in bucket.keys(prefix)}
            current = self._current_head(work)
            if current is not None and version_number(current) > version_number(inventory.head):
                raise StaleTree(f"{object_id}: the storage root holds {current} already")
            gone = sorted(kept - existing)
            if gone:
                raise PathNotFound(f"{object_id}: {', '.join(gone)} gone (changed meanwhile)")
            new_object = work.head is None
            outside = sorted(
                prefix + relative
                for relative in brought - existing - root_pair
                if not VERSION_DIR.match(relative.split("/")[0])
            )
            self._start(  # type: ignore[attr-defined]
                work,
                "create" if new_object else "update",
                version=inventory.head,
                new_files=outside,
            )

            def keep_claim(_: int = 0) -> None:
                self._claims.renew_if_due(work.claim)

            def order(item: tuple[str, Path]) -> tuple[int, str]:
                relative = item[0]
                if relative.startswith("extensions/") and is_metadata(relative):
                    return 2, relative  # signatures after the inventories they sign
                return (1 if is_metadata(relative) else 0), relative

            for relative, path in sorted(files, key=order):
                if relative in root_pair:
                    continue
                if is_metadata(relative):
                    bucket.put(prefix + relative, path.read_bytes())
                    keep_claim()
                else:
                    bucket.upload_file(prefix + relative, path, self.transfer_config, keep_claim)
            data = (Path(local_dir) / INVENTORY_NAME).read_bytes()
            sidecar_data = (Path(local_dir) / sidecar).read_bytes()
            self._claims.renew(work.claim)  # fence, right before readers can see the version
            if work.head is not None:
                swap(bucket, prefix + INVENTORY_NAME, data, work.head.root_etag)
                bucket.put(prefix + sidecar, sidecar_data)
            elif INVENTORY_NAME in existing:  # a damaged copy: readers fall back to the version
                bucket.put(prefix + sidecar, sidecar_data)
                bucket.put(prefix + INVENTORY_NAME, data)
            else:
                bucket.put(prefix + sidecar, sidecar_data)
                put_new(bucket, prefix + INVENTORY_NAME, data)  # the object appears here
            extra = sorted(prefix + relative for relative in existing - kept - brought)
            if extra:
                bucket.delete_many(extra)

    def _current_head(self, work: Any) -> str | None:
        if work.head is not None:
            head: str = work.head.inventory.head
            return head
        stored = self._bucket.get(f"{work.root}/{INVENTORY_NAME}")
        if stored is None:
            return None
        try:
            return parse_inventory(stored.data).head
        except InventoryError:
            return None  # a damaged copy: replaced whole
