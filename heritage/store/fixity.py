"""Fixity audit of one stored object, and repair of damaged files from the replica.

The audit re-reads every stored file of the object and judges it the way
``heritage verify`` does (:mod:`heritage.store.verify`): content against the
manifest digests (SHA-512, or the object's own algorithm), inventories against
their sidecars, every version's signature against the instance's keys,
nothing missing and nothing extra. With ``deep`` the plaintext of each file of
the head version is hashed too and compared with the SHA-256 kept in
``.heritage/object.json`` (encrypted files are decrypted, which needs the
workspace's data key): slower, so the scheduled audit leaves it off.

Damage is repaired from the replica storage root, one file at a time, and only
with a copy proven good first:

* a content file, when the replica's copy has the digest our manifest records
  (our manifest is trusted only while its inventory, sidecar and signatures
  check out);
* an inventory, sidecar or signature file, when the replica's object passes
  verification itself apart from content damage (so its metadata is the
  signed truth) and, for the files of the object root, is at the same head.

After a repair the whole object is verified again; what still fails is a
failure. Reads are paced by a :class:`RateLimiter` shared by every thread.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from heritage.store.crypto import CryptoError
from heritage.store.description import DESCRIPTION_PATH, DescriptionError, ObjectDescription
from heritage.store.models import EventOutcome
from heritage.store.ocfl.digests import new_hash
from heritage.store.ocfl.errors import InventoryError, ObjectNotFound, OcflError
from heritage.store.ocfl.inventory import (
    CONTENT_PATH_CODES,
    INVENTORY_NAME,
    Inventory,
    parse_inventory,
    parse_sidecar,
    path_problem,
    sidecar_name,
    version_number,
)
from heritage.store.ocfl.store import StorageRoot
from heritage.store.reading import ContentDamaged, open_stored_file
from heritage.store.signing import PublicSigningKey
from heritage.store.verify import SIGNATURE_DIR, Finding, VerificationReport, verify_object

# Codes of verify.py that mean "this content file is not what the manifest says".
CONTENT_DAMAGE = frozenset(
    {
        "HC-FILE-MISSING",
        "HC-DIGEST-MISMATCH",
        "HC-FILE-SWAPPED",
        "HC-FIXITY-MISMATCH",
        "HC-FILE-UNREADABLE",
    }
)
# Codes the deep check adds (documented in docs/storage.md beside verify.py's).
PLAINTEXT_MISMATCH = "HC-PLAINTEXT-MISMATCH"
PLAINTEXT_UNREADABLE = "HC-PLAINTEXT-UNREADABLE"
KEY_UNAVAILABLE = "HC-KEY-UNAVAILABLE"

READ_SIZE = 4 * 1024 * 1024  # hashing our own copies: big reads, few Python round trips
# Findings that cast doubt on the inventory itself: its manifest cannot name the truth then.
TRUST_BREAKERS = ("HC-INVENTORY-", "HC-SIDECAR-", "HC-HEAD-INVENTORY-", "HC-SIG-", "HC-OBJECT-")
_VERSION_DIR = re.compile(r"^(v\d+)/")
_SIGNATURE = re.compile(r"^(v\d+)\.sig\.json$")


# --- pacing -------------------------------------------------------------------------------------


class RateLimiter:
    """Paces reads to ``bytes_per_second`` over all threads sharing it; 0 means no limit.

    Each block read books ``size / rate`` seconds of a shared timeline and the
    reader sleeps until its booking ends, so idle time earns no burst.
    ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        bytes_per_second: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = bytes_per_second
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._booked_until = 0.0

    def consume(self, count: int) -> None:
        if self.rate <= 0 or count <= 0:
            return
        with self._lock:
            now = self._clock()
            self._booked_until = max(self._booked_until, now) + count / self.rate
            wait = self._booked_until - now
        if wait > 0:
            self._sleep(wait)


UNLIMITED = RateLimiter(0)


