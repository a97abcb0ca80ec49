"""Migrations build exactly the models' schema, run backwards, and SQLite runs in WAL mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

import heritage.db.models  # noqa: F401 - every table in the metadata
from heritage.accounts.identity import SYSTEM
from heritage.audit.services import record
from heritage.db.base import Base
from heritage.db.engine import Database
from heritage.db.migrate import alembic_config, current_revision, head_revision, upgrade
from heritage.runtime import Runtime


def schema_differences(database: Database) -> list[object]:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def tables(database: Database) -> set[str]:
    return set(inspect(database.engine).get_table_names())


def test_one_linear_history_at_head(heritage_runtime: Runtime) -> None:
    script = ScriptDirectory.from_config(alembic_config(heritage_runtime.database))
    assert len(script.get_heads()) == 1
    assert current_revision(heritage_runtime.database) == head_revision(heritage_runtime.database)


def test_migrations_build_the_models_schema(heritage_runtime: Runtime) -> None:
    database = heritage_runtime.database
    assert tables(database) == set(Base.metadata.tables) | {"alembic_version"}
    assert schema_differences(database) == []


def test_downgrade_to_base_and_upgrade_again(heritage_runtime: Runtime) -> None:
    database = heritage_runtime.database
    command.downgrade(alembic_config(database), "base")
    assert tables(database) <= {"alembic_version"}
    assert current_revision(database) is None
    upgrade(database)
    assert current_revision(database) == head_revision(database)
    assert schema_differences(database) == []
    # The append-only guards came back with the table.
    with database.session(write=True) as session:
        record(session, SYSTEM, "test.step", "thing", 1)
        session.commit()
    with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_entries"))


@pytest.mark.sqlite_only
def test_sqlite_uses_wal_and_foreign_keys(heritage_runtime: Runtime) -> None:
    with heritage_runtime.database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


@pytest.mark.sqlite_only
def test_new_sqlite_database_is_created_in_wal_mode(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    try:
        upgrade(database)
        assert schema_differences(database) == []
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert (tmp_path / "fresh.sqlite3-wal").exists()
    finally:
        database.dispose()
