"""End-to-end tests in headless Chromium against a real ``heritage demo`` server.

The server runs as a subprocess (``python -m heritage demo``) on a free port of
127.0.0.1 with its own data directory; with ``--db=postgresql`` it uses a fresh
database on the session's throwaway PostgreSQL server. Chromium is Debian's
(``/usr/bin/chromium``), driven by Playwright; ``playwright install`` is never
needed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from heritage.demo import ADMIN_EMAIL, CURATOR_EMAIL, WORKSPACE
from heritage.testing.services import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"

STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
PORT_ATTEMPTS = 3
LOG_TAIL = 4000
DEFAULT_TIMEOUT_MS = 10_000
VIEWPORT = {"width": 1280, "height": 800}


# -- marking ------------------------------------------------------------------------
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test of this directory ``browser`` (hooks see the whole session)."""
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)


def _unavailable(reason: str) -> None:
    """Fail in CI (the check must run there), skip on a developer's machine."""
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


# -- the server -------------------------------------------------------------------
@dataclass(frozen=True)
class LiveServer:
    base_url: str
    admin_email: str
    admin_password: str
    data_dir: Path
    log_path: Path
    workspace: str = WORKSPACE
    # The demo's other people share the administrator's password.
    curator_email: str = CURATOR_EMAIL
    # None: SQLite in data_dir (a worker started by a test needs the same database)
    database_url: str | None = None

    def url(self, path: str) -> str:
        return self.base_url + path

    def log_tail(self) -> str:
        return _tail(self.log_path)


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-LOG_TAIL:]
    except OSError:
        return "(no log)"


def _health_ok(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(base_url + "/health", timeout=2) as response:  # noqa: S310
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT; the server runs in its own session."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT)


def _server_env(data_dir: Path, port: int, database_url: str | None) -> dict[str, str]:
    # No HERITAGE_* setting of the developer's shell may leak into the server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERITAGE_")}
    env.update(
        HERITAGE_DATA_DIR=str(data_dir),
        HERITAGE_PASSWORD_MEMORY_KIB="1024",
        HERITAGE_EMBEDDED_WORKER="false",
        HERITAGE_BASE_URL=f"http://127.0.0.1:{port}",
        HERITAGE_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    if database_url:
        env["HERITAGE_DATABASE_URL"] = database_url
    return env


def _start_server(workdir: Path, database_url: str | None) -> tuple[subprocess.Popen[bytes], int]:
    log_path = workdir / "server.log"
    data_dir = workdir / "data"
    for _attempt in range(PORT_ATTEMPTS):
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        start = log_path.stat().st_size if log_path.exists() else 0
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "heritage",
                    "demo",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                # The work directory as cwd: a developer's .env is not read.
                cwd=workdir,
                env=_server_env(data_dir, port, database_url),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        try:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    time.sleep(0.1)
                    log_text = log_path.read_bytes()[start:].decode(errors="replace")
                    if "already in use" in log_text:
                        break  # another process took the port: try another one
                    raise RuntimeError(
                        f"heritage demo exited with status {proc.returncode} before answering "
                        f"(log {log_path}):\n{log_text[-LOG_TAIL:]}"
                    )
                if _health_ok(base_url) and proc.poll() is None:
                    return proc, port
                time.sleep(0.1)
            else:
                raise RuntimeError(
                    f"heritage demo did not answer GET {base_url}/health within "
                    f"{STARTUP_TIMEOUT:.0f} s (log {log_path}):\n{_tail(log_path)}"
                )
        except BaseException:
            _stop(proc)
            raise
    raise RuntimeError(f"heritage demo: no free port after {PORT_ATTEMPTS} attempts")


@contextlib.contextmanager
def _database_for_server(server_url: str | None) -> Iterator[str | None]:
    """A fresh, empty PostgreSQL database (the server migrates it), or None for SQLite."""
    if server_url is None:
        yield None
        return
    from sqlalchemy import create_engine, text

    name = f"browser_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def live_server(
    heritage_postgres: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """``heritage demo`` serving on 127.0.0.1; yields its address and the admin's credentials."""
    workdir = tmp_path_factory.mktemp("live-server")
    with _database_for_server(heritage_postgres) as database_url:
        proc, port = _start_server(workdir, database_url)
        try:
            data_dir = workdir / "data"
            if database_url and (data_dir / "heritage.sqlite3").exists():
                raise RuntimeError("the server ignored HERITAGE_DATABASE_URL and used SQLite")
            server = LiveServer(
                base_url=f"http://127.0.0.1:{port}",
                admin_email=ADMIN_EMAIL,
                admin_password=(data_dir / "demo-admin-password").read_text().strip(),
                data_dir=data_dir,
                log_path=workdir / "server.log",
                database_url=database_url,
            )
            yield server
        finally:
            _stop(proc)


# -- the browser ------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_context(browser, live_server: LiveServer) -> Iterator[Callable[..., object]]:
    """Make browser contexts (closed after the test): ``new_context(storage_state=...)``."""
    contexts = []

    def make(**options):
        options.setdefault("viewport", VIEWPORT)
        options.setdefault("base_url", live_server.base_url)
        context = browser.new_context(**options)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context):
    """A page in a fresh, anonymous context (1280x800)."""
    return new_context().new_page()


def sign_in_on(page, live_server: LiveServer, email: str | None = None) -> None:
    """Sign in through the login form and wait until the dashboard is shown."""
    page.goto("/login")
    page.get_by_label("Email").fill(email or live_server.admin_email)
    page.get_by_label("Password").fill(live_server.admin_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard")


@pytest.fixture
def sign_in(live_server: LiveServer) -> Callable[..., None]:
    """``sign_in(page, email=None)``: sign in through the form (default: the demo admin)."""

    def do(page, email: str | None = None) -> None:
        sign_in_on(page, live_server, email)

    return do


@pytest.fixture(scope="session")
def admin_state(browser, live_server: LiveServer, tmp_path_factory) -> Path:
    """Cookies of one signed-in demo-admin session, shared by the tests that need it."""
    path = tmp_path_factory.mktemp("browser-state") / "admin.json"
    context = browser.new_context(viewport=VIEWPORT, base_url=live_server.base_url)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        sign_in_on(context.new_page(), live_server)
        context.storage_state(path=str(path))
    finally:
        context.close()
    return path


@pytest.fixture
def admin_page(new_context, admin_state: Path):
    """A page signed in as the demo administrator (1280x800)."""
    return new_context(storage_state=str(admin_state)).new_page()


@pytest.fixture(scope="session")
def axe_source() -> Path:
    if not AXE_JS.is_file():
        _unavailable(f"{AXE_JS} not found: run 'npm ci --no-audit --no-fund' in {ROOT}")
    return AXE_JS
