"""``.heritage/object.json``: what an object is, written into the object itself.

Every version of every object carries this small JSON file, unencrypted, so the
storage root alone says which workspace an object belongs to, what each file
is, which files are encrypted and with which key, and each file's SHA-256
*before* encryption (OCFL's own digests cover the stored, encrypted bytes).
``heritage rebuild-index`` rebuilds the database's index from these files, and
someone reading the store without Heritage Cloud learns from them how to read
it (see ``docs/storage.md``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

DESCRIPTION_PATH = ".heritage/object.json"
DESCRIPTION_FORMAT = "https://heritage-cloud.eu/spec/object-description/1"
ENCRYPTION_FORMAT = "HCENC-1"  # the chunked AES-256-GCM format of heritage.store.crypto


class DescriptionError(ValueError):
    pass


@dataclass(frozen=True)
class FileEntry:
    size: int
    sha256: str
    media_type: str
    # the data key named in the file's header; None for files stored as they are
    key_id: str | None = None
    # SHA-256 of the encrypted file's header: every chunk is bound to its header, so
    # this pins the stored file to this path (a swapped file is caught on any read)
    header_sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "size": self.size,
            "sha256": self.sha256,
            "mediaType": self.media_type,
        }
        if self.key_id is not None:
            data["encryption"] = {"format": ENCRYPTION_FORMAT, "keyId": self.key_id}
            if self.header_sha256 is not None:
                data["encryption"]["headerSha256"] = self.header_sha256
        return data

    @classmethod
    def from_json(cls, path: str, data: Any) -> FileEntry:
        try:
            encryption = data.get("encryption")
            return cls(
                size=int(data["size"]),
                sha256=str(data["sha256"]),
                media_type=str(data["mediaType"]),
                key_id=str(encryption["keyId"]) if encryption else None,
                header_sha256=(
                    str(encryption["headerSha256"])
                    if encryption and "headerSha256" in encryption
                    else None
                ),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise DescriptionError(f"files[{path!r}]: {error!r}") from None


@dataclass(frozen=True)
class WorkspaceRef:
    uid: str
    slug: str
    name: str
    institution: str  # the institution's slug

    def to_json(self) -> dict[str, str]:
        return {
            "uid": self.uid,
            "slug": self.slug,
            "name": self.name,
            "institution": self.institution,
        }


def uuid_for(object_id: str) -> str:
    """The uuid that names an object in URLs: its own for ``urn:uuid:`` ids, else derived."""
    if object_id.startswith("urn:uuid:"):
        try:
            return str(uuid.UUID(object_id[9:]))
        except ValueError:
            pass
    return str(uuid.uuid5(uuid.NAMESPACE_URL, object_id))


@dataclass(frozen=True)
class ObjectDescription:
    object_id: str
    uuid: str
    kind: str
    title: str
    workspace: WorkspaceRef
    deleted: bool = False
    files: dict[str, FileEntry] = field(default_factory=dict)

    def with_files(
        self, added: dict[str, FileEntry], removed: set[str] | frozenset[str] = frozenset()
    ) -> ObjectDescription:
        files = {path: entry for path, entry in self.files.items() if path not in removed}
        files.update(added)
        return replace(self, files=files)

    def to_bytes(self) -> bytes:
        data = {
            "format": DESCRIPTION_FORMAT,
            "id": self.object_id,
            "uuid": self.uuid,
            "kind": self.kind,
            "title": self.title,
            "workspace": self.workspace.to_json(),
            "deleted": self.deleted,
            "files": {path: self.files[path].to_json() for path in sorted(self.files)},
        }
        return (json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> ObjectDescription:
        try:
            data = json.loads(raw)
            if data.get("format") != DESCRIPTION_FORMAT:
                raise DescriptionError(f"unknown format {data.get('format')!r}")
            workspace = data["workspace"]
            return cls(
                object_id=str(data["id"]),
                uuid=str(data.get("uuid") or uuid_for(str(data["id"]))),
                kind=str(data["kind"]),
                title=str(data.get("title", "")),
                workspace=WorkspaceRef(
                    uid=str(workspace["uid"]),
                    slug=str(workspace["slug"]),
                    name=str(workspace["name"]),
                    institution=str(workspace["institution"]),
                ),
                deleted=bool(data.get("deleted", False)),
                files={
                    str(path): FileEntry.from_json(path, entry)
                    for path, entry in data.get("files", {}).items()
                },
            )
        except DescriptionError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise DescriptionError(f"{DESCRIPTION_PATH} is not readable: {error!r}") from None