class _PacedStream:
    """A stored file opened for reading, paced by the limiter and counted."""

    def __init__(self, raw: BinaryIO, limiter: RateLimiter, counter: _Counter) -> None:
        self._raw = raw
        self._limiter = limiter
        self._counter = counter

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._account(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        count = self._raw.readinto(buffer) or 0
        self._account(count)
        return count

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()

    def _account(self, count: int) -> None:
        self._counter.add(count)
        self._limiter.consume(count)

    def __enter__(self) -> _PacedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Counter:
    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        with self._lock:
            self.value += count


class _Source:
    """verify.py's ``ObjectSource`` over a storage root's raw access, paced and counted."""

    def __init__(self, store: Any, object_id: str, limiter: RateLimiter, counter: _Counter):
        self.store = store
        self.object_id = object_id
        self.location = object_id
        self.limiter = limiter
        self.counter = counter
        self.listing: list[str] = []

    def refresh(self) -> list[str]:
        """List the object's files afresh (each verification pass starts here)."""
        self.listing = list(self.store.object_files(self.object_id))
        return self.listing

    def files(self) -> list[str]:
        return self.refresh()

    def _open_raw(self, relative_path: str) -> BinaryIO:
        stream: BinaryIO = self.store.open_stored(self.object_id, relative_path)
        return stream

    def open(self, relative_path: str) -> BinaryIO:
        raw = self._open_raw(relative_path)
        return _PacedStream(raw, self.limiter, self.counter)  # type: ignore[return-value]

    def read(self, relative_path: str) -> bytes | None:
        try:
            with self.open(relative_path) as stream:
                return stream.read()
        except (OSError, LookupError, ValueError, OcflError):
            return None

    def digest(self, relative_path: str, algorithm: str) -> str | None:
        hasher = new_hash(algorithm)
        try:
            with self.open(relative_path) as stream:
                while block := stream.read(READ_SIZE):
                    hasher.update(block)
        except (OSError, LookupError, ValueError, OcflError):
            return None
        return hasher.hexdigest()

    def local_path(self) -> Path | None:
        return None  # ocfl-py's structural validation is not part of a fixity check

    def close(self) -> None:
        pass


class _LocalSource(_Source):
    """An object of a local storage root, every file of a pass opened below one directory fd.

    So one pass reads one tree even while a commit swaps in another, and the
    object's path is not worked out again for each of its files (with small
    files that cost more than hashing them).
    """

    def __init__(self, store: Any, object_id: str, limiter: RateLimiter, counter: _Counter):
        super().__init__(store, object_id, limiter, counter)
        self._directories: dict[str, int] = {}  # "" is the object root; each opened once a pass

    def refresh(self) -> list[str]:
        self.close()
        try:
            root = os.open(self.store.object_root(self.object_id), _DIRECTORY)
        except FileNotFoundError:
            raise ObjectNotFound(f"no object {self.object_id!r}") from None
        self._directories[""] = root
        self.listing = sorted(_walk(root, ""))
        return self.listing

    def files(self) -> list[str]:
        return self.listing if self._directories else self.refresh()

    def _open_raw(self, relative_path: str) -> BinaryIO:
        if not self._directories:
            self.refresh()
        if path_problem(relative_path, CONTENT_PATH_CODES) is not None:
            raise ValueError(f"not a path inside the object: {relative_path!r}")
        directory, _, name = relative_path.rpartition("/")
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=self._directory(directory))
        return os.fdopen(fd, "rb")

    def _directory(self, path: str) -> int:
        fd = self._directories.get(path)
        if fd is None:
            parent, _, name = path.rpartition("/")
            # no symbolic link is followed on the way down
            fd = os.open(name, _DIRECTORY | os.O_NOFOLLOW, dir_fd=self._directory(parent))
            self._directories[path] = fd
        return fd

    def close(self) -> None:
        for fd in self._directories.values():
            os.close(fd)
        self._directories.clear()


_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY


