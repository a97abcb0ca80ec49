"""Helpers of the 3D tests: the shared models and the Khronos glTF validator."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VALIDATOR = REPO / "node_modules" / "gltf-validator"
SCRIPT = Path(__file__).with_name("gltf_validate.js")


@pytest.fixture(scope="session")
def models(shared_data: Path) -> Path:
    folder = shared_data / "3d"
    if not folder.is_dir():
        pytest.skip(f"no shared 3D models at {folder}")
    return folder


@pytest.fixture(scope="session")
def gltf_validator() -> object:
    """A function validating glTF/GLB files with the Khronos validator (npm
    gltf-validator, a devDependency: run `npm ci`); returns its report per file."""
    node = shutil.which("node")
    if node is None or not VALIDATOR.is_dir():
        pytest.skip("the Khronos glTF validator needs node and `npm ci` (gltf-validator)")

    def validate(*files: Path) -> list[dict[str, object]]:
        done = subprocess.run(
            [node, str(SCRIPT), *map(str, files)],
            capture_output=True,
            text=True,
            timeout=120,
            env={"NODE_PATH": str(REPO / "node_modules"), "PATH": "/usr/bin:/bin"},
            check=False,
        )
        reports = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
        assert len(reports) == len(files), done.stderr
        return reports

    return validate
