"""The OCFL 1.1 inventory: model, canonical JSON, sidecar, and parsing with OCFL codes.

Parsing checks the rules a reader relies on (structure, version sequence,
paths, digests named in states) and raises :class:`InventoryError` with the
OCFL code. It is not a full validator: ocfl-py's validator, run by
``validate.py``, remains the judge of conformance.

Prior versions are kept exactly as read (``created`` stays the original
string, digests keep their original case), so rewriting the inventory for a
new version never alters the history it records (OCFL E066, W011).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from heritage.store.ocfl.digests import CONTENT_ALGORITHMS, FIXITY_ALGORITHMS, digest_bytes
from heritage.store.ocfl.errors import InventoryError

INVENTORY_TYPE = "https://ocfl.io/1.1/spec/#inventory"
KNOWN_TYPES = (INVENTORY_TYPE, "https://ocfl.io/1.0/spec/#inventory")
DEFAULT_CONTENT_DIRECTORY = "content"
INVENTORY_NAME = "inventory.json"

_TOP_KEYS = {
    "id",
    "type",
    "digestAlgorithm",
    "head",
    "contentDirectory",
    "manifest",
    "versions",
    "fixity",
}
_VERSION_NAME = re.compile(r"^v(\d+)$")
# RFC 3339 date-time: seconds required, fraction optional, offset or Z required (E049).
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


@dataclass(frozen=True)
class User:
    """Who made a version: a readable name and, ideally, a URI (mailto: or a profile URL)."""

    name: str
    address: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("a version's user needs a non-empty name")
        # OCFL W009 asks for a URI; refusing anything else keeps our store warning-free
        if self.address is not None and not _URI.match(self.address):
            raise ValueError(f"user address must be a URI such as mailto:..., not {self.address!r}")


@dataclass
class Version:
    """One version block: when, why, by whom, and the logical state (digest -> paths)."""

    created: str
    state: dict[str, list[str]]
    message: str | None = None
    user: User | None = None

    @property
    def created_at(self) -> datetime:
        return datetime.fromisoformat(self.created.replace("z", "Z").replace("Z", "+00:00"))

    def logical_state(self) -> dict[str, str]:
        """Logical path -> digest."""
        return {path: digest for digest, paths in self.state.items() for path in paths}


@dataclass
class Inventory:
    id: str
    head: str
    manifest: dict[str, list[str]]
    versions: dict[str, Version]
    digest_algorithm: str = "sha512"
    type: str = INVENTORY_TYPE
    content_directory: str | None = None
    fixity: dict[str, dict[str, list[str]]] | None = field(default=None)

    @property
    def head_version(self) -> Version:
        return self.versions[self.head]

    @property
    def content_dir(self) -> str:
        return self.content_directory or DEFAULT_CONTENT_DIRECTORY

    def version_names(self) -> list[str]:
        """Version directory names in order v1, v2, ..."""
        return sorted(self.versions, key=version_number)

    def manifest_key(self, digest: str) -> str | None:
        """The manifest's own spelling of a digest (case may differ in imported objects)."""
        wanted = digest.lower()
        for key in self.manifest:
            if key.lower() == wanted:
                return key
        return None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "digestAlgorithm": self.digest_algorithm,
            "head": self.head,
            "manifest": {digest: sorted(paths) for digest, paths in self.manifest.items()},
            "versions": {name: _version_dict(v) for name, v in self.versions.items()},
        }
        if self.content_directory is not None:
            data["contentDirectory"] = self.content_directory
        if self.fixity is not None:
            data["fixity"] = self.fixity
        return data

    def to_json(self) -> bytes:
        """Canonical serialisation: sorted keys, two-space indent, UTF-8, final newline.

        orjson writes the same text as ``json.dumps(sort_keys=True, indent=2,
        ensure_ascii=False)`` for an inventory (strings, arrays, objects only),
        several times faster; the whole inventory is rewritten on every commit.
        """
        options = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
        return orjson.dumps(self.to_dict(), option=options) + b"\n"


def _version_dict(version: Version) -> dict[str, Any]:
    data: dict[str, Any] = {
        "created": version.created,
        "state": {digest: sorted(paths) for digest, paths in version.state.items()},
    }
    if version.message is not None:
        data["message"] = version.message
    if version.user is not None:
        data["user"] = {"name": version.user.name}
        if version.user.address is not None:
            data["user"]["address"] = version.user.address
    return data


