"""Processing a model in a child process, so a hostile file cannot take the worker down.

Parsers of binary formats (libE57Format, lazrs, trimesh's numpy code) may crash,
loop or allocate without end on a crafted file. The child runs
:func:`heritage.threed.processing.run` and writes its result as JSON; the worker
waits with a time limit. A child that is killed, crashes or overruns is a
rejected model with a reason; the worker goes on with the next job.

``python -m heritage.threed.isolated MASTER FORMAT OUT`` is the child's entry.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from heritage.threed.derivatives import Derivative
from heritage.threed.loading import ModelRejected
from heritage.threed.processing import Processed

RESULT = "result.json"
TIME_LIMIT_S = 3600


def run(master: Path, form: str, out: Path, time_limit: float = TIME_LIMIT_S) -> Processed:
    """:func:`processing.run` in a child process. Raises ModelRejected."""
    try:
        done = subprocess.run(  # noqa: S603 - this interpreter, our module, our paths
            [sys.executable, "-m", "heritage.threed.isolated", str(master), form, str(out)],
            capture_output=True,
            text=True,
            timeout=time_limit,
            check=False,
            env=_child_env(),
        )
    except subprocess.TimeoutExpired:
        raise ModelRejected(
            f"processing the model took longer than {time_limit:.0f} s and was stopped"
        ) from None
    result = out / RESULT
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        raise ModelRejected(f"reading the model crashed the reader ({name}); the file is kept")
    if not result.is_file():
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"the processing child failed ({done.returncode}): {tail[0]}")
    data = json.loads(result.read_text())
    result.unlink()
    if "rejected" in data:
        raise ModelRejected(data["rejected"])
    if "failed" in data:
        raise RuntimeError(data["failed"])
    files = {
        name: Derivative(**{**item, "path": Path(item["path"])})
        for name, item in data["files"].items()
    }
    return Processed(data["analysis"], files, data["seconds"])


def _child_env() -> dict[str, str]:
    """The worker's environment, with this very ``heritage`` package first on the path
    (the child must run the code the worker runs, installed or not)."""
    import heritage

    here = str(Path(heritage.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": here + (os.pathsep + path if path else ""),
        "PYOPENGL_PLATFORM": os.environ.get("PYOPENGL_PLATFORM", "egl"),
    }


def main(argv: list[str]) -> int:
    from heritage.threed import processing

    master, form, out = Path(argv[0]), argv[1], Path(argv[2])
    target = out / RESULT
    try:
        result = processing.run(master, form, out)
    except ModelRejected as error:
        target.write_text(json.dumps({"rejected": str(error)}))
        return 0
    except Exception as error:  # reported to the worker, which fails the job
        target.write_text(json.dumps({"failed": f"{type(error).__name__}: {error}"}))
        return 1
    files = {name: {**asdict(item), "path": str(item.path)} for name, item in result.files.items()}
    payload = {"analysis": result.analysis, "files": files, "seconds": result.seconds}
    target.write_text(json.dumps(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
