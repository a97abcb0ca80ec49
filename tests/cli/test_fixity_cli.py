"""`heritage fixity` and `heritage replicate`: lines per problem, summaries, exit statuses."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner, Result

from heritage.accounts.identity import SYSTEM
from heritage.cli.main import app
from heritage.config import Settings
from heritage.runtime import Runtime
from heritage.store.ocfl.validate import validate_storage_root
from heritage.store.services import PreservationService
from heritage.testing.damage import add_workspace, content_path, flip_byte
from heritage.testing.plugin import TEST_SECRET_KEY

Invoke = Callable[..., Result]


@pytest.fixture
def invoke(heritage_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    for key in list(os.environ):
        if key.startswith("HERITAGE_"):
            monkeypatch.delenv(key)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # no developer's .env
    env = {
        "HERITAGE_DATA_DIR": str(heritage_settings.resolved_data_dir),
        "HERITAGE_DATABASE_URL": heritage_settings.resolved_database_url,
        "HERITAGE_SECRET_KEY": TEST_SECRET_KEY,
        "HERITAGE_QUEUE": "immediate",
    }
    logging_config = structlog.get_config()

    def run(*args: str, extra: dict[str, str] | None = None) -> Result:
        try:
            result = CliRunner(env={**env, **(extra or {})}).invoke(app, list(args))
        finally:
            structlog.configure(**logging_config)  # the CLI pointed it at captured output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return run


@pytest.fixture
def objects(heritage_runtime: Runtime) -> dict[str, str]:
    """Two workspaces with an object each: name -> object id."""
    add_workspace(heritage_runtime, "letters")
    add_workspace(heritage_runtime, "maps", public=True)
    service = PreservationService(heritage_runtime)
    made = {}
    for workspace, name in (("letters", "letter.txt"), ("maps", "map.tif")):
        view = service.create_object(
            SYSTEM, workspace, title=name, files={name: name.encode() * 5000}
        )
        made[name] = view.row.object_id
    return made


def test_fixity_of_an_intact_store(invoke: Invoke, objects: dict[str, str]) -> None:
    result = invoke("fixity")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("2 objects checked, 0 failed")
    report = invoke("fixity", "--report")
    assert report.exit_code == 0
    assert [line.split("\t")[0] for line in report.stdout.splitlines()[:2]] == ["success"] * 2


def test_fixity_names_each_failure_and_exits_1(
    invoke: Invoke, objects: dict[str, str], heritage_runtime: Runtime
) -> None:
    storage = heritage_runtime.storage
    letter = objects["letter.txt"]
    flip_byte(storage.object_root(letter) / content_path(storage, letter, "letter.txt"))

    result = invoke("fixity")

    assert result.exit_code == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1
    _, object_id, problem = failed[0].split("\t")
    assert object_id == letter
    assert problem.startswith("HC-DIGEST-MISMATCH v1/content/letter.txt (letter.txt): ")
    assert "1 failed" in result.stdout.splitlines()[-1]

    report = invoke("fixity", "--report").stdout.splitlines()
    assert (
        report[0].split("\t")[:1] == ["failure"] and letter.removeprefix("urn:uuid:") in report[0]
    )
    assert report[1].startswith("\tHC-DIGEST-MISMATCH v1/content/letter.txt")
    assert report[-1] == "2 objects, 1 failing"

    # Restricted to the other workspace, or the other object, all is well.
    assert invoke("fixity", "--workspace", "maps").exit_code == 0
    other = objects["map.tif"].removeprefix("urn:uuid:")
    assert invoke("fixity", "--object", other, "--deep").exit_code == 0


def test_fixity_refuses_what_does_not_exist(invoke: Invoke, objects: dict[str, str]) -> None:
    result = invoke("fixity", "--workspace", "nowhere")
    assert result.exit_code == 1 and "No workspace 'nowhere'" in result.stderr
    assert invoke("fixity", "--object", "not-a-uuid").exit_code == 1


def test_replicate_needs_a_replica_then_brings_it_up_to_date(
    invoke: Invoke, objects: dict[str, str], tmp_path: Path
) -> None:
    missing = invoke("replicate")
    assert missing.exit_code == 2 and "HERITAGE_REPLICA_ROOT" in missing.stderr

    replica = {"HERITAGE_REPLICA_ROOT": str(tmp_path / "replica")}
    result = invoke("replicate", "--validate", extra=replica)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert sorted(line.split("\t")[1] for line in lines if line.startswith("REPLICATED")) == sorted(
        objects.values()
    )
    assert lines[-1] == "ocfl-py: 2 objects, 0 errors"
    assert not validate_storage_root(tmp_path / "replica").errors
    again = invoke("replicate", "--all", "--verify", extra=replica)
    assert again.exit_code == 0 and "REPLICATED" not in again.stdout
    assert "2 objects replicated (0 changed" in again.stdout
