"""``heritage``: run, administer and inspect a Heritage Cloud instance."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Annotated

import typer

from heritage import __version__
from heritage.accounts.identity import SYSTEM
from heritage.accounts.services import AccountService
from heritage.audit.services import verify_chain
from heritage.cli.backup import backup_command, restore_command
from heritage.cli.common import console, fail, open_runtime, service_errors
from heritage.cli.fixity import fixity as fixity_command
from heritage.cli.fixity import replicate as replicate_command
from heritage.cli.keys import keys_app
from heritage.cli.records import harvest_command, import_command
from heritage.cli.search import reindex_command
from heritage.cli.store import import_ocfl_command, rebuild_index_command
from heritage.cli.upload import upload as upload_command
from heritage.cli.verify import verify as verify_command
from heritage.institutions.services import InstitutionService
from heritage.jobs.models import JobStatus
from heritage.jobs.services import JobService
from heritage.runtime import Runtime
from heritage.workspaces.services import WorkspaceService

app = typer.Typer(
    name="heritage",
    help="Heritage Cloud: a collaborative cloud for cultural heritage collections.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
admin_app = typer.Typer(help="Instance administrators.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
token_app = typer.Typer(help="Personal API tokens.", no_args_is_help=True)
institution_app = typer.Typer(help="Institutions and their members.", no_args_is_help=True)
workspace_app = typer.Typer(help="Workspaces and their members.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
jobs_app = typer.Typer(help="Background jobs: list, show, retry.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(institution_app, name="institution")
app.add_typer(workspace_app, name="workspace")
app.add_typer(audit_app, name="audit")
app.add_typer(jobs_app, name="jobs")
app.add_typer(db_app, name="db")


def _version(value: bool) -> None:
    if value:
        console.print(f"heritage {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Heritage Cloud. Settings come from HERITAGE_* environment variables or .env."""


# -- running ------------------------------------------------------------------------
def _start_embedded_worker() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "heritage", "worker"], env=os.environ.copy())


def _default_base_url(runtime: Runtime, host: str, port: int) -> None:
    """Without HERITAGE_BASE_URL, links (invitations) point at the address served."""
    if "base_url" not in runtime.settings.model_fields_set:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        runtime.settings.base_url = f"http://{shown}:{port}"


def _serve(host: str, port: int) -> None:
    import uvicorn

    from heritage.web.app import create_app

    runtime = open_runtime()
    _default_base_url(runtime, host, port)
    worker = None
    if runtime.settings.queue_backend == "sqlite" and runtime.settings.embedded_worker:
        worker = _start_embedded_worker()
        console.print("Started a job worker beside the web server (embedded queue).")
    try:
        uvicorn.run(
            create_app(runtime), host=host, port=port, log_level="warning", proxy_headers=True
        )
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Start the web server (and, on an embedded instance, a job worker)."""
    _serve(host, port)


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    load_only: Annotated[
        bool, typer.Option("--load-only", help="Load the demo content, do not serve.")
    ] = False,
) -> None:
    """Load the demo institution, workspace and administrator, then serve."""
    from heritage.demo import load_demo

    runtime = open_runtime()
    _default_base_url(runtime, host, port)
    with service_errors():
        info = load_demo(runtime)
    console.print("[bold]Demo instance ready[/]")
    console.print(f"  Sign in at  {runtime.settings.base_url}/login")
    console.print(f"  Email:      {info.admin_email}")
    console.print(f"  Password:   {info.admin_password}")
    console.print(f"  Workspace:  {runtime.settings.base_url}/workspaces/{info.workspace}")
    runtime.close()
    if not load_only:
        _serve(host, port)


@app.command()
def worker(
    threads: Annotated[
        int | None, typer.Option(help="Jobs run at once (default HERITAGE_WORKER_THREADS).")
    ] = None,
) -> None:
    """Run background jobs: from the embedded queue, or from Redis on any machine."""
    import logging

    runtime = open_runtime()
    logging.basicConfig(level=runtime.settings.log_level, format="%(levelname)s %(message)s")
    recovered = JobService(runtime).recover_interrupted()
    if recovered:
        console.print(f"Re-queued {recovered} job(s) interrupted by a stopped worker.")
    console.print(f"Worker taking jobs from the {runtime.settings.queue_backend} queue.")
    scheduled = JobService(runtime).install_schedules()  # e.g. the daily fixity audit
    consumer = runtime.queue.huey.create_consumer(
        workers=threads or runtime.settings.worker_threads,
        worker_type="thread",
        periodic=bool(scheduled),
        check_worker_health=True,
    )
    consumer.run()


# -- accounts -----------------------------------------------------------------------
def _new_password(password: str | None) -> str:
    if password is not None:
        return password
    if not sys.stdin.isatty():
        raise fail("no --password given and no terminal to ask for one")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@admin_app.command("create")
def admin_create(
    email: Annotated[str, typer.Option(prompt=True, help="The administrator's email.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    password: Annotated[
        str | None, typer.Option(help="Password (asked for when omitted).", show_default=False)
    ] = None,
) -> None:
    """Create an instance administrator (the first account of a new instance)."""
    runtime = open_runtime()
    with service_errors():
        user = AccountService(runtime).create_user(
            SYSTEM, email, _new_password(password), display_name=name, is_admin=True
        )
    console.print(f"Administrator {user.email} created.")


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make an administrator.")] = False,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    password: Annotated[
        str | None, typer.Option(help="Password (asked for when omitted).", show_default=False)
    ] = None,
) -> None:
    """Create a user account."""
    runtime = open_runtime()
    with service_errors():
        user = AccountService(runtime).create_user(
            SYSTEM, email, _new_password(password), display_name=name, is_admin=admin
        )
    console.print(f"User {user.email} created{' (administrator)' if admin else ''}.")


@user_app.command("list")
def user_list() -> None:
    """List user accounts."""
    runtime = open_runtime()
    for user in AccountService(runtime).list_users(SYSTEM):
        flags = " admin" if user.is_admin else ""
        console.print(f"{user.id}\t{user.email}\t{user.display_name}{flags}", highlight=False)


@user_app.command("set-password")
def user_set_password(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    password: Annotated[
        str | None, typer.Option(help="New password (asked for when omitted).", show_default=False)
    ] = None,
) -> None:
    """Set a user's password and sign them out everywhere."""
    runtime = open_runtime()
    with service_errors():
        AccountService(runtime).set_admin_password(SYSTEM, email, _new_password(password))
    console.print(f"Password of {email} changed.")


