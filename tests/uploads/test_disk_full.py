"""A disk that fills up during an upload, for real: DATA_DIR on a small tmpfs.

Mounting needs root (CAP_SYS_ADMIN); elsewhere the test is skipped with that reason.
Growing the tmpfs afterwards (``mount -o remount,size=...``) is "space was freed".
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from heritage.config import load_settings
from heritage.db.migrate import upgrade
from heritage.runtime import Runtime
from heritage.store.crypto.format import TAG_SIZE
from heritage.testing.plugin import TEST_SECRET_KEY
from heritage.testing.world import build_world
from heritage.web.app import create_app
from tests.uploads.conftest import OCTETS, TUS, metadata, sha256_hex

MiB = 1 << 20


def mount_tmpfs(path: Path, size: str) -> str | None:
    """Mount (or resize) a tmpfs; the reason it failed, or None."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" if not os.path.ismount(path) else f"remount,size={size}"
    try:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    return None if result.returncode == 0 else result.stderr.strip() or "mount failed"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    data_dir = tmp_path / "small"
    reason = mount_tmpfs(data_dir, "12m")
    if reason is not None:
        pytest.skip(f"cannot mount a small tmpfs for DATA_DIR (needs root): {reason}")
    try:
        yield data_dir
    finally:
        subprocess.run(["umount", "-l", str(data_dir)], check=False, timeout=30)


def test_full_disk_answers_507_keeps_a_clean_part_and_resumes(
    small_disk: Path, heritage_database_url: str
) -> None:
    settings = load_settings(
        _env_file=None,
        data_dir=small_disk,
        database_url=heritage_database_url,  # the database lives elsewhere
        secret_key=TEST_SECRET_KEY,
        password_memory_kib=1024,
        queue="immediate",
    )
    runtime = Runtime(settings)
    upgrade(runtime.database)
    world = build_world(runtime)
    headers = {**TUS, "Authorization": f"Bearer {world.people['contributor'].token}"}
    data = os.urandom(16 * MiB + 5)  # more than the disk holds
    try:
        with TestClient(create_app(runtime)) as client:
            created = client.post(
                "/api/workspaces/alpha/uploads",
                headers={
                    **headers,
                    "Upload-Length": str(len(data)),
                    "Upload-Metadata": metadata(filename="huge.tif", sha256=sha256_hex(data)),
                },
            )
            location = created.headers["location"]
            full = client.patch(
                location,
                headers={**headers, "Upload-Offset": "0", "Content-Type": OCTETS},
                content=data,
            )
            assert full.status_code == 507, full.text
            assert full.headers["content-type"] == "application/problem+json"
            assert full.headers["tus-resumable"] == "1.0.0"
            assert "disk space" in full.json()["detail"]

            # What is kept is whole sealed chunks, durable, and nothing half-written.
            offset = int(client.head(location, headers=headers).headers["upload-offset"])
            assert 0 < offset < len(data) and offset % MiB == 0
            part = next((small_disk / "uploads").glob("*.part"))
            header_size = part.stat().st_size - (offset // MiB) * (MiB + TAG_SIZE)
            assert 100 < header_size < 400  # exactly the header and the sealed chunks

            assert mount_tmpfs(small_disk, "64m") is None  # space is freed
            done = client.patch(
                location,
                headers={**headers, "Upload-Offset": str(offset), "Content-Type": OCTETS},
                content=data[offset:],
            )
            assert done.status_code == 200, done.text
            object_uuid = done.json()["object"]
        from tests.uploads.test_tus_protocol import read_back

        assert read_back(runtime, world, "alpha", object_uuid, "huge.tif") == data
    finally:
        runtime.close()