def _walk(fd: int, prefix: str) -> Iterator[str]:
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                child = os.open(entry.name, _DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                try:
                    yield from _walk(child, f"{prefix}{entry.name}/")
                finally:
                    os.close(child)
            else:
                yield prefix + entry.name


def _source(store: Any, object_id: str, limiter: RateLimiter, counter: _Counter) -> _Source:
    kind = _LocalSource if isinstance(store, StorageRoot) else _Source
    return kind(store, object_id, limiter, counter)


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Repair:
    path: str  # inside the object
    names: tuple[str, ...]  # the logical paths whose content this is
    detail: str


@dataclass
class ObjectAudit:
    object_id: str
    head: str | None = None
    problems: list[Finding] = field(default_factory=list)  # errors left after any repair
    warnings: list[Finding] = field(default_factory=list)
    repairs: list[Repair] = field(default_factory=list)
    not_repaired: dict[str, str] = field(default_factory=dict)  # path -> why not
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)  # content path -> logical
    files_checked: int = 0
    signatures_verified: int = 0
    plaintext_checked: int = 0
    bytes_read: int = 0

    @property
    def outcome(self) -> EventOutcome:
        if self.problems:
            return EventOutcome.FAILURE
        return EventOutcome.WARNING if self.warnings else EventOutcome.SUCCESS

    @property
    def ok(self) -> bool:
        return not self.problems

    def name_of(self, path: str) -> str:
        names = self.names.get(path)
        return f"{path} ({', '.join(names)})" if names else (path or ".")

    def problem_lines(self) -> list[str]:
        lines = []
        for finding in self.problems + self.warnings:
            level = "" if finding.is_error else "warning: "
            line = f"{finding.code} {self.name_of(finding.path)}: {level}{finding.message}"
            if finding.path in self.not_repaired:
                line += f" (not repaired: {self.not_repaired[finding.path]})"
            lines.append(line)
        return lines

    def summary(self) -> str:
        counts = (
            f"{self.files_checked} files hashed, {self.signatures_verified} signatures verified"
        )
        if self.plaintext_checked:
            counts += f", {self.plaintext_checked} plaintexts checked"
        if self.repairs:
            counts += f", {len(self.repairs)} repaired from the replica"
        if self.problems:
            return f"{len(self.problems)} problems; {counts}"
        return f"all intact; {counts}"

    def detail(self) -> str:
        """The event's detail: the verdict, then each problem by name, one per line."""
        return "\n".join([self.summary(), *self.problem_lines()])


# --- the audit ----------------------------------------------------------------------------------


def _version_of(path: str) -> str | None:
    match = _VERSION_DIR.match(path)
    if match:
        return match.group(1)
    if path.startswith(SIGNATURE_DIR):
        signature = _SIGNATURE.match(path[len(SIGNATURE_DIR) :])
        return signature.group(1) if signature else None
    return None


def _logical_names(inventory: Inventory | None) -> dict[str, tuple[str, ...]]:
    """Content path -> the logical paths that name its content, newest version first."""
    if inventory is None:
        return {}
    manifest = {digest.lower(): paths for digest, paths in inventory.manifest.items()}
    names: dict[str, list[str]] = {}
    for version_name in reversed(inventory.version_names()):
        for digest, logical in inventory.versions[version_name].state.items():
            for content_path in manifest.get(digest.lower(), []):
                known = names.setdefault(content_path, [])
                known += [path for path in logical if path not in known]
    return {path: tuple(logical) for path, logical in names.items()}


def _root_inventory(source: _Source) -> tuple[bytes | None, Inventory | None]:
    """The root inventory's bytes, and the inventory when it matches its sidecar."""
    data = source.read(INVENTORY_NAME)
    if data is None:
        return None, None
    try:
        inventory = parse_inventory(data)
        sidecar = source.read(sidecar_name(inventory.digest_algorithm))
        if sidecar is None:
            return data, None
        hasher = new_hash(inventory.digest_algorithm)
        hasher.update(data)
        if hasher.hexdigest() != parse_sidecar(sidecar):
            return data, None
    except InventoryError:
        return data, None
    return data, inventory


