"""``heritage rebuild-index`` and ``heritage import-ocfl``: the store and its index."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from heritage.cli.common import console, errors, fail, open_runtime, service_errors


def rebuild_index_command() -> None:
    """Rebuild the index of stored objects from the storage root alone (the source of truth)."""
    from heritage.store.backends import UnknownStorageBackend, open_storage_root
    from heritage.store.index import rebuild_index
    from heritage.store.ocfl.errors import OcflError

    runtime = open_runtime()
    try:
        # no signer: nothing is committed, so no signing key needs to exist
        storage = open_storage_root(runtime.settings)
    except (UnknownStorageBackend, OcflError, OSError) as error:
        raise fail(f"cannot open the storage root: {error}", 2) from None
    report = rebuild_index(runtime.database, storage, key_lookup=runtime.keyring.data_key)
    console.print(
        f"Index rebuilt: {report.indexed} object(s) indexed, {report.removed} row(s) of vanished "
        "objects removed.",
        highlight=False,
    )
    if report.workspaces_recreated:
        console.print(
            "Workspaces recreated from the objects (private, without members): "
            + ", ".join(report.workspaces_recreated),
            highlight=False,
        )
    for problem in report.problems:
        errors.print(f"  {problem}", highlight=False)
    if report.problems:
        raise fail(f"{len(report.problems)} object(s) could not be indexed (listed above)")


def import_ocfl_command(
    sources: Annotated[
        list[Path], typer.Argument(help="OCFL object directories (exported from Fedora 6, ...)")
    ],
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="Workspace slug")],
    title: Annotated[str, typer.Option(help="Title (default: the object's id)")] = "",
) -> None:
    """Import OCFL objects from another repository: validated first, refused with the OCFL
    error codes when invalid; accepted objects keep their id, versions and digests."""
    from heritage.accounts.identity import SYSTEM
    from heritage.store.ocfl.errors import ImportRefused, ObjectExists
    from heritage.store.services import PreservationService

    runtime = open_runtime()
    service = PreservationService(runtime)
    refused = 0
    for source in sources:
        try:
            with service_errors():
                view = service.import_ocfl(SYSTEM, workspace, source, title=title)
        except (ImportRefused, ObjectExists) as error:
            refused += 1
            errors.print(f"{source}: refused: {error}", highlight=False)
            continue
        console.print(
            f"{source}: imported as {view.row.object_id} ({view.row.head_version}), "
            f"/workspaces/{workspace}/objects/{view.uuid}",
            highlight=False,
        )
    if refused:
        raise fail(f"{refused} of {len(sources)} object(s) refused")
