"""``heritage backup`` and ``heritage restore``; the passphrase handling ``heritage keys`` shares.

A passphrase never comes from the command line (it would show in ``ps`` and
shell history): from ``--passphrase-file``, or typed at a prompt.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from heritage.backup import BackupError, backup, restore
from heritage.cli.common import console, errors, fail, open_runtime
from heritage.store.crypto.errors import CryptoError
from heritage.store.signing import SigningKeyError

PassphraseFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="Read the keys file's passphrase from this file (else it is asked for).",
        metavar="FILE",
        show_default=False,
    ),
]


def read_passphrase(passphrase_file: Path | None, *, confirm: bool) -> str:
    """The passphrase from its file (one trailing line break dropped) or from a prompt."""
    if passphrase_file is not None:
        try:
            text = passphrase_file.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise fail(f"cannot read the passphrase file {passphrase_file}: {error}", 2) from None
        for ending in ("\r\n", "\n"):
            if text.endswith(ending):
                text = text[: -len(ending)]
                break
        if not text:
            raise fail(f"the passphrase file {passphrase_file} is empty", 2)
        return text
    if not sys.stdin.isatty():
        raise fail("no --passphrase-file given and no terminal to ask for the passphrase", 2)
    prompt = "Passphrase for the keys file"
    return typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)


def backup_command(
    dest: Annotated[Path, typer.Argument(help="New directory to write the backup to.")],
    keys_out: Annotated[
        Path | None,
        typer.Option(
            "--keys-out",
            help="Also write the instance's keys, encrypted with a passphrase, to this new file "
            "(keep it apart from the backup).",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Back up the database and the storage root to DEST; the keys separately (--keys-out)."""
    if passphrase_file is not None and keys_out is None:
        raise fail("--passphrase-file goes with --keys-out", 2)
    runtime = open_runtime(migrate=False)
    runtime.close()
    passphrase = read_passphrase(passphrase_file, confirm=True) if keys_out else None
    try:
        report = backup(runtime.settings, dest, keys_out=keys_out, passphrase=passphrase)
    except (BackupError, CryptoError, SigningKeyError, SQLAlchemyError, OSError) as error:
        raise fail(_describe(error)) from None
    rows = sum(report.tables.values())
    console.print(f"Backup written to {report.location}", highlight=False)
    console.print(
        f"  database:  {rows} rows in {len(report.tables)} tables "
        f"(schema revision {report.revision})",
        highlight=False,
    )
    if report.storage is not None:
        console.print(
            f"  storage:   {report.storage.objects} objects, {report.storage.files} files, "
            f"{report.storage.bytes} bytes",
            highlight=False,
        )
    for warning in report.warnings:
        errors.print(f"[yellow]Warning:[/] {warning}", highlight=False)
    if report.keys_file is not None:
        console.print(f"  keys:      {report.keys_file} (encrypted)", highlight=False)
    else:
        errors.print(
            "[yellow]Note:[/] no keys file written. Without the keys (heritage keys export FILE) "
            "the files of encrypted workspaces cannot be restored.",
            highlight=False,
        )


def restore_command(
    src: Annotated[Path, typer.Argument(help="The backup directory.")],
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys",
            help="The keys file written with the backup (heritage backup --keys-out).",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Restore a backup into this fresh instance (an empty database and storage root)."""
    if passphrase_file is not None and keys is None:
        raise fail("--passphrase-file goes with --keys", 2)
    runtime = open_runtime(migrate=False)
    runtime.close()
    passphrase = read_passphrase(passphrase_file, confirm=False) if keys else None
    try:
        report = restore(runtime.settings, src, keys_file=keys, passphrase=passphrase)
    except (BackupError, CryptoError, SigningKeyError, SQLAlchemyError, OSError) as error:
        raise fail(_describe(error)) from None
    rows = sum(report.tables.values())
    console.print(f"Restored {src}", highlight=False)
    console.print(
        f"  database:  {rows} rows in {len(report.tables)} tables; audit log intact "
        f"({report.audit_entries} entries)",
        highlight=False,
    )
    console.print(f"  storage:   {report.objects} objects, {report.files} files", highlight=False)
    for line in report.keys:
        console.print(f"  keys:      {line}", highlight=False)
    if report.index is not None:
        console.print(
            f"  index:     rebuilt from the store ({report.index.indexed} objects; versions "
            "committed while the backup ran)",
            highlight=False,
        )
        for problem in report.index.problems:
            errors.print(f"[yellow]Warning:[/] {problem}", highlight=False)
    for warning in report.warnings:
        errors.print(f"[yellow]Warning:[/] {warning}", highlight=False)


def _describe(error: Exception) -> str:
    if isinstance(error, BackupError):
        return str(error)
    if isinstance(error, SQLAlchemyError):
        return f"database error: {type(error).__name__}: {str(error).splitlines()[0]}"
    return f"{type(error).__name__}: {error}"