def now_rfc3339() -> str:
    """The current time as RFC 3339 UTC with microseconds, e.g. 2026-01-02T03:04:05.123456Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def version_number(name: str) -> int:
    match = _VERSION_NAME.match(name)
    if not match:
        raise InventoryError("E046", f"{name!r} is not a version directory name")
    return int(match.group(1))


def version_name(number: int, like: str) -> str:
    """The name of version ``number`` in the object's naming convention (zero-padded or not)."""
    digits = like[1:]
    if digits.startswith("0"):  # zero-padded: fixed width, and the width caps the count (E011)
        name = f"v{number:0{len(digits)}d}"
        if len(name) != len(like) or name[1] != "0":
            raise InventoryError(
                "E011", f"zero-padded names like {like!r} allow no version {number}"
            )
        return name
    return f"v{number}"


def sidecar_name(algorithm: str) -> str:
    return f"{INVENTORY_NAME}.{algorithm}"


def sidecar_text(inventory_bytes: bytes, algorithm: str) -> bytes:
    return f"{digest_bytes(inventory_bytes, algorithm)} {INVENTORY_NAME}\n".encode()


def parse_sidecar(text: bytes) -> str:
    parts = text.decode("utf-8", "replace").split()
    if len(parts) != 2 or parts[1] != INVENTORY_NAME:
        raise InventoryError("E061", "sidecar must read '<digest> inventory.json'")
    return parts[0].lower()


# --- paths ----------------------------------------------------------------------------------


# OCFL codes for unsafe paths: (leading or trailing slash, bad element) for each kind of path
LOGICAL_PATH_CODES = ("E053", "E052")
CONTENT_PATH_CODES = ("E100", "E099")


def path_problem(
    path: object, codes: tuple[str, str] = LOGICAL_PATH_CODES
) -> tuple[str, str] | None:
    """(OCFL code, reason) when a logical or content path is unsafe, else None."""
    slash_code, element_code = codes
    if not isinstance(path, str) or not path:
        return element_code, "must be a non-empty string"
    if path.startswith("/") or path.endswith("/"):
        return slash_code, "must not begin or end with '/'"
    if any(part in ("", ".", "..") for part in path.split("/")):
        return element_code, "must not contain empty, '.' or '..' elements"
    if "\x00" in path:
        return element_code, "must not contain NUL"
    return None


def first_conflict(paths: Iterable[str]) -> tuple[str, str] | None:
    """Two paths where one is a directory prefix of the other (OCFL E095, E101), or None."""
    ordered = sorted(paths)
    present = set(ordered)
    for path in ordered:
        parts = path.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in present:
                return prefix, path
    return None


# --- parsing ---------------------------------------------------------------------------------


def _require(condition: bool, code: str, message: str) -> None:
    if not condition:
        raise InventoryError(code, message)


def _check_path(path: str, codes: tuple[str, str], what: str) -> None:
    problem = path_problem(path, codes)
    if problem is not None:
        raise InventoryError(problem[0], f"{what} {path!r} {problem[1]}")


def _digest_map(
    value: object, code: str, what: str, duplicate_code: str = "E096"
) -> dict[str, list[str]]:
    _require(isinstance(value, dict), code, f"{what} must be a JSON object")
    assert isinstance(value, dict)
    result: dict[str, list[str]] = {}
    seen: set[str] = set()
    for digest, paths in value.items():
        _require(digest.lower() not in seen, duplicate_code, f"{what} repeats digest {digest}")
        seen.add(digest.lower())
        _require(
            isinstance(paths, list) and all(isinstance(p, str) for p in paths),
            code,
            f"{what} values must be arrays of paths",
        )
        result[digest] = list(paths)
    return result


def _parse_user(value: object) -> User:
    _require(isinstance(value, dict), "E054", "user must be a JSON object")
    assert isinstance(value, dict)
    name, address = value.get("name"), value.get("address")
    _require(isinstance(name, str), "E054", "user must have a name")
    try:
        return User(name, address)
    except ValueError:
        # Imported objects may carry non-URI addresses (only a warning, W009): keep them as read
        user = object.__new__(User)
        object.__setattr__(user, "name", name)
        object.__setattr__(user, "address", address)
        return user


def _parse_version(name: str, value: object, manifest: Mapping[str, list[str]]) -> Version:
    _require(isinstance(value, dict), "E047", f"version {name} must be a JSON object")
    assert isinstance(value, dict)
    created = value.get("created")
    _require(isinstance(created, str), "E048", f"version {name} has no created time")
    assert isinstance(created, str)
    _require(bool(_RFC3339.match(created)), "E049", f"version {name} created is not RFC 3339")
    state = _digest_map(value.get("state"), "E048", f"version {name} state")
    paths: list[str] = []
    for digest, logical in state.items():
        _require(digest in manifest, "E050", f"version {name} digest {digest} not in manifest")
        for path in logical:
            _check_path(path, LOGICAL_PATH_CODES, "logical path")
        paths.extend(logical)
    _require(len(paths) == len(set(paths)), "E095", f"version {name} repeats a logical path")
    conflict = first_conflict(paths)
    _require(conflict is None, "E095", f"version {name} logical paths conflict: {conflict}")
    message = value.get("message")
    _require(message is None or isinstance(message, str), "E094", "message must be a string")
    user = _parse_user(value["user"]) if "user" in value else None
    return Version(created=created, state=state, message=message, user=user)


