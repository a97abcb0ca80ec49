"""Wrong or missing keys, tampered or swapped content: reported by name, never served."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from heritage.accounts.identity import SYSTEM
from heritage.config import load_settings
from heritage.errors import ContentUnavailable
from heritage.runtime import Runtime
from heritage.store.models import WorkspaceKey
from heritage.store.services import PreservationService
from heritage.testing.world import build_world


@pytest.fixture
def service(heritage_runtime: Runtime) -> PreservationService:
    build_world(heritage_runtime)
    return PreservationService(heritage_runtime)


def stored_path(runtime: Runtime, object_id: str, logical: str) -> Path:
    storage = runtime.storage
    inventory = storage.inventory(object_id)
    digest = inventory.versions[inventory.head].logical_state()[logical]
    return storage.object_root(object_id) / inventory.manifest[digest][0]


def fresh_runtime(runtime: Runtime, **overrides: object) -> Runtime:
    """Another process's view of the same instance: no cached keys."""
    settings = load_settings(
        _env_file=None,
        data_dir=runtime.settings.data_dir,
        database_url=runtime.settings.database_url,
        secret_key=runtime.settings.secret_key,
        queue="immediate",
        **overrides,
    )
    return Runtime(settings)


def test_tampered_ciphertext_is_named_and_not_served(
    heritage_runtime: Runtime, service: PreservationService
) -> None:
    data = os.urandom(3 * 1024 * 1024)
    view = service.create_object(SYSTEM, "alpha", files={"scan.tif": data})
    path = stored_path(heritage_runtime, view.row.object_id, "scan.tif")
    raw = bytearray(path.read_bytes())
    raw[2 * 1024 * 1024 + 5000] ^= 0x01  # a bit in the third chunk (past header and tags)
    path.write_bytes(raw)
    with service.open_file(SYSTEM, "alpha", view.uuid, "scan.tif") as opened:
        # chunks before the damage are still good and authenticated
        assert b"".join(opened.iter_range(0, 1000)) == data[:1000]
        with pytest.raises(Exception, match=r"chunk 2"):
            b"".join(opened.iter_range(2 * 1024 * 1024, 2 * 1024 * 1024 + 10))


def test_swapped_encrypted_files_are_detected(
    heritage_runtime: Runtime, service: PreservationService
) -> None:
    view = service.create_object(
        SYSTEM, "alpha", files={"a.bin": b"A" * 5000, "b.bin": b"B" * 5000}
    )
    a = stored_path(heritage_runtime, view.row.object_id, "a.bin")
    b = stored_path(heritage_runtime, view.row.object_id, "b.bin")
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_bytes)
    b.write_bytes(a_bytes)
    with pytest.raises(ContentUnavailable, match="swapped"):
        service.open_file(SYSTEM, "alpha", view.uuid, "a.bin")


def test_swapped_plain_files_are_not_served_whole(
    heritage_runtime: Runtime, service: PreservationService
) -> None:
    view = service.create_object(SYSTEM, "gamma", files={"a.txt": b"aaaa", "b.txt": b"bbbb"})
    a = stored_path(heritage_runtime, view.row.object_id, "a.txt")
    b = stored_path(heritage_runtime, view.row.object_id, "b.txt")
    a.write_bytes(b"bbbb")
    b.write_bytes(b"aaaa")
    opened = service.open_file(SYSTEM, "gamma", view.uuid, "a.txt")
    with opened, pytest.raises(Exception, match="does not match its recorded SHA-256"):
        opened.read_all()


def test_tampered_inventory_is_refused(
    heritage_runtime: Runtime, service: PreservationService
) -> None:
    view = service.create_object(SYSTEM, "gamma", files={"a.txt": b"aaaa"})
    root = heritage_runtime.storage.object_root(view.row.object_id)
    inventory = root / "inventory.json"
    inventory.write_bytes(inventory.read_bytes().replace(b'"message"', b'"messagE"', 1))
    with pytest.raises(ContentUnavailable, match="sidecar"):
        service.open_file(SYSTEM, "gamma", view.uuid, "a.txt")


def test_missing_data_key_is_named(heritage_runtime: Runtime, service: PreservationService) -> None:
    view = service.create_object(SYSTEM, "alpha", files={"a.txt": b"secret"})
    with heritage_runtime.database.session(write=True) as session:
        session.query(WorkspaceKey).delete()
        session.commit()
    other = fresh_runtime(heritage_runtime)
    try:
        with pytest.raises(ContentUnavailable, match="MissingKey"):
            PreservationService(other).open_file(SYSTEM, "alpha", view.uuid, "a.txt")
    finally:
        other.close()


def test_wrong_master_key_is_named(heritage_runtime: Runtime, service: PreservationService) -> None:
    view = service.create_object(SYSTEM, "alpha", files={"a.txt": b"secret"})
    wrong = base64.b64encode(os.urandom(32)).decode()
    other = fresh_runtime(heritage_runtime, master_key=wrong)
    try:
        with pytest.raises(ContentUnavailable, match="WrongMasterKey"):
            PreservationService(other).open_file(SYSTEM, "alpha", view.uuid, "a.txt")
    finally:
        other.close()


def test_damaged_content_is_a_503_problem_over_http(
    heritage_runtime: Runtime, service: PreservationService, heritage_client
) -> None:
    view = service.create_object(SYSTEM, "gamma", files={"a.txt": b"aaaa", "b.txt": b"bbbbbb"})
    a = stored_path(heritage_runtime, view.row.object_id, "a.txt")
    a.write_bytes(b"truncated!")
    answer = heritage_client.get(f"/api/workspaces/gamma/objects/{view.uuid}/files/a.txt")
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert "a.txt" in answer.json()["detail"]
