"""One model's processing, on local files: analysis, derivatives, thumbnails.

Kept apart from the service so the benchmark and the tests can run it on any file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heritage.threed import analysis as analysing
from heritage.threed import derivatives, loading, thumbnails
from heritage.threed.derivatives import UNCOMPRESSED_SUFFIX, Derivative, tool


@dataclass
class Processed:
    analysis: dict[str, Any]
    files: dict[str, Derivative] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # per stage, for benchmarks

    def lap(self, stage: str, started: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] = round(now - started, 3)
        return now


def run(master: Path, form: str, out: Path) -> Processed:
    """Analyse ``master`` and make its derivatives in ``out``. Raises ModelRejected."""
    import trimesh

    started = time.perf_counter()
    points = form in {"las", "laz", "e57"} or (form == "ply" and not loading.ply_has_faces(master))
    if points:
        report = analysing.analyse_points(master, form)
        result = Processed(report)
        started = result.lap("analysis", started)
        if not report["point_count"]:
            return result
        web = derivatives.point_cloud_web(master, form, out, report["point_count"])
        result.files[web.name] = web
        started = result.lap("derivatives", started)
        model = trimesh.load(str(web.path), force="scene")
        cloud = next(iter(model.geometry.values()))
        shown = cloud
        kind = "points"
    else:
        mesh = loading.load_mesh(master, form)
        report = analysing.mesh_report(mesh, form)
        result = Processed(report)
        started = result.lap("analysis", started)
        compressing = 0.0
        for made in derivatives.mesh_lods(mesh, out):
            result.files[made.name] = made
            compressing += made.compression_seconds
        result.seconds["compression"] = round(compressing, 3)  # part of "derivatives"
        started = result.lap("derivatives", started)
        # the smallest level of detail is drawn (the thumbnail cannot show more), from its
        # uncompressed copy: trimesh reads no Draco
        smallest = next(f for n, f in result.files.items() if n.endswith(UNCOMPRESSED_SUFFIX))
        shown = trimesh.load(str(smallest.path), force="scene")
        kind = "mesh"
    provenance = {"tools": [tool("pyrender"), tool("PyOpenGL"), tool("pillow")]}
    for name, path in thumbnails.make_thumbnails(shown, kind, out).items():
        result.files[name] = Derivative(
            name=name,
            path=path,
            media_type="image/webp" if path.suffix == ".webp" else "image/png",
            provenance={**provenance, "parameters": {"renderer": "EGL offscreen"}},
        )
    result.lap("thumbnails", started)
    return result
