"""Verify an OCFL object completely: inventories, sidecars, every digest, every signature.

Works offline on an object directory (no database, no instance), and through
a storage root's raw access (``object_files`` / ``open_stored``), so objects on
S3 are checked by the same code. Nothing is trusted that the object says about
itself: content is hashed, inventories are hashed, and signatures are checked
with the public keys the caller trusts, never with the key a signature file
carries.

Problems are data: each :class:`Finding` has a stable code (the table is in
``docs/signatures.md``), the path inside the object it concerns, a message,
and where one applies the OCFL code. ocfl-py's errors are added for object
directories on disk, so a report also names what the OCFL validator says.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

import orjson

from heritage.store.ocfl.digests import BLOCK_SIZE, CONTENT_ALGORITHMS, digest_bytes, new_hash
from heritage.store.ocfl.errors import InventoryError, OcflError, ValidatorUnavailable
from heritage.store.ocfl.inventory import (
    CONTENT_PATH_CODES,
    INVENTORY_NAME,
    Inventory,
    parse_inventory,
    parse_sidecar,
    path_problem,
    version_number,
)
from heritage.store.signing import (
    CONFIG_NAME,
    EXTENSION_NAME,
    INVENTORY_DIGEST_ALGORITHM,
    SIGNATURE_SUFFIX,
    PublicSigningKey,
    SignatureFormatError,
    SignatureRecord,
    signature_name,
)

Severity = Literal["error", "warning"]

SIGNATURE_DIR = f"extensions/{EXTENSION_NAME}/"
_VERSION_DIR = re.compile(r"^(v\d+)/")
_SIGNATURE_FILE = re.compile(r"^(v\d+)" + re.escape(SIGNATURE_SUFFIX) + "$")


@dataclass(frozen=True)
class Finding:
    """One thing wrong with an object: a stable code, the path it concerns, what is wrong."""

    code: str
    path: str
    message: str
    severity: Severity = "error"
    ocfl_code: str | None = None  # the OCFL specification's code for the same problem, if any
    source: str = "heritage"  # or "ocfl-py"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def line(self) -> str:
        """``CODE<TAB>path<TAB>message``: one line per finding, for people and scripts."""
        ocfl = f" [OCFL {self.ocfl_code}]" if self.ocfl_code and self.ocfl_code != self.code else ""
        level = "" if self.is_error else "warning: "
        return f"{self.code}\t{self.path or '.'}\t{level}{self.message}{ocfl}"


@dataclass
class VerificationReport:
    location: str
    object_id: str | None = None
    head: str | None = None
    findings: list[Finding] = field(default_factory=list)
    files_checked: int = 0
    signatures_verified: int = 0

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.is_error]

    @property
    def warnings(self) -> list[Finding]:
        return [finding for finding in self.findings if not finding.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors

    def codes(self) -> set[str]:
        return {finding.code for finding in self.findings}

    def at(self, code: str) -> list[str]:
        """The paths reported with ``code`` (tests and scripts)."""
        return [finding.path for finding in self.findings if finding.code == code]

    def summary(self) -> str:
        what = f"{self.object_id or self.location}"
        if self.head:
            what += f" ({self.head})"
        verdict = "OK" if self.ok else "FAILED"
        return (
            f"{verdict}: {what}: {self.files_checked} files hashed, "
            f"{self.signatures_verified} signatures verified, "
            f"{len(self.errors)} errors, {len(self.warnings)} warnings"
        )


class ObjectSource(Protocol):
    """Raw read access to one object's stored files."""

    location: str

    def files(self) -> list[str]:
        """Every stored file, relative to the object root with ``/``."""
        ...

    def open(self, relative_path: str) -> BinaryIO: ...

    def local_path(self) -> Path | None:
        """The object directory on local disk, for ocfl-py; None elsewhere (S3)."""
        ...


