"""IIIF: tile throughput against Debian's iipimage-server, and the derivative job against
the ``vips`` command.

**Tiles.** A 20,000 × 15,000 px master (a synthetic picture: waves and noise, as JPEG)
is attached to a record of a public, plaintext workspace; the derivative job makes the
pyramidal TIFF. The application then runs under uvicorn (one process) in a subprocess,
and iipsrv (FastCGI, one process, behind nginx) serves **the same TIFF file**. Eight
client threads with keep-alive connections ask each server for the same list of random
256 × 256 tiles (at scale factors 1, 2, 4 and 8; IIIF Image API 3 from ours, 2 from
iipsrv, the URLs otherwise alike), every tile once per pass; the best of the passes
counts. Reported: tiles per second, p50 and p95 latency, and ours / iipsrv.

**info.json cold**: the first image information request for the image a server answers
(after a health check: the process is up, nothing of the image cached), then the median
of the next ones.

**Derivatives.** The job's work (technical metadata, the access copy, two thumbnails)
on a 100-megapixel TIFF, in a subprocess whose peak RSS is read back; baseline in the
same run: ``vips tiffsave`` making the same pyramid from the same file (no thumbnails,
no metadata).

``HERITAGE_BENCH_TILES`` sets the tiles per pass (default 2000), ``HERITAGE_BENCH_DIR``
the directory (default: the system's temporary one).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CLIENTS = 8
PASSES = 2
TILE = 256
TILE_SCALES = (1, 2, 4, 8)
BIG = (20_000, 15_000)
DERIVE_SIDE = 10_000  # 100 megapixels
IIPSRV = Path("/usr/lib/iipimage-server/iipsrv.fcgi")
TARGETS = {"tiles vs iipsrv": 1.0, "info.json cold ms": 50, "derive s": 20, "derive RSS MB": 1024}


def synthetic(width: int, height: int) -> object:
    """A picture with detail everywhere (JPEG tiles of realistic size), made lazily."""
    import pyvips

    xy = pyvips.Image.xyz(width, height)
    x, y = xy[0], xy[1]
    red = (x / 97).sin() * 60 + (y / 61).cos() * 50 + 128
    green = ((x + y) / 143).sin() * 70 + 120
    blue = ((x - y) / 53).cos() * 40 + (x / 311).sin() * 40 + 110
    noise = pyvips.Image.gaussnoise(width, height, sigma=10, mean=0)
    picture = red.bandjoin([green, blue]) + noise
    return picture.cast("uchar").copy(interpretation="srgb")


# -- derivatives --------------------------------------------------------------------------


def derive_in_this_process(path: str) -> None:
    """Run by the subprocess: the derivative job's libvips work on ``path``."""
    from heritage.iiif import derive

    started = time.perf_counter()
    with open(path, "rb") as stream:
        image = derive.open_master(stream, 10**9)
        derive.technical_metadata(image)
        copy = derive.make_access_copy(image)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "rss_mb": peak, "levels": len(copy.levels)}))


def bench_derive(work: Path) -> dict[str, float]:
    master = work / "master-100mp.tif"
    synthetic(DERIVE_SIDE, DERIVE_SIDE).tiffsave(str(master), compression="deflate")  # type: ignore[attr-defined]
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-c",
            f"import bench.bench_iiif as b; b.derive_in_this_process({str(master)!r})",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        env=os.environ | {"PYTHONPATH": str(root)},
    )
    ours = json.loads(out.stdout.strip().splitlines()[-1])
    started = time.perf_counter()
    subprocess.run(  # noqa: S603
        [  # noqa: S607 - the vips command of libvips-tools, wherever PATH has it
            "vips",
            "tiffsave",
            str(master),
            str(work / "vips.tif"),
            "--tile",
            "--pyramid",
            "--compression=jpeg",
            "--Q=85",
            "--tile-width=256",
            "--tile-height=256",
        ],
        check=True,
    )
    baseline = time.perf_counter() - started
    return {"derive s": ours["seconds"], "derive RSS MB": ours["rss_mb"], "vips s": baseline}


# -- tiles --------------------------------------------------------------------------------