def _verify(source: _Source, keys: list[PublicSigningKey]) -> VerificationReport:
    """verify.py's full check; again when a commit changed the object meanwhile."""
    report = VerificationReport(location=source.object_id)
    for _ in range(3):
        source.refresh()  # ObjectNotFound when there is no such object
        before = source.read(INVENTORY_NAME)
        report = verify_object(
            source,  # type: ignore[arg-type]
            keys,
            allow_unsigned=True,
            object_id=source.object_id,
            ocfl_validation=False,
        )
        _require_signatures(report, source.listing)
        if report.ok or source.read(INVENTORY_NAME) == before:
            break
    return report


def _require_signatures(report: VerificationReport, files: list[str]) -> None:
    """Which missing signatures are errors: the head's and those after the first signed version.

    This instance signs every version it commits, so in an object that carries
    the signature extension the head version was signed, and so was every
    version after the first signed one. Versions before it were imported (or
    written before the instance signed): their missing signatures stay warnings.
    """
    if not any(path.startswith(SIGNATURE_DIR) for path in files):
        return
    signed = [_version_of(path) for path in files if path.startswith(SIGNATURE_DIR)]
    first = min((version_number(name) for name in signed if name), default=None)

    def judged(finding: Finding) -> Finding:
        version = _version_of(finding.path)
        if finding.code != "HC-SIG-MISSING" or version is None:
            return finding
        if version == report.head or (first is not None and version_number(version) > first):
            return replace(finding, severity="error")
        return finding

    report.findings = [judged(finding) for finding in report.findings]


def audit_object(
    store: Any,
    object_id: str,
    trusted_keys: Iterable[PublicSigningKey],
    *,
    replica: Any | None = None,
    deep: bool = False,
    key_lookup: Callable[[str], bytes] | None = None,
    limiter: RateLimiter = UNLIMITED,
) -> ObjectAudit:
    """Check every stored file of ``object_id``; repair from ``replica`` what it can.

    Lets :class:`~heritage.store.ocfl.errors.ObjectNotFound` through for an
    object that is not (or no longer) in the store.
    """
    keys = list(trusted_keys)
    counter = _Counter()
    source = _source(store, object_id, limiter, counter)
    try:
        report = _verify(source, keys)
        audit = ObjectAudit(object_id)
        if not report.ok and replica is not None:
            replica_source = _source(replica, object_id, limiter, counter)
            try:
                report = _repair(source, replica_source, keys, report, audit)
            finally:
                replica_source.close()
        audit.head = report.head
        audit.problems = report.errors
        audit.warnings = report.warnings
        audit.files_checked = report.files_checked
        audit.signatures_verified = report.signatures_verified
        if not report.ok and replica is None:
            for finding in audit.problems:
                audit.not_repaired.setdefault(finding.path, "no replica is configured")
        if audit.problems or audit.repairs:
            audit.names = _logical_names(_any_inventory(source))
        if deep:
            inventory = _root_inventory(source)[1]
            if inventory is not None:
                _check_plaintext(store, object_id, inventory, key_lookup, limiter, counter, audit)
    finally:
        source.close()
    audit.bytes_read = counter.value
    return audit


def _any_inventory(source: _Source) -> Inventory | None:
    """The object's newest readable inventory, checked or not: only for naming files."""
    versions = sorted(
        (p for p in source.listing if p.endswith("/" + INVENTORY_NAME) and p.count("/") == 1),
        key=lambda path: -version_number(path.split("/")[0]),
    )
    for path in [INVENTORY_NAME, *versions]:
        data = source.read(path)
        if data is None:
            continue
        try:
            return parse_inventory(data)
        except InventoryError:
            continue
    return None


# --- repair -------------------------------------------------------------------------------------


def _trusted_inventory(source: _Source, report: VerificationReport) -> Inventory | None:
    """Our root inventory, when nothing casts doubt on it (its manifest names what is right)."""
    if any(f.code.startswith(TRUST_BREAKERS) for f in report.errors):
        return None
    return _root_inventory(source)[1]


