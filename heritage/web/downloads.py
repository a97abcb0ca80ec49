"""Serving stored files over HTTP: single byte ranges, digests and safe headers.

One range per request (RFC 9110 section 14): a multi-range request gets the
whole file, as the RFC allows. ``If-Range`` with our strong ETag is honoured.
Files are always sent as attachments, except images, audio, video and PDF when
asked for inline, and under a sandboxing Content-Security-Policy, so an
uploaded HTML or SVG file can never run script on our origin.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from heritage.store.reading import OpenedFile

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_INLINE_PREFIXES = ("image/", "audio/", "video/")
_INLINE_TYPES = {"application/pdf"}
_NOT_INLINE = {"image/svg+xml"}


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """``(start, stop)`` for a satisfiable single range, None for the whole file, or
    ``"unsatisfiable"``."""
    if not header:
        return None
    match = _RANGE.match(header.strip().replace(" ", ""))
    if match is None:
        return None  # not a single bytes range: ignore it and send everything
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        suffix = int(last)
        if suffix == 0:
            return "unsatisfiable"
        return (max(0, size - suffix), size)
    start = int(first)
    stop = size if last == "" else min(int(last) + 1, size)
    if start >= size or (last != "" and int(last) < start):
        return "unsatisfiable"
    return (start, stop)


def etag_of(opened: OpenedFile) -> str:
    return f'"sha256-{opened.sha256}"'


def _content_disposition(filename: str, inline: bool) -> str:
    kind = "inline" if inline else "attachment"
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _may_be_inline(media_type: str) -> bool:
    if media_type in _NOT_INLINE:
        return False
    return media_type.startswith(_INLINE_PREFIXES) or media_type in _INLINE_TYPES


def _stream(opened: OpenedFile, start: int, stop: int) -> Iterator[bytes]:
    try:
        yield from opened.iter_range(start, stop)
    finally:
        opened.close()


def file_response(request: Request, opened: OpenedFile, *, inline: bool = False) -> Response:
    """The file, or the requested byte range of it, streamed."""
    size = opened.size
    etag = etag_of(opened)
    sha256 = base64.b64encode(bytes.fromhex(opened.sha256)).decode()
    sha512 = base64.b64encode(bytes.fromhex(opened.stored_digest)).decode()
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        # RFC 9530: the digest of the whole representation, whatever range is sent.
        "Repr-Digest": f"sha-256=:{sha256}:",
        # The OCFL content digest of the stored (possibly encrypted) bytes.
        "X-Stored-Digest": f"sha-512=:{sha512}:",
        "Content-Disposition": _content_disposition(
            opened.path.rsplit("/", 1)[-1], inline and _may_be_inline(opened.media_type)
        ),
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=0, must-revalidate",
    }
    if request.headers.get("if-none-match") == etag:
        opened.close()
        return Response(status_code=304, headers=headers)
    wanted = parse_range(request.headers.get("range"), size)
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range != etag:
        wanted = None  # the client's copy is another version: send the whole file
    if wanted == "unsatisfiable":
        opened.close()
        headers["Content-Range"] = f"bytes */{size}"
        return Response(status_code=416, headers=headers)
    if request.method == "HEAD":
        opened.close()
        headers["Content-Length"] = str(size)
        return Response(status_code=200, headers=headers, media_type=opened.media_type)
    if wanted is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(
            _stream(opened, 0, size), headers=headers, media_type=opened.media_type
        )
    assert isinstance(wanted, tuple)
    start, stop = wanted
    headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    headers["Content-Length"] = str(stop - start)
    return StreamingResponse(
        _stream(opened, start, stop),
        status_code=206,
        headers=headers,
        media_type=opened.media_type,
    )
