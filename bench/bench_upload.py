"""Resumable upload through the API against ``cp``: upload + hash + encrypt + commit.

A server runs in a subprocess (uvicorn on the app, a temporary DATA_DIR); this
process is the tus client. It creates an encrypted workspace, then uploads one
file in 64 MiB PATCH requests until the last one commits it as a new version.
Baseline, in the same run and the same file system: ``cp`` of the same file
followed by ``sync`` (the server fsyncs every request and the commit). Rounds
alternate cp and upload; the best of each is compared. The server's peak RSS is
its VmHWM from /proc. ``HERITAGE_BENCH_UPLOAD_MB`` sets the size (default 2048),
``HERITAGE_BENCH_DIR`` the directory (default: the system's temporary one).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from heritage.accounts.identity import SYSTEM
from heritage.accounts.services import AccountService, identity_of
from heritage.config import load_settings
from heritage.db.migrate import upgrade
from heritage.institutions.services import InstitutionService
from heritage.runtime import Runtime
from heritage.testing.services import free_port
from heritage.workspaces.services import WorkspaceService

ROUNDS = int(os.environ.get("HERITAGE_BENCH_ROUNDS", "2"))
PATCH_SIZE = 64 << 20
SECRET = "bench-secret-key-not-for-production-0123456789"  # noqa: S105
TARGETS = {"throughput vs cp": 0.70, "peak RSS MB": 200}


def make_source(path: Path, size: int) -> None:
    block = os.urandom(16 << 20)
    with path.open("wb") as out:
        left = size
        while left:
            take = min(left, len(block))
            out.write(block[:take])
            left -= take
        out.flush()
        os.fsync(out.fileno())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def prepare_instance(data_dir: Path) -> tuple[dict[str, str], str]:
    """Migrate, and make a person with a token and an encrypting (private) workspace."""
    env = {
        "HERITAGE_DATA_DIR": str(data_dir),
        "HERITAGE_SECRET_KEY": SECRET,
        "HERITAGE_PASSWORD_MEMORY_KIB": "1024",
        "HERITAGE_EMBEDDED_WORKER": "false",
        "HERITAGE_QUEUE": "immediate",
        "HERITAGE_LOG_LEVEL": "WARNING",
    }
    settings = load_settings(
        _env_file=None,
        data_dir=data_dir,
        secret_key=SECRET,
        password_memory_kib=1024,
        queue="immediate",
    )
    runtime = Runtime(settings)
    upgrade(runtime.database)
    accounts = AccountService(runtime)
    user = accounts.create_user(SYSTEM, "bench@example.org", "bench password 123", is_admin=True)
    token = accounts.create_token(identity_of(user, "token"), "bench").secret
    InstitutionService(runtime).create(SYSTEM, "bench", "Bench")
    WorkspaceService(runtime).create(SYSTEM, "bench", "Bench", institution="bench")
    runtime.close()
    return env, token


def start_server(
    env: dict[str, str], cwd: Path, workers: int = 1
) -> tuple[subprocess.Popen[bytes], int]:
    """The application under uvicorn with ``workers`` processes, once it answers."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HERITAGE_")} | env
    proc = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "heritage.web.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=full_env,
        cwd=cwd,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def upload(port: int, token: str, source: Path, sha256: str, name: str) -> float:
    """Seconds from creating the upload to the answer that committed it."""
    size = source.stat().st_size
    base = {"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {token}"}
    meta = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in {"filename": name, "sha256": sha256}.items()
    )
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600, blocksize=1 << 20)
    started = time.perf_counter()
    connection.request(
        "POST",
        "/api/workspaces/bench/uploads",
        headers=base | {"Upload-Length": str(size), "Upload-Metadata": meta},
    )
    response = connection.getresponse()
    response.read()
    if response.status != 201:
        raise RuntimeError(f"create: {response.status}")
    location = response.headers["Location"]
    offset = 0
    with source.open("rb", buffering=0) as stream:
        while offset < size:
            length = min(PATCH_SIZE, size - offset)
            stream.seek(offset)
            body = _Slice(stream, length)
            connection.request(
                "PATCH",
                location,
                body=body,
                headers=base
                | {
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                    "Content-Length": str(length),
                },
            )
            response = connection.getresponse()
            text = response.read()
            if response.status not in (200, 204):
                raise RuntimeError(f"PATCH at {offset}: {response.status} {text[:500]!r}")
            offset = int(response.headers["Upload-Offset"])
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


class _Slice:
    """``length`` bytes of a file, read as http.client sends them."""

    def __init__(self, stream: object, length: int) -> None:
        self.stream, self.left = stream, length

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self.stream.read(size) if size else b""  # type: ignore[attr-defined]
        self.left -= len(data)
        return data


def copy_with_sync(source: Path, target: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)  # noqa: S603, S607
    subprocess.run(["sync"], check=True)  # noqa: S607
    return time.perf_counter() - started


def main() -> int:
    size = int(os.environ.get("HERITAGE_BENCH_UPLOAD_MB", "2048")) << 20
    parent = os.environ.get("HERITAGE_BENCH_DIR") or None
    work = Path(tempfile.mkdtemp(prefix="heritage-bench-upload-", dir=parent))
    proc = None
    try:
        source = work / "source.bin"
        make_source(source, size)
        sha256 = sha256_of(source)
        env, token = prepare_instance(work / "data")
        proc, port = start_server(env, work)
        cp_times, upload_times = [], []
        for round_ in range(ROUNDS):
            target = work / "data" / f"cp-{round_}.bin"
            subprocess.run(["sync"], check=True)  # noqa: S607
            cp_times.append(copy_with_sync(source, target))
            target.unlink()
            subprocess.run(["sync"], check=True)  # noqa: S607
            upload_times.append(upload(port, token, source, sha256, f"round-{round_}.bin"))
        rss = peak_rss_mb(proc.pid)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    cp_rate = size / min(cp_times) / 1e6
    up_rate = size / min(upload_times) / 1e6
    ratio = up_rate / cp_rate
    print(
        f"{size >> 20} MiB, encrypted workspace, {PATCH_SIZE >> 20} MiB PATCHes, "
        f"best of {ROUNDS}, {os.cpu_count()} CPUs"
    )
    for index, (cp_s, up_s) in enumerate(zip(cp_times, upload_times, strict=True)):
        print(
            f"  round {index}: cp + sync {size / cp_s / 1e6:7.0f} MB/s   "
            f"upload {size / up_s / 1e6:7.0f} MB/s   {cp_s / up_s:5.2f} x cp"
        )
    print(f"  {'cp + sync (baseline)':38} {cp_rate:8.0f} MB/s")
    print(
        f"  {'upload + hash + encrypt + commit':38} {up_rate:8.0f} MB/s  {ratio:5.2f} x cp"
        f"  (target >= {TARGETS['throughput vs cp']:.2f})"
    )
    print(f"  {'server peak RSS (VmHWM)':38} {rss:8.0f} MB  (target < {TARGETS['peak RSS MB']})")
    return 0