class DirectorySource:
    """An object directory on disk (offline verification)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.location = str(self.path)

    def files(self) -> list[str]:
        if not self.path.is_dir():
            raise FileNotFoundError(f"{self.path} is not a directory")
        found = []
        for directory, _, names in os.walk(self.path):
            relative = Path(directory).relative_to(self.path).as_posix()
            prefix = "" if relative == "." else relative + "/"
            found += [prefix + name for name in names]
        return sorted(found)

    def open(self, relative_path: str) -> BinaryIO:
        if path_problem(relative_path, CONTENT_PATH_CODES) is not None:
            raise ValueError(f"not a path inside the object: {relative_path!r}")
        fd = os.open(self.path / relative_path, os.O_RDONLY | os.O_NOFOLLOW)
        return os.fdopen(fd, "rb")

    def local_path(self) -> Path | None:
        return self.path


class StoredObject:
    """An object in a storage root, read through its raw-access methods (local or S3)."""

    def __init__(self, store: Any, object_id: str) -> None:
        self.store = store
        self.object_id = object_id
        self.location = f"{object_id}"

    def files(self) -> list[str]:
        return list(self.store.object_files(self.object_id))

    def open(self, relative_path: str) -> BinaryIO:
        stream: BinaryIO = self.store.open_stored(self.object_id, relative_path)
        return stream

    def local_path(self) -> Path | None:
        object_root = getattr(self.store, "object_root", None)
        if object_root is None:
            return None
        path = Path(object_root(self.object_id))
        return path if path.is_dir() else None


# --- the checks --------------------------------------------------------------------------------


@dataclass
class _Inventories:
    """What was read of one object's inventories."""

    root_bytes: bytes | None = None
    root_usable: bool = False  # parsed: then it is the head's copy, signed with the head
    reference: Inventory | None = None  # the root inventory, or the newest version's if broken
    version_bytes: dict[str, bytes] = field(default_factory=dict)


