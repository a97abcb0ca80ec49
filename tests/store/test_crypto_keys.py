"""Workspace data keys wrapped by a master key: wrapping, key files, secrets, rotation."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
from pathlib import Path

import pytest

from heritage.config import load_settings
from heritage.store.crypto import (
    KEY_MANAGERS,
    DecryptingReader,
    LocalMasterKey,
    MalformedWrappedKey,
    MasterKeyUnavailable,
    UnknownKeyManager,
    UnwrapFailed,
    WrappedKey,
    WrongMasterKey,
    encrypt_stream,
    new_data_key,
    open_key_manager,
    rewrap,
    rotate,
)
from heritage.store.crypto.keys import MASTER_KEY_ENV

WORKSPACE = {"workspace": "7f0c5a4e"}


def test_wrap_unwrap_round_trip_through_json() -> None:
    master, data_key = LocalMasterKey.generate(), new_data_key()
    wrapped = master.wrap(data_key, WORKSPACE)
    stored = wrapped.to_json()
    assert base64.urlsafe_b64encode(data_key).decode() not in stored
    assert json.loads(stored)["master_key_id"] == master.key_id
    assert master.unwrap(WrappedKey.from_json(stored), WORKSPACE) == data_key


def test_data_keys_are_fresh_256_bit_keys() -> None:
    keys = {new_data_key() for _ in range(10)}
    assert len(keys) == 10 and all(len(key) == 32 for key in keys)


def test_wrong_context_fails() -> None:
    master = LocalMasterKey.generate()
    wrapped = master.wrap(new_data_key(), WORKSPACE)
    with pytest.raises(UnwrapFailed, match="context"):
        master.unwrap(wrapped, {"workspace": "another"})
    with pytest.raises(UnwrapFailed):
        master.unwrap(wrapped, {})


def test_damaged_wrapped_key_fails() -> None:
    master = LocalMasterKey.generate()
    wrapped = master.wrap(new_data_key(), WORKSPACE)
    damaged = WrappedKey(
        wrapped.master_key_id,
        wrapped.algorithm,
        wrapped.nonce,
        bytes([wrapped.ciphertext[0] ^ 1]) + wrapped.ciphertext[1:],
    )
    with pytest.raises(UnwrapFailed):
        master.unwrap(damaged, WORKSPACE)


def test_wrong_master_key_names_both_ids() -> None:
    first, second = LocalMasterKey.generate(), LocalMasterKey.generate()
    assert first.key_id != second.key_id
    with pytest.raises(WrongMasterKey) as caught:
        second.unwrap(first.wrap(new_data_key(), WORKSPACE), WORKSPACE)
    assert first.key_id in str(caught.value) and second.key_id in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"master_key_id": "x"}',
        json.dumps(dict.fromkeys(["master_key_id", "algorithm", "nonce", "ciphertext"], "%%")),
    ],
)
def test_malformed_wrapped_keys_are_refused(text: str) -> None:
    with pytest.raises(MalformedWrappedKey):
        WrappedKey.from_json(text)


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    master = LocalMasterKey.from_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes()) == 32
    assert list(path.parent.iterdir()) == [path]
    again = LocalMasterKey.from_file(path)
    assert again.key_id == master.key_id
    data_key = new_data_key()
    assert again.unwrap(master.wrap(data_key, WORKSPACE), WORKSPACE) == data_key


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    LocalMasterKey.from_file(path)
    path.chmod(0o644)
    with pytest.raises(MasterKeyUnavailable, match="chmod 600"):
        LocalMasterKey.from_file(path)


def test_key_file_of_wrong_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(b"x" * 31)
    path.chmod(0o600)
    with pytest.raises(MasterKeyUnavailable, match="31 bytes"):
        LocalMasterKey.from_file(path)


def test_missing_key_file_is_an_error_when_not_creating(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyUnavailable, match="does not exist"):
        LocalMasterKey.from_file(tmp_path / "master.key", create=False)


def test_master_key_from_environment_secret() -> None:
    raw = os.urandom(32)
    standard = LocalMasterKey.from_env(environ={MASTER_KEY_ENV: base64.b64encode(raw).decode()})
    urlsafe = LocalMasterKey.from_env(
        environ={MASTER_KEY_ENV: base64.urlsafe_b64encode(raw).decode()}
    )
    assert standard.key_id == urlsafe.key_id == LocalMasterKey(raw).key_id
    assert raw.hex() not in repr(standard)


@pytest.mark.parametrize("value", ["", "c2hvcnQ=", "not base64 at all!"])
def test_bad_environment_secret_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(MasterKeyUnavailable, match=MASTER_KEY_ENV) as caught:
        LocalMasterKey.from_env(environ={MASTER_KEY_ENV: value})
    assert not value or value not in str(caught.value)


def test_rotate_rewraps_without_touching_content() -> None:
    old, new = LocalMasterKey.generate(), LocalMasterKey.generate()
    contexts = [{"workspace": f"ws-{n}"} for n in range(3)]
    data_keys = [new_data_key() for _ in contexts]
    wrapped = [old.wrap(key, context) for key, context in zip(data_keys, contexts, strict=True)]
    plaintext, stored = b"a letter from 1848" * 100, io.BytesIO()
    encrypt_stream(io.BytesIO(plaintext), stored, data_keys[0], "ws-0", 64)
    content = stored.getvalue()

    rotated = list(rotate(old, new, zip(wrapped, contexts, strict=True)))

    for data_key, context, item in zip(data_keys, contexts, rotated, strict=True):
        assert item.master_key_id == new.key_id
        assert new.unwrap(item, context) == data_key
        with pytest.raises(WrongMasterKey):
            old.unwrap(item, context)
    reader = DecryptingReader(io.BytesIO(content), new.unwrap(rotated[0], contexts[0]))
    assert b"".join(reader.read_all()) == plaintext
    # Running it again after an interruption leaves rotated keys as they are.
    assert rewrap(old, new, rotated[1], contexts[1]) is rotated[1]


def test_local_is_the_default_and_first_registered() -> None:
    assert next(iter(KEY_MANAGERS)) == "local"


def test_open_key_manager_uses_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    settings = load_settings(data_dir=tmp_path)
    manager = open_key_manager(settings)
    assert (tmp_path / "keys" / "master.key").exists()
    assert open_key_manager(settings).key_id == manager.key_id


def test_open_key_manager_prefers_the_environment_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = os.urandom(32)
    monkeypatch.setenv(MASTER_KEY_ENV, base64.b64encode(raw).decode())
    manager = open_key_manager(load_settings(data_dir=tmp_path))
    assert manager.key_id == LocalMasterKey(raw).key_id
    assert not (tmp_path / "keys").exists()


def test_unknown_key_manager_is_named(tmp_path: Path) -> None:
    with pytest.raises(UnknownKeyManager, match="'vault'"):
        open_key_manager(load_settings(data_dir=tmp_path), "vault")


def test_master_key_comes_from_the_settings_and_stays_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    raw = os.urandom(32)
    encoded = base64.b64encode(raw).decode()
    env_file = tmp_path / ".env"
    env_file.write_text(f"HERITAGE_MASTER_KEY={encoded}\n")
    settings = load_settings(_env_file=env_file, data_dir=tmp_path / "data")
    assert open_key_manager(settings).key_id == LocalMasterKey(raw).key_id
    assert encoded not in repr(settings)
    assert not (tmp_path / "data" / "keys").exists()


def test_malformed_master_key_setting_is_refused_without_echoing_it(tmp_path: Path) -> None:
    settings = load_settings(_env_file=None, data_dir=tmp_path, master_key="not-a-key-value")
    with pytest.raises(MasterKeyUnavailable) as caught:
        open_key_manager(settings)
    assert "not-a-key-value" not in str(caught.value)
