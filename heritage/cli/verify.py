"""``heritage verify``: check every digest and signature of an object, and name what is wrong.

Two ways in: an object of this instance's storage root by its id (trusting the
instance's current and retired signing keys), or an object directory anywhere
with ``--path`` (offline: no settings, no database, trusting only the keys
given with ``--public-key``). Exit status 0 when all is well, 1 when a finding
is an error, 2 when there was nothing to check (bad arguments, settings, keys).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from heritage.cli.common import fail
from heritage.config import ConfigError, load_settings
from heritage.store.ocfl.errors import OcflError
from heritage.store.signing import (
    InstanceSigner,
    PublicSigningKey,
    SigningKeyError,
    instance_keys,
    load_public_keys,
)
from heritage.store.verify import VerificationReport, verify_object, verify_stored


def verify(
    object_id: Annotated[
        str | None,
        typer.Argument(
            help="Id of an object in this instance's storage root.",
            metavar="OBJECT-ID",
            show_default=False,
        ),
    ] = None,
    path: Annotated[
        Path | None,
        typer.Option(
            "--path",
            help="Verify the object directory DIR offline instead (no instance needed).",
            metavar="DIR",
            show_default=False,
        ),
    ] = None,
    public_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key",
            help="Trust this public key: a PEM file, a JWK, or a JWK Set such as "
            "/.well-known/heritage-signing-keys. Repeatable.",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
    allow_unsigned: Annotated[
        bool,
        typer.Option(
            "--allow-unsigned",
            help="Report versions without a signature (imported objects) as warnings.",
        ),
    ] = False,
) -> None:
    """Check every digest and signature of an object; print each problem by name."""
    if (object_id is None) == (path is None):
        raise fail("give either an OBJECT-ID or --path DIR", code=2)
    try:
        trusted = [key for file in public_key or [] for key in load_public_keys(file)]
    except SigningKeyError as error:
        raise fail(str(error), code=2) from None
    if path is not None:
        if not path.is_dir():
            raise fail(f"{path} is not a directory", code=2)
        report = verify_object(path, trusted, allow_unsigned=allow_unsigned)
    else:
        assert object_id is not None
        report = _verify_in_instance(object_id, trusted, allow_unsigned)
    _print(report)
    raise typer.Exit(0 if report.ok else 1)


def _verify_in_instance(
    object_id: str, extra_keys: list[PublicSigningKey], allow_unsigned: bool
) -> VerificationReport:
    from heritage.store.backends import UnknownStorageBackend, open_storage_root

    try:
        settings = load_settings()
    except ConfigError as error:
        raise fail(str(error), code=2) from None
    try:
        # Verifying never creates a signing key: an instance without one has signed nothing.
        keys = instance_keys(settings, create=False)
        signer = InstanceSigner(keys.current) if keys.current is not None else None
        store = open_storage_root(settings, signer=signer)
    except (SigningKeyError, UnknownStorageBackend, OcflError, OSError) as error:
        raise fail(f"cannot open the instance's storage root: {error}", code=2) from None
    trusted = keys.public_keys() + extra_keys
    return verify_stored(store, object_id, trusted, allow_unsigned=allow_unsigned)


def _print(report: VerificationReport) -> None:
    # typer.echo, not the rich console: paths and messages must print exactly as they are
    for finding in report.findings:
        typer.echo(finding.line())
    typer.echo(report.summary())
