"""`heritage audit verify`, run as an operator would: a separate process on the database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import update

from heritage.accounts.identity import SYSTEM
from heritage.audit.models import AuditEntry
from heritage.audit.services import record
from heritage.config import Settings
from heritage.runtime import Runtime
from heritage.testing.plugin import TEST_SECRET_KEY


def run_cli(settings: Settings, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HERITAGE_")}
    env.update(
        HERITAGE_DATA_DIR=str(settings.resolved_data_dir),
        HERITAGE_DATABASE_URL=settings.resolved_database_url,
        HERITAGE_SECRET_KEY=TEST_SECRET_KEY,
        HERITAGE_PASSWORD_MEMORY_KIB="1024",
        HERITAGE_QUEUE="immediate",
        NO_COLOR="1",
        COLUMNS="200",
    )
    return subprocess.run(
        [sys.executable, "-m", "heritage", *args],
        cwd=cwd,  # no stray .env
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def append(runtime: Runtime, count: int) -> None:
    with runtime.database.session(write=True) as session:
        for n in range(count):
            record(session, SYSTEM, "test.step", "thing", n, details={"n": n})
        session.commit()


def remove_guards(runtime: Runtime) -> None:
    with runtime.database.engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("DROP TRIGGER audit_entries_no_update")
            connection.exec_driver_sql("DROP TRIGGER audit_entries_no_delete")
        else:
            connection.exec_driver_sql(
                "ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only"
            )


def test_verify_reports_intact_log_then_the_tampered_entry(
    heritage_runtime: Runtime, tmp_path: Path
) -> None:
    append(heritage_runtime, 6)
    heritage_runtime.database.dispose()

    good = run_cli(heritage_runtime.settings, tmp_path, "audit", "verify")
    assert good.returncode == 0, good.stderr
    assert "intact" in good.stdout
    assert "6 entries" in good.stdout
    assert "Traceback" not in good.stderr

    remove_guards(heritage_runtime)
    with heritage_runtime.database.engine.begin() as connection:
        connection.execute(update(AuditEntry).where(AuditEntry.seq == 4).values(details={"n": 400}))
    heritage_runtime.database.dispose()

    bad = run_cli(heritage_runtime.settings, tmp_path, "audit", "verify")
    assert bad.returncode == 1, (bad.stdout, bad.stderr)
    assert "entry 4" in bad.stderr
    assert "3 entries before it are intact" in bad.stderr
    assert "intact:" not in bad.stdout.lower()
    assert "Traceback" not in bad.stderr
