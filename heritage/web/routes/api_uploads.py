"""/api/workspaces/{slug}/uploads: resumable uploads, tus 1.0.0 (docs/uploads.md).

Core protocol with the creation, creation-with-upload, termination, checksum and
expiration extensions. Bodies are streamed into the upload service piece by piece;
nothing here holds more than the piece the server just received.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from heritage.errors import ServiceError
from heritage.uploads.models import UploadStatus
from heritage.uploads.services import Append, UploadInfo, UploadService
from heritage.web.deps import RuntimeDep, allowed
from heritage.web.errors import problem

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
CHECKSUMS = ("sha1", "sha256")  # sha1: the one tus requires of every server
OCTETS = "application/offset+octet-stream"
ACTION = "uploads.create"


class TusError(ServiceError):
    status = 400
    kind = "bad-request"
    title = "The request does not follow the tus protocol"


class UnsupportedVersion(ServiceError):
    status = 412
    kind = "tus-version"
    title = "Unsupported tus version"


class WrongContentType(ServiceError):
    status = 415
    kind = "unsupported-media-type"
    title = "Unsupported media type"


class TusRoute(APIRoute):
    """Every answer of these routes carries ``Tus-Resumable``, errors included."""

    def get_route_handler(self) -> Any:
        handler = super().get_route_handler()

        async def tus_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except ServiceError as error:
                headers = {"Tus-Resumable": TUS_VERSION}
                if isinstance(error, UnsupportedVersion):
                    headers["Tus-Version"] = TUS_VERSION
                response = problem(
                    request,
                    error.status,
                    error.kind,
                    error.title,
                    error.detail,
                    error.errors,
                    headers,
                )
            response.headers["Tus-Resumable"] = TUS_VERSION
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return tus_handler


router = APIRouter(prefix="/api/workspaces", tags=["uploads"], route_class=TusRoute)
NOT_FOUND = {404: {"description": "Not found"}}


# -- headers -------------------------------------------------------------------------------


def _check_version(request: Request) -> None:
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise UnsupportedVersion(f"Send Tus-Resumable: {TUS_VERSION} (the only version served).")


def _integer(request: Request, name: str) -> int:
    value = request.headers.get(name)
    if value is None:
        raise TusError(f"The {name} header is required.")
    if not value.isdigit() or len(value) > 20:
        raise TusError(f"{name} must be a non-negative integer, not {value!r}.")
    return int(value)


def parse_metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64(value)`` pairs (value optional)."""
    metadata: dict[str, str] = {}
    for pair in (header or "").split(","):
        if not pair.strip():
            continue
        key, _, encoded = pair.strip().partition(" ")
        if not key or key in metadata:
            raise TusError(f"Upload-Metadata: empty or repeated key {key!r}.")
        try:
            metadata[key] = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise TusError(
                f"Upload-Metadata: the value of {key!r} is not base64 of UTF-8."
            ) from None
    return metadata


def encode_metadata(metadata: dict[str, str]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" if value else key
        for key, value in metadata.items()
    )


