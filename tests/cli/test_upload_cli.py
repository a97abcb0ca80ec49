"""``heritage upload`` against a live server: folders, progress, summary, resuming a killed run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from heritage.cli.main import app
from heritage.uploads.models import Upload, UploadStatus
from tests.uploads import conftest as uploads
from tests.uploads.conftest import LiveServer
from tests.uploads.test_tus_protocol import read_back

# The live server and the world of the upload tests.
live_server = uploads.live_server
world = uploads.world
MiB = 1 << 20
ROOT = Path(__file__).resolve().parents[2]


def run_cli(args: list[str], cache: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, args, env={"XDG_CACHE_HOME": str(cache)})
    return result.exit_code, result.output


def test_upload_a_folder(live_server: LiveServer, tmp_path: Path) -> None:
    folder = tmp_path / "letters"
    (folder / "scans").mkdir(parents=True)
    (folder / "scans" / "p1.tif").write_bytes(os.urandom(3 * MiB + 5))
    (folder / "notes.txt").write_bytes(b"transcription")
    (folder / "empty.txt").write_bytes(b"")
    token = live_server.world.people["contributor"].token
    code, output = run_cli(
        [
            "upload",
            "--url",
            live_server.base_url,
            "--token",
            token,
            "--workspace",
            "alpha",
            "--chunk-size",
            "1",
            str(folder),
        ],
        tmp_path / "cache",
    )
    assert code == 0, output
    assert "3 of 3 files uploaded" in output
    with live_server.runtime.database.session() as session:
        uploads = {u.logical_path: u for u in session.scalars(select(Upload))}
    assert set(uploads) == {"scans/p1.tif", "notes.txt", "empty.txt"}
    for path, upload in uploads.items():
        assert upload.status is UploadStatus.COMMITTED
        data = (folder / path).read_bytes()
        assert upload.expected_sha256 is not None  # the CLI sends the SHA-256
        stored = read_back(
            live_server.runtime, live_server.world, "alpha", upload.result_object, path
        )
        assert stored == data


def test_a_viewer_is_refused_clearly(live_server: LiveServer, tmp_path: Path) -> None:
    file = tmp_path / "a.txt"
    file.write_bytes(b"x")
    token = live_server.world.people["viewer"].token
    code, output = run_cli(
        [
            "upload",
            "--url",
            live_server.base_url,
            "--token",
            token,
            "--workspace",
            "alpha",
            str(file),
        ],
        tmp_path / "cache",
    )
    assert code == 1
    assert "403" in output and "0 of 1 files uploaded" in output


def test_a_killed_run_is_resumed_by_the_next(live_server: LiveServer, tmp_path: Path) -> None:
    file = tmp_path / "big.bin"
    data = os.urandom(48 * MiB + 7)
    file.write_bytes(data)
    cache = tmp_path / "cache"
    token = live_server.world.people["contributor"].token
    args = [
        "upload",
        "--url",
        live_server.base_url,
        "--token",
        token,
        "--workspace",
        "alpha",
        "--chunk-size",
        "1",
        str(file),
    ]
    first = subprocess.Popen(
        [sys.executable, "-m", "heritage", *args],
        env={**os.environ, "XDG_CACHE_HOME": str(cache)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    database = live_server.runtime.database
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            with database.session() as session:
                offset = session.scalar(select(func.max(Upload.offset)))
            if offset and offset >= 4 * MiB:
                break
            time.sleep(0.01)
        else:
            raise AssertionError("the first run made no progress")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    with database.session() as session:
        (upload,) = session.scalars(select(Upload)).all()
    assert upload.status is UploadStatus.RECEIVING and 0 < upload.offset < len(data)

    code, output = run_cli(args, cache)
    assert code == 0, output
    assert "resumed at" in output
    with database.session() as session:
        (done,) = session.scalars(select(Upload)).all()  # the same upload, continued
    assert done.id == upload.id and done.status is UploadStatus.COMMITTED
    stored = read_back(
        live_server.runtime, live_server.world, "alpha", done.result_object, "big.bin"
    )
    assert stored == data
    # Finished uploads leave nothing behind in the state file.
    assert upload.id not in (cache / "heritage" / "tus-uploads.json").read_text()
