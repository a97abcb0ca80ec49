"""Per-request context: request id, identity, language, CSRF cookie, security headers."""

from __future__ import annotations

import time
import uuid

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heritage.accounts import providers
from heritage.accounts.identity import ANONYMOUS, Identity
from heritage.accounts.providers import SESSION_COOKIE as SESSION_COOKIE  # re-exported
from heritage.accounts.providers import Credentials
from heritage.config import SUPPORTED_LANGUAGES
from heritage.runtime import Runtime
from heritage.web import csrf
from heritage.web.i18n import current_language, negotiate

LANGUAGE_COOKIE = "hc_lang"
log = structlog.get_logger("heritage.web")

# sha256 of the focus rule OpenSeadragon 6.1.1 adds as an inline <style>; change it with
# the pinned version (Chrome's console names the new hash)
OPENSEADRAGON_STYLE = "sha256-9xTiqzfwFaL2SGb1rmr8gysEwVVjIvqWAgmZgqFqpEE="


# What the 3D viewer's Draco decoder (three.js DRACOLoader) needs and no more: compiling
# WebAssembly (not eval of strings), and a worker made from a blob: of its own script.
THREED_SCRIPTS = "'wasm-unsafe-eval'; worker-src 'self' blob:"


def content_security_policy(
    image_origins: frozenset[str] = frozenset(), *, threed_viewer: bool = False
) -> str:
    """The pages' policy; ``image_origins`` (``https://host``) may serve images and
    image information too: the IIIF servers of remote images a record page shows, the
    search page's map tiles. ``blob:`` lets the 3D viewer's glTF loader show the
    textures a GLB carries inside it. ``threed_viewer``: the page shows the 3D viewer,
    whose Draco decoder compiles WebAssembly in a worker it starts from a ``blob:``."""
    remote = "".join(f" {origin}" for origin in sorted(image_origins))
    return (
        f"default-src 'self'; img-src 'self' data: blob:{remote}; "
        f"connect-src 'self' blob:{remote}; "
        # the one <style> OpenSeadragon injects (the record page's viewer), by its hash
        + f"style-src 'self' '{OPENSEADRAGON_STYLE}'; script-src 'self'"
        + (f" {THREED_SCRIPTS}" if threed_viewer else "")
        + "; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
    )


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": content_security_policy(),
}
# The embeddable 3D viewer (/embed/...) may be framed by any site; nothing else may.
EMBED_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; connect-src 'self' blob:; "
        f"style-src 'self'; script-src 'self' {THREED_SCRIPTS}; "
        "frame-ancestors *; form-action 'self'; base-uri 'self'"
    ),
    # frame-ancestors above decides; an empty X-Frame-Options keeps DENY from being added
    "X-Frame-Options": "",
}


# Path segments that carry secrets (invitation links) never reach the logs.
_SECRET_PATH_PREFIXES = ("/invitations/", "/api/invitations/")


def loggable_path(path: str) -> str:
    for prefix in _SECRET_PATH_PREFIXES:
        if path.startswith(prefix):
            rest = path[len(prefix) :]
            _, slash, tail = rest.partition("/")
            return f"{prefix}[secret]{slash}{tail}"
    return path


def resolve_identity(runtime: Runtime, request: Request) -> Identity:
    credentials = Credentials(headers=request.headers, cookies=request.cookies)
    return providers.resolve(runtime, credentials) or ANONYMOUS


def set_session_cookie(response: Response, runtime: Runtime, secret: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=runtime.settings.session_lifetime_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=runtime.settings.secure_cookies,
        path="/",
    )


class RequestContextMiddleware:
    """Binds the request id, identity, language and CSRF cookie to each HTTP request, adds
    the security headers to its answer and logs it.

    Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``: that one runs every
    request through a task group and memory streams, which cost more than a tile request
    itself; answers are also passed on as they come (downloads stream unbuffered).
    """

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        request_id = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
        request.state.request_id = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        credentials = Credentials(headers=request.headers, cookies=request.cookies)
        path = scope["path"]
        if path.startswith("/static/") or path == "/health" or not providers.presented(credentials):
            identity = ANONYMOUS  # nothing to look up: no trip to a worker thread
        else:
            identity = await run_in_threadpool(resolve_identity, self.runtime, request)
        request.state.identity = identity
        request.state.uses_token = (
            request.headers.get("authorization", "").lower().startswith("bearer ")
        )

        csrf_cookie = request.cookies.get(csrf.CSRF_COOKIE)
        new_csrf_cookie = None
        if not csrf_cookie:
            csrf_cookie = new_csrf_cookie = csrf.new_cookie_value()
        request.state.csrf_cookie = csrf_cookie
        request.state.csrf_token = csrf.token_for(self.runtime.settings.signing_key, csrf_cookie)

        language = (
            identity.language
            or request.cookies.get(LANGUAGE_COOKIE)
            or negotiate(
                request.headers.get("accept-language"), self.runtime.settings.default_language
            )
        )
        if language not in SUPPORTED_LANGUAGES:
            language = self.runtime.settings.default_language
        request.state.language = language
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                for header, value in SECURITY_HEADERS.items():
                    headers.setdefault(header, value)
                if new_csrf_cookie:
                    headers.append("set-cookie", self._csrf_cookie_header(new_csrf_cookie))
            await send(message)

        token = current_language.set(language)
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            current_language.reset(token)
            log.info(
                "request",
                method=request.method,
                path=loggable_path(path),
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 1),
                user=identity.user_id,
            )
            structlog.contextvars.unbind_contextvars("request_id")

    def _csrf_cookie_header(self, value: str) -> str:
        carrier = Response()  # Starlette's cookie formatting, as routes' own cookies have
        carrier.set_cookie(
            csrf.CSRF_COOKIE,
            value,
            httponly=True,
            samesite="strict",
            secure=self.runtime.settings.secure_cookies,
            path="/",
        )
        return carrier.headers["set-cookie"]
