"""OCFL 1.1 storage: the source of truth for every record's files and metadata versions.

``StorageRoot`` (``store.py``) creates, versions, reads and purges objects with
crash-safe commits; ``layouts.py`` maps ids to paths; ``inventory.py`` models
inventories; ``validate.py`` asks ocfl-py for a verdict and imports foreign
objects. Nothing here checks permissions: services do that before calling in.
"""

from heritage.store.ocfl.errors import (
    CorruptObject,
    HeadMismatch,
    ImportRefused,
    InvalidChange,
    InventoryError,
    LayoutError,
    ObjectExists,
    ObjectNotFound,
    OcflError,
    PathNotFound,
    StoreNotInitialised,
    ValidatorUnavailable,
    VersionNotFound,
)
from heritage.store.ocfl.inventory import Inventory, User, Version
from heritage.store.ocfl.layouts import DEFAULT_LAYOUT, get_layout, layout_names
from heritage.store.ocfl.store import Changes, CommitResult, StorageRoot, VersionInfo

__all__ = [
    "DEFAULT_LAYOUT",
    "Changes",
    "CommitResult",
    "CorruptObject",
    "HeadMismatch",
    "ImportRefused",
    "InvalidChange",
    "Inventory",
    "InventoryError",
    "LayoutError",
    "ObjectExists",
    "ObjectNotFound",
    "OcflError",
    "PathNotFound",
    "StorageRoot",
    "StoreNotInitialised",
    "User",
    "ValidatorUnavailable",
    "Version",
    "VersionInfo",
    "VersionNotFound",
    "get_layout",
    "layout_names",
]
