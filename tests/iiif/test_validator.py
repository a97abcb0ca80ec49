"""The official IIIF Image API validator (PyPI ``iiif-validator``) against our running
server at compliance level 2, on the official test image (``../shared/data``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from heritage.accounts.identity import SYSTEM
from heritage.iiif.services import image_identifier
from heritage.records.model import Record, Value
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.testing.services import free_port
from heritage.testing.world import build_world

TEST_IMAGE = "iiif/image-api/67352ccc-d1b0-11e1-89ae-279075081939.png"


def validator() -> str:
    found = Path(sys.executable).with_name("iiif-validate.py")
    if found.is_file():
        return str(found)
    on_path = shutil.which("iiif-validate.py")
    if on_path is None:
        pytest.skip("iiif-validator is not installed (pip install iiif-validator)")
    return on_path


@pytest.fixture
def served(heritage_app: FastAPI) -> Iterator[int]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(heritage_app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.parametrize("workspace", ["gamma", "alpha-public-encrypted"])
def test_official_validator_passes_level_2(
    heritage_runtime: Runtime, shared_data: Path, served: int, workspace: str
) -> None:
    script = validator()
    build_world(heritage_runtime)
    slug = "gamma"
    if workspace == "alpha-public-encrypted":
        # the same through an encrypted master and encrypted derivatives
        from heritage.workspaces.models import Visibility, Workspace

        with heritage_runtime.database.session(write=True) as session:
            alpha = session.query(Workspace).filter_by(slug="alpha").one()
            alpha.visibility = Visibility.PUBLIC
            assert alpha.encrypt_files
            session.commit()
        slug = "alpha"
    records = RecordService(heritage_runtime)
    record = records.create(
        SYSTEM, slug, Record(identifier="iiif-test", title=[Value.text("Test")])
    )
    records.attach_file(SYSTEM, record.uuid, "test.png", (shared_data / TEST_IMAGE).read_bytes())
    identifier = image_identifier(record.uuid, "media/test.png")

    result = subprocess.run(
        [
            sys.executable,
            script,
            "-s",
            f"127.0.0.1:{served}",
            "-p",
            "iiif/3",
            "-i",
            identifier,
            "--version=3.0",
            "--level",
            "2",
            "-v",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "0 failures" in report, report
