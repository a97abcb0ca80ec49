"""An OCFL 1.1 storage root on local disk: create, version, read and purge objects.

Commit protocol, and why a crash never leaves a broken object
-------------------------------------------------------------
Every write happens in a work directory under the storage root's local
extension directory, ``extensions/heritage-staging/work-<uuid>/`` (same file
system as the objects, and outside the object hierarchy, which validators do
not descend into for storage root extensions):

1. Ingest, without the object lock: each added stream is copied into the work
   directory, hashed in the same pass (a ``StagedFile`` is hard-linked).
2. Under the object's lock (``flock`` on ``extensions/heritage-staging/locks/
   <sha256 of id>``): read the head inventory and plan the next version.
3. A **new object** is built complete in the work directory and renamed into
   the hierarchy in one step (``commit.place_new``).
4. An **update** stages only what the version adds (``commit.build_version``:
   the version directory, the new root inventory and sidecar, the signature),
   makes it durable with one ``syncfs``, writes an intent file, then publishes
   (``commit.publish_version``): the version directory is renamed in, then the
   signature, then the root inventory and last its sidecar replace the old
   ones. Version directories never change once written, so the cost of a
   commit does not grow with the object's history.

At every instant a reader sees a complete version: before the root inventory
is replaced, the old head (the new version directory is simply not named yet);
after it, the new one. In the instant between the inventory and its sidecar,
or after a crash there, the root inventory's own version directory holds an
identical copy with a matching sidecar, which vouches for it
(``_read_inventory``). A process killed mid-publish leaves its work directory
with the intent file; ``open()`` (and the next writer of that object) rolls the
publish forward from it, or drops it when nothing had reached the object.
Work directories whose flock no live process holds are then deleted (the kernel
drops flocks of dead processes).
"""

from __future__ import annotations

import errno
import io
import json
import os
import queue
import shutil
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from heritage.store.ocfl.bulk import BulkCreation
from heritage.store.ocfl.commit import (
    OBJECT_DECLARATION,
    build_object,
    build_version,
    finish_interrupted_publish,
    finish_interrupted_swap,
    place_new,
    publish_version,
)
from heritage.store.ocfl.digests import copy_and_hash, digest_bytes, digest_file
from heritage.store.ocfl.errors import (
    CorruptObject,
    HeadMismatch,
    ObjectExists,
    ObjectNotFound,
    OcflError,
    PathNotFound,
    StoreNotInitialised,
    VersionNotFound,
)
from heritage.store.ocfl.fsops import (
    exclusive_lock,
    fsync_path,
    lock_new_directory,
    make_durable,
    rename_no_replace,
    try_lock_directory,
    write_file,
)
from heritage.store.ocfl.hooks import StagedFile, VersionSigner
from heritage.store.ocfl.inventory import (
    CONTENT_PATH_CODES,
    INVENTORY_NAME,
    Inventory,
    User,
    Version,
    parse_inventory,
    parse_sidecar,
    path_problem,
    sidecar_name,
)
from heritage.store.ocfl.layouts import (
    DEFAULT_LAYOUT,
    StorageLayout,
    digest_of_id,
    get_layout,
    layout_class,
)
from heritage.store.ocfl.local_repair import LocalRepairs
from heritage.store.ocfl.versioning import DEFAULT_DIGEST_ALGORITHM, plan_next_version

ROOT_DECLARATION = "0=ocfl_1.1"
ROOT_DECLARATION_TEXT = b"ocfl_1.1\n"
LAYOUT_FILE = "ocfl_layout.json"
STAGING_EXTENSION = "heritage-staging"
STAGING_NOTE = "heritage-staging.md"
WORK_PREFIX = "work-"
PRUNE_FILE = "prune.json"

