"""``heritage keys``: rotate the master or signing key, show where keys stand, export and
import them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from heritage.accounts.identity import SYSTEM
from heritage.backup import BackupError
from heritage.backup.keysfile import collect_keys, install_keys, read_keys_file, write_keys_file
from heritage.cli.backup import PassphraseFile, read_passphrase
from heritage.cli.common import console, errors, fail, open_runtime
from heritage.store.crypto import LocalMasterKey
from heritage.store.crypto.errors import CryptoError
from heritage.store.crypto.keys import MASTER_KEY_ENV, MASTER_KEY_SIZE
from heritage.store.key_rotation import rotate_master, rotate_signing
from heritage.store.keystatus import key_status
from heritage.store.signing import SigningKeyError

keys_app = typer.Typer(
    help="Encryption and signing keys: rotate, rotate-signing, status, export, import.",
    no_args_is_help=True,
)


def _new_master_key(path: Path) -> LocalMasterKey:
    """A key file: 32 raw bytes, or their base64 (as HERITAGE_MASTER_KEY takes it)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise fail(f"cannot read {path}: {error.strerror or error}", 2) from None
    try:
        if len(data) == MASTER_KEY_SIZE:
            return LocalMasterKey(data, origin=str(path))
        text = data.decode("ascii", "replace").strip()
        return LocalMasterKey.from_env(environ={MASTER_KEY_ENV: text})
    except CryptoError:
        raise fail(
            f"{path} must hold a new master key: 32 random bytes, or their base64 "
            "(openssl rand -base64 32)",
            2,
        ) from None


@keys_app.command("rotate")
def rotate(
    new_key_file: Annotated[
        Path | None,
        typer.Option(
            "--new-key-file",
            help="The new master key (base64 of 32 bytes), when the current one comes from "
            "HERITAGE_MASTER_KEY.",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Re-wrap every data key under a new master key; stored content is not touched."""
    runtime = open_runtime()
    settings = runtime.settings
    if settings.key_manager != "local":
        raise fail(f"key manager {settings.key_manager!r} rotates its keys itself", 2)
    from_env = settings.master_key is not None
    new_key = None
    if new_key_file is not None:
        if not from_env:
            raise fail(
                "the master key is kept in DATA_DIR/keys/master.key and rotation makes the new "
                "one itself; --new-key-file is for a master key from HERITAGE_MASTER_KEY",
                2,
            )
        new_key = _new_master_key(new_key_file)
    elif from_env:
        raise fail(
            "the master key comes from HERITAGE_MASTER_KEY: give the new one with "
            "--new-key-file FILE (e.g. openssl rand -base64 32 > FILE)",
            2,
        )
    try:
        result = rotate_master(settings, runtime.database, SYSTEM, new_key=new_key)
    except CryptoError as error:
        raise fail(f"{type(error).__name__}: {error}") from None
    console.print(
        f"Master key rotated: {result.old_master_key_id} -> {result.new_master_key_id}. "
        f"{result.rewrapped} data key(s) re-wrapped, {result.already_current} already under "
        "the new key; stored content was not touched.",
        highlight=False,
    )
    if from_env:
        console.print(
            "Now set HERITAGE_MASTER_KEY to the new key and restart every process; until then "
            "they cannot open the re-wrapped data keys.",
            highlight=False,
        )
    else:
        console.print(f"The old key is kept in {settings.resolved_data_dir / 'keys/retired'}.")
    console.print(
        "Export the keys again (heritage keys export FILE): older keys files lack the new key."
    )


@keys_app.command("rotate-signing")
def rotate_signing_key() -> None:
    """Retire the signing key (its public key stays published) and make a new one."""
    runtime = open_runtime()
    try:
        result = rotate_signing(runtime.settings, runtime.database, SYSTEM)
    except SigningKeyError as error:
        raise fail(str(error)) from None
    if result.old_key_id is None:
        console.print(f"The instance had no signing key yet; its first is {result.new_key_id}.")
    else:
        console.print(
            f"Signing key rotated: {result.old_key_id} -> {result.new_key_id}. Versions signed "
            f"before keep their signatures; {len(result.retired_key_ids)} retired key(s) stay "
            "trusted and published at /.well-known/heritage-signing-keys.",
            highlight=False,
        )
    console.print(
        "Restart every process to sign with the new key. Record the new key id where "
        "verifiers look for it, and export the keys again (heritage keys export FILE).",
        highlight=False,
    )


@keys_app.command("status")
def status() -> None:
    """Show the master key, how many data keys each master key wraps, and the retired keys."""
    runtime = open_runtime()
    state = key_status(runtime.settings, runtime.database)
    current = state.master_key_id or "(none yet: made when the first file is encrypted)"
    lines = [
        f"Master key:          {current} (from {state.master_key_origin})",
        f"Retired master keys: {', '.join(state.retired_master_keys) or '(none)'}",
        "Data keys:",
    ]
    for master_id, count in sorted(state.data_keys.items()):
        role = (
            "current"
            if master_id == state.master_key_id
            else "retired"
            if master_id in state.retired_master_keys
            else "unknown"
        )
        lines.append(f"  {count:>5} wrapped by {master_id} ({role})")
    if not state.data_keys:
        lines.append("      0")
    lines.append(f"Signing key:         {state.signing_key_id or '(none yet)'}")
    lines.append(f"Retired signing keys: {', '.join(state.retired_signing_keys) or '(none)'}")
    for line in lines:
        console.print(line, highlight=False)
    if not state.ok:
        for problem in state.problems:
            errors.print(f"[bold red]Problem:[/] {problem}", highlight=False)
        raise typer.Exit(1)


@keys_app.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="New keys file to write (e.g. instance.hckeys).")],
    passphrase_file: PassphraseFile = None,
) -> None:
    """Write every key of the instance to FILE, encrypted with a passphrase."""
    runtime = open_runtime(migrate=False)
    passphrase = read_passphrase(passphrase_file, confirm=True)
    try:
        bundle = collect_keys(runtime.settings)
        written = write_keys_file(file, bundle, passphrase)
    except (BackupError, CryptoError, SigningKeyError) as error:
        raise fail(str(error)) from None
    count = len(bundle.master_key_ids()) + len(bundle.retired_signing_keys)
    count += 1 if bundle.signing_key else 0
    console.print(f"{count} key(s) written to {written} (encrypted).", highlight=False)


@keys_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A keys file (heritage keys export, backup).")],
    passphrase_file: PassphraseFile = None,
) -> None:
    """Install the keys of a keys file into this instance; no key in place is deleted."""
    runtime = open_runtime(migrate=False)
    passphrase = read_passphrase(passphrase_file, confirm=False)
    try:
        done = install_keys(runtime.settings, read_keys_file(file, passphrase))
    except (BackupError, CryptoError, SigningKeyError) as error:
        raise fail(str(error)) from None
    for line in done or ["every key was in place already"]:
        console.print(line, highlight=False)
