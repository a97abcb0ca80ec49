"""A short way for the requests deep-zoom viewers make by the hundred: whole stored tiles.

A viewer panning over an image asks for dozens of tiles a second, each a few kilobytes
read from the access copy (``ImageService.stored_tile``). Through the framework's
routing, validation and dependency machinery, with two trips to worker threads, such a
request cost several times the tile itself. This ASGI layer sits inside
:class:`~heritage.web.context.RequestContextMiddleware` (so the identity, request id,
security headers and the log line are as for every request) and answers a tile request
itself when all of it is cheap: the image's facts are kept by this process, the person
is not signed in (no role to read), the policy allows ``images.view``, and the request
is for one whole tile as stored. Anything else goes on, untouched, to the IIIF route in
``routes/iiif.py``, which answers it or says what is wrong, and the same policy decides
both ways.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from heritage.iiif.services import ImageService
from heritage.runtime import Runtime
from heritage.web.routes.iiif import PUBLIC_TILE_AGE, image_headers, not_modified, request_tag

IMAGE_REQUEST = re.compile(
    r"^/iiif/3/([0-9a-f-]{36}~[0-9a-f]{12})/([^/]{1,100})/([^/]{1,100})/([^/]{1,100})/([^/]{1,100})$"
)


class StoredTileShortcut:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.images = ImageService(runtime)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            match = IMAGE_REQUEST.match(scope["path"])
            if match is not None:
                answer = self._answer(Request(scope), *match.groups())
                if answer is not None:
                    await answer(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _answer(self, request: Request, identifier: str, *segments: str) -> Response | None:
        view = self.images.kept_image(request.state.identity, identifier)
        if view is None:
            return None
        headers = image_headers(request, view, request_tag(view, *segments), PUBLIC_TILE_AGE)
        if (unchanged := not_modified(request, headers)) is not None:
            return unchanged
        data = self.images.stored_tile(view, *segments)
        if data is None:
            return None
        return Response(data, media_type="image/jpeg", headers=headers)
