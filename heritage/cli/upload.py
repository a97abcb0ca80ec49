"""``heritage upload``: send files and folders to an instance over tus, resuming where
an earlier run stopped.

A client of the HTTP API (it needs no settings or database of its own): each file
becomes a tus upload with its SHA-256 in the metadata, sent with tuspy in
``--chunk-size`` requests. The address of every unfinished upload is kept in a
small file under the user's cache directory (``$XDG_CACHE_HOME/heritage``), keyed
by the server, workspace, object, path and the file's SHA-256, so running the same
command again continues those uploads instead of starting over.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated

import requests
import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.fingerprint.interface import Fingerprint
from tusclient.storage.filestorage import FileStorage
from tusclient.uploader import Uploader

from heritage.cli.common import console, errors, fail

MiB = 1 << 20
HASH_BLOCK = 4 * MiB


def state_file() -> Path:
    """Where the addresses of unfinished uploads are kept between runs."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "heritage" / "tus-uploads.json"


@dataclass(frozen=True)
class LocalFile:
    path: Path
    logical_path: str
    size: int


def collect(paths: list[Path]) -> list[LocalFile]:
    """Files as given, and the files of folders, recursively, named relative to the folder."""
    found: list[LocalFile] = []
    for given in paths:
        if given.is_dir():
            for file in sorted(p for p in given.rglob("*") if p.is_file()):
                relative = file.relative_to(given).as_posix()
                found.append(LocalFile(file, relative, file.stat().st_size))
        elif given.is_file():
            found.append(LocalFile(given, given.name, given.stat().st_size))
        else:
            raise fail(f"{given}: no such file or folder", code=2)
    names = [f.logical_path for f in found]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise fail(f"several files would be stored as {', '.join(duplicates)}", code=2)
    return found


def sha256_of(path: Path, progress: Progress, task: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(HASH_BLOCK):
            digest.update(block)
            progress.advance(task, len(block))
    return digest.hexdigest()


class KeyFingerprint(Fingerprint):
    """tuspy's default fingerprint reads only the first 64 KiB; ours names the target and
    the whole content, so a changed file or another destination is a new upload."""

    def __init__(self, key: str) -> None:
        self.key = key

    def get_fingerprint(self, fs: IO[bytes]) -> str:
        return self.key


@dataclass
class Outcome:
    file: LocalFile
    object_uuid: str | None = None
    version: str | None = None
    resumed_at: int = 0
    error: str | None = None


def _describe(error: Exception) -> str:
    status = getattr(error, "status_code", None)
    body = getattr(error, "response_content", None)
    detail = ""
    if isinstance(body, bytes) and body.startswith(b"{"):
        try:
            import json

            detail = json.loads(body).get("detail", "")
        except ValueError:
            detail = ""
    return f"HTTP {status}: {detail}" if status else f"{type(error).__name__}: {error}"


def upload(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to upload.")],
    url: Annotated[str, typer.Option("--url", help="Address of the instance.")],
    token: Annotated[
        str, typer.Option("--token", envvar="HERITAGE_TOKEN", help="A personal API token.")
    ],
    workspace: Annotated[str, typer.Option("--workspace", help="The workspace's short name.")],
    object_uuid: Annotated[
        str | None,
        typer.Option(
            "--object", help="Add the files to this object; default: one new object each."
        ),
    ] = None,
    message: Annotated[str, typer.Option("--message", help="Message of the new versions.")] = "",
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="MiB sent per request.")
    ] = 64,
) -> None:
    """Upload files and folders (resumable: run it again to continue)."""
    files = collect(paths)
    if not files:
        raise fail("nothing to upload", code=2)
    endpoint = f"{url.rstrip('/')}/api/workspaces/{workspace}/uploads"
    storage_path = state_file()
    storage_path.parent.mkdir(parents=True, exist_ok=True)
    storage = FileStorage(str(storage_path))
    client = TusClient(endpoint, headers={"Authorization": f"Bearer {token}"})
    outcomes: list[Outcome] = []
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=errors, transient=False) as progress:
            total = progress.add_task("all files", total=sum(f.size for f in files))
            for file in files:
                outcome = Outcome(file)
                outcomes.append(outcome)
                try:
                    _send(
                        client,
                        storage,
                        progress,
                        total,
                        file,
                        outcome,
                        endpoint,
                        object_uuid,
                        message,
                        chunk_size * MiB,
                    )
                except (
                    TusCommunicationError,
                    TusUploadFailed,
                    requests.RequestException,
                    OSError,
                ) as error:
                    outcome.error = _describe(error)
    finally:
        storage.close()
    _summary(outcomes)
    if any(o.error for o in outcomes):
        raise typer.Exit(1)


def _send(
    client: TusClient,
    storage: FileStorage,
    progress: Progress,
    total: int,
    file: LocalFile,
    outcome: Outcome,
    endpoint: str,
    object_uuid: str | None,
    message: str,
    chunk_size: int,
) -> None:
    task = progress.add_task(f"hashing {file.logical_path}", total=file.size)
    sha256 = sha256_of(file.path, progress, task)
    key = hashlib.sha256(
        "\n".join([endpoint, object_uuid or "", file.logical_path, sha256]).encode()
    ).hexdigest()
    metadata = {"filename": file.logical_path, "sha256": sha256}
    if object_uuid:
        metadata["object"] = object_uuid
    if message:
        metadata["message"] = message

    def uploader() -> Uploader:
        return client.uploader(
            file_path=str(file.path),
            chunk_size=chunk_size,
            metadata=metadata,
            store_url=True,
            url_storage=storage,
            fingerprinter=KeyFingerprint(key),
            retries=3,
            retry_delay=2,
        )

    try:
        sender = uploader()
    except TusCommunicationError:
        # The stored upload is gone (expired, finished, terminated): start afresh.
        storage.remove_item(key)
        sender = uploader()
    outcome.resumed_at = sender.offset if sender.url else 0
    progress.reset(task, total=file.size, completed=sender.offset)
    progress.update(task, description=file.logical_path)
    progress.advance(total, sender.offset)
    sender.stop_at = file.size
    if not sender.url:
        sender.set_url(sender.create_url())
        sender.offset = 0
    while sender.offset < file.size:
        before = sender.offset
        sender.upload_chunk()
        progress.advance(task, sender.offset - before)
        progress.advance(total, sender.offset - before)
    _result(sender, outcome)
    storage.remove_item(key)


def _result(sender: Uploader, outcome: Outcome) -> None:
    request = getattr(sender, "request", None)
    headers = request.response_headers if request is not None else {}
    if "heritage-object" not in {k.lower() for k in headers}:
        # Nothing sent in this run (an empty file, or all of it sent before): ask.
        response = requests.head(sender.url, headers=sender.get_headers(), timeout=60)
        headers = response.headers
    lowered = {k.lower(): v for k, v in headers.items()}
    outcome.object_uuid = lowered.get("heritage-object")
    outcome.version = lowered.get("heritage-object-version")
    if not outcome.object_uuid:
        outcome.error = "the server did not confirm the new version"


def _summary(outcomes: list[Outcome]) -> None:
    table = Table("file", "bytes", "object", "version", "note")
    for o in outcomes:
        note = o.error or (f"resumed at {o.resumed_at} bytes" if o.resumed_at else "")
        table.add_row(
            o.file.logical_path, str(o.file.size), o.object_uuid or "-", o.version or "-", note
        )
    console.print(table)
    done = sum(1 for o in outcomes if not o.error)
    console.print(
        f"{done} of {len(outcomes)} files uploaded"
        + (f", {len(outcomes) - done} failed" if done < len(outcomes) else "")
    )