_STAGING_NOTE_TEXT = """\
# Local storage root extension: heritage-staging

`extensions/heritage-staging/` belongs to Heritage Cloud. It is not part of any
OCFL object and holds only transient data:

* `config.json`: names the extension;
* `work-<uuid>/`: a commit in progress (new content, the new object root being
  built, or the old root swapped out and about to be deleted);
* `locks/<sha256 of object id>`: empty files that writers `flock` so that one
  process at a time changes a given object.

A work directory that no running process holds a lock on is left over from a
crash and is deleted when the storage root is next opened. With no Heritage
Cloud process running, every `work-*` directory may be deleted safely.
"""


class _InterruptedPublish(Exception):
    """The next version directory already exists: a dead writer's publish to finish."""


@dataclass(frozen=True)
class Changes:
    """What a new version changes: files to add or replace (path -> stream), paths to remove.

    Every other path of the head version is kept as it is.
    """

    add: Mapping[str, BinaryIO | bytes | StagedFile] = field(default_factory=dict)
    remove: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        add: Mapping[str, BinaryIO | bytes | StagedFile] | None = None,
        remove: set[str] | None = None,
    ) -> Changes:
        return cls(add=dict(add or {}), remove=frozenset(remove or ()))


@dataclass(frozen=True)
class VersionInfo:
    name: str
    created: datetime
    message: str | None
    user: User | None


@dataclass(frozen=True)
class CommitResult:
    object_id: str
    version: str
    # False when the changes left the state as it was and no version was written
    changed: bool
    # the object's inventory at ``version``, as written (the index is made from it)
    inventory: Inventory | None = None