class _Checker:
    def __init__(
        self,
        source: ObjectSource,
        trusted: Mapping[str, PublicSigningKey],
        allow_unsigned: bool,
        expected_id: str | None,
    ) -> None:
        self.source = source
        self.trusted = trusted
        self.allow_unsigned = allow_unsigned
        self.expected_id = expected_id
        self.report = VerificationReport(location=source.location)
        self.files: set[str] = set()
        self.accounted: set[str] = set()  # files the object is expected to hold

    def add(self, code: str, path: str, message: str, **extra: Any) -> None:
        self.report.findings.append(Finding(code, path, message, **extra))

    def read(self, path: str) -> bytes | None:
        if path not in self.files:
            return None
        try:
            with self.source.open(path) as stream:
                return stream.read()
        except (OSError, ValueError, OcflError) as error:
            self.add("HC-FILE-UNREADABLE", path, f"cannot be read: {error}")
            return None

    def run(self) -> VerificationReport:
        try:
            self.files = set(self.source.files())
        except (OSError, LookupError, OcflError) as error:
            self.add("HC-OBJECT-MISSING", "", f"no object to verify: {error}", ocfl_code="E003")
            return self.report
        declarations = {name for name in self.files if name.startswith("0=ocfl_object_")}
        self.accounted |= declarations
        if not declarations:
            self.add("HC-DECLARATION-MISSING", "", "no 0=ocfl_object_1.x file", ocfl_code="E003")
        inventories = self.inventories()
        inventory = inventories.reference
        if inventory is None:
            self.extra_files(None)
            return self.report
        self.report.object_id, self.report.head = inventory.id, inventory.head
        if self.expected_id is not None and inventory.id != self.expected_id:
            message = f"the inventory names object {inventory.id!r}, not {self.expected_id!r}"
            self.add("HC-OBJECT-ID-MISMATCH", INVENTORY_NAME, message, ocfl_code="E083")
        self.content(inventory)
        self.signatures(inventory, inventories)
        self.extra_files(inventory)
        return self.report

    # -- inventories ------------------------------------------------------------------------

    def inventory(self, prefix: str, *, required: bool) -> tuple[bytes | None, Inventory | None]:
        """Read ``<prefix>inventory.json``, parse it and check it against its sidecar."""
        path = prefix + INVENTORY_NAME
        self.accounted.add(path)
        data = self.read(path)
        if data is None:
            if path not in self.files:
                severity: Severity = "error" if required else "warning"
                self.add(
                    "HC-INVENTORY-MISSING",
                    path,
                    "the inventory is missing",
                    severity=severity,
                    ocfl_code="E063" if not prefix else "W010",
                )
            return None, None
        inventory: Inventory | None = None
        try:
            inventory = parse_inventory(data)
            algorithm = inventory.digest_algorithm
        except InventoryError as error:
            self.add("HC-INVENTORY-INVALID", path, error.message, ocfl_code=error.code)
            algorithm = _declared_algorithm(data)
        sidecars = sorted(name for name in self.files if name.startswith(path + "."))
        sidecar = f"{path}.{algorithm}" if algorithm else (sidecars[0] if sidecars else "")
        self.accounted.add(sidecar)
        if not sidecar or sidecar not in self.files:
            self.add("HC-SIDECAR-MISSING", sidecar or path, "no sidecar digest", ocfl_code="E058")
            return data, inventory
        sidecar_bytes = self.read(sidecar)
        if sidecar_bytes is None:
            return data, inventory
        try:
            recorded = parse_sidecar(sidecar_bytes)
        except InventoryError as error:
            self.add("HC-SIDECAR-INVALID", sidecar, error.message, ocfl_code="E061")
            return data, inventory
        sidecar_algorithm = sidecar.rsplit(".", 1)[1]
        if sidecar_algorithm not in CONTENT_ALGORITHMS:
            message = f"{sidecar_algorithm!r} is not an OCFL content digest algorithm"
            self.add("HC-SIDECAR-INVALID", sidecar, message, ocfl_code="E058")
            return data, inventory
        actual = digest_bytes(data, sidecar_algorithm)
        if actual != recorded:
            message = (
                f"{path} has digest {_short(actual)}, its sidecar says {_short(recorded)}: "
                "the inventory or the sidecar was changed"
            )
            self.add("HC-SIDECAR-MISMATCH", sidecar, message, ocfl_code="E060")
        return data, inventory

    def inventories(self) -> _Inventories:
        found = _Inventories()
        found.root_bytes, root = self.inventory("", required=True)
        on_disk = sorted(
            {m.group(1) for name in self.files if (m := _VERSION_DIR.match(name))},
            key=version_number,
        )
        names = root.version_names() if root is not None else on_disk
        signed = {m.group(1) for name in self.files if (m := _signature_match(name))}
        newest_good: Inventory | None = None
        for name in names:
            data, inventory = self.inventory(f"{name}/", required=name in signed)
            if data is not None:
                found.version_bytes[name] = data
            if inventory is not None:
                newest_good = inventory
        found.reference = root
        found.root_usable = root is not None
        if root is None and newest_good is not None:
            found.reference = newest_good
            message = f"checking against {newest_good.head}/inventory.json instead"
            self.add("HC-INVENTORY-FALLBACK", INVENTORY_NAME, message, severity="warning")
        reference = found.reference
        if reference is not None:
            head_copy = found.version_bytes.get(reference.head)
            if root is not None and head_copy is not None and head_copy != found.root_bytes:
                message = f"inventory.json and {reference.head}/inventory.json differ"
                self.add("HC-HEAD-INVENTORY-DIFFERS", INVENTORY_NAME, message, ocfl_code="E064")
            for name in on_disk:
                if name not in reference.versions and name in names:
                    # a version newer than the fallback whose inventory is broken, already
                    # reported: without an inventory nothing in it can be checked
                    self.accounted |= {f for f in self.files if f.startswith(name + "/")}
                    self.accounted.add(SIGNATURE_DIR + signature_name(name))
                elif name not in reference.versions:
                    message = (
                        f"version directory {name} is not in the inventory (head "
                        f"{reference.head}): a newer version was removed, or files were added"
                    )
                    self.add("HC-VERSION-EXTRA", name, message, ocfl_code="E046")
                    self.accounted |= {f for f in self.files if f.startswith(name + "/")}
        return found

    # -- content -------------------------------------------------------------------------------

    def content(self, inventory: Inventory) -> None:
        algorithm = inventory.digest_algorithm
        by_digest = {digest.lower(): paths for digest, paths in inventory.manifest.items()}
        fixity = _fixity_by_path(inventory)
        for expected, paths in sorted(by_digest.items(), key=lambda item: item[1]):
            for path in paths:
                self.accounted.add(path)
                if path not in self.files:
                    message = "the manifest lists this file, but it is missing"
                    self.add("HC-FILE-MISSING", path, message, ocfl_code="E092")
                    continue
                wanted = {algorithm, *fixity.get(path, {})}
                actual = self.hash(path, wanted)
                if actual is None:
                    continue
                self.report.files_checked += 1
                got = actual[algorithm]
                if got != expected:
                    others = [p for p in by_digest.get(got, []) if p != path]
                    if others:
                        message = (
                            f"holds the content the manifest gives {', '.join(others)}, "
                            "not its own: files swapped or misplaced"
                        )
                        self.add("HC-FILE-SWAPPED", path, message, ocfl_code="E092")
                    else:
                        message = (
                            f"{algorithm} is {_short(got)}, the manifest says {_short(expected)}"
                        )
                        self.add("HC-DIGEST-MISMATCH", path, message, ocfl_code="E092")
                for name, recorded in sorted(fixity.get(path, {}).items()):
                    if actual[name] != recorded:
                        message = (
                            f"fixity {name} is {_short(actual[name])}, recorded {_short(recorded)}"
                        )
                        self.add("HC-FIXITY-MISMATCH", path, message, ocfl_code="E093")

    def hash(self, path: str, algorithms: Iterable[str]) -> dict[str, str] | None:
        hashers = {name: new_hash(name) for name in algorithms}
        try:
            with self.source.open(path) as stream:
                while block := stream.read(BLOCK_SIZE):
                    for hasher in hashers.values():
                        hasher.update(block)
        except (OSError, ValueError, OcflError) as error:
            self.add("HC-FILE-UNREADABLE", path, f"cannot be read: {error}")
            return None
        return {name: hasher.hexdigest() for name, hasher in hashers.items()}

    def extra_files(self, inventory: Inventory | None) -> None:
        for path in sorted(self.files - self.accounted):
            if path.startswith("logs/"):
                continue  # OCFL 3.1: the logs directory is free for the object's own use
            if path.startswith("extensions/"):
                if path.count("/") == 1:
                    message = "a file directly in extensions/ (only directories belong there)"
                    self.add("HC-FILE-EXTRA", path, message, ocfl_code="E067")
                elif path.startswith(SIGNATURE_DIR):
                    message = "not a file of the signed-inventories extension"
                    self.add("HC-FILE-EXTRA", path, message)
                continue  # other extensions' files are theirs to define
            version = _VERSION_DIR.match(path)
            if version is None:
                message = "unexpected file in the object root"
                self.add("HC-FILE-EXTRA", path, message, ocfl_code="E001")
            elif inventory is not None and path.startswith(
                f"{version.group(1)}/{inventory.content_dir}/"
            ):
                message = "a content file the manifest does not list"
                self.add("HC-FILE-EXTRA", path, message, ocfl_code="E023")
            else:
                message = "a file outside the version's content directory"
                self.add("HC-FILE-EXTRA", path, message, ocfl_code="E015")

    # -- signatures ------------------------------------------------------------------------------

    def signatures(self, inventory: Inventory, inventories: _Inventories) -> None:
        self.accounted.add(SIGNATURE_DIR + CONFIG_NAME)
        for version in inventory.version_names():
            path = SIGNATURE_DIR + signature_name(version)
            self.accounted.add(path)
            if path not in self.files:
                message = f"version {version} carries no signature"
                if self.allow_unsigned:
                    self.add("HC-SIG-MISSING", path, message, severity="warning")
                else:
                    self.add("HC-SIG-MISSING", path, message)
                continue
            data = self.read(path)
            if data is None:
                continue
            signed = [(f"{version}/{INVENTORY_NAME}", inventories.version_bytes.get(version))]
            if version == inventory.head and inventories.root_usable:
                signed.append((INVENTORY_NAME, inventories.root_bytes))
            self.signature(inventory, version, path, data, signed)
        for name in sorted(self.files):
            match = _signature_match(name)
            if match and match.group(1) not in inventory.versions and name not in self.accounted:
                self.accounted.add(name)
                message = (
                    f"a signature for version {match.group(1)}, which the inventory does not "
                    f"have (head {inventory.head}): versions were removed?"
                )
                self.add("HC-SIG-ORPHAN", name, message)

    def signature(
        self,
        inventory: Inventory,
        version: str,
        path: str,
        data: bytes,
        signed: list[tuple[str, bytes | None]],
    ) -> None:
        try:
            record = SignatureRecord.from_bytes(data)
        except SignatureFormatError as error:
            self.add("HC-SIG-MALFORMED", path, f"not a valid signature file: {error}")
            return
        key = self.trusted.get(record.key_id)
        if key is None or key.raw != record.public_key.raw:
            valid = record.public_key.verify(record.signature, record.message())
            message = (
                f"signed by key {record.key_id}, which is not trusted "
                f"(the signature is {'valid' if valid else 'not valid'} for that key)"
            )
            self.add("HC-SIG-UNTRUSTED-KEY", path, message)
            return
        if not key.verify(record.signature, record.message()):
            message = (
                f"the signature by {record.key_id} does not match the object id, version "
                "and inventory digest it records: the signature file was altered"
            )
            self.add("HC-SIG-BAD", path, message)
            return
        if record.object_id != inventory.id or record.version != version:
            message = (
                f"a valid signature, but for object {record.object_id!r} version "
                f"{record.version}, not {inventory.id!r} {version}: copied from elsewhere"
            )
            self.add("HC-SIG-WRONG-OBJECT", path, message)
            return
        if record.digest_algorithm != INVENTORY_DIGEST_ALGORITHM:
            message = f"inventory digest algorithm {record.digest_algorithm!r} is not sha512"
            self.add("HC-SIG-MALFORMED", path, message)
            return
        mismatched = False
        for inventory_path, inventory_bytes in signed:
            if inventory_bytes is None:
                continue
            actual = digest_bytes(inventory_bytes, INVENTORY_DIGEST_ALGORITHM)
            if actual != record.digest:
                mismatched = True
                message = (
                    f"not the inventory {version}'s signature covers: sha512 is "
                    f"{_short(actual)}, signed {_short(record.digest)}"
                )
                self.add("HC-SIG-DIGEST-MISMATCH", inventory_path, message)
        if not mismatched and any(data is not None for _, data in signed):
            self.report.signatures_verified += 1


