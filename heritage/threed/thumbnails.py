"""Thumbnails of a model rendered headless (pyrender on EGL, no display needed).

The camera frames the model's bounding sphere from above and in front; sizes are
Europeana's 200 px (medium) and 400 px (large). A turntable of a few frames
around the vertical axis is saved as an animated WebP.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

SIZES = (200, 400)
TURNTABLE_FRAMES = 8
TURNTABLE_SIZE = 200
FIELD_OF_VIEW = math.pi / 4
BACKGROUND = [245, 245, 245, 255]


def _pyrender() -> Any:
    # EGL renders without X; it must be chosen before OpenGL is first imported.
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    import pyrender

    return pyrender


def _scene(model: Any, kind: str) -> tuple[Any, np.ndarray, float]:
    """A pyrender scene of the model, the centre of its bounding sphere and its radius."""
    pyrender = _pyrender()
    scene = pyrender.Scene(bg_color=BACKGROUND, ambient_light=[0.35, 0.35, 0.35])
    if kind == "points":
        vertices = np.asarray(model.vertices, dtype=np.float32)
        colours = getattr(model, "colors", None)
        colours = None if colours is None or len(colours) != len(vertices) else colours
        if len(vertices):
            scene.add(pyrender.Mesh.from_points(vertices, colors=colours))
        bounds = (
            np.array([vertices.min(axis=0), vertices.max(axis=0)])
            if len(vertices)
            else np.zeros((2, 3))
        )
    else:
        for node_name in model.graph.nodes_geometry:
            transform, geometry_name = model.graph[node_name]
            geometry = model.geometry[geometry_name]
            if hasattr(geometry, "faces") and len(geometry.faces):
                scene.add(pyrender.Mesh.from_trimesh(geometry, smooth=False), pose=transform)
        bounds = model.bounds if model.bounds is not None else np.zeros((2, 3))
    centre = (bounds[0] + bounds[1]) / 2
    radius = float(np.linalg.norm(bounds[1] - bounds[0]) / 2) or 1.0
    return scene, centre, radius


def _camera_pose(centre: np.ndarray, radius: float, azimuth: float) -> np.ndarray:
    """A camera looking at ``centre`` from ``azimuth`` radians around the vertical (y)
    axis, 25 degrees above, far enough for the bounding sphere to fill the view."""
    distance = radius / math.sin(FIELD_OF_VIEW / 2) * 1.05
    elevation = math.radians(25)
    eye = centre + distance * np.array(
        [
            math.cos(elevation) * math.sin(azimuth),
            math.sin(elevation),
            math.cos(elevation) * math.cos(azimuth),
        ]
    )
    forward = centre - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, up, -forward, eye
    return pose


def render(model: Any, kind: str, size: int, azimuth: float = math.radians(30)) -> np.ndarray:
    """One square RGB picture of the model (uint8, size × size × 3)."""
    return render_frames(model, kind, size, [azimuth])[0]


def render_frames(model: Any, kind: str, size: int, azimuths: list[float]) -> list[np.ndarray]:
    pyrender = _pyrender()
    scene, centre, radius = _scene(model, kind)
    camera = pyrender.PerspectiveCamera(yfov=FIELD_OF_VIEW, znear=radius * 0.01, zfar=radius * 10)
    camera_node = scene.add(camera, pose=np.eye(4))
    light_node = scene.add(pyrender.DirectionalLight(intensity=3.0), pose=np.eye(4))
    renderer = pyrender.OffscreenRenderer(size, size, point_size=2.0)
    frames = []
    try:
        for azimuth in azimuths:
            pose = _camera_pose(centre, radius, azimuth)
            scene.set_pose(camera_node, pose)
            scene.set_pose(light_node, pose)
            colour, _ = renderer.render(scene)
            frames.append(np.asarray(colour)[:, :, :3].copy())
    finally:
        renderer.delete()
    return frames


def make_thumbnails(model: Any, kind: str, folder: Path) -> dict[str, Path]:
    """``thumb-200.png``, ``thumb-400.png`` and ``turntable.webp`` in ``folder``."""
    from PIL import Image

    made: dict[str, Path] = {}
    large = Image.fromarray(render(model, kind, max(SIZES)))
    for size in SIZES:
        picture = large if size == large.width else large.resize((size, size), Image.LANCZOS)
        path = folder / f"thumb-{size}.png"
        picture.save(path, optimize=True)
        made[f"thumbnail-{size}"] = path
    step = 2 * math.pi / TURNTABLE_FRAMES
    frames = render_frames(model, kind, TURNTABLE_SIZE, [i * step for i in range(TURNTABLE_FRAMES)])
    pictures = [Image.fromarray(frame) for frame in frames]
    path = folder / "turntable.webp"
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=250, loop=0)
    made["turntable"] = path
    return made
