"""Storage layout extensions: how an object id becomes an object root path.

A registry by extension name and short aliases, like the other optional
infrastructure of the platform. Each layout follows its published OCFL
community extension (https://ocfl.github.io/extensions/):

* ``0004-hashed-n-tuple-storage-layout``: sha256 of the id,
  three 3-character tuples, then the full digest. Any id maps to a safe path.
* ``0003-hash-and-id-n-tuple-storage-layout`` (the default, which stock
  ocfl-py validates): the same tuples, then the id
  percent-encoded, so a person browsing the disk can see the id.
* ``0002-flat-direct-storage-layout``: the id itself is the directory name.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from heritage.store.ocfl.digests import FIXITY_ALGORITHMS, digest_bytes
from heritage.store.ocfl.errors import LayoutError

DEFAULT_LAYOUT = "0003-hash-and-id-n-tuple-storage-layout"

# Names the storage root itself uses, which an object root must never take.
_RESERVED_TOP_LEVEL = frozenset({"extensions", "ocfl_layout.json", "ocfl_1.1.md"})


class StorageLayout(ABC):
    """Maps object ids to object root paths, relative to the storage root, with ``/``."""

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def object_path(self, object_id: str) -> str: ...

    def config(self) -> dict[str, Any] | None:
        """The extension's ``config.json`` content, or None for a layout without parameters."""
        return None

    @classmethod
    @abstractmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> StorageLayout: ...


def _check_id(object_id: str) -> None:
    if not isinstance(object_id, str) or not object_id:
        raise LayoutError("an object id must be a non-empty string")
    if "\x00" in object_id:
        raise LayoutError("an object id must not contain NUL")


def _int_param(config: Mapping[str, Any], key: str, default: int) -> int:
    value = config.get(key, default)
    # bool is an int in Python; the extension wants a JSON number
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 32:
        raise LayoutError(f"{key} must be an integer from 0 to 32, not {value!r}")
    return value


def _tuple_params(config: Mapping[str, Any] | None) -> tuple[str, int, int]:
    config = config or {}
    algorithm = config.get("digestAlgorithm", "sha256")
    if algorithm not in FIXITY_ALGORITHMS:
        raise LayoutError(f"digestAlgorithm {algorithm!r} is not an OCFL digest algorithm")
    size = _int_param(config, "tupleSize", 3)
    count = _int_param(config, "numberOfTuples", 3)
    if (size == 0) != (count == 0):
        raise LayoutError("tupleSize and numberOfTuples must both be 0 when one is")
    if size * count > len(digest_bytes(b"", algorithm)):
        raise LayoutError("tupleSize x numberOfTuples exceeds the digest length")
    return algorithm, size, count


def _check_extension_name(config: Mapping[str, Any] | None, name: str) -> None:
    if config is not None and config.get("extensionName", name) != name:
        raise LayoutError(f"config.json names {config.get('extensionName')!r}, expected {name!r}")


def _tuples(digest: str, size: int, count: int) -> list[str]:
    return [digest[i * size : (i + 1) * size] for i in range(count)]


