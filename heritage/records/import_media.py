"""Media files named by imported records, found beside the source file and attached
to the record as stored representations; on re-import, only files whose content
changed make a new version."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import select

from heritage.errors import InvalidInput
from heritage.records.media import MediaError, MediaFile, MediaSource
from heritage.records.model import Record, Representation
from heritage.records.problems import Problem
from heritage.records.services import MEDIA_FOLDER, media_path
from heritage.runtime import Runtime
from heritage.store.ingest import media_type_for
from heritage.store.models import StoredFile, StoredObject


class LazyMedia:
    """Files named by the records, looked up beside the source file. The folder is
    only listed once a record names a file: most XML sources name none."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._source: MediaSource | None = None

    def find(self, name: str) -> MediaFile | None:
        if self._source is None:
            self._source = MediaSource.open_folder(self.folder)
        return self._source.find(name)


def sha256_of(opened: Any) -> str:
    digest = hashlib.sha256()
    with opened() as stream:
        for block in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def attach_media(
    record: Record, names: list[str], media: LazyMedia | None, problems: list[Problem]
) -> tuple[Record, dict[str, MediaFile]]:
    """Files the source names, found beside it, become stored representations."""
    if not names or media is None:
        return record, {}
    files: dict[str, MediaFile] = {}
    # Importers may already describe the named files as representations (by the name
    # the source gives); they are replaced by the stored file once it is found.
    named = set(names)
    given = {item.file: item for item in record.representations if item.file in named}
    representations = [item for item in record.representations if item.file not in named]
    for name in names:
        try:
            found = media.find(name)
        except MediaError as error:  # unsafe names are reported, never followed
            problems.append(
                Problem.error(
                    "import.media-refused",
                    f"The media file '{name}' was refused: {error}",
                    "Name files by a path inside the folder of the source file.",
                    field="representations",
                )
            )
            continue
        if found is None:
            problems.append(
                Problem.warning(
                    "import.media-missing",
                    f"The media file '{name}' was not found beside the source file.",
                    "Put the file in the same folder as the source (or a subfolder), "
                    "with exactly this name, and import again.",
                    field="representations",
                )
            )
            continue
        try:
            path = media_path(found.name)
        except InvalidInput as error:
            problems.append(
                Problem.error(
                    "import.media-refused",
                    f"The media file '{name}' cannot be stored: {error.detail}",
                    "Rename the file.",
                    field="representations",
                )
            )
            continue
        files[path[len(MEDIA_FOLDER) :]] = found
        if not any(item.file == path for item in representations):
            has_primary = any(item.role == "primary" for item in representations)
            described = given.get(name)
            if described is not None:
                representations.append(
                    described.model_copy(
                        update={
                            "file": path,
                            "media_type": described.media_type or media_type_for(path),
                        }
                    )
                )
                continue
            representations.append(
                Representation(
                    file=path,
                    role="view" if has_primary else "primary",
                    media_type=media_type_for(path),
                )
            )
    return record.model_copy(update={"representations": representations}), files


def changed_files(
    runtime: Runtime, record_uuid: str, files: dict[str, MediaFile]
) -> dict[str, MediaFile]:
    """The named files whose content differs from what the record stores now."""
    if not files:
        return {}
    with runtime.database.session() as session:
        stored = dict(
            session.execute(
                select(StoredFile.logical_path, StoredFile.sha256)
                .join(StoredObject, StoredObject.id == StoredFile.object_pk)
                .where(StoredObject.uuid == record_uuid)
            ).all()
        )
    return {
        name: found
        for name, found in files.items()
        if stored.get(MEDIA_FOLDER + name) != sha256_of(found.open)
    }
