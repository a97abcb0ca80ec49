"""Settings: defaults, validation naming the variable, the generated secret key, the docs."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from heritage.config import ConfigError, Settings, load_settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
SETTING_NAMES = {f"HERITAGE_{name.upper()}" for name in Settings.model_fields}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No HERITAGE_* variable or .env of the developer leaks into these tests."""
    for key in list(os.environ):
        if key.startswith("HERITAGE_"):
            monkeypatch.delenv(key)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)


BAD_VALUES = [
    ("HERITAGE_DATABASE_URL", "mysql://root@localhost/heritage"),
    ("HERITAGE_REDIS_URL", "http://x"),
    ("HERITAGE_BASE_URL", "ftp://heritage.example.org"),
    ("HERITAGE_SESSION_LIFETIME_HOURS", "0"),
    ("HERITAGE_SESSION_LIFETIME_HOURS", "twelve"),
    ("HERITAGE_PASSWORD_MEMORY_KIB", "8"),
    ("HERITAGE_QUEUE", "rabbitmq"),
    ("HERITAGE_LOG_LEVEL", "LOUD"),
    ("HERITAGE_DEFAULT_LANGUAGE", "xx"),
]


@pytest.mark.parametrize(("variable", "value"), BAD_VALUES)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str
) -> None:
    monkeypatch.setenv("HERITAGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert variable in message
    assert message.startswith("Invalid configuration")


def test_redis_queue_without_redis_url_names_both_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HERITAGE_QUEUE", "redis")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert "HERITAGE_QUEUE" in message
    assert "HERITAGE_REDIS_URL" in message


@pytest.mark.parametrize(
    "environment",
    [{"HERITAGE_QUEUE": "redis"}, {"HERITAGE_SESSION_LIFETIME_HOURS": "0"}],
    ids=["model-check", "field-check"],
)
def test_messages_name_only_real_variables(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]
) -> None:
    """An operator looks the variable up in docs/configuration.md: it has to exist."""
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    named = set(re.findall(r"HERITAGE_[A-Z_]+[A-Z]", str(raised.value)))
    assert named, str(raised.value)
    assert named <= SETTING_NAMES, f"{named - SETTING_NAMES} in: {raised.value}"


def test_several_bad_values_are_all_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERITAGE_REDIS_URL", "http://x")
    monkeypatch.setenv("HERITAGE_WORKER_THREADS", "0")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "HERITAGE_REDIS_URL" in str(raised.value)
    assert "HERITAGE_WORKER_THREADS" in str(raised.value)


def test_good_values_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERITAGE_DATABASE_URL", "postgresql+psycopg://u:p@db/heritage")
    monkeypatch.setenv("HERITAGE_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("HERITAGE_BASE_URL", "https://heritage.example.org/")
    monkeypatch.setenv("HERITAGE_SESSION_LIFETIME_HOURS", "1")
    settings = load_settings()
    assert settings.resolved_database_url == "postgresql+psycopg://u:p@db/heritage"
    assert not settings.uses_sqlite
    assert settings.queue_backend == "redis"  # auto: Redis because a URL is set
    assert settings.base_url == "https://heritage.example.org"
    assert settings.secure_cookies


def test_defaults_give_an_embedded_instance_in_the_data_directory() -> None:
    settings = load_settings()
    data = (Path.cwd() / "data").resolve()
    assert settings.resolved_data_dir == data
    assert settings.resolved_database_url == f"sqlite:///{data / 'heritage.sqlite3'}"
    assert settings.uses_sqlite
    assert settings.queue_backend == "sqlite"
    assert settings.base_url == "http://127.0.0.1:8000"
    assert not settings.secure_cookies
    assert settings.password_memory_kib == 65536


def test_data_dir_moves_the_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HERITAGE_DATA_DIR", str(tmp_path / "elsewhere"))
    settings = load_settings()
    assert (
        settings.resolved_database_url == f"sqlite:///{tmp_path / 'elsewhere' / 'heritage.sqlite3'}"
    )


def test_dotenv_of_the_working_directory_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".env").write_text("HERITAGE_BASE_URL=https://from-dotenv.example\nHERITAGE_QUEUE=redis\n")
    monkeypatch.setenv("HERITAGE_QUEUE", "immediate")  # the environment wins over .env
    settings = load_settings()
    assert settings.base_url == "https://from-dotenv.example"
    assert settings.queue == "immediate"


def test_secret_key_is_generated_once_private_and_reused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = load_settings(_env_file=None, data_dir=data)
    key = first.signing_key
    key_file = data / "secret_key"
    assert key_file.read_text() == key
    assert len(key) >= 48
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = load_settings(_env_file=None, data_dir=data)
    assert again.signing_key == key
    other = load_settings(_env_file=None, data_dir=tmp_path / "other")
    assert other.signing_key != key


def test_configured_secret_key_writes_no_file(tmp_path: Path) -> None:
    settings = load_settings(_env_file=None, data_dir=tmp_path / "data", secret_key="k" * 40)
    assert settings.signing_key == "k" * 40
    assert not (tmp_path / "data" / "secret_key").exists()


@pytest.mark.parametrize(
    ("variable", "value"),
    [("HERITAGE_DATABASE_URL", "mysql://root@localhost/heritage"), ("HERITAGE_QUEUE", "redis")],
)
def test_cli_exits_2_with_the_message_and_no_traceback(
    tmp_path: Path, variable: str, value: str
) -> None:
    env = {key: val for key, val in os.environ.items() if not key.startswith("HERITAGE_")}
    env.update({"HERITAGE_DATA_DIR": str(tmp_path / "data"), variable: value, "NO_COLOR": "1"})
    result = subprocess.run(
        [sys.executable, "-m", "heritage", "db", "status"],
        cwd=Path.cwd(),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert variable in result.stderr
    assert "Invalid configuration" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "data").exists()


def test_every_setting_is_documented() -> None:
    text = DOC.read_text()
    missing = sorted(name for name in SETTING_NAMES if name not in text)
    assert not missing, f"{DOC.name} does not describe {', '.join(missing)}"
