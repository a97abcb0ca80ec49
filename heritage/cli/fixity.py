"""``heritage fixity`` and ``heritage replicate``: audit the store, bring the replica up to date.

``heritage fixity`` checks the chosen objects at once (all of them by
default, the longest unchecked first), prints one line per problem and per
repair and a summary, and exits 1 when an object failed. ``--report`` prints
the latest outcome of every object instead, failures first. ``heritage
replicate`` copies to the replica what it lacks. Lines are tab-separated, for
people and scripts alike.
"""

from __future__ import annotations

from typing import Annotated

import typer

from heritage.accounts.identity import SYSTEM
from heritage.cli.common import fail, open_runtime, service_errors
from heritage.store.fixity import ObjectAudit
from heritage.store.maintenance import FixityService, ReplicationService
from heritage.store.replica import ReplicationResult

WorkspaceOption = Annotated[
    str | None,
    typer.Option("--workspace", help="Only the objects of this workspace (its slug).", metavar="W"),
]


def fixity(
    workspace: WorkspaceOption = None,
    object_uuid: Annotated[
        str | None,
        typer.Option("--object", help="Only this object (its UUID).", metavar="UUID"),
    ] = None,
    deep: Annotated[
        bool,
        typer.Option(
            "--deep",
            help="Also decrypt and hash the plaintext of every current file against its "
            "recorded SHA-256 (slower).",
        ),
    ] = False,
    due: Annotated[
        bool,
        typer.Option(
            "--due", help="Only objects not checked within HERITAGE_FIXITY_INTERVAL_DAYS."
        ),
    ] = False,
    report: Annotated[
        bool,
        typer.Option("--report", help="Show each object's latest outcome instead, failures first."),
    ] = False,
) -> None:
    """Check the fixity of stored objects now: every digest and signature, repairs from the
    replica. Exit status 1 when an object failed."""
    runtime = open_runtime()
    service = FixityService(runtime)
    if report:
        with service_errors():
            rows = service.report(SYSTEM, workspace=workspace)
        for row in rows:
            outcome = row.outcome.value if row.outcome else "never checked"
            when = row.checked_at.isoformat(timespec="seconds") if row.checked_at else "-"
            typer.echo(f"{outcome}\t{when}\t{row.workspace_slug}\t{row.uuid}\t{row.title}")
            for line in row.detail.splitlines()[1:]:
                typer.echo(f"\t{line}")
        failing = sum(1 for row in rows if row.outcome and row.outcome.value == "failure")
        typer.echo(f"{len(rows)} objects, {failing} failing")
        raise typer.Exit(1 if failing else 0)

    def show(done: int, total: int, audit: ObjectAudit) -> None:
        for repair in audit.repairs:
            typer.echo(f"REPAIRED\t{audit.object_id}\t{audit.name_of(repair.path)}")
        if not audit.ok:
            for line in audit.problem_lines():
                typer.echo(f"FAILED\t{audit.object_id}\t{line}")

    with service_errors():
        run = service.run(
            SYSTEM,
            workspace=workspace,
            object_uuid=object_uuid,
            deep=deep,
            due_only=due,
            progress=show,
        )
    typer.echo(run.summary())
    raise typer.Exit(0 if run.ok else 1)


def replicate(
    all_objects: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Every object, not only those whose current version is not yet on record "
            "as replicated.",
        ),
    ] = False,
    workspace: WorkspaceOption = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify", help="Re-hash what the replica already holds and replace what is damaged."
        ),
    ] = False,
    validate: Annotated[
        bool,
        typer.Option("--validate", help="Then have ocfl-py validate the replica storage root."),
    ] = False,
) -> None:
    """Copy to the replica storage root (HERITAGE_REPLICA_ROOT) what it lacks."""
    runtime = open_runtime()
    service = ReplicationService(runtime)
    if service.replica is None:
        raise fail("no replica storage root is configured (HERITAGE_REPLICA_ROOT)", code=2)

    def show(done: int, total: int, object_id: str, result: ReplicationResult | None) -> None:
        if result is not None and result.changed:
            typer.echo(f"REPLICATED\t{object_id}\t{result.summary()}")

    with service_errors():
        run = service.run(
            SYSTEM,
            all_objects=all_objects,
            workspace=workspace,
            verify_existing=verify,
            progress=show,
        )
    for object_id, reason in run.failures.items():
        typer.echo(f"FAILED\t{object_id}\t{reason}")
    typer.echo(run.summary())
    problems = 0
    if validate:
        from heritage.store.ocfl.validate import validate_storage_root

        path = getattr(service.replica, "path", None)
        if path is None:
            raise fail("--validate needs a replica root on local disk", code=2)
        report = validate_storage_root(path)
        for issue in report.errors:
            typer.echo(f"INVALID\t{issue.path or '.'}\t{issue.code}\t{issue.message}")
        problems = len(report.errors)
        typer.echo(f"ocfl-py: {report.objects} objects, {problems} errors")
    raise typer.Exit(0 if run.ok and not problems else 1)
