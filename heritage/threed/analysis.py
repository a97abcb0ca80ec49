"""What a 3D master holds: counts, extent, topology checks, normals, colours, textures.

``analyse`` returns plain JSON (stored as the model's technical metadata) and
maps its counts to Europeana's 3D properties of ``edm:WebResource``
(``edm:vertexCount``, ``edm:polygonCount``, ``edm:pointCount``). Point clouds are
read in chunks, so analysing a large LAZ keeps memory flat.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from heritage.threed import loading
from heritage.threed.loading import MeshData, ModelRejected

# Coordinates closer than this (relative to the model's size) are one vertex.
DUPLICATE_TOLERANCE = 1e-9
DEGENERATE_AREA = 1e-12


def analyse(path: Path, form: str) -> dict[str, Any]:
    """The analysis of the master at ``path`` (its parts beside it). Raises ModelRejected."""
    if form in {"las", "laz", "e57"} or (form == "ply" and not loading.ply_has_faces(path)):
        return analyse_points(path, form)
    return mesh_report(loading.load_mesh(path, form), form)


def mesh_report(mesh: MeshData, form: str) -> dict[str, Any]:
    vertices, faces = mesh.vertices, mesh.faces
    topology = mesh_topology(vertices, faces)
    minimum, maximum = vertices.min(axis=0), vertices.max(axis=0)
    issues = [f"'{name}' is named by the model but missing" for name in mesh.missing]
    if topology["non_manifold_edges"]:
        issues.append(f"{topology['non_manifold_edges']} non-manifold edges")
    if topology["degenerate_faces"]:
        issues.append(f"{topology['degenerate_faces']} degenerate faces")
    return {
        "kind": "mesh",
        "format": form,
        "vertex_count": len(vertices),
        "face_count": len(faces),
        "point_count": None,
        "bounding_box": _box(minimum, maximum),
        "units": mesh.units,
        **topology,
        "normals": mesh.normals_in_file,
        "vertex_colours": mesh.vertex_colours,
        "textures": [
            {"name": texture.name, "width": texture.width, "height": texture.height}
            for texture in mesh.textures
        ],
        "missing_files": mesh.missing,
        "issues": issues,
        "europeana": europeana_properties(len(vertices), len(faces), None),
    }


def mesh_topology(vertices: np.ndarray, faces: np.ndarray) -> dict[str, Any]:
    """Duplicate vertices, degenerate faces, boundary and non-manifold edges, watertightness.

    Vertices at the same place are merged first: formats split vertices at texture
    seams, and a scan is no less closed for it.
    """
    scale = float(np.ptp(vertices, axis=0).max()) if len(vertices) else 0.0
    grid = np.round(vertices / max(scale * DUPLICATE_TOLERANCE, 1e-300))
    _, first, inverse = np.unique(grid, axis=0, return_index=True, return_inverse=True)
    duplicates = len(vertices) - len(first)
    merged = inverse.reshape(-1)[faces]
    repeated = (
        (merged[:, 0] == merged[:, 1])
        | (merged[:, 1] == merged[:, 2])
        | (merged[:, 0] == merged[:, 2])
    )
    corners = vertices[faces]
    areas = 0.5 * np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    degenerate = repeated | (areas <= DEGENERATE_AREA * max(scale, 1e-300) ** 2)
    good = merged[~repeated]
    edges = np.sort(np.concatenate([good[:, [0, 1]], good[:, [1, 2]], good[:, [2, 0]]]), axis=1)
    if len(edges):
        _, counts = np.unique(edges, axis=0, return_counts=True)
    else:
        counts = np.zeros(0, dtype=np.int64)
    boundary = int((counts == 1).sum())
    non_manifold = int((counts > 2).sum())
    return {
        "duplicate_vertices": int(duplicates),
        "degenerate_faces": int(degenerate.sum()),
        "boundary_edges": boundary,
        "non_manifold_edges": non_manifold,
        "watertight": bool(len(good) > 0 and boundary == 0 and non_manifold == 0),
        "surface_area": float(areas.sum()),
    }


def analyse_points(path: Path, form: str) -> dict[str, Any]:
    details: dict[str, Any] = {}
    count, colours = 0, False
    minimum = np.full(3, np.inf)
    maximum = np.full(3, -np.inf)
    if form in {"las", "laz"}:
        header = loading.las_header(path)
        details = header.details
        colours = header.colours
        chunks = loading.las_chunks(path)
    elif form == "e57":
        chunks = loading.e57_scans(path)
    else:
        chunks = iter([loading.ply_points(path)])
    try:
        for xyz, rgb in chunks:
            loading.check_finite(xyz, "points")
            count += len(xyz)
            if len(xyz):
                minimum = np.minimum(minimum, xyz.min(axis=0))
                maximum = np.maximum(maximum, xyz.max(axis=0))
            colours = colours or rgb is not None
    except ModelRejected:
        raise
    except Exception as error:
        raise ModelRejected(f"the {form.upper()} points cannot be read: {error}") from None
    if form in {"las", "laz"} and count != loading.las_header(path).count:
        raise ModelRejected("the LAS header's point count differs from the points in the file")
    return {
        "kind": "points",
        "format": form,
        "vertex_count": None,
        "face_count": None,
        "point_count": count,
        "bounding_box": _box(minimum, maximum) if count else None,
        "units": "m" if form == "e57" else None,
        "normals": False,
        "vertex_colours": bool(colours),
        "textures": [],
        "missing_files": [],
        "issues": [] if count else ["the file holds no points"],
        **({"las": details} if details else {}),
        "europeana": europeana_properties(None, None, count),
    }


def europeana_properties(
    vertices: int | None, faces: int | None, points: int | None
) -> dict[str, int]:
    """The counts as Europeana's EDM properties of a 3D web resource."""
    found = {"edm:vertexCount": vertices, "edm:polygonCount": faces, "edm:pointCount": points}
    return {key: int(value) for key, value in found.items() if value is not None}


def _box(minimum: np.ndarray, maximum: np.ndarray) -> dict[str, list[float]]:
    return {
        "min": [float(value) for value in minimum],
        "max": [float(value) for value in maximum],
        "size": [float(value) for value in maximum - minimum],
    }
