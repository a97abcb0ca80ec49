"""`heritage rebuild-index`: the index of stored objects, rebuilt from the storage root alone."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import delete, select
from typer.testing import CliRunner, Result

from heritage.accounts.identity import SYSTEM
from heritage.cli.main import app
from heritage.runtime import Runtime
from heritage.store.models import StoredFile, StoredObject
from heritage.store.ocfl import Changes, User
from heritage.store.services import PreservationService
from heritage.testing.plugin import TEST_SECRET_KEY
from heritage.testing.world import build_world


@pytest.fixture
def runtime(heritage_runtime: Runtime) -> Runtime:
    build_world(heritage_runtime)
    service = PreservationService(heritage_runtime)
    letter = service.create_object(SYSTEM, "alpha", title="Letter", files={"a.txt": b"a"})
    service.add_files(SYSTEM, "alpha", letter.uuid, {"b/c.bin": b"\0" * 5000})
    service.remove_files(SYSTEM, "alpha", letter.uuid, ["a.txt"])
    service.create_object(SYSTEM, "gamma", title="Map", files={"map.png": b"\x89PNG"})
    return heritage_runtime


def rebuild(runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    for key in list(os.environ):
        if key.startswith("HERITAGE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env
    env = {
        "HERITAGE_DATA_DIR": str(runtime.settings.resolved_data_dir),
        "HERITAGE_DATABASE_URL": runtime.settings.resolved_database_url,
        "HERITAGE_SECRET_KEY": TEST_SECRET_KEY,
    }
    logging_config = structlog.get_config()
    try:
        result = CliRunner(env=env).invoke(app, ["rebuild-index"])
    finally:
        structlog.configure(**logging_config)  # the CLI pointed it at the captured stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def index(runtime: Runtime) -> dict[str, Any]:
    """Every index row by object id, without the surrogate keys (they change on a rebuild)."""
    objects = StoredObject.__table__.columns
    files = StoredFile.__table__.columns
    with runtime.database.session() as session:
        rows = {
            row.object_id: {c.name: getattr(row, c.name) for c in objects if c.name != "id"}
            for row in session.scalars(select(StoredObject))
        }
        for row, object_id in session.execute(
            select(StoredFile, StoredObject.object_id).join(
                StoredObject, StoredFile.object_pk == StoredObject.id
            )
        ):
            rows[object_id].setdefault("files", {})[row.logical_path] = {
                c.name: getattr(row, c.name) for c in files if c.name not in ("id", "object_pk")
            }
    return rows


def test_deleted_index_rows_come_back_identical(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = index(runtime)
    # four objects, and the two records of the standard world (record.jsonld and a file each)
    assert len(before) == 6 and sum(len(o.get("files", {})) for o in before.values()) == 8
    with runtime.database.session(write=True) as session:
        session.execute(delete(StoredFile))
        session.execute(delete(StoredObject))
        session.commit()
    assert index(runtime) == {}

    result = rebuild(runtime, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "6 object(s) indexed, 0 row(s) of vanished objects removed" in result.stdout
    assert index(runtime) == before
    # the services find their objects again
    service = PreservationService(runtime)
    letter = next(o for o in service.list_objects(SYSTEM, "alpha") if o.title == "Letter")
    with service.open_file(
        SYSTEM, "alpha", letter.object_id.removeprefix("urn:uuid:"), "b/c.bin"
    ) as opened:
        assert opened.read_all() == b"\0" * 5000


def test_problems_are_listed_and_exit_non_zero(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = index(runtime)
    # an object that is no Heritage Cloud object (no description), and a row whose object
    # vanished from the store
    stray = "urn:example:not-ours"
    runtime.storage.create_or_update(
        stray, Changes.of({"x.txt": b"x"}), "foreign", User("Someone", "mailto:s@example.org")
    )
    gone = next(iter(before))
    runtime.storage.purge(gone)

    result = rebuild(runtime, tmp_path, monkeypatch)
    assert result.exit_code == 1
    assert stray in result.stderr and "1 object(s) could not be indexed" in result.stderr
    assert "5 object(s) indexed, 1 row(s) of vanished objects removed" in result.stdout
    after = index(runtime)
    assert gone not in after and stray not in after
    assert after == {k: v for k, v in before.items() if k != gone}