class StorageRoot(BulkCreation, LocalRepairs):
    """An OCFL storage root directory. Call ``initialize()`` once, or ``open()``, before use.

    ``layout`` names the storage layout extension for ``initialize()`` (an alias
    such as ``"0004"`` works too); ``open()`` uses the layout the root declares
    and refuses a different explicit one. Instances are safe to share between
    threads; several processes may use the same root at once. With a ``signer``
    every committed version is signed (``hooks.VersionSigner``); imported
    objects are left exactly as they came.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        layout: str | None = None,
        layout_config: Mapping[str, Any] | None = None,
        *,
        signer: VersionSigner | None = None,
    ) -> None:
        self.path = Path(path)
        self._layout_name = layout
        self._layout_config = layout_config
        self._layout: StorageLayout | None = None
        self.signer = signer

    # --- set-up -------------------------------------------------------------------------------

    @property
    def layout(self) -> StorageLayout:
        if self._layout is None:
            raise StoreNotInitialised(f"storage root {self.path} is not open")
        return self._layout

    @property
    def _staging(self) -> Path:
        return self.path / "extensions" / STAGING_EXTENSION

    def initialize(self) -> StorageRoot:
        """Create the storage root (the directory must be absent or empty), then open it.

        Built in a sibling directory and renamed into place, so a crash never
        leaves a half-declared storage root.
        """
        layout = get_layout(self._layout_name or DEFAULT_LAYOUT, self._layout_config)
        if self.path.exists() and any(self.path.iterdir()):
            raise FileExistsError(f"{self.path} exists and is not empty")
        building = self.path.with_name(f".{self.path.name}.init-{uuid.uuid4().hex}")
        os.makedirs(building)
        try:
            write_file(building / ROOT_DECLARATION, ROOT_DECLARATION_TEXT)
            declaration = {"extension": layout.name, "description": layout.description}
            write_file(building / LAYOUT_FILE, _json_bytes(declaration))
            config = layout.config()
            if config is not None:
                config_dir = building / "extensions" / layout.name
                os.makedirs(config_dir)
                write_file(config_dir / "config.json", _json_bytes(config))
            # config.json also keeps the directory from ever being empty (OCFL E073)
            staging = building / "extensions" / STAGING_EXTENSION
            os.makedirs(staging)
            write_file(staging / "config.json", _json_bytes({"extensionName": STAGING_EXTENSION}))
            # OCFL 4.5: a local extension is documented by a plain text file in the root
            write_file(building / STAGING_NOTE, _STAGING_NOTE_TEXT.encode("utf-8"))
            for directory, _, _ in os.walk(building, topdown=False):
                fsync_path(Path(directory))
            if self.path.exists():
                os.rename(building, self.path)  # replaces the empty directory atomically
            else:
                rename_no_replace(building, self.path)
            fsync_path(self.path.parent)
        finally:
            shutil.rmtree(building, ignore_errors=True)
        return self.open()

    def open(self) -> StorageRoot:
        """Check the declaration, load the layout, and clean up after crashed writers."""
        declaration = self.path / ROOT_DECLARATION
        if not declaration.is_file() or declaration.read_bytes() != ROOT_DECLARATION_TEXT:
            raise StoreNotInitialised(f"{self.path} is not an OCFL 1.1 storage root")
        declared = json.loads((self.path / LAYOUT_FILE).read_text("utf-8"))["extension"]
        if self._layout_name and layout_class(self._layout_name) is not layout_class(declared):
            raise StoreNotInitialised(
                f"{self.path} uses layout {declared}, not {self._layout_name}"
            )
        config_path = self.path / "extensions" / declared / "config.json"
        config = json.loads(config_path.read_text("utf-8")) if config_path.exists() else None
        self._layout = get_layout(declared, config)
        if not (self._staging / "config.json").exists():  # a root made by another tool
            self._staging.mkdir(parents=True, exist_ok=True)
            with suppress(FileExistsError):
                write_file(
                    self._staging / "config.json",
                    _json_bytes({"extensionName": STAGING_EXTENSION}),
                )
        self.recover()
        return self

    def recover(self) -> list[str]:
        """Delete work directories left by dead writers, finishing their swaps; their names."""
        cleaned = []
        for entry in sorted(self._staging.glob(WORK_PREFIX + "*")):
            fd = try_lock_directory(entry)
            if fd is None:
                continue  # a live writer holds it
            try:
                finish_interrupted_swap(entry)
                finish_interrupted_publish(entry)
                _prune_recorded_parents(entry, self.path)
                shutil.rmtree(entry, ignore_errors=True)
                cleaned.append(entry.name)
            finally:
                os.close(fd)
        return cleaned

    # --- reading ------------------------------------------------------------------------------

    def object_root(self, object_id: str) -> Path:
        return self.path / self.layout.object_path(object_id)

    def exists(self, object_id: str) -> bool:
        return (self.object_root(object_id) / INVENTORY_NAME).is_file()

    def object_ids(self) -> Iterator[str]:
        """Every object's id, found by walking the hierarchy (ids cannot be read off paths)."""
        self.layout  # noqa: B018 - fails early when not open
        for directory, dirs, files in os.walk(self.path):
            if directory == str(self.path):
                dirs[:] = [d for d in dirs if d != "extensions"]
                continue
            if any(name.startswith("0=ocfl_object_") for name in files):
                dirs[:] = []  # nothing below an object root is another object
                yield _read_inventory(Path(directory)).id

    def inventory(self, object_id: str) -> Inventory:
        with self._snapshot(object_id) as (_, inventory):
            return inventory

    def versions(self, object_id: str) -> list[VersionInfo]:
        inventory = self.inventory(object_id)
        return [
            VersionInfo(name, v.created_at, v.message, v.user)
            for name in inventory.version_names()
            for v in [inventory.versions[name]]
        ]

    def state(self, object_id: str, version: str | None = None) -> dict[str, str]:
        """Logical path -> digest of a version (the head by default)."""
        inventory = self.inventory(object_id)
        return _version(inventory, version).logical_state()

    def read(self, object_id: str, logical_path: str, version: str | None = None) -> BinaryIO:
        """Open a file of a version (the head by default) for reading; the caller closes it."""
        for _ in range(5):
            with self._snapshot(object_id) as (root_fd, inventory):
                digest = _version(inventory, version).logical_state().get(logical_path)
                if digest is None:
                    where = f"{object_id} {version or 'head'}"
                    raise PathNotFound(f"{logical_path!r} is not in {where}")
                content_path = inventory.manifest[digest][0]
                try:
                    fd = os.open(content_path, os.O_RDONLY, dir_fd=root_fd)
                except FileNotFoundError:
                    continue  # the tree was swapped out and deleted under us: look again
                return os.fdopen(fd, "rb")
        raise CorruptObject(f"{object_id}: content for {logical_path!r} is missing")

    @contextmanager
    def _snapshot(self, object_id: str) -> Iterator[tuple[int, Inventory]]:
        """The object root opened as a directory fd, with its verified inventory.

        Reading through one directory fd keeps the inventory, its sidecar and
        content files from one and the same tree even while a commit swaps trees.
        """
        root = self.object_root(object_id)
        for attempt in range(5):
            try:
                fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                raise ObjectNotFound(f"no object {object_id!r}") from None
            try:
                inventory = _read_inventory(root, dir_fd=fd)
            except FileNotFoundError:
                os.close(fd)
                if attempt == 4:
                    raise
                continue  # the tree was swapped out and deleted under us: look again
            except BaseException:
                os.close(fd)
                raise
            try:
                yield fd, inventory
            finally:
                os.close(fd)
            return

    # --- writing ------------------------------------------------------------------------------

    def create_or_update(
        self,
        object_id: str,
        changes: Changes,
        message: str,
        user: User,
        *,
        created: datetime | None = None,
        expected_head: str | None = None,
    ) -> CommitResult:
        """Write a new version (v1 for a new object) with the changes, message, user and time.

        With ``expected_head``, :class:`HeadMismatch` unless the object is at that version
        when the commit takes its lock (nothing is written then)."""
        try:
            return self._commit(object_id, changes, message, user, created, expected_head)
        except _InterruptedPublish:
            self.recover()
            return self._commit(object_id, changes, message, user, created, expected_head)

    def _commit(
        self,
        object_id: str,
        changes: Changes,
        message: str,
        user: User,
        created: datetime | None,
        expected_head: str | None,
    ) -> CommitResult:
        if not isinstance(message, str):
            raise TypeError("a version needs a message")
        if not isinstance(user, User):
            raise TypeError("a version needs a User")
        when = (created or datetime.now(UTC)).astimezone(UTC)
        created_text = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        live = self.object_root(object_id)
        with self._work_dir() as work:
            algorithm = _peek_digest_algorithm(live)
            incoming = _ingest(work, changes.add, algorithm)
            with self._object_lock(object_id):
                head = _read_inventory(live) if live.exists() else None
                check_head(object_id, head, expected_head)
                if head is not None and head.digest_algorithm != algorithm:
                    # the peek raced with an import or was unreadable: hash again
                    algorithm = head.digest_algorithm
                    incoming = {
                        path: (file, digest_file(file, algorithm))
                        for path, (file, _) in incoming.items()
                    }
                plan = plan_next_version(
                    head,
                    object_id,
                    {path: digest for path, (_, digest) in incoming.items()},
                    changes.remove,
                    created=created_text,
                    message=message,
                    user=user,
                )
                if not plan.changed:
                    assert head is not None
                    return CommitResult(object_id, head.head, changed=False, inventory=head)
                by_digest = {digest: file for file, digest in incoming.values()}
                content = {
                    content_path: by_digest[digest]
                    for digest, content_path in plan.new_content.items()
                }
                parts = self.layout.object_path(object_id).split("/")
                if head is None:
                    staged = work / "new"
                    parents = _stage_parents(staged, parts)
                    build_object(staged.joinpath(*parts), plan.inventory, content, self.signer)
                    make_durable([], parents, anchor=staged)
                    try:
                        place_new(staged, self.path, parts)
                    except FileExistsError:
                        raise ObjectExists(f"object {object_id!r} appeared meanwhile") from None
                else:
                    if (live / plan.inventory.head).exists():
                        # a writer died mid-publish: finish its version first, then plan again
                        raise _InterruptedPublish
                    build_version(work, plan.inventory, content, self.signer)
                    publish_version(
                        work,
                        live,
                        plan.inventory.head,
                        sidecar_name(plan.inventory.digest_algorithm),
                        self.signer.extension_name if self.signer else None,
                    )
            return CommitResult(
                object_id, plan.inventory.head, changed=True, inventory=plan.inventory
            )

    def purge(self, object_id: str) -> None:
        """Delete an object and its whole history for good. Only administrators may ask for it
        (the services layer checks); versions never delete anything."""
        live = self.object_root(object_id)
        with self._work_dir() as work, self._object_lock(object_id):
            if not live.exists():
                raise ObjectNotFound(f"no object {object_id!r}")
            parents = [str(p) for p in live.relative_to(self.path).parents if str(p) != "."]
            write_file(work / PRUNE_FILE, json.dumps(parents).encode("utf-8"))
            fsync_path(work)
            os.rename(live, work / "purged")  # one step: the object is whole or gone
            fsync_path(live.parent)
            _prune_recorded_parents(work, self.path)

    def import_tree(self, object_id: str, source: Path) -> None:
        """Copy an already validated object root into place (used by ``validate.import_object``)."""
        parts = self.layout.object_path(object_id).split("/")
        with self._work_dir() as work, self._object_lock(object_id):
            if self.object_root(object_id).exists():
                raise ObjectExists(f"object {object_id!r} is already in the storage root")
            staged = work / "new"
            parents = _stage_parents(staged, parts)
            files: list[Path] = []
            directories: list[Path] = []
            _copy_tree(source, staged.joinpath(*parts), files, directories)
            make_durable(files, directories[::-1] + parents, anchor=staged)
            try:
                place_new(staged, self.path, parts)
            except FileExistsError:
                raise ObjectExists(f"object {object_id!r} appeared meanwhile") from None

    # --- raw access (fixity audits, verification); restore_stored, replace_tree and
    # scratch_directory (repair and replication) come from local_repair.LocalRepairs ----------

    def object_files(self, object_id: str) -> list[str]:
        """Every file of the object, as paths relative to its root with ``/``, sorted.

        Nothing is checked: a damaged object is listed as it is, for verification.
        """
        root = self.object_root(object_id)
        for _ in range(5):
            try:
                root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                raise ObjectNotFound(f"no object {object_id!r}") from None
            try:
                return sorted(_walk_files(root_fd))
            except FileNotFoundError:
                continue  # the tree was swapped out and deleted under us: look again
            finally:
                os.close(root_fd)
        raise CorruptObject(f"{object_id}: the object changed too often to be listed")

    def open_stored(self, object_id: str, relative_path: str) -> BinaryIO:
        """The stored bytes of one file of the object, as they are on disk; the caller closes it.

        No inventory check is made here: this is what verification reads.
        """
        _check_stored_path(relative_path)
        root = self.object_root(object_id)
        try:
            root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            raise ObjectNotFound(f"no object {object_id!r}") from None
        try:
            fd = _open_below(root_fd, relative_path)
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(f"{object_id} has no file {relative_path!r}") from None
        except OSError as error:
            if error.errno != errno.ELOOP:
                raise
            raise CorruptObject(f"{object_id}: {relative_path} is a symbolic link") from None
        finally:
            os.close(root_fd)
        return os.fdopen(fd, "rb")

    @contextmanager
    def _work_dir(self) -> Iterator[Path]:
        self.layout  # noqa: B018 - fails early when not open
        for _ in range(5):
            path = self._staging / f"{WORK_PREFIX}{uuid.uuid4().hex}"
            try:
                fd = lock_new_directory(path)
                break
            except FileNotFoundError:
                continue  # a concurrent recovery removed it before we locked it
        else:
            raise OSError(f"could not create a work directory in {self._staging}")
        try:
            yield path
        finally:
            # the lock stays held until the tree is gone, so recovery never races the deletion
            _DISPOSER.dispose(path, fd)

    def wait_for_cleanup(self) -> None:
        """Block until swapped-out trees of earlier commits are deleted (tests, shutdown)."""
        _DISPOSER.wait()

    @contextmanager
    def _object_lock(self, object_id: str) -> Iterator[None]:
        locks = self._staging / "locks"
        locks.mkdir(exist_ok=True)  # made on first use, so it is never an empty directory
        with exclusive_lock(locks / digest_of_id(object_id)):
            yield


