"""The throwaway servers of heritage.testing.services start, answer and stop."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest
import redis
from sqlalchemy.engine import make_url

from heritage.testing.services import free_port, running_postgres, running_redis

pytestmark = pytest.mark.services


def _port_is_closed(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_running_postgres(tmp_path: Path) -> None:
    with running_postgres(tmp_path) as url:
        parsed = make_url(url)
        assert parsed.drivername == "postgresql+psycopg"
        assert (parsed.host, parsed.database) == ("127.0.0.1", "heritage_test")
        assert parsed.port is not None
        with psycopg.connect(
            host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database
        ) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
            encoding = connection.execute("SHOW server_encoding").fetchone()
            assert encoding == ("UTF8",)
    assert _port_is_closed(parsed.port)
    assert "database system is ready" in (tmp_path / "postgres.log").read_text()


def test_running_redis(tmp_path: Path) -> None:
    with running_redis(tmp_path) as url:
        client = redis.Redis.from_url(url)
        try:
            assert client.ping() is True
            client.set("heritage", "cloud")
            assert client.get("heritage") == b"cloud"
            port = client.connection_pool.connection_kwargs["port"]
        finally:
            client.close()
    assert _port_is_closed(port)
    assert not list(tmp_path.glob("*.rdb"))
