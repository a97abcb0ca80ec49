"""Request bodies taken whole (a file PUT in one request), within the upload limit."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import IO

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from heritage.errors import InvalidInput
from heritage.runtime import Runtime

SPOOL_IN_MEMORY = 8 * 1024 * 1024


@asynccontextmanager
async def spooled_body(request: Request, runtime: Runtime) -> AsyncIterator[IO[bytes]]:
    """The body in memory up to 8 MiB, then in a temporary file under the data directory;
    a body over the instance's upload limit is refused before more of it is kept."""
    limit = runtime.settings.upload_max_bytes
    with tempfile.SpooledTemporaryFile(
        SPOOL_IN_MEMORY, dir=runtime.settings.ensure_data_dir()
    ) as body:
        received = 0
        async for piece in request.stream():
            received += len(piece)
            if received > limit:
                raise InvalidInput.on("body", f"larger than the {limit} bytes allowed")
            await run_in_threadpool(body.write, piece)
        body.seek(0)
        yield body  # type: ignore[misc]
