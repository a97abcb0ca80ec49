"""3D processing: a 1,000,000-triangle mesh and a 20,000,000-point LAZ.

Mesh: a closed, bumpy sphere of about 1,000,000 triangles (binary PLY) goes
through the whole processing of a master (``heritage.threed.processing.run``:
header checks, analysis, GLB levels of detail at 100k and 1M faces, 200/400 px
thumbnails and an 8-frame turntable), the levels Draco-compressed (their sizes against
the uncompressed GLBs, and the compression time, are printed). Targets: under 30 s,
peak RSS under 2 GB.
Baselines in the same run, on the same mesh: pymeshlab's quadric edge collapse
decimation to 100k faces against ours (fast-simplification), and reading the
mesh alone.

Point cloud: a 20,000,000-point LAZ (with colours) is subsampled for the web
(``derivatives.point_cloud_web``: read in chunks, at most 1,000,000 points
kept). Target: peak RSS under 500 MB. Baseline in the same run: laspy reading
the same file in the same chunks and doing nothing with them.

Each measurement runs in a child process of its own, so its peak RSS is its
own. ``HERITAGE_BENCH_DIR`` picks the directory (default: the system's temp).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MESH_TARGET_S = 30.0
MESH_TARGET_MB = 2048
POINTS = 20_000_000
POINTS_TARGET_MB = 500
CHUNK = 1_000_000


def make_mesh(path: Path) -> int:
    import trimesh

    sphere = trimesh.creation.uv_sphere(radius=0.1, count=[518, 500])
    generator = np.random.default_rng(7)
    # a scan's relief, not a perfect sphere: decimation has work to do
    directions = sphere.vertices / np.linalg.norm(sphere.vertices, axis=1, keepdims=True)
    bumps = 1 + 0.02 * np.sin(40 * directions[:, 0]) * np.cos(30 * directions[:, 1])
    bumps += 0.002 * generator.standard_normal(len(bumps))
    mesh = trimesh.Trimesh(sphere.vertices * bumps[:, None], sphere.faces, process=False)
    path.write_bytes(mesh.export(file_type="ply"))
    return len(mesh.faces)


def make_laz(path: Path) -> None:
    import laspy

    header = laspy.LasHeader(point_format=7, version="1.4")
    header.scales = np.array([0.001, 0.001, 0.001])
    header.offsets = np.array([500_000.0, 5_400_000.0, 0.0])
    generator = np.random.default_rng(11)
    with laspy.open(str(path), mode="w", header=header) as writer:
        for start in range(0, POINTS, CHUNK):
            points = laspy.ScaleAwarePointRecord.zeros(CHUNK, header=header)
            points.x = 500_000 + generator.uniform(0, 200, CHUNK)
            points.y = 5_400_000 + generator.uniform(0, 200, CHUNK)
            points.z = generator.uniform(0, 30, CHUNK)
            colour = generator.integers(0, 65535, (3, CHUNK), dtype=np.uint16)
            points.red, points.green, points.blue = colour
            writer.write_points(points)
            del start


CHILD = {
    "pipeline": """
from heritage.threed import processing
result = processing.run(Path(sys.argv[2]), "ply", Path(sys.argv[3]))
out = {"faces": {k: v.faces for k, v in result.files.items() if v.faces}, "stages": result.seconds}
out["draco"] = {
    name: [made.path.stat().st_size, made.provenance["compression"]["uncompressed_bytes"],
           made.compression_seconds]
    for name, made in result.files.items() if "compression" in made.provenance
}
""",
    "ours": """
from heritage.threed import derivatives, loading
mesh = loading.load_mesh(Path(sys.argv[2]), "ply")
started = time.perf_counter()
scene, _ = derivatives.decimate(mesh, 100_000)
[geometry] = scene.geometry.values()
out = {"decimate_s": time.perf_counter() - started, "faces": len(geometry.faces)}
""",
    "pymeshlab": """
import pymeshlab
meshes = pymeshlab.MeshSet()
meshes.load_new_mesh(sys.argv[2])
started = time.perf_counter()
meshes.meshing_decimation_quadric_edge_collapse(targetfacenum=100_000)
seconds = time.perf_counter() - started
out = {"decimate_s": seconds, "faces": meshes.current_mesh().face_number()}
""",
    "read": """
from heritage.threed import loading
mesh = loading.load_mesh(Path(sys.argv[2]), "ply")
out = {"faces": len(mesh.faces)}
""",
    "subsample": """
from heritage.threed import derivatives
made = derivatives.point_cloud_web(Path(sys.argv[2]), "laz", Path(sys.argv[3]), 20_000_000)
out = {"points": made.points}
""",
    "laspy-read": """
