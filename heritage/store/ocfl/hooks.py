"""Contracts between a storage root and the layers around it.

``StagedFile`` lets a caller hand over a file it already wrote (an upload, an
encrypted copy) so the commit moves it into the object instead of copying it
again. ``VersionSigner`` lets the instance sign each version's inventory: the
storage root writes what it returns into the object's extension directory before
the root inventory names the new version, so no version is ever the head
without its signature, local or on S3.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class StagedFile:
    """A complete file on local disk, to be moved (not copied) into a new version.

    ``digests`` holds what the writer computed while writing (algorithm -> hex
    digest of the bytes on disk); the store uses a matching one instead of reading
    the file again, and hashes it itself otherwise. The store hard-links it into
    its work area (copying only across file systems), so the caller's file is
    untouched whatever happens: the caller deletes it once the commit succeeded.
    """

    path: Path
    digests: Mapping[str, str] = field(default_factory=dict)


class VersionSigner(Protocol):
    """Signs a version's inventory as the version is committed."""

    #: the object extension directory the files go to: ``extensions/<extension_name>/``
    extension_name: str

    def sign_version(
        self, object_id: str, version: str, inventory_bytes: bytes
    ) -> Mapping[str, bytes]:
        """Files (plain names, no slashes) to write into the extension directory for this
        version. ``inventory_bytes`` are exactly the bytes of ``<version>/inventory.json``
        (equal to the root ``inventory.json`` of that version)."""
        ...