def tile_paths(width: int, height: int, count: int, seed: int = 7) -> list[str]:
    """``x,y,w,h/w,/0/default.jpg`` of random tiles, aligned to each level's grid."""
    chooser = random.Random(seed)
    paths = []
    for _ in range(count):
        scale = chooser.choice(TILE_SCALES)
        span = TILE * scale
        x = chooser.randrange(0, (width + span - 1) // span) * span
        y = chooser.randrange(0, (height + span - 1) // span) * span
        w, h = min(span, width - x), min(span, height - y)
        paths.append(f"{x},{y},{w},{h}/{-(-w // scale)},/0/default.jpg")
    return paths


def hammer(port: int, prefix: str, paths: list[str]) -> tuple[float, list[float]]:
    """Tiles per second and each request's latency, CLIENTS threads with keep-alive."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    shares = [paths[index::CLIENTS] for index in range(CLIENTS)]

    def client(share: list[str]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        for path in share:
            started = time.perf_counter()
            connection.request("GET", prefix + path)
            response = connection.getresponse()
            body = response.read()
            mine.append(time.perf_counter() - started)
            if response.status != 200 or body[:2] != b"\xff\xd8":
                failures.append(f"{response.status} {prefix + path}")
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} failed requests, e.g. {failures[:3]}")
    return len(paths) / elapsed, latencies


def health_rate(port: int, count: int) -> float:
    """Requests per second of ``/health``: what a route that does nothing costs."""
    done = threading.Barrier(CLIENTS + 1)

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        done.wait()
        for _ in range(count // CLIENTS):
            connection.request("GET", "/health")
            connection.getresponse().read()
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    done.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return count // CLIENTS * CLIENTS / (time.perf_counter() - started)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def prepare_image(work: Path) -> tuple[dict[str, str], str, Path, tuple[int, int]]:
    """An instance with a public plaintext workspace whose record holds the big image."""
    from sqlalchemy import select

    from bench.bench_upload import prepare_instance
    from heritage.accounts.identity import SYSTEM
    from heritage.config import load_settings
    from heritage.iiif.models import DerivativeStatus, ImageDerivative
    from heritage.records.model import Record, Value
    from heritage.records.services import RecordService
    from heritage.runtime import Runtime
    from heritage.workspaces.models import Visibility, Workspace

    data_dir = work / "data"
    env, _ = prepare_instance(data_dir)
    settings = load_settings(
        _env_file=None, data_dir=data_dir, secret_key=env["HERITAGE_SECRET_KEY"], queue="immediate"
    )
    runtime = Runtime(settings)
    with runtime.database.session(write=True) as session:
        workspace = session.scalar(select(Workspace).where(Workspace.slug == "bench"))
        assert workspace is not None
        workspace.visibility, workspace.encrypt_files = Visibility.PUBLIC, False
        session.commit()
    master = work / "master-big.jpg"
    synthetic(*BIG).jpegsave(str(master), Q=90)  # type: ignore[attr-defined]
    records = RecordService(runtime)
    record = records.create(SYSTEM, "bench", Record(identifier="big", title=[Value.text("Big")]))
    started = time.perf_counter()
    with master.open("rb") as stream:
        records.attach_file(SYSTEM, record.uuid, "big.jpg", stream)
    print(f"attach + derivatives of {BIG[0]}×{BIG[1]}: {time.perf_counter() - started:.1f} s")
    with runtime.database.session() as session:
        row = session.scalar(select(ImageDerivative))
        assert row is not None and row.status is DerivativeStatus.READY, row and row.error
        identifier, digest = row.identifier, row.master_sha256
    runtime.close()
    access = data_dir / "derivatives" / identifier / digest[:32] / "access.tif"
    return env, identifier, access, BIG


def start_iipsrv(work: Path, image: Path) -> tuple[list[subprocess.Popen[bytes]], int]:
    from heritage.testing.services import free_port

    images = work / "iip"
    images.mkdir()
    (images / "pyr.tif").symlink_to(image)
    fcgi, http_port = free_port(), free_port()
    iip = subprocess.Popen(  # noqa: S603
        [str(IIPSRV), "--bind", f"127.0.0.1:{fcgi}", "--backlog", "64"],
        env={
            "FILESYSTEM_PREFIX": f"{images}/",
            "VERBOSITY": "0",
            "LOGFILE": str(work / "iipsrv.log"),
            "MAX_IMAGE_CACHE_SIZE": "10",
        },
    )
    conf = work / "nginx.conf"
    conf.write_text(
        f"""daemon off; worker_processes 1; pid {work}/nginx.pid; error_log {work}/nginx.err;
events {{ worker_connections 256; }}
http {{
  access_log off; client_body_temp_path {work}/nb; proxy_temp_path {work}/np;
  fastcgi_temp_path {work}/nf; uwsgi_temp_path {work}/nu; scgi_temp_path {work}/ns;
  server {{
    listen 127.0.0.1:{http_port};
    location /fcgi-bin/iipsrv.fcgi {{
      fastcgi_pass 127.0.0.1:{fcgi}; fastcgi_keep_conn on;
      fastcgi_param QUERY_STRING $query_string; fastcgi_param REQUEST_METHOD $request_method;
      fastcgi_param REQUEST_URI $request_uri; fastcgi_param SERVER_NAME $server_name;
      fastcgi_param SERVER_PORT $server_port; fastcgi_param HTTP_HOST $http_host;
    }}
  }}
}}
"""
    )
    nginx = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(work)])  # noqa: S603, S607
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=2)
            connection.request("GET", "/fcgi-bin/iipsrv.fcgi?IIIF=pyr.tif/info.json")
            if connection.getresponse().status == 200:
                return [nginx, iip], http_port
        except OSError:
            time.sleep(0.1)
    for proc in (nginx, iip):
        proc.kill()
    raise RuntimeError("iipsrv behind nginx did not start")


def first_request_ms(port: int, path: str) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    started = time.perf_counter()
    connection.request("GET", path)
    connection.getresponse().read()
    elapsed = (time.perf_counter() - started) * 1000
    connection.close()
    return elapsed


def info_timings(port: int, identifier: str) -> tuple[float, float, float]:
    """The first database request of a fresh process (an unknown image: SQLAlchemy sets
    up its mappers once per process), then the first info.json of the image (nothing of
    it in any cache), then the median of the next ones."""
    process = first_request_ms(
        port, "/iiif/3/00000000-0000-4000-8000-000000000000~000000000000/info.json"
    )
    times = []
    for _ in range(21):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        started = time.perf_counter()
        connection.request("GET", f"/iiif/3/{identifier}/info.json")
        response = connection.getresponse()
        response.read()
        times.append((time.perf_counter() - started) * 1000)
        connection.close()
        if response.status != 200:
            raise RuntimeError(f"info.json: {response.status}")
    return process, times[0], statistics.median(times[1:])


def main() -> int:
    from bench.bench_upload import peak_rss_mb, start_server

    if not IIPSRV.exists() or shutil.which("nginx") is None or shutil.which("vips") is None:
        print("needs iipimage-server, nginx and libvips-tools (apt-get install ...)")
        return 1
    count = int(os.environ.get("HERITAGE_BENCH_TILES", "2000"))
    parent = os.environ.get("HERITAGE_BENCH_DIR") or None
    work = Path(tempfile.mkdtemp(prefix="heritage-bench-iiif-", dir=parent))
    failed = False
    try:
        derived = bench_derive(work)
        print(
            f"derivatives of a 100 MP TIFF: {derived['derive s']:.1f} s, peak RSS "
            f"{derived['derive RSS MB']:.0f} MB; vips tiffsave alone: {derived['vips s']:.1f} s "
            f"(× {derived['derive s'] / derived['vips s']:.2f})"
        )
        env, identifier, access, (width, height) = prepare_image(work)
        paths = tile_paths(width, height, count)
        server, port = start_server(env, work)
        pair, pair_port = start_server(env, work, workers=2)
        iip_procs, iip_port = start_iipsrv(work, access)
        try:
            process, cold, warm = info_timings(port, identifier)
            print(
                f"first database request of the process: {process:.1f} ms; info.json: first "
                f"{cold:.1f} ms, then median {warm:.1f} ms"
            )
            results: dict[str, list[tuple[float, list[float]]]] = {
                "ours": [],
                "iipsrv": [],
                "ours, 2 processes": [],
            }
            for round_ in range(PASSES):
                # new tiles each pass and each server: no answer from an earlier cache
                for offset, (name, at, prefix) in enumerate(
                    [
                        ("iipsrv", iip_port, "/fcgi-bin/iipsrv.fcgi?IIIF=pyr.tif/"),
                        ("ours", port, f"/iiif/3/{identifier}/"),
                        ("ours, 2 processes", pair_port, f"/iiif/3/{identifier}/"),
                    ]
                ):
                    batch = tile_paths(width, height, count, seed=100 + 10 * round_ + offset)
                    results[name].append(hammer(at, prefix, batch))
            health = health_rate(port, count)
            rss = peak_rss_mb(server.pid)
        finally:
            for proc in (server, pair, *iip_procs):
                proc.terminate()
                proc.wait(30)
        best = {name: max(runs, key=lambda run: run[0]) for name, runs in results.items()}
        print("| 8 clients, random 256² tiles | tiles/s | p50 ms | p95 ms | × iipsrv |")
        print("|---|---|---|---|---|")
        for name, (rate, latencies) in (
            ("iipsrv 1.1 + nginx, 1 process (baseline)", best["iipsrv"]),
            ("ours, uvicorn, 1 process", best["ours"]),
            ("ours, uvicorn, 2 processes", best["ours, 2 processes"]),
        ):
            print(
                f"| {name} | {rate:.0f} | {percentile(latencies, 0.5):.1f} | "
                f"{percentile(latencies, 0.95):.1f} | {rate / best['iipsrv'][0]:.2f} |"
            )
        for name, runs in results.items():
            print(f"{name}: passes {', '.join(f'{rate:.0f}' for rate, _ in runs)} tiles/s")
        print(f"our server's peak RSS: {rss:.0f} MB; tiles per pass: {len(paths)}")
        print(
            f"the same server's /health (the framework's floor): {health:.0f} requests/s "
            f"(× iipsrv tiles {health / best['iipsrv'][0]:.2f})"
        )
        ratio = best["ours"][0] / best["iipsrv"][0]
        checks = {
            "tiles vs iipsrv": ratio >= TARGETS["tiles vs iipsrv"],
            "info.json cold ms": cold <= TARGETS["info.json cold ms"],
            "derive s": derived["derive s"] <= TARGETS["derive s"],
            "derive RSS MB": derived["derive RSS MB"] <= TARGETS["derive RSS MB"],
        }
        for name, passed in checks.items():
            print(f"target {name} {TARGETS[name]}: {'met' if passed else 'NOT met'}")
        failed = not all(checks.values())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
