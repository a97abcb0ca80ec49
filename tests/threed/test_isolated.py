"""Processing in a child process: results come back whole; a crash, an overrun or a
rejection in the child is a rejected model with a reason, never a dead worker."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from heritage.threed import isolated
from heritage.threed.loading import ModelRejected


def test_child_result_comes_back(models: Path, tmp_path: Path) -> None:
    result = isolated.run(models / "stl/stl_binary/Star.stl", "stl", tmp_path)
    assert result.analysis["face_count"] == 68
    assert result.files["lod-100k"].path.is_file()
    assert set(result.seconds) == {"analysis", "derivatives", "compression", "thumbnails"}


def test_rejection_in_the_child(tmp_path: Path) -> None:
    master = tmp_path / "m.obj"
    master.write_text("v 0 0 0\nf 1 2 3\n")
    with pytest.raises(ModelRejected, match="out of range"):
        isolated.run(master, "obj", tmp_path)


def test_crash_and_overrun_are_rejections(
    models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ModelRejected, match="longer than"):
        isolated.run(models / "stl/stl_binary/Star.stl", "stl", tmp_path, time_limit=0.01)

    def crashed(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(args, -signal.SIGSEGV, "", "")

    monkeypatch.setattr(isolated.subprocess, "run", crashed)
    with pytest.raises(ModelRejected, match="SIGSEGV"):
        isolated.run(models / "stl/stl_binary/Star.stl", "stl", tmp_path)
