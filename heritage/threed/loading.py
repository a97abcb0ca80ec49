"""Reading 3D masters safely: header checks before any parser trusts a count, then the
geometry as numpy arrays.

Hostile files (absurd counts in headers, indices out of range, NaN coordinates)
raise :class:`ModelRejected` with a sentence naming the problem; nothing here
writes to the master. Mesh formats load through trimesh, PLY headers are read
here first, point clouds stream through laspy (LAS/LAZ) and pye57 (E57).
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# Readers refuse counts beyond these before allocating anything.
MAX_ELEMENTS = 2_000_000_000
PLY_TYPES = {
    "char": 1, "int8": 1, "uchar": 1, "uint8": 1, "short": 2, "int16": 2, "ushort": 2,
    "uint16": 2, "int": 4, "int32": 4, "uint": 4, "uint32": 4, "float": 4, "float32": 4,
    "double": 8, "float64": 8,
}  # fmt: skip
POINT_CHUNK = 1_000_000


class ModelRejected(Exception):
    """The master cannot be used; the message says why, for the people who sent it."""


@dataclass
class Texture:
    name: str
    width: int
    height: int


@dataclass
class MeshData:
    """The geometry of a whole mesh model, every part concatenated, and what it carries."""

    vertices: np.ndarray  # (n, 3) float64
    faces: np.ndarray  # (m, 3) int64
    normals_in_file: bool
    vertex_colours: bool
    textures: list[Texture] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # files named by the model, not present
    units: str | None = None
    scene: Any = None  # the trimesh scene, for derivatives and thumbnails


@dataclass
class PointHeader:
    count: int
    minimum: list[float] | None
    maximum: list[float] | None
    colours: bool
    details: dict[str, Any]


def check_finite(vertices: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(vertices).all(axis=1)
    if bad.any():
        raise ModelRejected(
            f"{int(bad.sum())} of the {len(vertices)} {what} have NaN or infinite coordinates "
            f"(the first is number {int(np.argmax(bad))})"
        )


def check_faces(faces: np.ndarray, vertex_count: int) -> None:
    if faces.size and (faces.min() < 0 or faces.max() >= vertex_count):
        wrong = int(((faces < 0) | (faces >= vertex_count)).any(axis=1).sum())
        raise ModelRejected(
            f"{wrong} faces name vertices that do not exist (indices out of range: the model "
            f"has {vertex_count} vertices, a face names vertex {int(faces.max())})"
        )


# -- header checks ---------------------------------------------------------------------------


def ply_header(path: Path) -> dict[str, Any]:
    """The PLY header, checked against the file's size: a header announcing more elements
    than the file can hold is refused before any reader allocates for them."""
    size = path.stat().st_size
    with path.open("rb") as stream:
        head = stream.read(65536)
    end = head.find(b"end_header")
    if not head.startswith(b"ply") or end < 0:
        raise ModelRejected("not a PLY file: no 'ply' magic line or no 'end_header' line")
    lines = head[:end].decode("ascii", "replace").splitlines()
    body_start = end + len(b"end_header") + (2 if head[end + 10 : end + 12] == b"\r\n" else 1)
    form = None
    elements: list[dict[str, Any]] = []
    for number, line in enumerate(lines[1:], start=2):
        words = line.split()
        if not words or words[0] in {"comment", "obj_info"}:
            continue
        if words[0] == "format" and len(words) == 3:
            form = words[1]
        elif words[0] == "element" and len(words) == 3 and words[2].isdigit():
            elements.append({"name": words[1], "count": int(words[2]), "props": []})
        elif words[0] == "property" and elements:
            elements[-1]["props"].append(words[1:])
        else:
            raise ModelRejected(f"PLY header line {number} is not valid PLY: '{line[:80]}'")
    if form not in {"ascii", "binary_little_endian", "binary_big_endian"}:
        raise ModelRejected("the PLY header names no valid format (ascii or binary)")
    left = size - body_start
    for element in elements:
        count = element["count"]
        if count > MAX_ELEMENTS:
            raise ModelRejected(
                f"the PLY header announces {count} {element['name']} elements: absurd"
            )
        if form == "ascii":
            least = count * 2  # each element is at least one value and a line end
        else:
            least = 0
            for prop in element["props"]:
                if prop[0] == "list":
                    least += PLY_TYPES.get(prop[1], 1)  # the count; the items may be none
                else:
                    least += PLY_TYPES.get(prop[0], 1)
            least *= count
        if least > left:
            raise ModelRejected(
                f"the PLY header announces {count} {element['name']} elements, more than the "
                f"{left} bytes after the header can hold (an absurd count or a truncated file)"
            )
        left -= least
    return {"format": form, "elements": elements}


def stl_check(path: Path) -> int | None:
    """The triangle count of a binary STL (None for ASCII), checked against the file size."""
    size = path.stat().st_size
    with path.open("rb") as stream:
        head = stream.read(84)
        rest = stream.read(512)
    if size >= 84:
        (count,) = struct.unpack("<I", head[80:84])
        if 0 <= size - 84 - 50 * count < 50:
            return count  # binary, even when its header starts with "solid"
    if head.lstrip()[:5].lower() == b"solid" and b"facet" in head + rest:
        return None  # ASCII STL: its text is read line by line
    if size < 84:
        raise ModelRejected("the STL file is shorter than a binary STL header (84 bytes)")
    (count,) = struct.unpack("<I", head[80:84])
    if 84 + 50 * count > size:
        raise ModelRejected(
            f"the binary STL header announces {count} triangles, more than the "
            f"{size} bytes of the file hold (an absurd count or a truncated file)"
        )
    return count


def gltf_json(path: Path) -> dict[str, Any]:
    """The JSON of a glTF or GLB, with its accessors checked against their buffer views."""
    raw = path.read_bytes() if path.suffix.lower() == ".gltf" else _glb_json(path)
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise ModelRejected(f"the glTF JSON cannot be read: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("asset"), dict):
        raise ModelRejected("the glTF has no 'asset' object (required by glTF 2.0)")
    if not str(document["asset"].get("version", "")).startswith("2."):
        raise ModelRejected("only glTF 2.0 is read; the asset names another version")
    views = document.get("bufferViews") or []
    sizes = {5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4}
    widths = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
    for number, accessor in enumerate(document.get("accessors") or []):
        count = accessor.get("count", 0)
        if not isinstance(count, int) or count < 0 or count > MAX_ELEMENTS:
            raise ModelRejected(f"glTF accessor {number} announces an absurd count ({count})")
        view = accessor.get("bufferView")
        if view is None:
            continue
        if not isinstance(view, int) or not 0 <= view < len(views):
            raise ModelRejected(f"glTF accessor {number} names buffer view {view}, which is absent")
        need = (
            count
            * sizes.get(accessor.get("componentType"), 1)
            * widths.get(accessor.get("type"), 1)
        )
        have = views[view].get("byteLength", 0) - accessor.get("byteOffset", 0)
        if need > have:
            raise ModelRejected(
                f"glTF accessor {number} announces {count} elements, more than its buffer "
                f"view's {have} bytes hold"
            )
    return document


def _glb_json(path: Path) -> bytes:
    with path.open("rb") as stream:
        head = stream.read(20)
        if len(head) < 20 or head[:4] != b"glTF":
            raise ModelRejected("not a GLB file: the 'glTF' magic is missing")
        length, kind = struct.unpack("<II", head[12:20])
        if kind != 0x4E4F534A or length > path.stat().st_size:
            raise ModelRejected("the GLB's first chunk is not JSON, or longer than the file")
        return stream.read(length)


def obj_missing(path: Path) -> list[str]:
    """Material libraries and textures an OBJ names that are not beside it."""
    missing: list[str] = []
    folder = path.parent
    with path.open("rb") as stream:
        libraries = [
            line.split(maxsplit=1)[1].decode("utf-8", "replace").strip()
            for line in stream
            if line.startswith(b"mtllib ") and len(line.split(maxsplit=1)) > 1
        ]
    for library in libraries:
        target = folder / library
        if not target.is_file() or not _inside(folder, target):
            missing.append(library)
            continue
        for line in target.read_bytes().decode("utf-8", "replace").splitlines():
            words = line.split()
            if words and words[0].startswith("map_") and len(words) > 1:
                texture = words[-1]
                picture = folder / texture
                if not picture.is_file() or not _inside(folder, picture):
                    missing.append(texture)
    return missing


def _obj_textures(path: Path) -> list[Texture]:
    """The texture images the OBJ's material libraries name, with their sizes."""
    from PIL import Image

    found = []
    folder = path.parent
    for library in folder.glob("*.mtl"):
        for line in library.read_bytes().decode("utf-8", "replace").splitlines():
            words = line.split()
            if words and words[0].startswith("map_") and len(words) > 1:
                picture = folder / words[-1]
                if picture.is_file() and _inside(folder, picture):
                    try:
                        with Image.open(picture) as image:
                            found.append(Texture(words[-1], *image.size))
                    except OSError:
                        continue  # not an image: reported as missing by nobody, skipped
    return found


