"""Which files are 3D masters, and which files of an upload belong to one model.

A model may be one file (GLB, PLY, STL, E57, LAS, LAZ) or a set: a ``.gltf``
with its ``.bin`` buffers and images, an ``.obj`` with its ``.mtl`` and
textures. A set arrives as several files or as one zip; either way it stays one
representation of the record: the main file is the representation's ``file``,
the others its ``parts``.
"""

from __future__ import annotations

import posixpath
import stat
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO, Literal

from heritage.errors import InvalidInput

Kind = Literal["mesh", "points", "either"]

# main-file extension -> (format name, what it usually holds)
MAIN_FORMATS: dict[str, tuple[str, Kind]] = {
    ".glb": ("glb", "mesh"),
    ".gltf": ("gltf", "mesh"),
    ".obj": ("obj", "mesh"),
    ".ply": ("ply", "either"),
    ".stl": ("stl", "mesh"),
    ".e57": ("e57", "points"),
    ".las": ("las", "points"),
    ".laz": ("laz", "points"),
}
# files that only ever accompany a main file
PART_EXTENSIONS = {".bin", ".mtl", ".png", ".jpg", ".jpeg", ".webp", ".ktx2", ".tga", ".bmp"}
MEDIA_TYPES = {
    "glb": "model/gltf-binary",
    "gltf": "model/gltf+json",
    "obj": "model/obj",
    "ply": "model/ply",
    "stl": "model/stl",
    "e57": "model/e57",
    "las": "application/vnd.las",
    "laz": "application/vnd.laszip",
}
# A zip bundle is refused beyond these (a zip bomb must not fill the disk).
MAX_BUNDLE_MEMBERS = 2000
MAX_BUNDLE_BYTES = 20 * 1024**3


def format_of(name: str) -> str | None:
    """The master format of a main file, by its name; None for anything else."""
    found = MAIN_FORMATS.get(PurePosixPath(name.lower()).suffix)
    return found[0] if found else None


def is_master(name: str) -> bool:
    return format_of(name) is not None


@dataclass(frozen=True)
class ModelSet:
    """The files of one model: ``main`` and its ``parts``, relative names within the set."""

    main: str
    parts: tuple[str, ...]

    @property
    def format(self) -> str:
        found = format_of(self.main)
        assert found is not None
        return found


def safe_member(name: str) -> str:
    """``name`` as a relative path inside a set, or InvalidInput naming the problem (absolute
    paths, ``..``, drive letters and backslashes would write outside the set: zip-slip)."""
    cleaned = name.replace("\\", "/")
    if "\\" in name or cleaned.startswith("/") or (len(cleaned) > 1 and cleaned[1] == ":"):
        raise InvalidInput.on("files", f"'{name}' is an absolute or Windows path (zip-slip)")
    parts = PurePosixPath(cleaned).parts
    if any(part == ".." for part in parts):
        raise InvalidInput.on("files", f"'{name}' leaves the folder of the model ('..': zip-slip)")
    normal = posixpath.normpath(cleaned)
    if normal in {".", ""} or any(ord(char) < 32 for char in normal):
        raise InvalidInput.on("files", f"'{name}' is not a usable file name")
    return normal


def group(names: list[str]) -> ModelSet:
    """The model a set of files makes: exactly one main file, the rest its parts."""
    cleaned = [safe_member(name) for name in names]
    mains = [name for name in cleaned if is_master(name)]
    if not mains:
        raise InvalidInput.on(
            "files",
            "none of the files is a 3D model (glTF, GLB, OBJ, PLY, STL, E57, LAS or LAZ): "
            + ", ".join(cleaned[:10]),
        )
    if len(mains) > 1:
        raise InvalidInput.on(
            "files", "a set holds one model; these are several: " + ", ".join(mains[:10])
        )
    others = [name for name in cleaned if name != mains[0]]
    strange = [name for name in others if PurePosixPath(name.lower()).suffix not in PART_EXTENSIONS]
    if strange:
        raise InvalidInput.on(
            "files",
            "these files are neither buffers, materials nor textures of the model: "
            + ", ".join(strange[:10]),
        )
    return ModelSet(mains[0], tuple(sorted(others)))


def read_bundle(stream: BinaryIO) -> dict[str, bytes]:
    """The members of a zipped model set by their safe relative names. Zip-slip names,
    links, encrypted members and bundles too large to unpack are refused by name."""
    try:
        archive = zipfile.ZipFile(stream)
    except zipfile.BadZipFile as error:
        raise InvalidInput.on("files", f"the bundle is not a readable zip file: {error}") from None
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        if len(infos) > MAX_BUNDLE_MEMBERS:
            raise InvalidInput.on("files", f"the zip holds {len(infos)} files; at most 2000")
        total = sum(info.file_size for info in infos)
        if total > MAX_BUNDLE_BYTES:
            raise InvalidInput.on("files", f"the zip unpacks to {total} bytes; too large")
        members: dict[str, bytes] = {}
        for info in infos:
            name = safe_member(info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise InvalidInput.on("files", f"'{info.filename}' is a symbolic link")
            if info.flag_bits & 0x1:
                raise InvalidInput.on("files", f"'{info.filename}' is encrypted")
            if name.startswith("__MACOSX/") or PurePosixPath(name).name.startswith("._"):
                continue  # resource forks a Mac adds: not part of the model
            if name in members:
                raise InvalidInput.on("files", f"'{name}' appears twice in the zip")
            members[name] = archive.read(info)
    return members


def strip_common_folder(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """Files of a zip that keeps everything in one top folder, without that folder."""
    tops = {PurePosixPath(name).parts[0] for name in files}
    if len(tops) == 1 and all(len(PurePosixPath(name).parts) > 1 for name in files):
        top = next(iter(tops))
        return {name[len(top) + 1 :]: data for name, data in files.items()}
    return dict(files)