from heritage.threed import loading
count = 0
for xyz, rgb in loading.las_chunks(Path(sys.argv[2])):
    count += len(xyz)
out = {"points": count}
""",
}


def child(name: str, *args: Path) -> dict[str, float]:
    """Run one measurement in a fresh interpreter: its wall time and its own peak RSS."""
    code = (
        "import json, resource, sys, time\nfrom pathlib import Path\n"
        "started = time.perf_counter()\n"
        + CHILD[name]
        + "\nout['seconds'] = time.perf_counter() - started"
        + "\nout['rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024"
        + "\nprint(json.dumps(out))"
    )
    done = subprocess.run(  # noqa: S603 - our own code and file names
        [sys.executable, "-c", code, name, *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYOPENGL_PLATFORM": "egl"},
    )
    if done.returncode:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    base = Path(
        tempfile.mkdtemp(prefix="heritage-bench-3d-", dir=os.environ.get("HERITAGE_BENCH_DIR"))
    )
    try:
        return measure(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def row(label: str, seconds: float, rss_mb: float, ratio: float, note: str = "") -> None:
    print(f"{label:52} {seconds:7.2f} {rss_mb:12.0f} {ratio:10.2f}  {note}")


def header() -> None:
    print(f"{'':52} {'s':>7} {'peak RSS MB':>12} {'x baseline':>10}")


def measure(base: Path) -> int:
    failed = False
    mesh = base / "bumpy.ply"
    faces = make_mesh(mesh)
    out = base / "out"
    out.mkdir()
    pipeline = child("pipeline", mesh, out)
    read = child("read", mesh)
    ours = child("ours", mesh)
    try:
        meshlab: dict[str, float] | None = child("pymeshlab", mesh)
    except RuntimeError as error:  # pymeshlab is a bench-only dependency
        print(f"pymeshlab not measured: {str(error).splitlines()[-1]}")
        meshlab = None
    print(f"mesh of {faces:,} triangles (binary PLY, {mesh.stat().st_size / 1e6:.0f} MB)")
    header()
    row("read the mesh alone (baseline)", read["seconds"], read["rss_mb"], 1.0)
    row(
        "analysis + LOD 100k + LOD 1M + thumbnails",
        pipeline["seconds"],
        pipeline["rss_mb"],
        pipeline["seconds"] / read["seconds"],
        f"levels of detail: {pipeline['faces']}; stages (s): {pipeline['stages']}",
    )
    for name, (packed, plain, seconds) in sorted(pipeline["draco"].items()):
        row(f"{name} GLB uncompressed (baseline)", 0.0, 0, 1.0, f"{plain / 1e6:.1f} MB")
        row(
            f"{name} GLB Draco-compressed (ours)",
            seconds,
            0,
            packed / plain,
            f"{packed / 1e6:.1f} MB; compression time in s, size ratio to uncompressed",
        )
    if meshlab:
        row(
            "decimation to 100k: pymeshlab quadric (baseline)",
            meshlab["decimate_s"],
            meshlab["rss_mb"],
            1.0,
            f"{meshlab['faces']:,} faces",
        )
        row(
            "decimation to 100k: fast-simplification (ours)",
            ours["decimate_s"],
            ours["rss_mb"],
            ours["decimate_s"] / meshlab["decimate_s"],
            f"{ours['faces']:,} faces",
        )
    if pipeline["seconds"] > MESH_TARGET_S or pipeline["rss_mb"] > MESH_TARGET_MB:
        print(f"MESH TARGET MISSED: {MESH_TARGET_S:.0f} s, {MESH_TARGET_MB} MB")
        failed = True

    laz = base / "cloud.laz"
    started = time.perf_counter()
    make_laz(laz)
    written = time.perf_counter() - started
    reading = child("laspy-read", laz)
    subsample = child("subsample", laz, out)
    size = laz.stat().st_size / 1e6
    print(f"\nLAZ of {POINTS:,} points ({size:.0f} MB, written in {written:.0f} s)")
    header()
    row("laspy chunked read, nothing kept (baseline)", reading["seconds"], reading["rss_mb"], 1.0)
    row(
        "web version (chunked, subsampled, GLB)",
        subsample["seconds"],
        subsample["rss_mb"],
        subsample["seconds"] / reading["seconds"],
        f"{subsample['points']:,} points kept",
    )
    if subsample["rss_mb"] > POINTS_TARGET_MB:
        print(f"POINT CLOUD TARGET MISSED: {POINTS_TARGET_MB} MB")
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