def _inside(folder: Path, target: Path) -> bool:
    return target.resolve().is_relative_to(folder.resolve())


_OBJ_FACE = re.compile(rb"^f\s")


def obj_check(path: Path) -> None:
    """Face indices of an OBJ within its vertices (trimesh would drop or wrap them)."""
    vertices = 0
    with path.open("rb") as stream:
        for number, line in enumerate(stream, start=1):
            if line.startswith(b"v "):
                vertices += 1
                values = line.split()[1:4]
                try:
                    if not all(np.isfinite(float(value)) for value in values):
                        raise ModelRejected(f"OBJ line {number}: a vertex has NaN coordinates")
                except ValueError:
                    raise ModelRejected(
                        f"OBJ line {number}: a vertex is not three numbers"
                    ) from None
            elif _OBJ_FACE.match(line):
                for word in line.split()[1:]:
                    head = word.split(b"/")[0]
                    try:
                        index = int(head)
                    except ValueError:
                        raise ModelRejected(f"OBJ line {number}: '{word!r}' is no index") from None
                    # negative indices count back from the vertices read so far
                    if index == 0 or index > vertices or -index > vertices:
                        raise ModelRejected(
                            f"OBJ line {number}: a face names vertex {index}, but only "
                            f"{vertices} vertices come before it (index out of range)"
                        )


