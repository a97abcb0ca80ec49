"""What every command shares: settings, the runtime, and turning errors into exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from heritage.config import ConfigError, load_settings
from heritage.db.migrate import upgrade
from heritage.errors import ServiceError
from heritage.logs import configure_logging
from heritage.runtime import Runtime

# soft_wrap: long values (tokens, hashes) stay on one line for scripts to read.
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[bold red]Error:[/] {message}", highlight=False)
    return typer.Exit(code)


@contextmanager
def service_errors() -> Iterator[None]:
    """Print a service error clearly (field and reason) and exit non-zero."""
    try:
        yield
    except ServiceError as error:
        if error.errors:
            message = "; ".join(f"{item.field}: {item.reason}" for item in error.errors)
        else:
            message = error.detail
        raise fail(message) from None


def open_runtime(*, migrate: bool = True) -> Runtime:
    try:
        settings = load_settings()
    except ConfigError as error:
        raise fail(str(error), code=2) from None
    configure_logging(settings.log_level, json=settings.log_json)
    try:
        runtime = Runtime(settings)
    except OSError as error:
        raise fail(f"cannot use the data directory {settings.data_dir}: {error}", 2) from None
    if migrate and settings.auto_migrate:
        try:
            upgrade(runtime.database)
        except Exception as error:
            raise fail(
                f"cannot prepare the database {_safe_url(runtime.database.url)}: "
                f"{type(error).__name__}: {error}",
                code=2,
            ) from None
    return runtime


def _safe_url(url: str) -> str:
    """The database URL without its password."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":")[0]
        return f"{scheme}{sep}{user}:***@{host}"
    return url
