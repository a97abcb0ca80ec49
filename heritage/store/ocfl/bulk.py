"""Creating many new objects at once, each as safe as one created alone.

Creating an object alone costs two file-system syncs (its built tree, then the
rename that places it), a work directory and a lock: a few milliseconds that
dominate when an import brings in thousands of small records. Here every new
object of a batch is built in one work directory, the whole batch is made
durable with one ``syncfs``, each object is renamed into the hierarchy under its
lock, and one more ``syncfs`` makes the renames durable. A crash at any point
leaves every object either absent or complete (each appears by one rename of a
complete, synced tree), exactly as with ``create_or_update``.

Objects whose root already exists are not touched and are reported as such:
a caller that chose the ids (an import resuming after a crash) can then adopt
what the interrupted run stored.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from heritage.store.ocfl.commit import build_object, place_new
from heritage.store.ocfl.digests import digest_bytes
from heritage.store.ocfl.fsops import make_durable
from heritage.store.ocfl.hooks import VersionSigner
from heritage.store.ocfl.inventory import INVENTORY_NAME, Inventory, User
from heritage.store.ocfl.versioning import DEFAULT_DIGEST_ALGORITHM, plan_next_version


@dataclass(frozen=True)
class NewObject:
    """An object to create: its id, its first version's files (logical path -> bytes),
    message and user."""

    object_id: str
    files: Mapping[str, bytes]
    message: str
    user: User


@dataclass(frozen=True)
class CreatedObject:
    object_id: str
    # the first version's inventory; None when the object existed already and was left alone
    inventory: Inventory | None

    @property
    def existed(self) -> bool:
        return self.inventory is None


class _LocalRoot(Protocol):
    path: Path
    signer: VersionSigner | None

    @property
    def layout(self) -> Any: ...

    def _work_dir(self) -> AbstractContextManager[Path]: ...

    def _object_lock(self, object_id: str) -> AbstractContextManager[None]: ...


def _stage_parents(staged: Path, parts: list[str]) -> list[Path]:
    staged.joinpath(*parts[:-1]).mkdir(parents=True, exist_ok=True)
    return [staged.joinpath(*parts[:depth]) for depth in range(len(parts) - 1, -1, -1)]


class BulkCreation:
    """``create_objects`` of the local ``StorageRoot``."""

    def create_objects(
        self: _LocalRoot, new: Sequence[NewObject], *, created: datetime | None = None
    ) -> list[CreatedObject]:
        """Create every object of ``new`` (v1 with its files), in that order."""
        when = (created or datetime.now(UTC)).astimezone(UTC)
        created_text = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        layout = self.layout
        results: dict[str, Inventory | None] = {}
        with self._work_dir() as work:
            staged_roots: list[tuple[NewObject, Path, list[str]]] = []
            synced_dirs: list[Path] = []
            for number, item in enumerate(new):
                if item.object_id in results:
                    raise ValueError(f"object {item.object_id!r} is twice in the batch")
                parts = layout.object_path(item.object_id).split("/")
                if (self.path.joinpath(*parts) / INVENTORY_NAME).exists():
                    results[item.object_id] = None
                    continue
                contents = {
                    path: (data, digest_bytes(data, DEFAULT_DIGEST_ALGORITHM))
                    for path, data in item.files.items()
                }
                plan = plan_next_version(
                    None,
                    item.object_id,
                    {path: digest for path, (_, digest) in contents.items()},
                    (),
                    created=created_text,
                    message=item.message,
                    user=item.user,
                )
                by_digest = {digest: data for data, digest in contents.values()}
                staged = work / f"new-{number}"
                parents = _stage_parents(staged, parts)
                synced_dirs += build_object(
                    staged.joinpath(*parts),
                    plan.inventory,
                    {path: by_digest[digest] for digest, path in plan.new_content.items()},
                    self.signer,
                    durable=False,
                )
                synced_dirs += parents
                staged_roots.append((item, staged, parts))
                results[item.object_id] = plan.inventory
            if staged_roots:
                make_durable(_files_below(work), synced_dirs, anchor=work)
            for item, staged, parts in staged_roots:
                with self._object_lock(item.object_id):
                    try:
                        place_new(staged, self.path, parts, durable=False)
                    except FileExistsError:
                        results[item.object_id] = None  # appeared meanwhile: left alone
            if staged_roots:
                make_durable([], _placed_parents(self.path, staged_roots), anchor=self.path)
        return [CreatedObject(item.object_id, results[item.object_id]) for item in new]


def _files_below(work: Path) -> Iterator[Path]:
    # Only walked where syncfs is missing (then every file is fsynced).
    return (path for path in work.rglob("*") if path.is_file())


def _placed_parents(root: Path, staged: list[tuple[NewObject, Path, list[str]]]) -> list[Path]:
    """Every directory whose entries a placement may have changed, deepest first."""
    directories: set[Path] = set()
    for _, _, parts in staged:
        directories.update(root.joinpath(*parts[:depth]) for depth in range(len(parts)))
    return sorted(directories, key=lambda path: len(path.parts), reverse=True)