@token_app.command("create")
def token_create(
    email: Annotated[str, typer.Argument(help="Whose token.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "command line",
    days: Annotated[int, typer.Option(help="Days until it expires.")] = 90,
) -> None:
    """Create a personal API token and print it (it is shown only this once)."""
    from heritage.accounts.services import identity_of

    runtime = open_runtime()
    accounts = AccountService(runtime)
    with service_errors():
        user = accounts.find_user(email)
        new = accounts.create_token(identity_of(user, "cli"), name, days=days)
    # The bare token on stdout so scripts can capture it.
    typer.echo(new.secret)


# -- institutions and workspaces ----------------------------------------------------------
@institution_app.command("create")
def institution_create(
    slug: Annotated[str, typer.Argument(help="Short name used in URLs, e.g. city-museum.")],
    name: Annotated[str, typer.Option(help="Full name.")],
    kind: Annotated[str, typer.Option(help="museum, archive, library, university, ...")] = "museum",
    country: Annotated[str | None, typer.Option(help="ISO 3166 code, e.g. DE.")] = None,
    website: Annotated[str | None, typer.Option(help="Web address.")] = None,
) -> None:
    """Create an institution."""
    runtime = open_runtime()
    with service_errors():
        institution = InstitutionService(runtime).create(
            SYSTEM, slug, name, kind=kind, country=country, website=website
        )
    console.print(f"Institution {institution.slug} created.")


@institution_app.command("add-member")
def institution_add_member(
    slug: Annotated[str, typer.Argument(help="The institution.")],
    email: Annotated[str, typer.Argument(help="The user's email.")],
    role: Annotated[str, typer.Option(help="member or admin.")] = "member",
) -> None:
    """Add a user to an institution (or change their role)."""
    runtime = open_runtime()
    with service_errors():
        InstitutionService(runtime).set_member(SYSTEM, slug, email, role)
    console.print(f"{email} is now {role} of {slug}.")


@workspace_app.command("create")
def workspace_create(
    slug: Annotated[str, typer.Argument(help="Short name used in URLs.")],
    institution: Annotated[str, typer.Option(help="Slug of the institution leading it.")],
    name: Annotated[str, typer.Option(help="Full name.")],
    public: Annotated[bool, typer.Option("--public", help="Readable by anyone.")] = False,
    description: Annotated[str, typer.Option(help="What the workspace is about.")] = "",
) -> None:
    """Create a workspace (private unless --public)."""
    runtime = open_runtime()
    with service_errors():
        workspace = WorkspaceService(runtime).create(
            SYSTEM,
            slug,
            name,
            institution=institution,
            description=description,
            visibility="public" if public else "private",
        )
    console.print(f"Workspace {workspace.slug} created ({workspace.visibility.value}).")


@workspace_app.command("add-member")
def workspace_add_member(
    slug: Annotated[str, typer.Argument(help="The workspace.")],
    email: Annotated[str, typer.Argument(help="The user's email.")],
    role: Annotated[str, typer.Option(help="viewer, contributor, editor, manager or owner.")],
) -> None:
    """Add a user to a workspace with a role (or change their role)."""
    runtime = open_runtime()
    with service_errors():
        WorkspaceService(runtime).add_member(SYSTEM, slug, email, role)
    console.print(f"{email} is now {role} in {slug}.")


# -- audit, jobs, database ------------------------------------------------------------
@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit log's hash chain; report the first edited, reordered or deleted entry."""
    runtime = open_runtime()
    with runtime.database.session() as session:
        report = verify_chain(session)
    if not report.ok:
        raise fail(
            f"audit log broken at entry {report.first_bad_seq}: {report.problem} "
            f"({report.checked} entries before it are intact)"
        )
    console.print(f"Audit log intact: {report.checked} entries, head {report.head_hash}.")


@jobs_app.command("list")
def jobs_list(
    status: Annotated[str | None, typer.Option(help="Only jobs with this status.")] = None,
) -> None:
    """List recent jobs with their status and progress."""
    runtime = open_runtime()
    for job in JobService(runtime).list_for(SYSTEM, limit=200):
        if status and job.status.value != status:
            continue
        line = (
            f"{job.id}  {job.status.value:<9} {job.progress * 100:5.1f}%  {job.kind}  {job.title}"
        )
        console.print(line, highlight=False)
        if job.status is JobStatus.FAILED and job.error:
            console.print(f"    error: {job.error.splitlines()[0]}", highlight=False)


@jobs_app.command("show")
def jobs_show(job_id: Annotated[str, typer.Argument(help="The job id.")]) -> None:
    """Show one job: progress, error, result."""
    runtime = open_runtime()
    with service_errors():
        job = JobService(runtime).get(SYSTEM, job_id)
    for label, value in [
        ("id", job.id),
        ("kind", job.kind),
        ("title", job.title),
        ("status", job.status.value),
        ("progress", f"{job.progress * 100:.1f}% {job.progress_message}"),
        ("attempts", job.attempts),
        ("created", job.created_at),
        ("started", job.started_at),
        ("finished", job.finished_at),
        ("worker", job.worker),
        ("error", job.error),
        ("result", job.result),
    ]:
        console.print(f"{label:>9}: {value if value is not None else ''}", highlight=False)


@jobs_app.command("retry")
def jobs_retry(
    job_id: Annotated[str, typer.Argument(help="The failed job's id.")],
    wait: Annotated[bool, typer.Option("--wait", help="Wait until it finishes.")] = False,
) -> None:
    """Queue a failed job again."""
    runtime = open_runtime()
    service = JobService(runtime)
    with service_errors():
        service.retry(SYSTEM, job_id)
    console.print(f"Job {job_id} queued again.")
    if wait:
        _wait_for(service, job_id)


def _wait_for(service: JobService, job_id: str, timeout: float = 3600) -> None:
    from rich.progress import Progress

    deadline = time.monotonic() + timeout
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("waiting", total=100)
        while time.monotonic() < deadline:
            job = service.get(SYSTEM, job_id)
            progress.update(
                task,
                completed=job.progress * 100,
                description=job.progress_message or job.status.value,
            )
            if job.status.finished:
                break
            time.sleep(0.5)
    if job.status is JobStatus.FAILED:
        raise fail(f"job {job_id} failed: {job.error}")
    console.print(f"Job {job_id} {job.status.value}.")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending database migrations."""
    from heritage.db.migrate import current_revision, upgrade

    runtime = open_runtime(migrate=False)
    upgrade(runtime.database)
    console.print(f"Database at revision {current_revision(runtime.database)}.")


@db_app.command("status")
def db_status() -> None:
    """Show the database revision and whether migrations are pending."""
    from heritage.db.migrate import current_revision, head_revision

    runtime = open_runtime(migrate=False)
    current, head = current_revision(runtime.database), head_revision(runtime.database)
    console.print(f"current {current or '(empty)'}, latest {head}")
    if current != head:
        raise typer.Exit(1)


# -- preservation ---------------------------------------------------------------------------
app.command("verify")(verify_command)
app.command("upload")(upload_command)
app.command("fixity")(fixity_command)
app.command("replicate")(replicate_command)


# -- backup, keys, index -------------------------------------------------------------------
app.command("backup")(backup_command)
app.command("restore")(restore_command)
app.add_typer(keys_app, name="keys")
app.command("rebuild-index")(rebuild_index_command)
app.command("reindex")(reindex_command)
app.command("import-ocfl")(import_ocfl_command)
app.command("import")(import_command)
app.command("harvest")(harvest_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
