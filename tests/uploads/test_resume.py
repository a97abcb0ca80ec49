"""Resuming: after a connection dropped mid-body, and in a process that never saw the upload."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from heritage.runtime import Runtime
from heritage.testing.plugin import TEST_SECRET_KEY
from heritage.uploads import partfile
from tests.uploads.conftest import OCTETS, TUS, LiveServer, metadata, sha256_hex
from tests.uploads.test_tus_protocol import read_back

MiB = 1 << 20


def send_half_and_drop(base_url: str, path: str, token: str, offset: int, body: bytes) -> None:
    """A client that announces the whole body, sends part of it, then goes away."""
    address = urlsplit(base_url)
    with socket.create_connection((address.hostname, address.port)) as sock:
        head = (
            f"PATCH {path} HTTP/1.1\r\nHost: {address.netloc}\r\n"
            f"Authorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n"
            f"Content-Type: {OCTETS}\r\nUpload-Offset: {offset}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body[: len(body) // 2])
        time.sleep(0.3)  # let the server take in what arrived
    # closing the socket mid-body is the dropped connection


def wait_for_offset(client: httpx.Client, location: str, headers: dict[str, str]) -> int:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        response = client.head(location, headers=headers)
        offset = int(response.headers["upload-offset"])
        if offset:
            return offset
        time.sleep(0.1)
    raise AssertionError("the server kept nothing of the interrupted request")


@pytest.mark.parametrize(("slug", "person"), [("alpha", "contributor"), ("gamma", "owner")])
def test_dropped_connection_keeps_whole_chunks_and_resumes(
    live_server: LiveServer, slug: str, person: str
) -> None:
    token = live_server.world.people[person].token
    headers = {**TUS, "Authorization": f"Bearer {token}"}
    data = os.urandom(6 * MiB + 123)
    with httpx.Client(base_url=live_server.base_url, timeout=30) as client:
        created = client.post(
            f"/api/workspaces/{slug}/uploads",
            headers={
                **headers,
                "Upload-Length": str(len(data)),
                "Upload-Metadata": metadata(filename="big.bin", sha256=sha256_hex(data)),
            },
        )
        location = created.headers["location"]
        send_half_and_drop(live_server.base_url, location, token, 0, data)
        offset = wait_for_offset(client, location, headers)
        assert 0 < offset <= 3 * MiB + 62
        if slug == "alpha":
            assert offset % MiB == 0  # only sealed chunks count
        done = client.patch(
            location,
            headers={**headers, "Upload-Offset": str(offset), "Content-Type": OCTETS},
            content=data[offset:],
        )
        assert done.status_code == 200, done.text
    stored = read_back(
        live_server.runtime, live_server.world, slug, done.json()["object"], "big.bin"
    )
    assert stored == data


CONTINUE_IN_NEW_PROCESS = """
import os, sys
from fastapi.testclient import TestClient
from heritage.config import load_settings
from heritage.runtime import Runtime
from heritage.uploads import partfile
from heritage.web.app import create_app

settings = load_settings(_env_file=None, data_dir=sys.argv[1], database_url=sys.argv[2],
                         secret_key=sys.argv[3], queue="immediate")
location, token, offset = sys.argv[4], sys.argv[5], int(sys.argv[6])
data = open(sys.argv[7], "rb").read()
assert not partfile._STATES  # nothing known: the part file must be hashed again
client = TestClient(create_app(Runtime(settings)))
response = client.patch(location, content=data[offset:], headers={
    "Tus-Resumable": "1.0.0", "Authorization": "Bearer " + token,
    "Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset)})
print(response.status_code, response.text)
"""


@pytest.mark.parametrize(("slug", "person"), [("alpha", "contributor"), ("gamma", "owner")])
def test_another_process_continues_the_upload(
    tus_as, heritage_runtime: Runtime, world, tmp_path: Path, slug: str, person: str
) -> None:
    tus = tus_as(person, slug)
    data = os.urandom(5 * MiB + 99)
    created = tus.create(len(data), filename="half.bin", sha256=sha256_hex(data))
    location = created.headers["location"]
    offset = int(tus.patch(location, 0, data[: 3 * MiB]).headers["upload-offset"])
    assert offset == 3 * MiB
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    settings = heritage_runtime.settings
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            CONTINUE_IN_NEW_PROCESS,
            str(settings.resolved_data_dir),
            settings.resolved_database_url,
            TEST_SECRET_KEY,
            location,
            world.people[person].token,
            str(offset),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    status, _, body = result.stdout.strip().splitlines()[-1].partition(" ")
    assert status == "200", result.stdout + result.stderr[-2000:]
    object_uuid = json.loads(body)["object"]
    assert read_back(heritage_runtime, world, slug, object_uuid, "half.bin") == data


def test_damaged_part_file_is_refused_on_resume(tus_as, heritage_runtime: Runtime) -> None:
    """Re-hashing authenticates the stored chunks: a flipped byte is not carried on."""
    tus = tus_as("contributor")
    data = os.urandom(3 * MiB)
    location = tus.create(len(data), filename="d.bin").headers["location"]
    assert tus.patch(location, 0, data[: 2 * MiB]).headers["upload-offset"] == str(2 * MiB)
    part = next((heritage_runtime.settings.resolved_data_dir / "uploads").glob("*.part"))
    raw = bytearray(part.read_bytes())
    raw[500] ^= 1
    part.write_bytes(bytes(raw))
    partfile._STATES.clear()
    response = tus.patch(location, 2 * MiB, data[2 * MiB :])
    assert response.status_code == 410
    assert "damaged" in response.json()["detail"]
    assert tus.head(location).status_code == 410


class Body:
    """A request body produced piece by piece, never held whole."""

    def __init__(self, total: int, piece: int = 256 * 1024) -> None:
        self.total, self.piece = total, piece
        self.block = os.urandom(piece)

    def __iter__(self) -> Iterator[bytes]:
        left = self.total
        while left:
            take = min(left, self.piece)
            yield self.block[:take]
            left -= take


async def asgi_request(
    app: object, method: str, path: str, headers: dict[str, str], body: Body
) -> tuple[int, bytes]:
    """Call the ASGI app directly, handing the body over piece by piece as a server
    would (the test client reads a whole body into memory first)."""
    pieces = iter(body)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }

    async def receive() -> dict[str, object]:
        piece = next(pieces, None)
        if piece is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": piece, "more_body": True}

    answer: dict[str, object] = {"body": b""}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] = answer["body"] + message.get("body", b"")  # type: ignore[operator]

    await app(scope, receive, send)  # type: ignore[operator]
    return answer["status"], answer["body"]  # type: ignore[return-value]


def test_memory_stays_flat_for_a_200_mb_upload(tus_as, heritage_app) -> None:
    tus = tus_as("contributor")
    total = 200 * MiB
    location = tus.create(total, filename="large.bin").headers["location"]
    headers = tus.headers(**{"Upload-Offset": "0", "Content-Type": OCTETS, "Host": "testserver"})
    tracemalloc.start()
    try:
        # a thread of its own: an earlier test on this worker (Playwright's sync API)
        # may have left an event loop running in the main thread
        with ThreadPoolExecutor(1) as pool:
            status, body = pool.submit(
                asyncio.run, asgi_request(heritage_app, "PATCH", location, headers, Body(total))
            ).result()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 200, body
    # The pipeline holds a few chunk-sized blocks, whatever the file's size.
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB"
