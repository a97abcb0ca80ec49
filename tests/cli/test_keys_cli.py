"""`heritage keys`: rotation re-wraps data keys and never touches content; signing-key
rotation; status; export."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog
from sqlalchemy import select
from typer.testing import CliRunner, Result

import heritage.store.keyring as keyring_module
from heritage.accounts.identity import SYSTEM
from heritage.audit.models import AuditEntry
from heritage.backup.keysfile import read_keys_file
from heritage.cli.main import app
from heritage.config import Settings, load_settings
from heritage.runtime import Runtime
from heritage.store.crypto import LocalMasterKey
from heritage.store.description import DESCRIPTION_PATH
from heritage.store.keyring import rotate_master_key
from heritage.store.models import WorkspaceKey
from heritage.store.ocfl.store import STAGING_EXTENSION
from heritage.store.services import PreservationService
from heritage.store.signing import EXTENSION_NAME, SignatureRecord, instance_keys
from heritage.testing.plugin import TEST_SECRET_KEY
from heritage.testing.world import build_world

Invoke = Callable[..., Result]
PASSPHRASE = "correct horse battery staple, twice"


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        "HERITAGE_DATA_DIR": str(settings.resolved_data_dir),
        "HERITAGE_DATABASE_URL": settings.resolved_database_url,
        "HERITAGE_SECRET_KEY": TEST_SECRET_KEY,
        "HERITAGE_QUEUE": "immediate",
        **extra,
    }


@pytest.fixture
def invoke(heritage_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    for key in list(os.environ):
        if key.startswith("HERITAGE_"):
            monkeypatch.delenv(key)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")  # no stray .env
    logging_config = structlog.get_config()

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        try:
            result = CliRunner(env=env or env_for(heritage_settings)).invoke(app, list(args))
        finally:
            structlog.configure(**logging_config)  # the CLI pointed it at the captured stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return run


@pytest.fixture
def runtime(heritage_runtime: Runtime) -> Runtime:
    """The standard world (objects in alpha and gamma) and one more encrypted object, in beta."""
    build_world(heritage_runtime)
    PreservationService(heritage_runtime).create_object(
        SYSTEM, "beta", files={"deed.pdf": b"%PDF" * 5000}
    )
    return heritage_runtime


def stored_files(settings: Settings) -> dict[str, str]:
    """SHA-512 of every file of the storage root but the staging extension's.

    The staging extension is pruned from the walk, not filtered after it: its
    work directories are deleted by a background thread and may vanish mid-walk.
    """
    root = settings.resolved_storage_root
    found = {}
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [name for name in dirnames if name != STAGING_EXTENSION]
        for name in filenames:
            path = Path(directory, name)
            found[str(path.relative_to(root))] = hashlib.sha512(path.read_bytes()).hexdigest()
    return found


def plaintexts(settings: Settings) -> dict[tuple[str, str], bytes]:
    """Every file of every head version, read by a new process-like runtime (no cached key)."""
    runtime = Runtime(settings)
    try:
        service = PreservationService(runtime)
        found = {}
        for slug in ("alpha", "beta", "gamma"):
            for row in service.list_objects(SYSTEM, slug):
                uuid_ = row.object_id.removeprefix("urn:uuid:")
                for path in set(runtime.storage.state(row.object_id)) - {DESCRIPTION_PATH}:
                    with service.open_file(SYSTEM, slug, uuid_, path) as opened:
                        found[(row.object_id, path)] = opened.read_all()
        return found
    finally:
        runtime.close()


def wrapping_ids(runtime: Runtime) -> set[str]:
    with runtime.database.session() as session:
        return set(session.scalars(select(WorkspaceKey.master_key_id)))


def master_key_id(settings: Settings) -> str:
    return LocalMasterKey.from_file(settings.resolved_data_dir / "keys" / "master.key").key_id


def test_rotate_rewraps_data_keys_and_leaves_content_alone(
    runtime: Runtime, invoke: Invoke, tmp_path: Path
) -> None:
    settings = runtime.settings
    before_files, before_plain = stored_files(settings), plaintexts(settings)
    first = master_key_id(settings)
    assert wrapping_ids(runtime) == {first}
    status = invoke("keys", "status")
    assert status.exit_code == 0, status.output
    assert f"Master key:          {first}" in status.stdout
    assert f"2 wrapped by {first} (current)" in status.stdout

    rotated = invoke("keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    assert "2 data key(s) re-wrapped" in rotated.stdout
    second = master_key_id(settings)
    assert second != first and wrapping_ids(runtime) == {second}
    assert (settings.resolved_data_dir / "keys" / "retired" / f"{first}.key").is_file()
    # content files and inventories byte for byte as they were; everything still opens
    assert stored_files(settings) == before_files
    assert plaintexts(settings) == before_plain
    assert audit_details(runtime, "keys.rotate-master") == [
        {"old": first, "new": second, "rewrapped": 2}
    ]
    status = invoke("keys", "status")
    assert f"Retired master keys: {first}" in status.stdout
    assert f"2 wrapped by {second} (current)" in status.stdout

    again = invoke("keys", "rotate")
    assert again.exit_code == 0, again.output
    third = master_key_id(settings)
    assert wrapping_ids(runtime) == {third} and len({first, second, third}) == 3
    assert stored_files(settings) == before_files
    assert plaintexts(settings) == before_plain

    # an export after the rotation holds the current and the retired master keys
    passphrase = tmp_path / "pass"
    passphrase.write_text(PASSPHRASE)
    exported = invoke(
        "keys", "export", str(tmp_path / "k.hckeys"), "--passphrase-file", str(passphrase)
    )
    assert exported.exit_code == 0, exported.output
    bundle = read_keys_file(tmp_path / "k.hckeys", PASSPHRASE)
    assert bundle.master_key is not None and bundle.master_key.key_id == third
    assert bundle.master_key_ids() == {first, second, third}
    assert bundle.signing_key is not None


def test_an_interrupted_rotation_runs_again(
    runtime: Runtime, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = runtime.settings
    before = plaintexts(settings)
    old = master_key_id(settings)
    real_wrap = LocalMasterKey.wrap
    calls = []

    def wrap_then_die(self: LocalMasterKey, data_key: bytes, context: dict[str, str]) -> object:
        calls.append(context)
        if len(calls) == 2:
            raise RuntimeError("killed mid-way")
        return real_wrap(self, data_key, context)

    # cut short between two data keys: nothing of the transaction stays
    monkeypatch.setattr(LocalMasterKey, "wrap", wrap_then_die)
    with pytest.raises(RuntimeError, match="killed mid-way"):
        rotate_master_key(settings, runtime.database)
    monkeypatch.undo()
    assert wrapping_ids(runtime) == {old} and master_key_id(settings) == old
    status = invoke("keys", "status")
    assert status.exit_code == 1 and "interrupted" in status.stderr
    assert plaintexts(settings) == before

    # cut short after the data keys were committed, before the key files moved
    real_replace = os.replace

    def replace_once(*args: object) -> None:
        monkeypatch.setattr(keyring_module.os, "replace", real_replace)
        raise OSError("killed before the files moved")

    monkeypatch.setattr(keyring_module.os, "replace", replace_once)
    with pytest.raises(OSError, match="before the files moved"):
        rotate_master_key(settings, runtime.database)
    monkeypatch.undo()
    assert master_key_id(settings) == old and wrapping_ids(runtime) != {old}
    assert invoke("keys", "status").exit_code == 1

    rerun = invoke("keys", "rotate")
    assert rerun.exit_code == 0, rerun.output
    assert "0 data key(s) re-wrapped, 2 already under the new key" in rerun.stdout
    new = master_key_id(settings)
    assert new != old and wrapping_ids(runtime) == {new}
    assert invoke("keys", "status").exit_code == 0
    assert plaintexts(settings) == before


def test_a_missing_master_key_is_reported_by_name(runtime: Runtime, invoke: Invoke) -> None:
    settings = runtime.settings
    wrapped_by = master_key_id(settings)
    (settings.resolved_data_dir / "keys" / "master.key").unlink()
    status = invoke("keys", "status")
    assert status.exit_code == 1
    assert f"wrapped by master key {wrapped_by}, which this instance does not have" in status.stderr


def test_rotate_with_the_master_key_from_the_environment(
    heritage_settings: Settings, invoke: Invoke, tmp_path: Path
) -> None:
    def with_master_key(value: str) -> Settings:
        return load_settings(
            _env_file=None,
            data_dir=heritage_settings.resolved_data_dir,
            database_url=heritage_settings.resolved_database_url,
            secret_key=TEST_SECRET_KEY,
            password_memory_kib=1024,
            queue="immediate",
            master_key=value,
        )

    current = base64.b64encode(secrets.token_bytes(32)).decode()
    settings = with_master_key(current)
    runtime = Runtime(settings)
    try:
        build_world(runtime)
    finally:
        runtime.close()
    before = plaintexts(settings)
    assert not (settings.resolved_data_dir / "keys" / "master.key").exists()
    env = env_for(settings, HERITAGE_MASTER_KEY=current)

    refused = invoke("keys", "rotate", env=env)
    assert refused.exit_code == 2 and "--new-key-file" in refused.stderr
    new_key = base64.b64encode(secrets.token_bytes(32)).decode()
    key_file = tmp_path / "new.key"
    key_file.write_text(new_key + "\n")
    rotated = invoke("keys", "rotate", "--new-key-file", str(key_file), env=env)
    assert rotated.exit_code == 0, rotated.output
    assert "set HERITAGE_MASTER_KEY to the new key" in rotated.stdout
    assert new_key not in rotated.stdout + rotated.stderr

    assert plaintexts(with_master_key(new_key)) == before
    assert (
        invoke("keys", "status", env=env_for(settings, HERITAGE_MASTER_KEY=new_key)).exit_code == 0
    )
    # the old key no longer opens the re-wrapped data keys, and says so
    stale = invoke("keys", "status", env=env)
    assert stale.exit_code == 1 and "does not have" in stale.stderr

    # a master key kept in a file is rotated by a key the command makes itself
    plain = invoke("keys", "rotate", "--new-key-file", str(key_file))
    assert plain.exit_code == 2 and "HERITAGE_MASTER_KEY" in plain.stderr


def audit_details(runtime: Runtime, action: str) -> list[dict[str, object]]:
    with runtime.database.session() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        return [row.details for row in rows]


def signed_by(settings: Settings, object_id: str, version: str) -> str:
    """The key id in a version's signature file."""
    runtime = Runtime(settings)
    try:
        obj = runtime.storage.object_root(object_id)
    finally:
        runtime.close()
    signature = obj / "extensions" / EXTENSION_NAME / f"{version}.sig.json"
    return SignatureRecord.from_bytes(signature.read_bytes()).key_id