# -- meshes ----------------------------------------------------------------------------------


def load_mesh(path: Path, form: str) -> MeshData:
    """The mesh of a master, checked. Raises ModelRejected."""
    import trimesh

    missing: list[str] = []
    scene = None
    if form == "ply":
        ply_header(path)
    elif form == "stl":
        count = stl_check(path)
        if count is not None:
            scene = trimesh.Scene(_binary_stl(path, count))
    elif form in {"gltf", "glb"}:
        document = gltf_json(path)
        for item in [*(document.get("buffers") or []), *(document.get("images") or [])]:
            uri = item.get("uri") if isinstance(item, dict) else None
            if uri and not uri.startswith("data:"):
                target = path.parent / uri
                if not _inside(path.parent, target):
                    raise ModelRejected(f"the glTF names '{uri}' outside its folder")
                if not target.is_file():
                    missing.append(uri)
        if any(name.endswith(".bin") for name in missing):
            raise ModelRejected("the glTF's buffer is missing: " + ", ".join(missing))
    elif form == "obj":
        obj_check(path)
        missing = obj_missing(path)
    try:
        if scene is None:
            scene = trimesh.load(str(path), force="scene", process=False)
    except Exception as error:  # parsers raise anything on broken files: name it
        raise ModelRejected(f"the {form.upper()} file cannot be read: {error}") from None
    meshes = [geometry for geometry in scene.geometry.values() if hasattr(geometry, "faces")]
    if not meshes:
        raise ModelRejected(f"the {form.upper()} file holds no mesh")
    vertices_list, faces_list, offset = [], [], 0
    normals = colours = True
    textures: list[Texture] = []
    checked: set[str] = set()
    # every placement of a mesh in the scene counts (a glTF may draw one mesh many times)
    for node in scene.graph.nodes_geometry:
        transform, name = scene.graph[node]
        geometry = scene.geometry[name]
        if not hasattr(geometry, "faces"):
            continue
        vertices = np.asarray(geometry.vertices, dtype=np.float64)
        faces = np.asarray(geometry.faces, dtype=np.int64).reshape(-1, 3)
        if name not in checked:
            check_finite(vertices, "vertices")
            check_faces(faces, len(vertices))
            checked.add(name)
        if not np.allclose(transform, np.eye(4)):
            vertices = trimesh.transformations.transform_points(vertices, transform)
        vertices_list.append(vertices)
        faces_list.append(faces + offset)
        offset += len(vertices)
        normals &= "vertex_normals" in geometry._cache
        visual = geometry.visual
        colours &= visual.kind == "vertex"
        if form in {"gltf", "glb"} and name not in {t.name.split(":")[0] for t in textures}:
            textures += _textures(visual, name)
    if form == "obj":
        textures = _obj_textures(path)
    return MeshData(
        vertices=np.concatenate(vertices_list),
        faces=np.concatenate(faces_list),
        normals_in_file=normals,
        vertex_colours=colours,
        textures=textures,
        missing=missing,
        units="m" if form in {"gltf", "glb"} else scene.units,
        scene=scene,
    )


def _binary_stl(path: Path, count: int) -> Any:
    """A binary STL read directly (trimesh takes one with a trailing byte for ASCII)."""
    import trimesh

    record = np.dtype([("normal", "<f4", 3), ("corners", "<f4", (3, 3)), ("attr", "<u2")])
    with path.open("rb") as stream:
        stream.seek(84)
        data = np.frombuffer(stream.read(count * 50), dtype=record, count=count)
    vertices = data["corners"].reshape(-1, 3).astype(np.float64)
    faces = np.arange(len(vertices), dtype=np.int64).reshape(-1, 3)
    return trimesh.Trimesh(vertices, faces, process=False)