def _repair(
    source: _Source,
    replica: _Source,
    keys: list[PublicSigningKey],
    report: VerificationReport,
    audit: ObjectAudit,
) -> VerificationReport:
    """Restore damaged files from verified replica copies; the report after the repairs."""
    replica_report: VerificationReport | None = None
    for _ in range(3):  # metadata first; then the content its manifest vouches for
        inventory = _trusted_inventory(source, report)
        if inventory is None:
            if replica_report is None:
                replica_report = _verify_replica(replica, keys)
            repaired = _repair_metadata(source, replica, replica_report, audit)
        else:
            names = _logical_names(inventory)
            expected = _expected_digests(inventory)
            damaged = {f.path for f in report.errors if f.code in CONTENT_DAMAGE}
            repaired = sum(
                _repair_content(source, replica, inventory, path, expected, names, audit)
                for path in sorted(damaged & expected.keys())
            )
        if not repaired:
            break
        report = _verify(source, keys)
        if report.ok:
            break
    reason = audit.not_repaired.pop("", "no verified copy in the replica")
    for finding in report.errors:
        audit.not_repaired.setdefault(finding.path, reason)
    return report


def _verify_replica(replica: _Source, keys: list[PublicSigningKey]) -> VerificationReport | None:
    try:
        replica.files()
    except (OcflError, OSError):
        return None
    return _verify(replica, keys)


def _expected_digests(inventory: Inventory) -> dict[str, str]:
    return {path: digest.lower() for digest, paths in inventory.manifest.items() for path in paths}


def _restore(source: _Source, replica: _Source, path: str) -> str | None:
    """Copy the replica's file over ours; why not, if it could not be done."""
    try:
        with replica.open(path) as stream:
            source.store.restore_stored(source.object_id, path, stream)
    except (OcflError, OSError, ValueError) as error:
        return f"restoring failed: {error}"
    return None


def _repair_content(
    source: _Source,
    replica: _Source,
    inventory: Inventory,
    path: str,
    expected: dict[str, str],
    names: dict[str, tuple[str, ...]],
    audit: ObjectAudit,
) -> int:
    algorithm = inventory.digest_algorithm
    wanted = expected[path]
    copy = replica.digest(path, algorithm)
    if copy is None:
        audit.not_repaired[path] = "the replica has no readable copy"
        return 0
    if copy != wanted:
        audit.not_repaired[path] = (
            f"the replica's copy is damaged too ({algorithm} {copy[:16]}…, expected {wanted[:16]}…)"
        )
        return 0
    problem = _restore(source, replica, path)
    if problem is None and source.digest(path, algorithm) != wanted:
        problem = "the restored file still does not match"  # the replica changed meanwhile?
    if problem is not None:
        audit.not_repaired[path] = problem
        return 0
    audit.not_repaired.pop(path, None)
    detail = f"restored from the replica; {algorithm} verified before and after"
    audit.repairs.append(Repair(path, names.get(path, ()), detail))
    return 1


def _repair_metadata(
    source: _Source,
    replica: _Source,
    replica_report: VerificationReport | None,
    audit: ObjectAudit,
) -> int:
    """Inventories, sidecars and signatures, copied from a replica whose metadata verifies.

    The replica's content may be damaged (content is repaired against the
    manifest, file by file), but nothing else: its inventories and signatures
    must check out with our keys. Files of the object root are taken only from
    a replica at our head, so a lagging replica never rolls an object back.
    """
    if replica_report is None or replica_report.head is None:
        audit.not_repaired.setdefault("", "the replica holds no copy of this object")
        return 0
    bad = [f for f in replica_report.errors if f.code not in CONTENT_DAMAGE]
    if bad:
        reason = f"the replica's copy fails verification too ({bad[0].code} {bad[0].path})"
        audit.not_repaired.setdefault("", reason)
        return 0
    _, replica_inventory = _root_inventory(replica)
    if replica_inventory is None:
        return 0
    content = set(_expected_digests(replica_inventory))
    our_versions = {_version_of(path) for path in source.files()} - {None}
    our_head = max(our_versions, key=lambda name: version_number(str(name)), default=None)
    repaired = 0
    for path in replica.files():
        if path in content:
            continue
        version = _version_of(path)
        if version is None and path.startswith("extensions/"):
            if not path.startswith(SIGNATURE_DIR):
                continue  # other extensions' files are not ours to judge
        elif version is None and replica_inventory.head != our_head:
            continue
        theirs = replica.read(path)
        if theirs is None or source.read(path) == theirs:
            continue
        problem = _restore(source, replica, path)
        if problem is not None:
            audit.not_repaired[path] = problem
            continue
        audit.repairs.append(Repair(path, (), "restored from the replica, whose copy verifies"))
        repaired += 1
    return repaired


