"""The `heritage` command line, run against a test database with its own data directory."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from heritage.accounts.identity import SYSTEM
from heritage.accounts.models import User
from heritage.accounts.services import AccountService
from heritage.cli.main import app
from heritage.config import Settings
from heritage.db.base import utcnow
from heritage.institutions.services import InstitutionService
from heritage.jobs.models import Job, JobStatus
from heritage.runtime import Runtime
from heritage.testing.plugin import TEST_SECRET_KEY
from heritage.web.app import create_app
from heritage.workspaces.models import Role
from heritage.workspaces.services import WorkspaceService

PASSWORD = "a long enough password"
GROUPS = {
    "serve",
    "reindex",
    "demo",
    "worker",
    "verify",
    "fixity",
    "replicate",
    "admin",
    "user",
    "token",
    "institution",
    "workspace",
    "audit",
    "jobs",
    "db",
    "backup",
    "restore",
    "keys",
    "rebuild-index",
    "import-ocfl",
    "upload",
    "import",
    "harvest",
}

Invoke = Callable[..., Result]


@pytest.fixture
def cli_env(heritage_settings: Settings) -> dict[str, str]:
    return {
        "HERITAGE_DATA_DIR": str(heritage_settings.resolved_data_dir),
        "HERITAGE_DATABASE_URL": heritage_settings.resolved_database_url,
        "HERITAGE_PASSWORD_MEMORY_KIB": "1024",
        "HERITAGE_SECRET_KEY": TEST_SECRET_KEY,
        "HERITAGE_QUEUE": "immediate",
    }


@pytest.fixture
def invoke(cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    for key in list(os.environ):
        if key.startswith("HERITAGE_"):
            monkeypatch.delenv(key)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # open_runtime reads .env of the working directory
    logging_config = structlog.get_config()
    runner = CliRunner(env=cli_env)

    def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
        try:
            result = runner.invoke(app, list(args), env=env, input=input)
        finally:
            # The CLI points structlog at the captured stderr, closed by now: put it back.
            structlog.configure(**logging_config)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return run


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def refused(result: Result, message: str) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return result.stderr


@pytest.fixture
def runtime(heritage_runtime: Runtime) -> Runtime:
    return heritage_runtime


# -- help -------------------------------------------------------------------------------
def help_of(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    return result.stdout


def command_list(output: str) -> dict[str, str]:
    section = output[output.index("Commands:") :]
    return dict(re.findall(r"^\s{2}([a-z-]+)\s{2,}(\S.*)$", section, re.M))


def test_help_lists_every_command_group_with_a_description() -> None:
    described = command_list(help_of())
    assert set(described) == GROUPS, described
    assert all(len(text) > 5 for text in described.values()), described


def test_group_help_lists_its_commands() -> None:
    expected = {
        "admin": {"create"},
        "user": {"create", "list", "set-password"},
        "token": {"create"},
        "workspace": {"create", "add-member"},
        "institution": {"create", "add-member"},
        "jobs": {"list", "show", "retry"},
        "db": {"upgrade", "status"},
        "audit": {"verify"},
        "keys": {"rotate", "rotate-signing", "status", "export", "import"},
    }
    for group, commands in expected.items():
        described = command_list(help_of(group))
        assert set(described) == commands, (group, described)
        assert all(text.strip() for text in described.values()), (group, described)


# -- accounts and tokens ------------------------------------------------------------------
def test_admin_user_and_token_work_against_the_api(invoke: Invoke, runtime: Runtime) -> None:
    assert "Administrator root@example.org created." in ok(
        invoke("admin", "create", "--email", "root@example.org", "--password", PASSWORD)
    )
    assert "User ada@example.org created." in ok(
        invoke("user", "create", "ada@example.org", "--name", "Ada", "--password", PASSWORD)
    )
    listing = ok(invoke("user", "list"))
    assert re.search(r"root@example\.org\s+root admin$", listing, re.M)
    assert re.search(r"ada@example\.org\s+Ada$", listing, re.M)

    secret = ok(invoke("token", "create", "root@example.org", "--name", "ci", "--days", "3"))
    secret = secret.strip()
    assert re.fullmatch(r"hc_[A-Za-z0-9_-]{40,}", secret), secret
    with TestClient(create_app(runtime)) as client:
        me = client.get("/api/me", headers={"Authorization": f"Bearer {secret}"})
        assert me.status_code == 200, me.text
        assert me.json()["email"] == "root@example.org"
        assert me.json()["is_admin"] is True
        users = client.get("/api/users", headers={"Authorization": f"Bearer {secret}"})
        assert {u["email"] for u in users.json()} == {"root@example.org", "ada@example.org"}
        [token] = client.get("/api/me/tokens", headers={"Authorization": f"Bearer {secret}"}).json()
        assert token["name"] == "ci"


def test_set_password_replaces_the_password(invoke: Invoke, runtime: Runtime) -> None:
    ok(invoke("user", "create", "ada@example.org", "--password", PASSWORD))
    ok(invoke("user", "set-password", "ada@example.org", "--password", "a different password"))
    accounts = AccountService(runtime)
    assert accounts.authenticate("ada@example.org", "a different password", client="t")


ACCOUNT_ERRORS = [
    (("user", "create", "ada@example.org", "--password", "short"), "password: must be at least"),
    (("user", "create", "not-an-email", "--password", PASSWORD), "email: is not a valid"),
    (("admin", "create", "--email", "root@example.org"), "no --password given"),
    (("token", "create", "nobody@example.org"), "No user with the email"),
    (("token", "create", "ada@example.org", "--days", "0"), "days: must be between"),
    (("user", "set-password", "nobody@example.org", "--password", PASSWORD), "No user"),
    (("user", "set-password", "ada@example.org", "--password", "short"), "password:"),
]


def test_account_errors_are_clear(invoke: Invoke, runtime: Runtime) -> None:
    ok(invoke("user", "create", "ada@example.org", "--password", PASSWORD))
    for args, message in ACCOUNT_ERRORS:
        refused(invoke(*args), message)
    assert [user.email for user in AccountService(runtime).list_users(SYSTEM)] == [
        "ada@example.org"
    ]
    assert AccountService(runtime).authenticate("ada@example.org", PASSWORD, client="t")


def test_duplicate_user_is_refused(invoke: Invoke, runtime: Runtime) -> None:
    ok(invoke("user", "create", "ada@example.org", "--password", PASSWORD))
    refused(invoke("user", "create", "ADA@example.org", "--password", PASSWORD), "already exists")
    with runtime.database.session() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1


# -- institutions and workspaces -----------------------------------------------------------
def test_institution_workspace_and_member(invoke: Invoke, runtime: Runtime) -> None:
    ok(invoke("user", "create", "ada@example.org", "--password", PASSWORD))
    assert "Institution city-museum created." in ok(
        invoke("institution", "create", "city-museum", "--name", "City Museum", "--country", "de")
    )
    ok(invoke("institution", "add-member", "city-museum", "ada@example.org", "--role", "admin"))
    assert "Workspace letters created (public)." in ok(
        invoke(
            "workspace",
            "create",
            "letters",
            "--institution",
            "city-museum",
            "--name",
            "Letters",
            "--public",
        )
    )
    assert "(private)" in ok(
        invoke("workspace", "create", "drafts", "--institution", "city-museum", "--name", "D")
    )
    assert "ada@example.org is now editor in letters." in ok(
        invoke("workspace", "add-member", "letters", "ada@example.org", "--role", "editor")
    )

    institution = InstitutionService(runtime).get(SYSTEM, "city-museum")
    assert (institution.name, institution.country) == ("City Museum", "DE")
    workspaces = WorkspaceService(runtime)
    assert workspaces.get(SYSTEM, "letters").is_public
    assert not workspaces.get(SYSTEM, "drafts").is_public
    [member] = workspaces.members(SYSTEM, "letters")
    assert (member.email, member.role) == ("ada@example.org", Role.EDITOR)


ORGANISATION_ERRORS = [
    (
        ("workspace", "create", "w", "--institution", "nowhere", "--name", "W"),
        "institution: no institution 'nowhere'",
    ),
    (
        ("workspace", "create", "Bad Slug!", "--institution", "museum", "--name", "W"),
        "slug: use 1 to 64 lowercase",
    ),
    (("workspace", "add-member", "ws", "ada@example.org", "--role", "boss"), "role: must be"),
    (("workspace", "add-member", "ws", "bob@example.org", "--role", "viewer"), "no user"),
    (("workspace", "add-member", "nowhere", "ada@example.org", "--role", "viewer"), "nowhere"),
    (("institution", "create", "museum", "--name", "Again"), "already exists"),
    (("institution", "create", "other", "--name", "O", "--kind", "zoo"), "kind: must be"),
    (("institution", "create", "other", "--name", "O", "--country", "DEU"), "country:"),
    (("institution", "add-member", "museum", "ada@example.org", "--role", "king"), "role:"),
]


def test_organisation_errors_are_clear(invoke: Invoke, runtime: Runtime) -> None:
    ok(invoke("user", "create", "ada@example.org", "--password", PASSWORD))
    ok(invoke("institution", "create", "museum", "--name", "Museum"))
    ok(invoke("workspace", "create", "ws", "--institution", "museum", "--name", "WS"))
    for args, message in ORGANISATION_ERRORS:
        refused(invoke(*args), message)
    assert [i.slug for i in InstitutionService(runtime).list()] == ["museum"]
    assert [w.slug for w, _ in WorkspaceService(runtime).list_visible(SYSTEM)] == ["ws"]
    assert WorkspaceService(runtime).members(SYSTEM, "ws") == []


def test_duplicate_workspace_slug_is_refused(invoke: Invoke, runtime: Runtime) -> None:
    ok(invoke("institution", "create", "museum", "--name", "Museum"))
    ok(invoke("workspace", "create", "ws", "--institution", "museum", "--name", "First"))
    refused(
        invoke("workspace", "create", "ws", "--institution", "museum", "--name", "Second"),
        "A workspace with the slug 'ws' already exists",
    )
    assert WorkspaceService(runtime).get(SYSTEM, "ws").name == "First"


def test_missing_required_option_is_a_usage_error(invoke: Invoke) -> None:
    result = invoke("workspace", "create", "ws", "--name", "WS")
    assert result.exit_code == 2
    assert "--institution" in result.stderr


# -- demo ------------------------------------------------------------------------------------
def test_demo_load_only_is_idempotent_and_prints_credentials(
    invoke: Invoke, runtime: Runtime, heritage_settings: Settings
) -> None:
    first = ok(invoke("demo", "--load-only"))
    password = (heritage_settings.resolved_data_dir / "demo-admin-password").read_text().strip()
    assert "Demo instance ready" in first
    assert re.search(r"Email:\s+admin@demo-museum\.example", first)
    assert re.search(rf"Password:\s+{re.escape(password)}$", first, re.M)

    def counts() -> tuple[int, int, int, int]:
        from heritage.records.services import RecordService
        from heritage.store.services import PreservationService

        workspaces = WorkspaceService(runtime).list_visible(SYSTEM)
        stored = PreservationService(runtime).list_objects(SYSTEM, "demo")
        return (
            len(AccountService(runtime).list_users(SYSTEM)),
            len(InstitutionService(runtime).list()),
            len(workspaces),
            len([row for row in stored if row.kind == "files"]),
            RecordService(runtime).list(SYSTEM, "demo").total,
        )

    before = counts()
    second = ok(invoke("demo", "--load-only"))
    assert re.search(rf"Password:\s+{re.escape(password)}$", second, re.M)
    assert counts() == before
    assert before[0] >= 1 and before[1] >= 1 and before[2] >= 1
    assert before[3] == 1  # a stored object with history, encrypted in the private workspace
    # records: ready for Europeana, with a history, a draft, and the generated harbour
    # collection for search
    assert before[4] == 3 + 48
    user = AccountService(runtime).authenticate("admin@demo-museum.example", password, client="t")
    assert user.is_admin


# -- database ---------------------------------------------------------------------------------
def test_db_status_and_upgrade(invoke: Invoke, tmp_path: Path) -> None:
    assert re.search(r"current (\w+), latest \1", ok(invoke("db", "status")))
    empty = {"HERITAGE_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"}
    pending = invoke("db", "status", env=empty)
    assert pending.exit_code == 1
    assert "current (empty)" in pending.stdout
    upgraded = ok(invoke("db", "upgrade", env=empty))
    assert "Database at revision" in upgraded
    assert ok(invoke("db", "status", env=empty))


# -- jobs -----------------------------------------------------------------------------------
def add_failed_job(runtime: Runtime) -> str:
    with runtime.database.session(write=True) as session:
        job = Job(
            id="00000000-0000-4000-8000-0000000000cc",
            kind="audit.verify",
            title="Verify the audit log's hash chain",
            status=JobStatus.FAILED,
            error="RuntimeError: example failure\nsecond line",
            attempts=1,
            finished_at=utcnow(),
        )
        session.add(job)
        session.commit()
        return job.id


def test_jobs_list_show_and_retry(invoke: Invoke, runtime: Runtime) -> None:
    job_id = add_failed_job(runtime)
    listing = ok(invoke("jobs", "list"))
    assert re.search(rf"^{job_id}\s+failed\s+0\.0%\s+audit\.verify", listing, re.M)
    assert "error: RuntimeError: example failure" in listing
    assert "second line" not in listing
    assert job_id not in ok(invoke("jobs", "list", "--status", "succeeded"))

    shown = ok(invoke("jobs", "show", job_id))
    assert re.search(r"^\s*status: failed$", shown, re.M)
    assert re.search(r"^\s*attempts: 1$", shown, re.M)
    assert "example failure" in shown

    # HERITAGE_QUEUE=immediate: the retried job runs inside the command.
    assert f"Job {job_id} queued again." in ok(invoke("jobs", "retry", job_id))
    shown = ok(invoke("jobs", "show", job_id))
    assert re.search(r"^\s*status: succeeded$", shown, re.M)
    assert re.search(r"^\s*attempts: 2$", shown, re.M)
    assert "head_hash" in shown

    refused(invoke("jobs", "retry", job_id), "Only failed jobs can be retried")
    refused(invoke("jobs", "show", "no-such-job"), "No job no-such-job")


def test_jobs_retry_wait_reports_the_outcome(invoke: Invoke, runtime: Runtime) -> None:
    job_id = add_failed_job(runtime)
    assert f"Job {job_id} succeeded." in ok(invoke("jobs", "retry", job_id, "--wait"))
