"""``heritage reindex``: the search index, rebuilt from the records."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from heritage.cli.common import console, errors, open_runtime, service_errors


def reindex_command(
    clear: Annotated[
        bool,
        typer.Option(
            "--clear",
            help="Start from an empty index (after an upgrade that changed the index format). "
            "Searches find only what is indexed so far until it finishes.",
        ),
    ] = False,
    pending: Annotated[
        bool,
        typer.Option("--pending", help="Only index the changes still waiting, then stop."),
    ] = False,
) -> None:
    """Index every record again for search. Resumable: run it again after an interruption
    and it goes on where it stopped; searches keep working meanwhile."""
    from heritage.search.indexing import SearchIndexer

    runtime = open_runtime()
    service = SearchIndexer(runtime)
    with service_errors():
        if pending:
            report = service.sync()
            console.print(
                f"Search caught up: {report.indexed} record(s) indexed, {report.removed} removed.",
                highlight=False,
            )
            return
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=errors, transient=False) as progress:
            task = progress.add_task("records", total=None)

            def report_progress(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            done = service.reindex(clear=clear, progress=report_progress)
    console.print(
        f"Search index rebuilt: {done} record(s) indexed ({runtime.settings.search_backend}).",
        highlight=False,
    )
