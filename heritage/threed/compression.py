"""Draco compression of the GLB levels of detail (glTF ``KHR_draco_mesh_compression``).

A GLB is rewritten, not rebuilt: each triangle primitive whose attributes Draco can
carry (positions, normals, texture coordinates, vertex colours) is encoded with
DracoPy; its accessors lose their buffer views (the data lives in the Draco stream),
everything else (materials, images, nodes) stays as it was, and the binary chunk is
compacted to what is still referenced. The encoded stream is decoded again at once:
that checks it, and gives the exact vertex counts and bounds the accessors must state
(Draco splits non-manifold vertices and quantizes positions).

Why Draco and not meshopt: see docs/3d.md ("Compressed meshes").
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

EXTENSION = "KHR_draco_mesh_compression"
POSITION_BITS = 14  # 1/16384 of the longest side: 6 µm on a 10 cm object, 0.1 mm on 2 m
NORMAL_BITS = 10
TEXCOORD_BITS = 12  # 1/4096: finer than a texel of the 2048 px web textures
COMPRESSION_LEVEL = 7  # of 0-10: near the smallest files, encoding stays a few seconds

_GLB_MAGIC = b"glTF"
_JSON_CHUNK = 0x4E4F534A
_BIN_CHUNK = 0x004E4942
_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}
_DTYPES = {
    5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32,
    5126: np.float32,
}  # fmt: skip
# glTF attribute -> Draco attribute type (draco::GeometryAttribute::Type)
_DRACO_TYPES = {"POSITION": 0, "NORMAL": 1, "COLOR_0": 2, "TEXCOORD_0": 3}
_TRIANGLES = 4


class CompressionError(Exception):
    """The GLB could not be compressed; the message says which part and why."""


@dataclass
class Compressed:
    data: bytes
    primitives: int  # compressed
    skipped: int  # left as they were (lines, points, morph targets, other attributes)

    @property
    def parameters(self) -> dict[str, Any]:
        return {
            "extension": EXTENSION,
            "position_quantization_bits": POSITION_BITS,
            "normal_quantization_bits": NORMAL_BITS,
            "texcoord_quantization_bits": TEXCOORD_BITS,
            "compression_level": COMPRESSION_LEVEL,
            "compressed_primitives": self.primitives,
            "uncompressed_primitives": self.skipped,
        }


def read_glb(data: bytes) -> tuple[dict[str, Any], bytes]:
    """The JSON and the binary chunk of a GLB."""
    if len(data) < 20 or data[:4] != _GLB_MAGIC:
        raise CompressionError("not a GLB file: the 'glTF' magic is missing")
    _, _, length = struct.unpack_from("<4sII", data, 0)
    json_length, json_type = struct.unpack_from("<II", data, 12)
    if json_type != _JSON_CHUNK or 20 + json_length > min(length, len(data)):
        raise CompressionError("the GLB's first chunk is not JSON, or longer than the file")
    document = json.loads(data[20 : 20 + json_length])
    binary = b""
    offset = 20 + json_length
    if offset + 8 <= len(data):
        bin_length, bin_type = struct.unpack_from("<II", data, offset)
        if bin_type == _BIN_CHUNK:
            binary = data[offset + 8 : offset + 8 + bin_length]
    return document, binary


def write_glb(document: dict[str, Any], binary: bytes) -> bytes:
    text = json.dumps(document, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    chunks = struct.pack("<II", len(text), _JSON_CHUNK) + text
    if binary:
        chunks += struct.pack("<II", len(binary), _BIN_CHUNK) + binary
    return struct.pack("<4sII", _GLB_MAGIC, 2, 12 + len(chunks)) + chunks


def accessor_array(document: dict[str, Any], binary: bytes, index: int) -> np.ndarray:
    """An accessor's values as an (count, components) array, stride respected."""
    accessor = document["accessors"][index]
    if "sparse" in accessor or "bufferView" not in accessor:
        raise CompressionError(f"accessor {index} is sparse or has no buffer view")
    view = document["bufferViews"][accessor["bufferView"]]
    if view.get("buffer", 0) != 0:
        raise CompressionError(f"accessor {index} is not in the GLB's binary chunk")
    dtype = np.dtype(_DTYPES[accessor["componentType"]])
    components = _COMPONENTS[accessor["type"]]
    count = accessor["count"]
    start = view.get("byteOffset", 0) + accessor.get("byteOffset", 0)
    stride = view.get("byteStride") or dtype.itemsize * components
    end = start + stride * (count - 1) + dtype.itemsize * components if count else start
    if end > len(binary) or end - view.get("byteOffset", 0) > view["byteLength"]:
        raise CompressionError(f"accessor {index} runs past its buffer view")
    raw = np.frombuffer(binary, dtype=np.uint8, count=end - start, offset=start)
    rows = np.lib.stride_tricks.as_strided(
        raw, shape=(count, dtype.itemsize * components), strides=(stride, 1)
    )
    return np.ascontiguousarray(rows).view(dtype).reshape(count, components)