# --- helpers ------------------------------------------------------------------------------------


def check_head(object_id: str, head: Inventory | None, expected: str | None) -> None:
    """:class:`HeadMismatch` unless the object is at ``expected`` (None: no check)."""
    if expected is not None and (head is None or head.head != expected):
        raise HeadMismatch(object_id, expected, head.head if head is not None else None)


class _Disposer:
    """Deletes finished work directories (with the old object tree) on a background thread.

    Deleting a tree of a hundred directories takes about 25 ms here, longer
    than the rest of a small commit, and nothing waits for it: the new version
    is durable already. A process that exits first leaves the directory for
    the next ``open()`` to delete.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Path, int]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forget_thread)

    def _forget_thread(self) -> None:
        self._thread = None  # threads do not survive fork
        self._queue = queue.Queue()

    def dispose(self, path: Path, fd: int) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="ocfl-work-cleanup", daemon=True
                )
                self._thread.start()
        self._queue.put((path, fd))

    def _run(self) -> None:
        while True:
            path, fd = self._queue.get()
            try:
                # a fallback swap cut short by an exception must not lose the new tree
                with suppress(OSError, ValueError):
                    finish_interrupted_swap(path)
                with suppress(OSError, ValueError):
                    finish_interrupted_publish(path)
                shutil.rmtree(path, ignore_errors=True)
            finally:
                os.close(fd)
                self._queue.task_done()

    def wait(self) -> None:
        self._queue.join()


_DISPOSER = _Disposer()


def _json_bytes(data: object) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _read_bytes(name: str, directory: Path, dir_fd: int | None) -> bytes:
    if dir_fd is None:
        return (directory / name).read_bytes()
    fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as stream:
        return stream.read()


def _read_inventory(root: Path, dir_fd: int | None = None) -> Inventory:
    """The root inventory of an object, checked against its sidecar.

    A commit replaces the root inventory, then its sidecar. Between the two (or
    after a crash there, until recovery) the inventory is the new head's, and
    the head's version directory holds the same bytes with a sidecar that
    matches: that copy vouches for it.
    """
    data = _read_bytes(INVENTORY_NAME, root, dir_fd)
    inventory = parse_inventory(data)
    algorithm = inventory.digest_algorithm
    sidecar = sidecar_name(algorithm)
    digest = digest_bytes(data, algorithm)
    if digest == parse_sidecar(_read_bytes(sidecar, root, dir_fd)):
        return inventory
    try:
        copy = _read_bytes(f"{inventory.head}/{INVENTORY_NAME}", root, dir_fd)
        vouched = parse_sidecar(_read_bytes(f"{inventory.head}/{sidecar}", root, dir_fd))
    except (OSError, ValueError, OcflError):
        copy, vouched = b"", ""
    if copy == data and vouched == digest:
        return inventory
    raise CorruptObject(f"{root}: inventory does not match its sidecar (OCFL E060)")


def _peek_digest_algorithm(root: Path) -> str:
    try:
        algorithm = json.loads((root / INVENTORY_NAME).read_bytes())["digestAlgorithm"]
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_DIGEST_ALGORITHM
    return algorithm if algorithm in ("sha512", "sha256") else DEFAULT_DIGEST_ALGORITHM


def _ingest(
    work: Path, add: Mapping[str, BinaryIO | bytes | StagedFile], algorithm: str
) -> dict[str, tuple[Path, str]]:
    """Bring every added file into the work directory; logical path -> (file, digest).

    Streams are copied and hashed in one pass; staged files are hard-linked, and
    hashed only when the writer did not already give the digest.
    """
    incoming_dir = work / "incoming"
    incoming_dir.mkdir()
    result: dict[str, tuple[Path, str]] = {}
    for number, (path, source) in enumerate(sorted(add.items())):
        file = incoming_dir / str(number)
        if isinstance(source, StagedFile):
            result[path] = (file, _link_staged(source, file, algorithm))
            continue
        stream = io.BytesIO(source) if isinstance(source, bytes) else source
        digests, _ = copy_and_hash(stream, file, (algorithm,))
        result[path] = (file, digests[algorithm])
    return result


def _link_staged(staged: StagedFile, file: Path, algorithm: str) -> str:
    try:
        os.link(staged.path, file)
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        with open(staged.path, "rb") as stream:
            digests, _ = copy_and_hash(stream, file, (algorithm,))
        return digests[algorithm]
    known = staged.digests.get(algorithm)
    return known if known is not None else digest_file(file, algorithm)


def _check_stored_path(relative_path: str) -> None:
    """Refuse absolute paths and ``..``: raw access never leaves the object root."""
    problem = path_problem(relative_path, CONTENT_PATH_CODES)
    if problem is not None:
        raise ValueError(f"stored path {relative_path!r} {problem[1]}")


def _open_below(root_fd: int, relative_path: str) -> int:
    """Open a file below a directory fd, following no symbolic link on the way."""
    parts = relative_path.split("/")
    directory = os.dup(root_fd)
    try:
        for part in parts[:-1]:
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=directory)
            os.close(directory)
            directory = child
        return os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW, dir_fd=directory)
    finally:
        os.close(directory)


def _walk_files(root_fd: int) -> Iterator[str]:
    for directory, _, files, _ in os.fwalk(".", dir_fd=root_fd):
        prefix = "" if directory == "." else directory[2:] + "/"
        for name in files:
            yield prefix + name


def _version(inventory: Inventory, version: str | None) -> Version:
    name = version or inventory.head
    if name not in inventory.versions:
        raise VersionNotFound(f"{inventory.id} has no version {name!r}")
    return inventory.versions[name]


def _prune_recorded_parents(work: Path, storage_root: Path) -> None:
    """Remove the now-empty parent directories a purge recorded (no empty dirs: OCFL E073)."""
    record = work / PRUNE_FILE
    if not record.exists():
        return
    try:
        parents = json.loads(record.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError):
        # cut short while written, so before the purge's rename: nothing was removed
        parents = []
    for relative in parents:
        try:
            os.rmdir(storage_root / relative)
        except OSError:
            break  # not empty (another object lives there) or already gone: stop climbing
    with suppress(FileNotFoundError):
        record.unlink()


def _stage_parents(staged: Path, parts: list[str]) -> list[Path]:
    """Create the staged copies of an object root's parent directories, deepest first."""
    created = [staged.joinpath(*parts[:depth]) for depth in range(len(parts) - 1, -1, -1)]
    staged.joinpath(*parts[:-1]).mkdir(parents=True)
    return created


def _copy_tree(source: Path, target: Path, files: list[Path], directories: list[Path]) -> None:
    """Copy a directory tree byte for byte, noting the new files and directories."""
    os.mkdir(target)
    directories.append(target)
    with os.scandir(source) as entries:
        for entry in entries:
            if entry.is_symlink():
                raise CorruptObject(f"{entry.path} is a symbolic link (OCFL E090)")
            if entry.is_dir():
                _copy_tree(Path(entry.path), target / entry.name, files, directories)
            else:
                with open(entry.path, "rb") as stream:
                    copy_and_hash(stream, target / entry.name, ())
                files.append(target / entry.name)


__all__ = [
    "OBJECT_DECLARATION",
    "Changes",
    "CommitResult",
    "StorageRoot",
    "VersionInfo",
]