# Parsed inventories by their bytes, the most recently used last.
_PARSED: OrderedDict[bytes, Inventory] = OrderedDict()
_PARSED_LOCK = threading.Lock()
_PARSED_SIZE = 128


def parse_inventory(data: bytes) -> Inventory:
    """Parse inventory bytes; raises InventoryError carrying the OCFL code on the first problem.

    Results are cached by content: a commit reads the same inventory several times,
    and checking every path of a long history each time dominated commit time.
    Callers must treat the returned inventory as read-only (every writer copies it).
    """
    key = bytes(data)
    with _PARSED_LOCK:
        found = _PARSED.get(key)
        if found is not None:
            _PARSED.move_to_end(key)
            return found
    inventory = _parse(key)
    remember_written(key, inventory)
    return inventory


def remember_written(data: bytes, inventory: Inventory) -> None:
    """Cache ``inventory`` as the parse of ``data``, the bytes it was just serialised to
    (a commit that writes an inventory reads it back next: the index, the next change)."""
    with _PARSED_LOCK:
        _PARSED[data] = inventory
        _PARSED.move_to_end(data)
        while len(_PARSED) > _PARSED_SIZE:
            _PARSED.popitem(last=False)


def _parse(data: bytes) -> Inventory:
    try:
        raw = orjson.loads(data)  # rejects invalid UTF-8 as well as invalid JSON
    except orjson.JSONDecodeError as exc:
        raise InventoryError("E033", f"inventory is not UTF-8 JSON: {exc}") from None
    _require(isinstance(raw, dict), "E033", "inventory must be a JSON object")
    for key in ("id", "type", "digestAlgorithm", "head"):
        _require(isinstance(raw.get(key), str), "E036", f"inventory needs a string {key!r}")
    _require("manifest" in raw and "versions" in raw, "E041", "inventory needs manifest, versions")
    extra = set(raw) - _TOP_KEYS
    _require(not extra, "E102", f"inventory has unknown keys {sorted(extra)}")
    _require(raw["type"] in KNOWN_TYPES, "E038", f"unknown inventory type {raw['type']!r}")
    algorithm = raw["digestAlgorithm"]
    _require(algorithm in CONTENT_ALGORITHMS, "E025", f"digestAlgorithm {algorithm!r}")
    content_dir = raw.get("contentDirectory")
    if content_dir is not None:
        _require(
            isinstance(content_dir, str) and "/" not in content_dir, "E017", "contentDirectory"
        )
        _require(content_dir not in (".", ".."), "E018", "contentDirectory must not be . or ..")
    manifest = _digest_map(raw["manifest"], "E106", "manifest")
    content_paths = [path for paths in manifest.values() for path in paths]
    for path in content_paths:
        _check_path(path, CONTENT_PATH_CODES, "content path")
    _require(len(content_paths) == len(set(content_paths)), "E101", "content paths repeat")
    _require(first_conflict(content_paths) is None, "E101", "content paths conflict")
    versions_raw = raw["versions"]
    _require(isinstance(versions_raw, dict) and versions_raw, "E008", "no versions")
    numbers = sorted(version_number(name) for name in versions_raw)
    _require(numbers == list(range(1, len(numbers) + 1)), "E010", "versions are not v1..vN")
    _require(raw["head"] in versions_raw, "E040", f"head {raw['head']!r} is not a version")
    _require(version_number(raw["head"]) == numbers[-1], "E040", "head is not the latest version")
    versions = {name: _parse_version(name, v, manifest) for name, v in versions_raw.items()}
    fixity = raw.get("fixity")
    if fixity is not None:
        _require(isinstance(fixity, dict), "E111", "fixity must be a JSON object")
        for name, block in fixity.items():
            _require(name in FIXITY_ALGORITHMS, "E056", f"unknown fixity algorithm {name!r}")
            for paths in _digest_map(block, "E057", f"fixity {name}", "E097").values():
                for path in paths:
                    _check_path(path, CONTENT_PATH_CODES, f"fixity {name} content path")
    return Inventory(
        id=raw["id"],
        type=raw["type"],
        digest_algorithm=algorithm,
        head=raw["head"],
        content_directory=content_dir,
        manifest=manifest,
        versions=versions,
        fixity=fixity,
    )