def compress_glb(data: bytes) -> Compressed:
    """The GLB with its triangle primitives Draco-compressed (see the module's doc)."""
    import DracoPy

    document, binary = read_glb(data)
    if any("sparse" in accessor for accessor in document.get("accessors", [])):
        raise CompressionError("the GLB has sparse accessors, which are not compressed here")
    uses = _accessor_uses(document)
    views: list[dict[str, Any]] = document.setdefault("bufferViews", [])
    pieces: list[bytes] = []  # the Draco streams, appended after the kept views
    done = skipped = 0
    for mesh in document.get("meshes", []):
        for primitive in mesh.get("primitives", []):
            attributes = primitive.get("attributes", {})
            own = [*attributes.values(), primitive.get("indices")]
            if (
                primitive.get("mode", _TRIANGLES) != _TRIANGLES
                or primitive.get("indices") is None
                or "targets" in primitive
                or "POSITION" not in attributes
                or set(attributes) - set(_DRACO_TYPES)
                or any(uses.get(index, 0) != 1 for index in own)
            ):
                skipped += 1
                continue
            stream, ids, decoded = _encode(DracoPy, document, binary, primitive)
            views.append({"buffer": 0, "byteLength": len(stream), "_draco": len(pieces)})
            pieces.append(stream)
            for name, index in attributes.items():
                accessor = document["accessors"][index]
                accessor.pop("bufferView", None)
                accessor.pop("byteOffset", None)
                accessor["count"] = len(decoded.points)
                if name == "POSITION":
                    points = np.asarray(decoded.points, dtype=np.float32)
                    accessor["min"] = [float(v) for v in points.min(axis=0)]
                    accessor["max"] = [float(v) for v in points.max(axis=0)]
            indices = document["accessors"][primitive["indices"]]
            indices.pop("bufferView", None)
            indices.pop("byteOffset", None)
            indices["count"] = int(np.asarray(decoded.faces).size)
            indices["componentType"] = 5125 if len(decoded.points) > 65535 else 5123
            indices.pop("min", None)
            indices.pop("max", None)
            primitive.setdefault("extensions", {})[EXTENSION] = {
                "bufferView": len(views) - 1,
                "attributes": ids,
            }
            done += 1
    if done:
        for key in ("extensionsUsed", "extensionsRequired"):
            names = document.setdefault(key, [])
            if EXTENSION not in names:
                names.append(EXTENSION)  # required: the plain data is no longer there
    binary = _compact(document, binary, pieces)
    return Compressed(write_glb(document, binary), done, skipped)


def _accessor_uses(document: dict[str, Any]) -> dict[int, int]:
    """How often each accessor is named: one used elsewhere too cannot lose its data."""
    uses: dict[int, int] = {}

    def count(index: int | None) -> None:
        if index is not None:
            uses[index] = uses.get(index, 0) + 1

    for mesh in document.get("meshes", []):
        for primitive in mesh.get("primitives", []):
            for index in primitive.get("attributes", {}).values():
                count(index)
            count(primitive.get("indices"))
            for target in primitive.get("targets", []):
                for index in target.values():
                    count(index)
    for skin in document.get("skins", []):
        count(skin.get("inverseBindMatrices"))
    for animation in document.get("animations", []):
        for sampler in animation.get("samplers", []):
            count(sampler.get("input"))
            count(sampler.get("output"))
    return uses


