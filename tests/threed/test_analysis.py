"""Analysis of the shared real models, and hostile or invalid files rejected by name."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from heritage.threed import formats
from heritage.threed.analysis import analyse, mesh_topology
from heritage.threed.loading import ModelRejected


def test_every_invalid_shared_model_is_rejected_with_a_reason(models: Path) -> None:
    invalid = [path for path in models.rglob("*invalid*") if formats.is_master(path.name)]
    assert len(invalid) >= 2
    for path in invalid:
        with pytest.raises(ModelRejected) as caught:
            analyse(path, formats.format_of(path.name) or "")
        assert len(str(caught.value)) > 20, path


def test_real_models_counted(models: Path, shared_data: Path) -> None:
    mask = analyse(models / "gltf/mask-bali-separated/mask-gltf-2.0-binary-valid.gltf", "gltf")
    assert (mask["vertex_count"], mask["face_count"]) == (62383, 100000)
    assert mask["textures"] == [{"name": "Mesh_0:baseColorTexture", "width": 4096, "height": 4096}]
    assert mask["units"] == "m" and mask["normals"] is True
    assert mask["europeana"]["edm:polygonCount"] == 100000
    # a binary STL whose header starts with "solid" and has a trailing byte
    donut = analyse(models / "stl/stl_binary/HalfDonut.stl", "stl")
    ascii_donut = analyse(models / "stl/stl_ascii/HalfDonut.stl", "stl")
    assert donut["face_count"] == ascii_donut["face_count"] == 288
    cube = analyse(models / "ply/cube-ply-1.0_binary-unmodified-unknown.ply", "ply")
    assert cube["watertight"] and cube["duplicate_vertices"] == 6
    laz = analyse(shared_data / "pointcloud/las/simple.laz", "laz")
    assert laz["point_count"] == 1065 and laz["vertex_colours"]
    assert laz["europeana"] == {"edm:pointCount": 1065}
    e57 = analyse(shared_data / "pointcloud/e57/mask-e57-no-colors-valid.e57", "e57")
    assert e57["point_count"] == 62323


def test_topology_finds_holes_non_manifold_edges_and_degenerate_faces() -> None:
    square = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1]], float)
    faces = np.array([[0, 1, 2], [0, 2, 3], [0, 2, 4], [1, 1, 3]])
    found = mesh_topology(square, faces)
    assert found["non_manifold_edges"] == 1  # edge 0-2 has three faces
    assert found["degenerate_faces"] == 1
    assert found["boundary_edges"] > 0 and found["watertight"] is False


PLY_HEAD = (
    b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
    b"property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("big.stl", b"\0" * 80 + struct.pack("<I", 10**9) + b"\0" * 50, "announces 1000000000"),
        (
            "bad.gltf",
            b'{"asset":{"version":"2.0"},"bufferViews":[{"buffer":0,"byteLength":12}],'
            b'"accessors":[{"bufferView":0,"componentType":5126,"type":"VEC3","count":99999}]}',
            "accessor 0 announces 99999",
        ),
        ("no-asset.gltf", b'{"meshes":[]}', "no 'asset'"),
        ("lost.gltf", b'{"asset":{"version":"2.0"},"buffers":[{"uri":"gone.bin","byteLength":4}]}',
         "buffer is missing: gone.bin"),
        ("slip.gltf", b'{"asset":{"version":"2.0"},"images":[{"uri":"../../etc/passwd"}]}',
         "outside its folder"),
        ("nan.ply", PLY_HEAD + b"0 0 0\nnan 0 0\n0 1 0\n3 0 1 2\n", "NaN"),
        ("wrong.ply", PLY_HEAD + b"0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n", "out of range"),
    ],
)  # fmt: skip
def test_hostile_files_named(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ModelRejected, match=reason):
        analyse(path, formats.format_of(name) or "")


def test_missing_texture_is_reported(tmp_path: Path) -> None:
    (tmp_path / "m.obj").write_text("mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nusemtl a\nf 1 2 3\n")
    (tmp_path / "m.mtl").write_text("newmtl a\nmap_Kd wood.png\n")
    found = analyse(tmp_path / "m.obj", "obj")
    assert found["missing_files"] == ["wood.png"]
    assert "'wood.png' is named by the model but missing" in found["issues"]


def test_gltf_without_its_texture_is_analysed_and_says_so(models: Path, tmp_path: Path) -> None:
    import shutil

    from heritage.threed import processing

    source = models / "gltf" / "mask-bali-separated"
    for name in ("mask-gltf-2.0-binary-valid.gltf", "mask-gltf-2.0-binary-valid.bin"):
        shutil.copy(source / name, tmp_path / name)
    master = tmp_path / "mask-gltf-2.0-binary-valid.gltf"
    found = analyse(master, "gltf")
    assert found["missing_files"] == ["Image_0.jpg"] and found["textures"] == []
    assert "'Image_0.jpg' is named by the model but missing" in found["issues"]
    (tmp_path / "out").mkdir()
    result = processing.run(master, "gltf", tmp_path / "out")  # still shown, untextured
    assert result.files["lod-100k"].path.is_file()


def test_every_placement_of_a_mesh_counts(tmp_path: Path) -> None:
    import trimesh

    box = trimesh.creation.box()
    scene = trimesh.Scene()
    scene.add_geometry(box, geom_name="box", node_name="left")
    moved = np.eye(4)
    moved[0, 3] = 5.0
    scene.add_geometry(box, geom_name="box", node_name="right", transform=moved)
    master = tmp_path / "two.glb"
    master.write_bytes(scene.export(file_type="glb"))
    found = analyse(master, "glb")
    assert found["face_count"] == 2 * len(box.faces)
    assert found["bounding_box"]["size"][0] == pytest.approx(6.0)
