"""Fixtures for the upload tests: the standard world, tus headers, a live server."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from heritage.runtime import Runtime
from heritage.testing.services import free_port
from heritage.testing.world import World, build_world

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    return build_world(heritage_runtime)


@dataclass
class Tus:
    """A small tus client over the test client, as one person of the world."""

    client: TestClient
    token: str
    workspace: str = "alpha"

    def headers(self, **extra: str) -> dict[str, str]:
        return {**TUS, "Authorization": f"Bearer {self.token}", **extra}

    @property
    def endpoint(self) -> str:
        return f"/api/workspaces/{self.workspace}/uploads"

    def create(self, length: int, body: bytes | None = None, **meta: str):
        headers = self.headers(**{"Upload-Length": str(length)})
        if meta:
            headers["Upload-Metadata"] = metadata(**meta)
        if body is not None:
            headers["Content-Type"] = OCTETS
        return self.client.post(self.endpoint, headers=headers, content=body)

    def head(self, location: str):
        return self.client.head(location, headers=self.headers())

    def patch(self, location: str, offset: int, body: bytes, **extra: str):
        headers = self.headers(**{"Upload-Offset": str(offset), "Content-Type": OCTETS}, **extra)
        return self.client.patch(location, headers=headers, content=body)

    def delete(self, location: str):
        return self.client.delete(location, headers=self.headers())


@pytest.fixture
def tus_as(heritage_client: TestClient, world: World):
    def make(person: str, workspace: str = "alpha") -> Tus:
        return Tus(heritage_client, world.people[person].token, workspace)

    return make


@dataclass
class LiveServer:
    base_url: str
    runtime: Runtime
    world: World


@pytest.fixture
def live_server(
    heritage_app: FastAPI, heritage_runtime: Runtime, world: World
) -> Iterator[LiveServer]:
    """The application under uvicorn in a thread, on a free port of 127.0.0.1."""
    port = free_port()
    config = uvicorn.Config(heritage_app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", heritage_runtime, world)
    finally:
        server.should_exit = True
        thread.join(10)