def _encode(
    draco: Any, document: dict[str, Any], binary: bytes, primitive: dict[str, Any]
) -> tuple[bytes, dict[str, int], Any]:
    attributes = primitive["attributes"]

    def values(name: str) -> np.ndarray | None:
        return accessor_array(document, binary, attributes[name]) if name in attributes else None

    faces = accessor_array(document, binary, primitive["indices"]).reshape(-1, 3)
    colours = values("COLOR_0")
    if colours is not None and colours.dtype != np.uint8:
        if colours.dtype.kind != "f":
            raise CompressionError("vertex colours other than 8-bit or float are not compressed")
        colours = np.clip(np.rint(colours * 255), 0, 255).astype(np.uint8)
        document["accessors"][attributes["COLOR_0"]].update(componentType=5121, normalized=True)
    normals, texcoords = values("NORMAL"), values("TEXCOORD_0")
    stream = draco.encode(
        values("POSITION").astype(np.float64),
        faces.astype(np.uint32),
        quantization_bits=POSITION_BITS,
        compression_level=COMPRESSION_LEVEL,
        colors=colours,
        tex_coord=None if texcoords is None else texcoords.astype(np.float64),
        tex_coord_quantization_bits=TEXCOORD_BITS,
        normals=None if normals is None else normals.astype(np.float64),
        normal_quantization_bits=NORMAL_BITS,
    )
    decoded = draco.decode(stream)
    by_type = {item["attribute_type"]: item["unique_id"] for item in decoded.attributes}
    ids = {name: int(by_type[_DRACO_TYPES[name]]) for name in attributes}
    if len(np.asarray(decoded.faces)) != len(faces):
        raise CompressionError(
            f"Draco returned {len(decoded.faces)} faces for {len(faces)}: not compressed"
        )
    return stream, ids, decoded


def _compact(document: dict[str, Any], binary: bytes, pieces: list[bytes]) -> bytes:
    """The binary chunk with only the buffer views still named, each 4-byte aligned, and
    every reference to a buffer view renumbered."""
    views = document.get("bufferViews", [])
    named: set[int] = set()
    for accessor in document.get("accessors", []):
        if "bufferView" in accessor:
            named.add(accessor["bufferView"])
    for image in document.get("images", []):
        if "bufferView" in image:
            named.add(image["bufferView"])
    for index, view in enumerate(views):
        if "_draco" in view:
            named.add(index)
    new_index: dict[int, int] = {}
    kept: list[dict[str, Any]] = []
    out = bytearray()
    for index, view in enumerate(views):
        if index not in named:
            continue
        out += b"\0" * (-len(out) % 4)
        if "_draco" in view:
            chunk = pieces[view.pop("_draco")]
        else:
            start = view.get("byteOffset", 0)
            chunk = binary[start : start + view["byteLength"]]
        view["byteOffset"] = len(out)
        out += chunk
        new_index[index] = len(kept)
        kept.append(view)
    document["bufferViews"] = kept
    for accessor in document.get("accessors", []):
        if "bufferView" in accessor:
            accessor["bufferView"] = new_index[accessor["bufferView"]]
    for image in document.get("images", []):
        if "bufferView" in image:
            image["bufferView"] = new_index[image["bufferView"]]
    for mesh in document.get("meshes", []):
        for primitive in mesh.get("primitives", []):
            draco = primitive.get("extensions", {}).get(EXTENSION)
            if draco:
                draco["bufferView"] = new_index[draco["bufferView"]]
    if not kept:
        document.pop("bufferViews", None)
    if document.get("buffers"):
        document["buffers"][0]["byteLength"] = len(out)
    return bytes(out)


def decode_glb(data: bytes) -> list[dict[str, np.ndarray]]:
    """Every primitive of a GLB, Draco-compressed or not, as arrays (positions, faces):
    for the tests and for anyone checking what the viewer will draw."""
    import DracoPy

    document, binary = read_glb(data)
    result = []
    for mesh in document.get("meshes", []):
        for primitive in mesh.get("primitives", []):
            draco = primitive.get("extensions", {}).get(EXTENSION)
            if draco:
                view = document["bufferViews"][draco["bufferView"]]
                start = view.get("byteOffset", 0)
                decoded = DracoPy.decode(binary[start : start + view["byteLength"]])
                points = np.asarray(decoded.points, dtype=np.float64)
                faces = np.asarray(decoded.faces, dtype=np.int64).reshape(-1, 3)
            else:
                points = accessor_array(document, binary, primitive["attributes"]["POSITION"])
                faces = accessor_array(document, binary, primitive["indices"]).reshape(-1, 3)
            result.append({"positions": points.astype(np.float64), "faces": faces.astype(np.int64)})
    return result