def _checksum(request: Request) -> tuple[str | None, bytes | None]:
    """``Upload-Checksum: <algorithm> <base64 digest>`` of this request's body."""
    header = request.headers.get("upload-checksum")
    if header is None:
        return None, None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm not in CHECKSUMS:
        raise TusError(
            f"Upload-Checksum: algorithm {algorithm!r} is not supported; use one of "
            + ", ".join(CHECKSUMS)
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise TusError("Upload-Checksum: the digest is not base64.") from None
    if len(digest) != hashlib.new(algorithm).digest_size:
        raise TusError(f"Upload-Checksum: a {algorithm} digest has another length.")
    return algorithm, digest


def _status_headers(info: UploadInfo) -> dict[str, str]:
    headers = {
        "Upload-Offset": str(info.offset),
        "Upload-Length": str(info.length),
        "Upload-Expires": format_datetime(info.expires_at, usegmt=True),
    }
    if info.status is UploadStatus.COMMITTED and info.object_uuid:
        api = f"/api/workspaces/{info.workspace_slug}/objects/{info.object_uuid}"
        headers["Heritage-Object"] = info.object_uuid
        headers["Heritage-Object-Version"] = info.version or ""
        headers["Link"] = f'<{api}>; rel="related"'
    return headers


def _result(info: UploadInfo, status_code: int, **extra: str) -> Response:
    headers = _status_headers(info) | extra
    if info.status is not UploadStatus.COMMITTED:
        return Response(status_code=status_code, headers=headers)
    slug = info.workspace_slug
    body = {
        "upload": info.id,
        "object": info.object_uuid,
        "version": info.version,
        "path": info.meta.get("filename"),
        "links": {
            "object": f"/api/workspaces/{slug}/objects/{info.object_uuid}",
            "page": f"/workspaces/{slug}/objects/{info.object_uuid}",
        },
    }
    return JSONResponse(
        body, status_code=200 if status_code == 204 else status_code, headers=headers
    )


async def _append(request: Request, append: Append, expected: bytes | None) -> UploadInfo:
    """Stream the body into the upload; on any failure keep what is durable."""
    try:
        async for piece in request.stream():
            if piece:
                await append.feed(piece)
    except asyncio.CancelledError:
        append.abort()  # the server is stopping: no thread to wait for
        raise
    except ClientDisconnect:
        await run_in_threadpool(append.abort)
        raise TusError(
            "The connection closed before the body ended; the upload can resume."
        ) from None
    except BaseException as error:
        await run_in_threadpool(append.abort, error)
        raise
    return await run_in_threadpool(append.finish, expected)


# -- routes --------------------------------------------------------------------------------


@router.options("/{workspace_slug}/uploads", status_code=204, responses=NOT_FOUND)
def upload_options(runtime: RuntimeDep, identity: allowed(ACTION)) -> Response:
    """What this tus server supports."""
    return Response(
        status_code=204,
        headers={
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(runtime.settings.upload_max_bytes),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
        },
    )


@router.post("/{workspace_slug}/uploads", status_code=201, responses=NOT_FOUND)
async def create_upload(
    workspace_slug: str, request: Request, runtime: RuntimeDep, identity: allowed(ACTION)
) -> Response:
    """Create an upload (tus creation); a body, if any, is its first bytes.

    Metadata: ``filename`` (the file's path in the object, required), ``object``
    (the UUID of an object to add it to; absent: a new object), ``sha256`` (hex,
    checked over the whole file), ``message`` (the version's message).
    """
    _check_version(request)
    if request.headers.get("upload-defer-length"):
        raise TusError("Upload-Defer-Length is not supported: send Upload-Length.")
    length = _integer(request, "upload-length")
    metadata = parse_metadata(request.headers.get("upload-metadata"))
    has_body = request.headers.get("content-type", "").startswith(OCTETS)
    algorithm, expected = _checksum(request) if has_body else (None, None)
    service = UploadService(runtime)
    info = await run_in_threadpool(service.create, identity, workspace_slug, length, metadata)
    location = f"/api/workspaces/{workspace_slug}/uploads/{info.id}"
    if has_body and info.status is UploadStatus.RECEIVING:
        append = await run_in_threadpool(
            service.begin, identity, workspace_slug, info.id, 0, algorithm
        )
        try:
            info = await _append(request, append, expected)
        except ServiceError as error:
            # The upload exists: tell the client where, whatever happened to the body.
            response = problem(
                request, error.status, error.kind, error.title, error.detail, error.errors
            )
            response.headers["Location"] = location
            return response
    return _result(info, 201, Location=location)


@router.head("/{workspace_slug}/uploads/{upload_id}", responses=NOT_FOUND)
def upload_status(
    workspace_slug: str,
    upload_id: str,
    request: Request,
    runtime: RuntimeDep,
    identity: allowed(ACTION),
) -> Response:
    """How many bytes of the upload are durably stored (``Upload-Offset``)."""
    _check_version(request)
    info = UploadService(runtime).status(identity, workspace_slug, upload_id)
    headers = _status_headers(info)
    if info.meta:
        headers["Upload-Metadata"] = encode_metadata(info.meta)
    return Response(status_code=200, headers=headers)


@router.patch("/{workspace_slug}/uploads/{upload_id}", status_code=204, responses=NOT_FOUND)
async def append_upload(
    workspace_slug: str,
    upload_id: str,
    request: Request,
    runtime: RuntimeDep,
    identity: allowed(ACTION),
) -> Response:
    """Append the body at ``Upload-Offset``. The request that brings the last byte
    commits the file as a new version and answers 200 with a link to the object."""
    _check_version(request)
    if not request.headers.get("content-type", "").startswith(OCTETS):
        raise WrongContentType(f"A PATCH body must be sent as {OCTETS}.")
    offset = _integer(request, "upload-offset")
    algorithm, expected = _checksum(request)
    append = await run_in_threadpool(
        UploadService(runtime).begin, identity, workspace_slug, upload_id, offset, algorithm
    )
    return _result(await _append(request, append, expected), 204)


@router.delete("/{workspace_slug}/uploads/{upload_id}", status_code=204, responses=NOT_FOUND)
def terminate_upload(
    workspace_slug: str,
    upload_id: str,
    request: Request,
    runtime: RuntimeDep,
    identity: allowed(ACTION),
) -> Response:
    """Stop an upload and delete what it received (tus termination)."""
    _check_version(request)
    UploadService(runtime).terminate(identity, workspace_slug, upload_id)
    return Response(status_code=204)