def test_rotate_signing_retires_the_key_and_signs_new_versions_with_the_next(
    runtime: Runtime, invoke: Invoke
) -> None:
    settings = runtime.settings
    service = PreservationService(runtime)
    view = service.create_object(SYSTEM, "alpha", files={"a.txt": b"first"})
    object_id = view.row.object_id
    old = instance_keys(settings, create=False).current
    assert old is not None and signed_by(settings, object_id, "v1") == old.key_id
    before = stored_files(settings)

    rotated = invoke("keys", "rotate-signing")
    assert rotated.exit_code == 0, rotated.output
    new = instance_keys(settings, create=False).current
    assert new is not None and new.key_id != old.key_id
    assert f"{old.key_id} -> {new.key_id}" in rotated.stdout
    assert "Restart every process" in rotated.stdout
    assert stored_files(settings) == before  # nothing stored is re-signed
    status = invoke("keys", "status")
    assert f"Signing key:         {new.key_id}" in status.stdout
    assert f"Retired signing keys: {old.key_id}" in status.stdout
    assert audit_details(runtime, "keys.rotate-signing") == [{"old": old.key_id, "new": new.key_id}]

    # a process started now signs with the new key; both versions verify
    fresh = Runtime(settings)
    try:
        PreservationService(fresh).add_files(SYSTEM, "alpha", view.uuid, {"b.txt": b"second"})
    finally:
        fresh.close()
    assert signed_by(settings, object_id, "v1") == old.key_id
    assert signed_by(settings, object_id, "v2") == new.key_id
    verified = invoke("verify", object_id)
    assert verified.exit_code == 0, verified.output

    # a second rotation retires the second key as well
    again = invoke("keys", "rotate-signing")
    assert again.exit_code == 0, again.output
    assert "2 retired key(s) stay trusted" in again.stdout
    assert invoke("verify", object_id).exit_code == 0


def test_rotate_signing_on_an_instance_that_never_signed(
    invoke: Invoke, heritage_settings: Settings
) -> None:
    keys = heritage_settings.resolved_data_dir / "keys"
    assert not (keys / "signing.key").exists()
    result = invoke("keys", "rotate-signing")
    assert result.exit_code == 0, result.output
    assert "had no signing key yet" in result.stdout
    assert (keys / "signing.key").exists()
    assert not (keys / "signing-retired").exists()
