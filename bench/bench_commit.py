"""Committing a new metadata version of a stored object, on local disk.

A 2 KB JSON file is replaced in an object that already has 50 versions, in an
encrypting workspace, through the whole service (policy, encryption, OCFL commit
with its signature, index, event and audit entry in one database transaction)
and through the bare OCFL storage root (also on an object with 500 versions,
to show what history costs). Baseline measured in the same run: the
least any crash-safe file replacement costs on the same disk (write a temporary
file, fsync, rename over the old one, fsync the directory). Target: service
median under 20 ms. ``HERITAGE_BENCH_DIR`` picks the directory (default: a
temporary directory in the system's temp dir, on local disk here).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from heritage.accounts.identity import SYSTEM
from heritage.config import load_settings
from heritage.db.migrate import upgrade
from heritage.institutions.services import InstitutionService
from heritage.runtime import Runtime
from heritage.store.ocfl import Changes, StorageRoot, User
from heritage.store.services import PreservationService
from heritage.workspaces.services import WorkspaceService

PRIOR_VERSIONS = 50
SAMPLES = 40
TARGET_MS = 20.0


def metadata(number: int) -> bytes:
    record = {
        "title": f"Letter {number}",
        "description": "A letter about the harbour " * 60,
        "revision": number,
    }
    return json.dumps(record).encode()[:2048].ljust(2048, b" ")


def timings(run: Callable[[int], object]) -> list[float]:
    for warm in range(3):
        run(10_000 + warm)
    result = []
    for number in range(SAMPLES):
        started = time.perf_counter()
        run(number)
        result.append((time.perf_counter() - started) * 1000)
    return result


def durable_replace(directory: Path) -> Callable[[int], None]:
    target = directory / "record.json"

    def run(number: int) -> None:
        temporary = directory / f".record.{number}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, metadata(number))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temporary, target)
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    return run


def main() -> int:
    base = Path(
        tempfile.mkdtemp(prefix="heritage-bench-commit-", dir=os.environ.get("HERITAGE_BENCH_DIR"))
    )
    try:
        return measure(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def measure(base: Path) -> int:
    settings = load_settings(
        _env_file=None, data_dir=base / "data", queue="immediate", password_memory_kib=1024
    )
    runtime = Runtime(settings)
    upgrade(runtime.database)
    InstitutionService(runtime).create(SYSTEM, "bench", "Bench museum")
    WorkspaceService(runtime).create(SYSTEM, "letters", "Letters", institution="bench")
    service = PreservationService(runtime)
    view = service.create_object(SYSTEM, "letters", title="Letter")
    for number in range(PRIOR_VERSIONS):
        service.add_files(SYSTEM, "letters", view.uuid, {"record.json": metadata(-number - 1)})

    def through_service(number: int) -> None:
        service.add_files(SYSTEM, "letters", view.uuid, {"record.json": metadata(number)}, "Edit")

    bare = StorageRoot(base / "bare").initialize()
    user = User("Bench", "https://example.org/bench")
    for number in range(PRIOR_VERSIONS):
        bare.create_or_update(
            "urn:bench:1", Changes.of({"record.json": metadata(-number - 1)}), "v", user
        )

    def through_root(number: int) -> None:
        bare.create_or_update(
            "urn:bench:1", Changes.of({"record.json": metadata(number)}), "Edit", user
        )

    long_history = 500
    for number in range(long_history):
        bare.create_or_update(
            "urn:bench:2", Changes.of({"record.json": metadata(number)}), "v", user
        )

    def long_root(number: int) -> None:
        bare.create_or_update(
            "urn:bench:2", Changes.of({"record.json": metadata(-number)}), "Edit", user
        )

    baseline_dir = base / "baseline"
    baseline_dir.mkdir()
    results = {
        "crash-safe file replace (baseline)": timings(durable_replace(baseline_dir)),
        "OCFL storage root commit": timings(through_root),
        f"OCFL storage root commit, {long_history}+ versions": timings(long_root),
        "service: encrypted, signed, indexed, audited": timings(through_service),
    }
    baseline = statistics.median(results["crash-safe file replace (baseline)"])
    print(f"metadata commit of 2 KB on an object with {PRIOR_VERSIONS}+ versions, n={SAMPLES}")
    print(f"{'':48} {'median ms':>10} {'p90 ms':>8} {'x baseline':>10}")
    for name, values in results.items():
        median = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{name:48} {median:10.1f} {p90:8.1f} {median / baseline:10.1f}")
    service_median = statistics.median(results["service: encrypted, signed, indexed, audited"])
    verdict = "meets" if service_median < TARGET_MS else "MISSES"
    print(f"service median {service_median:.1f} ms {verdict} the {TARGET_MS:.0f} ms target")
    bare.wait_for_cleanup()
    runtime.close()
    return 0 if service_median < TARGET_MS else 1