def _signature_match(path: str) -> re.Match[str] | None:
    if not path.startswith(SIGNATURE_DIR):
        return None
    return _SIGNATURE_FILE.match(path[len(SIGNATURE_DIR) :])


def _declared_algorithm(data: bytes) -> str | None:
    """The digestAlgorithm of an inventory too broken to parse, if it still names one."""
    try:
        value = orjson.loads(data).get("digestAlgorithm")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return value if value in CONTENT_ALGORITHMS else None


def _fixity_by_path(inventory: Inventory) -> dict[str, dict[str, str]]:
    """Content path -> fixity algorithm -> recorded digest."""
    result: dict[str, dict[str, str]] = {}
    for algorithm, block in (inventory.fixity or {}).items():
        for digest, paths in block.items():
            for path in paths:
                result.setdefault(path, {})[algorithm] = digest.lower()
    return result


def _short(digest: str) -> str:
    return digest[:16] + "…" if len(digest) > 16 else digest or "(none)"


def _ocfl_findings(path: Path, ours: list[Finding]) -> Iterator[Finding]:
    """ocfl-py's errors for the object directory, less those already reported by our checks."""
    from heritage.store.ocfl.validate import validate_object

    try:
        report = validate_object(path, check_digests=False)  # digests are hashed above already
    except ValidatorUnavailable:
        return
    covered = {finding.ocfl_code for finding in ours if finding.ocfl_code}
    for issue in report.errors:
        if issue.code not in covered:
            yield Finding(issue.code, "", issue.message, ocfl_code=issue.code, source="ocfl-py")


