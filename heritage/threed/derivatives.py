"""Web derivatives of a 3D master: GLB levels of detail with textures sized for the web,
Draco-compressed for the viewer (with the smallest level also kept uncompressed, for
clients without a Draco decoder), and a subsampled web version of a point cloud, read
from the master in chunks.

Derivatives are regenerable caches, never the master: each comes with its provenance
(tool, version, parameters), stored with the model's technical metadata.
"""

from __future__ import annotations

import importlib.metadata
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from heritage.threed import compression, loading
from heritage.threed.loading import MeshData

LOD_TARGETS = (("lod-100k", 100_000), ("lod-1m", 1_000_000))
# the smallest level, uncompressed: for download and for clients without a Draco decoder
UNCOMPRESSED_SUFFIX = "-uncompressed"
MAX_TEXTURE = 2048  # pixels on the longer side, for the web
WEB_POINTS = 1_000_000
SAMPLE_SEED = 20260  # subsamples are the same from one run to the next


@dataclass
class Derivative:
    name: str
    path: Path
    media_type: str
    provenance: dict[str, Any]
    faces: int | None = None
    points: int | None = None
    compression_seconds: float = 0.0  # for the benchmark; not stored


def tool(name: str) -> dict[str, str]:
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {"name": name, "version": version}


def mesh_lods(mesh: MeshData, folder: Path) -> list[Derivative]:
    """GLBs of the mesh at about 100k and 1M faces, Draco-compressed; a level the mesh is
    already under is the mesh itself, made once (so a small mesh has one GLB, not two
    alike). The first (smallest) level is also kept uncompressed."""
    faces = len(mesh.faces)
    made: list[Derivative] = []
    seen: set[int] = set()
    for name, target in LOD_TARGETS:
        count = min(faces, target)
        if count in seen:
            continue
        seen.add(count)
        if faces > target:
            data, parameters = decimate(mesh, target)
        else:
            data, parameters = web_scene(mesh), {"decimated": False}
        plain = data.export(file_type="glb")
        tools = [tool("trimesh"), tool("fast-simplification"), tool("pillow")]
        parameters = {"target_faces": target, "max_texture": MAX_TEXTURE, **parameters}
        level_faces = _faces(data)
        if not made:
            path = folder / f"{name}{UNCOMPRESSED_SUFFIX}.glb"
            path.write_bytes(plain)
            made.append(
                Derivative(
                    name=name + UNCOMPRESSED_SUFFIX,
                    path=path,
                    media_type="model/gltf-binary",
                    provenance={"tools": tools, "parameters": parameters},
                    faces=level_faces,
                )
            )
        started = time.perf_counter()
        compressed, compressing = _compressed(plain)
        path = folder / f"{name}.glb"
        path.write_bytes(compressed)
        made.append(
            Derivative(
                name=name,
                path=path,
                media_type="model/gltf-binary",
                provenance={
                    "tools": [*tools, tool("DracoPy")],
                    "parameters": parameters,
                    "compression": compressing,
                },
                faces=level_faces,
                compression_seconds=round(time.perf_counter() - started, 3),
            )
        )
    return made


def _compressed(plain: bytes) -> tuple[bytes, dict[str, Any]]:
    """The GLB Draco-compressed and what was done; a GLB that cannot be compressed is
    served as it is, the reason in its provenance (the viewer reads both)."""
    try:
        result = compression.compress_glb(plain)
    except compression.CompressionError as error:
        return plain, {"extension": None, "reason": str(error), "uncompressed_bytes": len(plain)}
    return result.data, {
        **result.parameters,
        "uncompressed_bytes": len(plain),
        "compressed_bytes": len(result.data),
    }


def _faces(scene: Any) -> int:
    return int(sum(len(g.faces) for g in scene.geometry.values() if hasattr(g, "faces")))


def web_scene(mesh: MeshData) -> Any:
    """The master's scene with every texture at most MAX_TEXTURE pixels wide."""
    scene = mesh.scene.copy()
    for geometry in scene.geometry.values():
        _shrink_textures(getattr(geometry, "visual", None))
    return scene


def _shrink_textures(visual: Any) -> None:
    material = getattr(visual, "material", None)
    if material is None:
        return
    for attribute in (
        "baseColorTexture",
        "metallicRoughnessTexture",
        "normalTexture",
        "emissiveTexture",
        "occlusionTexture",
        "image",
    ):
        image = getattr(material, attribute, None)
        if image is not None and hasattr(image, "size") and max(image.size) > MAX_TEXTURE:
            copy = image.copy()
            copy.thumbnail((MAX_TEXTURE, MAX_TEXTURE))
            setattr(material, attribute, copy)