# --- the deep check -------------------------------------------------------------------------


class _PacedStorage:
    """What ``open_stored_file`` needs of a storage root, with paced reads."""

    def __init__(self, store: Any, limiter: RateLimiter, counter: _Counter) -> None:
        self._store = store
        self._limiter = limiter
        self._counter = counter

    def read(self, object_id: str, path: str, version: str | None = None) -> BinaryIO:
        raw = self._store.read(object_id, path, version)
        return _PacedStream(raw, self._limiter, self._counter)  # type: ignore[return-value]


def _check_plaintext(
    store: Any,
    object_id: str,
    inventory: Inventory,
    key_lookup: Callable[[str], bytes] | None,
    limiter: RateLimiter,
    counter: _Counter,
    audit: ObjectAudit,
) -> None:
    """Hash the plaintext of every file of the head version against object.json's SHA-256."""
    paced = _PacedStorage(store, limiter, counter)
    state = inventory.head_version.logical_state()
    try:
        with paced.read(object_id, DESCRIPTION_PATH) as stream:
            description = ObjectDescription.from_bytes(stream.read())
    except (OcflError, OSError, DescriptionError) as error:
        audit.problems.append(
            Finding(PLAINTEXT_UNREADABLE, DESCRIPTION_PATH, f"cannot be read: {error}")
        )
        return
    content_paths = _content_paths(inventory, state)
    for logical, entry in sorted(description.files.items()):
        where = content_paths.get(logical, logical)
        if entry.key_id is not None and key_lookup is None:
            audit.warnings.append(Finding(KEY_UNAVAILABLE, where, "no key given", "warning"))
            continue
        hasher = hashlib.sha256()
        try:
            with open_stored_file(
                paced,
                object_id,
                logical,
                inventory.head,
                entry,
                state.get(logical, ""),
                key_lookup or _no_key,
            ) as opened:
                for block in opened.iter_range():
                    hasher.update(block)
        except CryptoError as error:
            message = f"cannot be decrypted: {type(error).__name__}: {error}"
            if type(error).__name__ in ("MissingKey", "WrongMasterKey", "MasterKeyUnavailable"):
                audit.warnings.append(Finding(KEY_UNAVAILABLE, where, message, "warning"))
            else:
                audit.problems.append(Finding(PLAINTEXT_UNREADABLE, where, message))
            continue
        except ContentDamaged:
            pass  # a file stored as it is, whose read compares the SHA-256 itself: as below
        except (OcflError, OSError) as error:
            audit.problems.append(Finding(PLAINTEXT_UNREADABLE, where, f"cannot be read: {error}"))
            continue
        audit.plaintext_checked += 1
        actual = hasher.hexdigest()
        if actual != entry.sha256:
            message = (
                f"plaintext sha256 is {actual[:16]}…, object.json records {entry.sha256[:16]}…"
            )
            audit.problems.append(Finding(PLAINTEXT_MISMATCH, where, message))


def _content_paths(inventory: Inventory, state: dict[str, str]) -> dict[str, str]:
    """Logical path of the head version -> its first content path."""
    manifest = {digest.lower(): paths for digest, paths in inventory.manifest.items()}
    return {
        logical: manifest[digest.lower()][0]
        for logical, digest in state.items()
        if manifest.get(digest.lower())
    }


def _no_key(key_id: str) -> bytes:
    from heritage.store.crypto import MissingKey

    raise MissingKey(key_id)
