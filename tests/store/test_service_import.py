"""Importing foreign OCFL objects into a workspace: the official fixtures decide."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from heritage.accounts.identity import SYSTEM
from heritage.runtime import Runtime
from heritage.store.description import DESCRIPTION_PATH, ObjectDescription
from heritage.store.models import EventType
from heritage.store.ocfl import ImportRefused
from heritage.store.services import PreservationService
from heritage.testing.world import build_world

pytest.importorskip("ocfl", reason="import validation needs ocfl-py (the test extra)")

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "data" / "ocfl" / "1.1"


def fixture(kind: str, name: str) -> Path:
    path = FIXTURES / kind / name
    if not path.is_dir():
        pytest.skip(f"shared OCFL fixture not found at {path}")
    return path


@pytest.fixture
def service(heritage_runtime: Runtime) -> PreservationService:
    build_world(heritage_runtime)
    return PreservationService(heritage_runtime)


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("good-objects", "spec-ex-full"),
        ("good-objects", "updates_three_versions_one_file"),
        ("warn-objects", "W004_uses_sha256"),
        ("warn-objects", "W010_no_version_inventory"),
    ],
)
def test_valid_objects_are_imported_and_described(
    heritage_runtime: Runtime, service: PreservationService, kind: str, name: str
) -> None:
    source = fixture(kind, name)
    view = service.import_ocfl(SYSTEM, "alpha", source)
    storage = heritage_runtime.storage
    inventory = storage.inventory(view.row.object_id)
    # the foreign history is kept, and one version adds the description
    assert inventory.versions[inventory.head].message == "Imported into Heritage Cloud"
    description = ObjectDescription.from_bytes(
        storage.read(view.row.object_id, DESCRIPTION_PATH).read()
    )
    assert description.workspace.slug == "alpha" and description.kind == "imported"
    for path, entry in description.files.items():
        data = storage.read(view.row.object_id, path).read()
        assert entry.sha256 == hashlib.sha256(data).hexdigest()
        with service.open_file(SYSTEM, "alpha", view.uuid, path) as opened:
            assert opened.read_all() == data
    events = service.events(SYSTEM, "alpha", view.uuid)
    assert events[0].event_type == EventType.INGESTION
    assert ("warning" if kind == "warn-objects" else "success") == events[0].outcome.value

    from heritage.store.ocfl.validate import validate_storage_root

    storage.wait_for_cleanup()
    report = validate_storage_root(storage.path)
    assert report.valid, report.summary()


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("E001_extra_dir_in_root", "E001"),
        ("E040_wrong_head_format", "E040"),
        ("E092_content_file_digest_mismatch", "E092"),
    ],
)
def test_invalid_objects_are_refused_with_their_code(
    heritage_runtime: Runtime, service: PreservationService, name: str, code: str
) -> None:
    source = fixture("bad-objects", name)
    with pytest.raises(ImportRefused) as refused:
        service.import_ocfl(SYSTEM, "alpha", source)
    assert code in refused.value.codes and code in str(refused.value)
    assert service.list_objects(SYSTEM, "alpha")[0].kind != "imported"


def test_cli_imports_and_reports_refusals(heritage_runtime: Runtime, monkeypatch) -> None:
    from heritage.cli.main import app

    build_world(heritage_runtime)
    settings = heritage_runtime.settings
    monkeypatch.setenv("HERITAGE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HERITAGE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("HERITAGE_QUEUE", "immediate")
    good = fixture("good-objects", "minimal_one_version_one_file")
    bad = fixture("bad-objects", "E001_extra_dir_in_root")
    result = CliRunner().invoke(app, ["import-ocfl", "--workspace", "alpha", str(good), str(bad)])
    assert result.exit_code == 1, result.output
    assert "imported as" in result.output
    assert "E001" in result.output and "1 of 2 object(s) refused" in result.output
