"""Draco compression of the levels of detail: the Khronos validator's verdict, the
decoded geometry against the uncompressed level, and GLBs that cannot be compressed."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

from heritage.threed import compression, derivatives, loading

MASK = "gltf/mask-bali-separated/mask-gltf-2.0-binary-valid.gltf"


@pytest.mark.parametrize(
    ("relative", "form"),
    [(MASK, "gltf"), ("obj/spot/spot_triangulated.obj", "obj"), ("stl/stl_binary/Star.stl", "stl")],
)
def test_decoded_levels_match_the_uncompressed_ones(
    models: Path, tmp_path: Path, gltf_validator, relative: str, form: str
) -> None:
    made = {
        item.name: item
        for item in derivatives.mesh_lods(loading.load_mesh(models / relative, form), tmp_path)
    }
    assert set(made) == {"lod-100k", "lod-100k-uncompressed"}
    compressed = made["lod-100k"].path.read_bytes()
    plain = made["lod-100k-uncompressed"].path.read_bytes()
    document, _ = compression.read_glb(compressed)
    assert document["extensionsRequired"] == [compression.EXTENSION]
    assert len(compressed) < len(plain)
    provenance = made["lod-100k"].provenance["compression"]
    assert provenance["position_quantization_bits"] == compression.POSITION_BITS
    assert provenance["compression_level"] == compression.COMPRESSION_LEVEL
    assert provenance["compressed_bytes"] == len(compressed)
    assert provenance["uncompressed_bytes"] == len(plain)
    assert {t["name"]: t["version"] for t in made["lod-100k"].provenance["tools"]}[
        "DracoPy"
    ] == "2.2.0"

    [decoded] = compression.decode_glb(compressed)
    [original] = compression.decode_glb(plain)
    # the same faces; the vertices may be fewer (Draco merges corners with equal values,
    # as an STL's three per face) or a few more (it splits non-manifold ones)
    assert len(decoded["faces"]) == len(original["faces"]) == made["lod-100k"].faces
    distinct = len(np.unique(original["positions"], axis=0))
    assert distinct * 0.99 <= len(decoded["positions"]) <= len(original["positions"]) * 1.01
    for primitive in document["meshes"][0]["primitives"]:
        position = document["accessors"][primitive["attributes"]["POSITION"]]
        assert position["count"] == len(decoded["positions"])
    # bounds and area within the quantization error (a step of the longest side / 2^14)
    low, high = original["positions"].min(axis=0), original["positions"].max(axis=0)
    step = (high - low).max() / 2**compression.POSITION_BITS
    assert np.allclose(decoded["positions"].min(axis=0), low, atol=step)
    assert np.allclose(decoded["positions"].max(axis=0), high, atol=step)
    assert area(decoded) == pytest.approx(area(original), rel=0.005)
    # every vertex has its counterpart within the quantization error, both ways
    near = step * np.sqrt(3)
    assert cKDTree(original["positions"]).query(decoded["positions"])[0].max() <= near
    assert cKDTree(decoded["positions"]).query(original["positions"])[0].max() <= near
    reports = gltf_validator(made["lod-100k"].path, made["lod-100k-uncompressed"].path)
    assert all(report["errors"] == 0 for report in reports), reports


def area(primitive: dict[str, np.ndarray]) -> float:
    corners = primitive["positions"][primitive["faces"]]
    edges = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    return float(np.linalg.norm(edges, axis=1).sum() / 2)


def glb(document: dict[str, object], binary: bytes = b"") -> bytes:
    return compression.write_glb(document, binary)


def test_glbs_that_cannot_be_compressed_say_why() -> None:
    with pytest.raises(compression.CompressionError, match="'glTF' magic"):
        compression.compress_glb(b"PLY not a GLB at all")
    header = struct.pack("<4sII", b"glTF", 2, 40) + struct.pack("<II", 999, 0x4E4F534A)
    with pytest.raises(compression.CompressionError, match="longer than the file"):
        compression.compress_glb(header + b"{}")
    positions = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32).tobytes()
    truncated = {
        "asset": {"version": "2.0"},
        "buffers": [{"byteLength": 36}],
        "bufferViews": [{"buffer": 0, "byteLength": 36}, {"buffer": 0, "byteLength": 36}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 30, "type": "VEC3"},
            {"bufferView": 1, "componentType": 5125, "count": 3, "type": "SCALAR"},
        ],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
    }
    with pytest.raises(compression.CompressionError, match="accessor 0 runs past"):
        compression.compress_glb(glb(truncated, positions))


def test_primitives_draco_cannot_carry_stay_as_they_were() -> None:
    """Lines (and points) are left uncompressed, the file stays valid glTF."""
    positions = np.array([[0, 0, 0], [1, 0, 0]], np.float32).tobytes()
    lines = {
        "asset": {"version": "2.0"},
        "buffers": [{"byteLength": 24}],
        "bufferViews": [{"buffer": 0, "byteLength": 24}],
        "accessors": [
            {
                "bufferView": 0,
                "componentType": 5126,
                "count": 2,
                "type": "VEC3",
                "min": [0, 0, 0],
                "max": [1, 0, 0],
            },
        ],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "mode": 1}]}],
    }
    result = compression.compress_glb(glb(lines, positions))
    assert (result.primitives, result.skipped) == (0, 1)
    document, binary = compression.read_glb(result.data)
    assert "extensionsUsed" not in document and binary == positions
    assert json.loads(json.dumps(document))["accessors"][0]["bufferView"] == 0
