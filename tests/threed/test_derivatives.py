"""Levels of detail, point-cloud web versions and thumbnails: what they hold, their
provenance, and the Khronos glTF validator's verdict on every GLB we make."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from heritage.threed import derivatives, loading, processing


def test_mask_levels_of_detail_keep_the_texture_and_validate(
    models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gltf_validator
) -> None:
    monkeypatch.setattr(derivatives, "LOD_TARGETS", (("lod-low", 20_000), ("lod-high", 10**6)))
    mesh = loading.load_mesh(
        models / "gltf/mask-bali-separated/mask-gltf-2.0-binary-valid.gltf", "gltf"
    )
    made = {item.name: item for item in derivatives.mesh_lods(mesh, tmp_path)}
    assert abs(made["lod-low"].faces - 20_000) <= 200
    assert made["lod-high"].faces == 100_000  # under the target: the mesh itself
    low = made["lod-low"].provenance
    assert low["parameters"]["decimated"] is True
    assert {tool["name"] for tool in low["tools"]} >= {"trimesh", "fast-simplification", "DracoPy"}
    assert low["compression"]["extension"] == "KHR_draco_mesh_compression"
    assert set(made) == {"lod-low", "lod-low-uncompressed", "lod-high"}
    # textures are downsized for the web (the master's is 4096 px); trimesh reads no
    # Draco, so the uncompressed copy of the level is looked at
    reloaded = trimesh.load(str(made["lod-low-uncompressed"].path), force="scene")
    [geometry] = reloaded.geometry.values()
    assert max(geometry.visual.material.baseColorTexture.size) == derivatives.MAX_TEXTURE
    reports = gltf_validator(*(item.path for item in made.values()))
    assert all(report["errors"] == 0 for report in reports), reports


def test_point_cloud_web_versions_validate(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gltf_validator
) -> None:
    monkeypatch.setattr(derivatives, "WEB_POINTS", 500)
    monkeypatch.setattr(loading, "POINT_CHUNK", 100)  # many chunks: the streaming path
    laz = derivatives.point_cloud_web(
        shared_data / "pointcloud/las/simple.laz", "laz", tmp_path, 1065
    )
    assert 350 < laz.points < 650  # about half, drawn at random
    assert laz.provenance["parameters"]["fraction"] == round(500 / 1065, 6)
    cloud = next(iter(trimesh.load(str(laz.path), force="scene").geometry.values()))
    # centred on the cloud (georeferenced coordinates would lose detail in float32)
    header = loading.las_header(shared_data / "pointcloud/las/simple.laz")
    half = (np.asarray(header.maximum) - np.asarray(header.minimum)) / 2
    assert (np.abs(np.asarray(cloud.vertices)) <= half + 0.01).all()
    (tmp_path / "e57").mkdir()
    e57 = derivatives.point_cloud_web(
        shared_data / "pointcloud/e57/mask-e57-no-colors-valid.e57", "e57", tmp_path / "e57", 62323
    )
    assert e57.points < 600
    reports = gltf_validator(laz.path, e57.path)
    assert all(report["errors"] == 0 for report in reports), reports


@pytest.mark.parametrize(
    "relative", ["stl/stl_binary/rear_case.stl", "obj/spot/spot_triangulated.obj"]
)
def test_processing_renders_framed_thumbnails(models: Path, tmp_path: Path, relative: str) -> None:
    path = models / relative
    result = processing.run(path, path.suffix[1:], tmp_path)
    assert set(result.files) >= {"thumbnail-200", "thumbnail-400", "turntable"}
    for size in (200, 400):
        picture = np.asarray(Image.open(result.files[f"thumbnail-{size}"].path).convert("RGB"))
        assert picture.shape == (size, size, 3)
        drawn = np.abs(picture.astype(int) - 245).sum(axis=2) > 30
        # the model is drawn, framed: neither a blank picture nor one it overflows
        assert 0.05 < drawn.mean() < 0.9, drawn.mean()
        rows, columns = np.nonzero(drawn)
        assert rows.min() > 0 and columns.min() > 0 and rows.max() < size - 1
    with Image.open(result.files["turntable"].path) as turntable:
        assert turntable.n_frames == 8


def test_point_cloud_processing_draws_its_thumbnails(shared_data: Path, tmp_path: Path) -> None:
    result = processing.run(shared_data / "pointcloud/las/simple.laz", "laz", tmp_path)
    assert result.analysis["point_count"] == 1065
    assert set(result.files) == {"points-web", "thumbnail-200", "thumbnail-400", "turntable"}
    picture = np.asarray(Image.open(result.files["thumbnail-400"].path).convert("RGB"))
    drawn = np.abs(picture.astype(int) - 245).sum(axis=2) > 30
    assert drawn.mean() > 0.001  # points, in their colours, on the background


def test_every_glb_made_from_the_shared_models_validates(
    models: Path, shared_data: Path, tmp_path: Path, gltf_validator
) -> None:
    """Each usable shared master, of every format, made into its web derivatives; every
    GLB is checked by the Khronos validator (one run for all)."""
    from heritage.threed import analysis, formats

    masters = [
        path
        for folder in (models, shared_data / "pointcloud")
        for path in sorted(folder.rglob("*"))
        if formats.is_master(path.name) and "invalid" not in path.name
    ]
    made: list[Path] = []
    done_formats = set()
    for number, master in enumerate(masters):
        out = tmp_path / str(number)
        out.mkdir()
        form = formats.format_of(master.name) or ""
        found = analysis.analyse(master, form)
        if found["kind"] == "points":
            if found["point_count"]:
                made.append(
                    derivatives.point_cloud_web(master, form, out, found["point_count"]).path
                )
        else:
            made += [
                item.path for item in derivatives.mesh_lods(loading.load_mesh(master, form), out)
            ]
        done_formats.add(master.suffix.lower())
    assert done_formats >= {".glb", ".gltf", ".obj", ".ply", ".stl", ".e57", ".las", ".laz"}
    reports = gltf_validator(*made)
    failing = [report for report in reports if report["errors"]]
    assert not failing, failing