@dataclass(frozen=True)
class HashedNTuple(StorageLayout):
    """Extension 0004: hashed n-tuple storage layout."""

    name: ClassVar[str] = "0004-hashed-n-tuple-storage-layout"
    description: ClassVar[str] = (
        "OCFL object identifiers are hashed and encoded as lowercase hex strings. These digests"
        " are then divided into N n-tuple segments, which are used to create nested paths under"
        " the OCFL storage root."
    )
    digest_algorithm: str = "sha256"
    tuple_size: int = 3
    number_of_tuples: int = 3
    short_object_root: bool = False

    def object_path(self, object_id: str) -> str:
        _check_id(object_id)
        digest = digest_bytes(object_id.encode("utf-8"), self.digest_algorithm).lower()
        used = self.tuple_size * self.number_of_tuples
        last = digest[used:] if self.short_object_root else digest
        return "/".join([*_tuples(digest, self.tuple_size, self.number_of_tuples), last])

    def config(self) -> dict[str, Any]:
        return {
            "extensionName": self.name,
            "digestAlgorithm": self.digest_algorithm,
            "tupleSize": self.tuple_size,
            "numberOfTuples": self.number_of_tuples,
            "shortObjectRoot": self.short_object_root,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> HashedNTuple:
        _check_extension_name(config, cls.name)
        algorithm, size, count = _tuple_params(config)
        short = (config or {}).get("shortObjectRoot", False)
        if not isinstance(short, bool):
            raise LayoutError(f"shortObjectRoot must be true or false, not {short!r}")
        if short and size * count == len(digest_bytes(b"", algorithm)):
            raise LayoutError("shortObjectRoot needs digest characters left over after the tuples")
        return cls(algorithm, size, count, short)


def _percent_encode(object_id: str) -> str:
    safe = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return "".join(
        char if char in safe else "".join(f"%{byte:02x}" for byte in char.encode("utf-8"))
        for char in object_id
    )


@dataclass(frozen=True)
class HashAndIdNTuple(StorageLayout):
    """Extension 0003: hashed n-tuples with an id-encapsulating directory."""

    name: ClassVar[str] = "0003-hash-and-id-n-tuple-storage-layout"
    description: ClassVar[str] = (
        "Hashed Truncated N-tuple Trees with Object ID Encapsulating Directory for OCFL Storage"
        " Hierarchies"
    )
    digest_algorithm: str = "sha256"
    tuple_size: int = 3
    number_of_tuples: int = 3

    def object_path(self, object_id: str) -> str:
        _check_id(object_id)
        digest = digest_bytes(object_id.encode("utf-8"), self.digest_algorithm).lower()
        encoded = _percent_encode(object_id)
        if len(encoded) > 100:  # the extension truncates and appends the digest to stay unique
            encoded = f"{encoded[:100]}-{digest}"
        return "/".join([*_tuples(digest, self.tuple_size, self.number_of_tuples), encoded])

    def config(self) -> dict[str, Any]:
        return {
            "extensionName": self.name,
            "digestAlgorithm": self.digest_algorithm,
            "tupleSize": self.tuple_size,
            "numberOfTuples": self.number_of_tuples,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> HashAndIdNTuple:
        _check_extension_name(config, cls.name)
        return cls(*_tuple_params(config))


@dataclass(frozen=True)
class FlatDirect(StorageLayout):
    """Extension 0002: the object id is the object root directory name."""

    name: ClassVar[str] = "0002-flat-direct-storage-layout"
    description: ClassVar[str] = "Extension 0002: Flat Direct Storage Layout"

    def object_path(self, object_id: str) -> str:
        _check_id(object_id)
        if (
            object_id in (".", "..")
            or "/" in object_id
            or object_id.startswith("0=")
            or object_id in _RESERVED_TOP_LEVEL
            or len(object_id.encode("utf-8")) > 255
        ):
            raise LayoutError(f"object id {object_id!r} cannot be a directory name in {self.name}")
        return object_id

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> FlatDirect:
        _check_extension_name(config, cls.name)
        return cls()


_REGISTRY: dict[str, type[StorageLayout]] = {}


def register_layout(layout: type[StorageLayout], *aliases: str) -> None:
    for key in (layout.name, *aliases):
        _REGISTRY[key] = layout


register_layout(HashedNTuple, "0004", "hashed-n-tuple")
register_layout(HashAndIdNTuple, "0003", "hash-and-id-n-tuple")
register_layout(FlatDirect, "0002", "flat-direct")


def layout_class(name: str) -> type[StorageLayout]:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise LayoutError(f"unknown storage layout {name!r} (known: {known})") from None


def get_layout(name: str, config: Mapping[str, Any] | None = None) -> StorageLayout:
    """The layout for a name or alias, configured from its ``config.json`` (defaults if None)."""
    return layout_class(name).from_config(config)


def layout_names() -> list[str]:
    return sorted({cls.name for cls in _REGISTRY.values()})


def digest_of_id(object_id: str) -> str:
    """A fixed-length, file-name-safe key for an object id (used for lock file names)."""
    return hashlib.sha256(object_id.encode("utf-8")).hexdigest()
