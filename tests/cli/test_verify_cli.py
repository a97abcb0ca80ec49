"""`heritage verify`: an instance's object by id, or any object directory offline; exit codes."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner, Result

from heritage.cli.main import app
from heritage.config import load_settings
from heritage.store.backends import open_storage_root
from heritage.store.ocfl import Changes, StorageRoot, User
from heritage.store.signing import (
    EXTENSION_NAME,
    InstanceSigner,
    SigningKey,
    instance_keys,
    instance_signer,
    jwk_set,
    rotate_signing_key,
)

ALICE = User("Alice", "mailto:alice@example.org")
RECORD = "urn:heritage:record:9"
SIG = f"extensions/{EXTENSION_NAME}"

Invoke = Callable[..., Result]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def invoke(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    for name in list(os.environ):
        if name.startswith("HERITAGE_"):
            monkeypatch.delenv(name)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # settings read .env of the working directory
    logging_config = structlog.get_config()
    runner = CliRunner(env={"HERITAGE_DATA_DIR": str(data_dir)})

    def run(*args: str) -> Result:
        try:
            result = runner.invoke(app, list(args))
        finally:
            structlog.configure(**logging_config)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return run


@pytest.fixture
def instance_root(data_dir: Path) -> StorageRoot:
    """The instance's own storage root, opened as the application opens it, with one object."""
    settings = load_settings(_env_file=None, data_dir=data_dir)
    root: StorageRoot = open_storage_root(settings, signer=instance_signer(settings))
    root.create_or_update(RECORD, Changes.of({"a.txt": b"alpha"}), "first", ALICE)
    root.create_or_update(RECORD, Changes.of({"b.txt": b"beta"}), "second", ALICE)
    root.wait_for_cleanup()
    return root


@pytest.fixture
def offline(tmp_path: Path) -> tuple[Path, SigningKey]:
    """A signed object directory copied somewhere, and the key that signed it."""
    key = SigningKey.generate()
    root = StorageRoot(tmp_path / "elsewhere", signer=InstanceSigner(key)).initialize()
    root.create_or_update(RECORD, Changes.of({"a.txt": b"alpha"}), "first", ALICE)
    root.create_or_update(RECORD, Changes.of({"b.txt": b"beta"}), "second", ALICE)
    root.wait_for_cleanup()
    copy = tmp_path / "copy"
    shutil.copytree(root.object_root(RECORD), copy)
    return copy, key


def finding_lines(result: Result) -> list[list[str]]:
    return [line.split("\t") for line in result.stdout.splitlines() if "\t" in line]


def test_an_instance_object_verifies(invoke: Invoke, instance_root: StorageRoot) -> None:
    result = invoke("verify", RECORD)
    assert result.exit_code == 0, result.output
    assert finding_lines(result) == []
    assert result.stdout.strip().splitlines()[-1].startswith(f"OK: {RECORD} (v2)")
    assert "2 signatures verified" in result.stdout


def test_damage_in_an_instance_object_is_named(invoke: Invoke, instance_root: StorageRoot) -> None:
    obj = instance_root.object_root(RECORD)
    (obj / "v1/content/a.txt").write_bytes(b"ALPHA")
    (obj / SIG / "v2.sig.json").unlink()
    result = invoke("verify", RECORD)
    assert result.exit_code == 1, result.output
    found = {(line[0], line[1]) for line in finding_lines(result)}
    assert found == {
        ("HC-DIGEST-MISMATCH", "v1/content/a.txt"),
        ("HC-SIG-MISSING", f"{SIG}/v2.sig.json"),
    }
    assert result.stdout.strip().splitlines()[-1].startswith("FAILED:")


def test_retired_instance_keys_are_still_trusted(
    invoke: Invoke, instance_root: StorageRoot, data_dir: Path
) -> None:
    rotate_signing_key(data_dir / "keys")
    assert invoke("verify", RECORD).exit_code == 0


def test_an_unknown_object_is_a_finding(invoke: Invoke, instance_root: StorageRoot) -> None:
    result = invoke("verify", "urn:heritage:none")
    assert result.exit_code == 1
    assert finding_lines(result)[0][0] == "HC-OBJECT-MISSING"


def test_verifying_creates_no_signing_key(invoke: Invoke, data_dir: Path) -> None:
    result = invoke("verify", RECORD)
    assert result.exit_code == 1
    assert not (data_dir / "keys" / "signing.key").exists()


def test_offline_with_the_right_key(invoke: Invoke, offline: tuple[Path, SigningKey]) -> None:
    obj, key = offline
    pem = obj.parent / "key.pem"
    pem.write_bytes(key.public.to_pem())
    result = invoke("verify", "--path", str(obj), "--public-key", str(pem))
    assert result.exit_code == 0, result.output
    keyset = obj.parent / "keys.json"  # as saved from /.well-known/heritage-signing-keys
    keyset.write_text(json.dumps(jwk_set([SigningKey.generate().public, key.public])))
    assert invoke("verify", "--path", str(obj), "--public-key", str(keyset)).exit_code == 0


def test_offline_without_or_with_a_wrong_key_names_the_signing_key(
    invoke: Invoke, offline: tuple[Path, SigningKey]
) -> None:
    obj, key = offline
    result = invoke("verify", "--path", str(obj))
    assert result.exit_code == 1
    lines = finding_lines(result)
    assert [(line[0], line[1]) for line in lines] == [
        ("HC-SIG-UNTRUSTED-KEY", f"{SIG}/v1.sig.json"),
        ("HC-SIG-UNTRUSTED-KEY", f"{SIG}/v2.sig.json"),
    ]
    assert all(key.key_id in line[2] for line in lines)
    wrong = obj.parent / "wrong.pem"
    wrong.write_bytes(SigningKey.generate().public.to_pem())
    assert invoke("verify", "--path", str(obj), "--public-key", str(wrong)).exit_code == 1


def test_offline_tampering_is_reported(invoke: Invoke, offline: tuple[Path, SigningKey]) -> None:
    obj, key = offline
    pem = obj.parent / "key.pem"
    pem.write_bytes(key.public.to_pem())
    (obj / "v2/content/b.txt").write_bytes(b"BETA")
    (obj / "v2/content/extra.txt").write_bytes(b"x")
    result = invoke("verify", "--path", str(obj), "--public-key", str(pem))
    assert result.exit_code == 1
    assert {(line[0], line[1]) for line in finding_lines(result)} == {
        ("HC-DIGEST-MISMATCH", "v2/content/b.txt"),
        ("HC-FILE-EXTRA", "v2/content/extra.txt"),
    }


def test_usage_errors_exit_with_2(
    invoke: Invoke, offline: tuple[Path, SigningKey], tmp_path: Path
) -> None:
    obj, _ = offline
    assert invoke("verify").exit_code == 2
    assert invoke("verify", RECORD, "--path", str(obj)).exit_code == 2
    assert invoke("verify", "--path", str(tmp_path / "absent")).exit_code == 2
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    assert invoke("verify", "--path", str(obj), "--public-key", str(junk)).exit_code == 2


def test_the_instance_key_is_the_one_published(data_dir: Path) -> None:
    settings = load_settings(_env_file=None, data_dir=data_dir)
    signer = instance_signer(settings)
    assert [k.key_id for k in instance_keys(settings).public_keys()] == [signer.key.key_id]