def decimate(mesh: MeshData, target: int) -> tuple[Any, dict[str, Any]]:
    """The mesh reduced to about ``target`` faces by quadric edge collapse
    (fast-simplification). Texture coordinates follow the vertices they collapse into,
    so a single textured mesh keeps its texture."""
    import fast_simplification
    import trimesh

    faces = len(mesh.faces)
    reduction = 1.0 - target / faces
    points, triangles, collapses = fast_simplification.simplify(
        mesh.vertices.astype(np.float32), mesh.faces, reduction, return_collapses=True
    )
    _, _, mapping = fast_simplification.replay_simplification(
        mesh.vertices.astype(np.float32), mesh.faces, collapses
    )
    parameters: dict[str, Any] = {"decimated": True, "target_reduction": round(reduction, 6)}
    visual = None
    textured = [g for g in mesh.scene.geometry.values() if getattr(g, "visual", None) is not None]
    if len(textured) == 1 and textured[0].visual.kind == "texture":
        source = textured[0].visual
        uv = np.asarray(source.uv)
        if len(uv) == len(mesh.vertices):
            new_uv = np.zeros((len(points), 2))
            new_uv[mapping] = uv  # every old vertex names the vertex it became
            material = source.material.copy()
            visual = trimesh.visual.TextureVisuals(uv=new_uv, material=material)
            _shrink_textures(visual)
            parameters["texture"] = "kept (texture coordinates of the collapsed vertices)"
    elif len(textured) == 1 and textured[0].visual.kind == "vertex":
        colours = np.asarray(textured[0].visual.vertex_colors)
        new_colours = np.zeros((len(points), 4), dtype=np.uint8)
        new_colours[mapping] = colours
        visual = trimesh.visual.ColorVisuals(vertex_colors=new_colours)
        parameters["colours"] = "kept"
    if visual is None and any(g.visual.kind == "texture" for g in textured):
        parameters["texture"] = "dropped: the model has several textured parts"
    result = trimesh.Trimesh(points, triangles, visual=visual, process=False)
    return trimesh.Scene(result), parameters


def point_cloud_web(path: Path, form: str, folder: Path, count: int) -> Derivative:
    """A GLB of at most WEB_POINTS points drawn evenly at random from the master, read in
    chunks (memory stays flat), centred on the cloud (the offset is in the provenance:
    georeferenced coordinates lose precision in the 32-bit floats of glTF)."""
    import trimesh

    keep = min(1.0, WEB_POINTS / count) if count else 1.0
    generator = np.random.default_rng(SAMPLE_SEED)
    if form in {"las", "laz"}:
        header = loading.las_header(path)
        chunks = loading.las_chunks(path)
        centre = (np.asarray(header.minimum) + np.asarray(header.maximum)) / 2
    elif form == "e57":
        chunks, centre = loading.e57_scans(path), None
    else:
        chunks, centre = iter([loading.ply_points(path)]), None
    picked, colours = [], []
    for xyz, rgb in chunks:
        mask = generator.random(len(xyz)) < keep
        if centre is None:
            centre = (xyz.min(axis=0) + xyz.max(axis=0)) / 2 if len(xyz) else np.zeros(3)
        picked.append((xyz[mask] - centre).astype(np.float32))
        if rgb is not None:
            colours.append(rgb[mask])
    vertices = np.concatenate(picked) if picked else np.zeros((0, 3), np.float32)
    rgba = None
    if colours and sum(len(c) for c in colours) == len(vertices):
        rgb = np.concatenate(colours)
        rgba = np.column_stack([rgb, np.full(len(rgb), 255, np.uint8)])
    cloud = trimesh.PointCloud(vertices, colors=rgba)
    target = folder / "points-web.glb"
    target.write_bytes(trimesh.Scene(cloud).export(file_type="glb"))
    origin = [float(v) for v in (centre if centre is not None else np.zeros(3))]
    return Derivative(
        name="points-web",
        path=target,
        media_type="model/gltf-binary",
        provenance={
            "tools": [tool("laspy"), tool("lazrs"), tool("pye57"), tool("trimesh")],
            "parameters": {
                "max_points": WEB_POINTS,
                "sampling": "uniform random per point, seed " + str(SAMPLE_SEED),
                "fraction": round(keep, 6),
                "chunk_points": loading.POINT_CHUNK,
                "origin_subtracted": origin,
            },
        },
        points=len(vertices),
    )