def verify_object(
    target: str | os.PathLike[str] | ObjectSource,
    trusted_keys: Iterable[PublicSigningKey],
    *,
    allow_unsigned: bool = False,
    object_id: str | None = None,
    ocfl_validation: bool = True,
) -> VerificationReport:
    """Check every digest and signature of one object; the findings, if any, by name.

    ``target`` is an object directory or an :class:`ObjectSource` (such as
    :class:`StoredObject`). Signatures count only when made by one of
    ``trusted_keys``; ``allow_unsigned`` reports versions without a signature
    (imported objects) as warnings instead of errors. ``object_id``, when
    given, must be the id the inventory names.
    """
    source = target if not isinstance(target, str | os.PathLike) else DirectorySource(target)
    trusted = {key.key_id: key for key in trusted_keys}
    report = _Checker(source, trusted, allow_unsigned, object_id).run()
    local = source.local_path() if ocfl_validation else None
    if local is not None and "HC-OBJECT-MISSING" not in report.codes():
        report.findings += list(_ocfl_findings(local, report.findings))
    return report


def verify_stored(
    store: Any,
    object_id: str,
    trusted_keys: Iterable[PublicSigningKey],
    *,
    allow_unsigned: bool = False,
) -> VerificationReport:
    """:func:`verify_object` for an object of a storage root (local or S3).

    A commit that lands while the object is read could look like damage, so
    when the root inventory changed during the check, the check runs again.
    """
    keys = list(trusted_keys)
    source = StoredObject(store, object_id)
    report = VerificationReport(location=object_id)
    for _ in range(3):
        before = _root_inventory(source)
        report = verify_object(source, keys, allow_unsigned=allow_unsigned, object_id=object_id)
        if report.ok or _root_inventory(source) == before:
            break
    return report


def _root_inventory(source: ObjectSource) -> bytes | None:
    try:
        with source.open(INVENTORY_NAME) as stream:
            return stream.read()
    except (OSError, LookupError, ValueError, OcflError):
        return None
