"""``heritage import``: records from a file, with a progress bar and a report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from heritage.cli.common import console, errors, fail, open_runtime, service_errors

if TYPE_CHECKING:
    from heritage.records.imports import ImportOutcome, ImportService

FORMAT_HELP = "auto, csv, xlsx, lido, edm, dc or iiif (auto: from the file name and content)"


def import_command(
    path: Annotated[Path, typer.Argument(help="The file to import (CSV, XLSX, LIDO, EDM, ...)")],
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="Workspace slug")],
    format: Annotated[str, typer.Option("--format", "-f", help=FORMAT_HELP)] = "auto",
    mapping: Annotated[
        Path | None,
        typer.Option(help="Column mapping (JSON) for CSV/XLSX; default: suggested from headers"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be created or updated; write nothing")
    ] = False,
    resume: Annotated[
        str | None, typer.Option(help="Resume the interrupted import with this id")
    ] = None,
    show: Annotated[int, typer.Option(help="How many records with problems to list")] = 20,
) -> None:
    """Import records into a workspace. Re-importing updates only what changed; files named
    in a media column are looked up beside the file and stored with their records."""
    from heritage.accounts.identity import SYSTEM
    from heritage.records.imports import ImportService

    runtime = open_runtime()
    service = ImportService(runtime)
    mapping_data = None
    if mapping is not None:
        try:
            mapping_data = json.loads(mapping.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise fail(f"{mapping}: cannot read the mapping: {error}", 2) from None
    with service_errors():
        if resume:
            row, _ = service.get(SYSTEM, resume)
        else:
            row = service.create(
                SYSTEM,
                workspace,
                path.resolve(),
                format=format,
                mapping=mapping_data,
                dry_run=dry_run,
            )
    console.print(
        f"{'Dry run of import' if row.dry_run else 'Import'} {row.id} ({row.format})",
        highlight=False,
    )
    outcome = _run_with_progress(service, row.id, show)
    if outcome.error:
        raise fail(
            f"the source could not be read to its end: {outcome.error}\n"
            f"The records before that point were handled; fix the file and resume with "
            f"`heritage import {path} --workspace {workspace} --resume {row.id}`."
        )


def _run_with_progress(service: ImportService, import_id: str, show: int) -> ImportOutcome:
    """Run the import or harvest with a progress bar on stderr, then print its report."""
    from heritage.accounts.identity import SYSTEM

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[where]}"),
    )
    with Progress(*columns, console=errors, transient=False) as progress:
        task = progress.add_task("records", total=None, where="")

        def report(position: int, total: int | None, where: str) -> None:
            progress.update(task, completed=position, total=total, where=where[:60])

        with service_errors():
            outcome = service.run(SYSTEM, import_id, report)
    _print_report(service, import_id, show)
    return outcome


def _print_report(service: ImportService, import_id: str, show: int) -> None:
    from heritage.accounts.identity import SYSTEM

    row, _ = service.get(SYSTEM, import_id)
    counts = row.counts
    verb = "would be " if row.dry_run else ""
    summary = ", ".join(
        f"{counts.get(key, 0)} {verb}{label}"
        for key, label in (
            ("create", "created"),
            ("update", "updated"),
            ("unchanged", "unchanged"),
            ("delete", "deleted"),
            ("failed", "failed"),
        )
    )
    console.print(f"Records: {summary}", highlight=False)
    items, total = service.items(SYSTEM, import_id, only_problems=True, limit=show)
    if not total:
        return
    table = Table("where", "identifier", "action", "problem", "how to fix", show_lines=False)
    for item in items:
        for problem in item.problems:
            table.add_row(
                problem.get("location") or item.location,
                item.identifier or "",
                item.action.value,
                f"{problem['severity']}: {problem['message']}",
                problem.get("hint", ""),
            )
    console.print(table)
    if total > len(items):
        console.print(f"... and {total - len(items)} more records with problems.")


def harvest_command(
    url: Annotated[str, typer.Argument(help="The OAI-PMH endpoint's base URL")],
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="Workspace slug")],
    prefix: Annotated[
        str, typer.Option("--prefix", "-p", help="Metadata format: oai_dc, edm or lido")
    ] = "oai_dc",
    set_spec: Annotated[str | None, typer.Option("--set", help="Harvest only this set")] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Everything again, not only what changed since")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be created or updated")
    ] = False,
    schedule: Annotated[
        str | None, typer.Option(help="Harvest again on this schedule (daily) by the workers")
    ] = None,
    resume: Annotated[
        str | None, typer.Option(help="Resume the interrupted harvest with this id")
    ] = None,
    show: Annotated[int, typer.Option(help="How many records with problems to list")] = 20,
) -> None:
    """Harvest records from an OAI-PMH endpoint. Harvests after the first ask only for what
    changed since the last one; records deleted at the source are deleted here too."""
    from heritage.accounts.identity import SYSTEM
    from heritage.records.imports import ImportService

    runtime = open_runtime()
    service = ImportService(runtime)
    with service_errors():
        if resume:
            row, _ = service.get(SYSTEM, resume)
        else:
            row = service.create_harvest(
                SYSTEM,
                workspace,
                url,
                prefix=prefix,
                set_spec=set_spec,
                dry_run=dry_run,
                full=full,
                schedule=schedule,
            )
    since = (row.options.get("harvest") or {}).get("from")
    console.print(
        f"Harvest {row.id} of {url} ({prefix}"
        + (f", set {set_spec}" if set_spec else "")
        + (f", changed since {since}" if since else "")
        + ")",
        highlight=False,
    )
    outcome = _run_with_progress(service, row.id, show)
    if outcome.error:
        raise fail(
            f"the harvest stopped: {outcome.error}\nWhat was harvested is kept; resume with "
            f"`heritage harvest {url} --workspace {workspace} --resume {row.id}`."
        )