def _textures(visual: Any, name: str) -> list[Texture]:
    if visual.kind != "texture":
        return []
    material = getattr(visual, "material", None)
    found = []
    for attribute in ("baseColorTexture", "image", "normalTexture", "emissiveTexture"):
        image = getattr(material, attribute, None)
        if image is not None and hasattr(image, "size"):
            found.append(Texture(f"{name}:{attribute}", *image.size))
    return found


# -- point clouds ----------------------------------------------------------------------------


def las_header(path: Path) -> PointHeader:
    import laspy

    try:
        with laspy.open(str(path)) as reader:
            header = reader.header
            count = int(header.point_count)
            record = header.point_format.size
            dimensions = set(header.point_format.dimension_names)
            offset = header.offset_to_point_data
            compressed = header.are_points_compressed
            crs = None
            try:
                parsed = header.parse_crs()
                crs = parsed.to_string() if parsed is not None else None
            except Exception:  # pyproj absent or an unreadable CRS record: not fatal
                crs = None
            details = {
                "las_version": f"{header.version.major}.{header.version.minor}",
                "point_format": header.point_format.id,
                "scales": [float(value) for value in header.scales],
                "offsets": [float(value) for value in header.offsets],
                "compressed": compressed,
                "crs": crs,
                "intensity": "intensity" in dimensions,
                "classification": "classification" in dimensions,
            }
            minimum = [float(value) for value in header.mins]
            maximum = [float(value) for value in header.maxs]
    except Exception as error:
        raise ModelRejected(f"the LAS/LAZ file cannot be read: {error}") from None
    if count > MAX_ELEMENTS:
        raise ModelRejected(f"the LAS header announces {count} points: absurd")
    if not compressed and offset + count * record > path.stat().st_size:
        raise ModelRejected(
            f"the LAS header announces {count} points, more than the file holds "
            "(an absurd count or a truncated file)"
        )
    colours = {"red", "green", "blue"} <= dimensions
    return PointHeader(count, minimum, maximum, colours, details)


def las_chunks(
    path: Path, size: int = POINT_CHUNK
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """The points of a LAS/LAZ file in chunks of ``size``: scaled xyz (float64) and rgb
    (uint8) if it has colours; memory stays flat whatever the file's size."""
    import laspy

    with laspy.open(str(path)) as reader:
        names = set(reader.header.point_format.dimension_names)
        for chunk in reader.chunk_iterator(size):
            xyz = np.column_stack([np.asarray(chunk.x), np.asarray(chunk.y), np.asarray(chunk.z)])
            rgb = None
            if {"red", "green", "blue"} <= names:
                rgb = np.column_stack([chunk.red, chunk.green, chunk.blue])
                # LAS stores 16-bit colours; some writers put 8-bit values in them
                rgb = (rgb >> 8 if rgb.max(initial=0) > 255 else rgb).astype(np.uint8)
            yield xyz, rgb


def e57_scans(path: Path) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """The points of every scan of an E57 file (pye57 reads a scan whole)."""
    import pye57

    try:
        e57 = pye57.E57(str(path))
    except Exception as error:
        raise ModelRejected(f"the E57 file cannot be read: {error}") from None
    for index in range(e57.scan_count):
        header = e57.get_header(index)
        if header.point_count > MAX_ELEMENTS:
            raise ModelRejected(f"E57 scan {index} announces {header.point_count} points")
        fields = set(header.point_fields)
        colours = {"colorRed", "colorGreen", "colorBlue"} <= fields
        data = e57.read_scan(index, colors=colours, ignore_missing_fields=True)
        xyz = np.column_stack([data["cartesianX"], data["cartesianY"], data["cartesianZ"]])
        rgb = None
        if colours:
            rgb = np.column_stack([data["colorRed"], data["colorGreen"], data["colorBlue"]])
            rgb = rgb.astype(np.uint8)
        yield xyz.astype(np.float64), rgb


def ply_points(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    from plyfile import PlyData

    try:
        data = PlyData.read(str(path))
        vertex = data["vertex"]
    except Exception as error:
        raise ModelRejected(f"the PLY file cannot be read: {error}") from None
    names = {prop.name for prop in vertex.properties}
    xyz = np.column_stack([vertex["x"], vertex["y"], vertex["z"]]).astype(np.float64)
    rgb = None
    if {"red", "green", "blue"} <= names:
        rgb = np.column_stack([vertex["red"], vertex["green"], vertex["blue"]]).astype(np.uint8)
    return xyz, rgb


def ply_has_faces(path: Path) -> bool:
    header = ply_header(path)
    return any(e["name"] == "face" and e["count"] > 0 for e in header["elements"])
