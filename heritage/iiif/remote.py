"""Fetching an image from another server, for copying it into the store.

The URLs come from imported records, so from anyone: every fetch is bounded and guarded.

* **Where**: http and https only, redirects followed by hand (at most
  :data:`MAX_REDIRECTS`, each to http(s) again); every host's addresses are resolved and
  refused when private, loopback, link-local, multicast or reserved (a guard against
  server-side request forgery), and the address the connection really reached is checked
  again before any of the answer is read (a name that resolves differently the second
  time gains nothing). ``HERITAGE_REMOTE_FETCH_ALLOW_PRIVATE`` lifts the guard (an
  instance whose image servers are on its own network; the tests' loopback server).
* **How much**: one time limit for all the requests of a copy, a byte limit (the
  announced ``Content-Length`` and what really arrives), and the pixel limit of masters
  (``HERITAGE_IMAGE_MAX_PIXELS``), checked on the service's announced size before
  fetching and on the image's header after.
* **What**: the image answer must say ``image/*``; libvips must read it whole (``fail``)
  with one of the raster loaders derivatives are made from (no SVG, PDF or text formats).

With an IIIF Image service, the image is asked for at the largest size the service
gives (``info.json``'s ``maxWidth``, ``maxHeight``, ``maxArea``), as JPEG; without one,
the representation's URL is fetched as it is.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pyvips

from heritage.db.base import utcnow

MAX_REDIRECTS = 5
INFO_MAX_BYTES = 1024 * 1024
# libvips loaders of the raster formats we make derivatives of, and the file extension each
# stored copy gets
LOADER_EXTENSIONS = {
    "jpegload": "jpg",
    "pngload": "png",
    "tiffload": "tif",
    "jp2kload": "jp2",
    "webpload": "webp",
    "gifload": "gif",
    "heifload": "heic",
    "jxlload": "jxl",
}
USER_AGENT = "HeritageCloud/1 (copying a IIIF image into a preservation store)"


class FetchError(Exception):
    """Why a remote image could not be copied, for people."""


@dataclass(frozen=True)
class FetchLimits:
    timeout_seconds: float
    max_bytes: int
    max_pixels: int
    allow_private: bool = False


@dataclass
class FetchedImage:
    """An image fetched to a temporary file (the caller removes ``path``)."""

    path: Path
    url: str  # the URL it was finally fetched from
    media_type: str
    sha256: str
    size: int
    width: int
    height: int
    extension: str
    fetched_at: Any
    service: dict[str, Any] = field(default_factory=dict)  # what info.json said


class _Budget:
    """One deadline shared by all the requests of a copy."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(f"The copy took longer than the {self.seconds:g} s allowed.")
        return remaining


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified


def check_url(url: str, limits: FetchLimits) -> None:
    """Refuse a URL that is not http(s), or whose host resolves to an address the guard
    keeps us from."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"Only http and https URLs can be copied, not {url[:200]!r}.")
    if limits.allow_private:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port)}
    except (OSError, ValueError) as error:
        raise FetchError(f"The host {parts.hostname!r} could not be found ({error}).") from None
    if any(_forbidden(str(address)) for address in addresses):
        raise FetchError(
            f"The host {parts.hostname!r} is on a private, loopback or reserved address; "
            "this instance does not fetch from such addresses "
            "(HERITAGE_REMOTE_FETCH_ALLOW_PRIVATE)."
        )


def _check_peer(response: httpx.Response, limits: FetchLimits) -> None:
    """The address the connection reached, checked again (the name may resolve anew)."""
    if limits.allow_private:
        return
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if not peer or _forbidden(str(peer[0])):
        raise FetchError(
            f"The server of {str(response.url)[:200]} answered from an address this "
            "instance does not fetch from."
        )


class RemoteFetcher:
    """Fetches under ``limits``; one instance per copy (it holds the time budget)."""

    def __init__(self, limits: FetchLimits, transport: httpx.BaseTransport | None = None) -> None:
        self.limits = limits
        self.budget = _Budget(limits.timeout_seconds)
        self.client = httpx.Client(
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            transport=transport,
            trust_env=False,  # no proxy of the environment: the guard checks the real peer
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> RemoteFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ------------------------------------------------------------------------------

    def _open(self, url: str, accept: str) -> httpx.Response:
        """A streamed answer of ``url`` after following redirects by hand (the caller
        closes it)."""
        for _hop in range(MAX_REDIRECTS + 1):
            check_url(url, self.limits)
            timeout = httpx.Timeout(min(self.budget.left(), 60.0))
            try:
                request = self.client.build_request(
                    "GET", url, headers={"Accept": accept}, timeout=timeout
                )
                response = self.client.send(request, stream=True)
            except httpx.TimeoutException:
                raise FetchError(f"{url[:200]} did not answer in time.") from None
            except httpx.HTTPError as error:
                raise FetchError(f"{url[:200]} could not be reached: {error}.") from None
            try:
                _check_peer(response, self.limits)
            except FetchError:
                response.close()
                raise
            if response.is_redirect:
                location = response.headers.get("location", "")
                response.close()
                url = urljoin(url, location)
                continue
            if response.status_code != 200:
                response.close()
                raise FetchError(f"{url[:200]} answered HTTP {response.status_code}.")
            return response
        raise FetchError(f"More than {MAX_REDIRECTS} redirects from {url[:200]}.")

    def _read(self, response: httpx.Response, limit: int, sink: Any) -> int:
        announced = response.headers.get("content-length", "")
        if announced.isdigit() and int(announced) > limit:
            raise FetchError(
                f"{str(response.url)[:200]} is {int(announced):,} bytes, more than the "
                f"{limit:,} allowed (HERITAGE_REMOTE_FETCH_MAX_BYTES)."
            )
        received = 0
        try:
            # as the network gives it, so the deadline is checked after every read (a
            # server dripping bytes overruns it by one read timeout at most)
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > limit:
                    raise FetchError(
                        f"{str(response.url)[:200]} sent more than the {limit:,} bytes allowed "
                        "(HERITAGE_REMOTE_FETCH_MAX_BYTES)."
                    )
                sink(chunk)
                self.budget.left()
        except httpx.TimeoutException:
            raise FetchError(f"{str(response.url)[:200]} stopped sending in time.") from None
        except httpx.HTTPError as error:
            raise FetchError(f"{str(response.url)[:200]} broke off: {error}.") from None
        return received

    def service_info(self, service: str) -> dict[str, Any]:
        url = service.rstrip("/") + "/info.json"
        parts: list[bytes] = []
        response = self._open(url, "application/ld+json, application/json")
        try:
            self._read(response, INFO_MAX_BYTES, parts.append)
        finally:
            response.close()
        try:
            info = json.loads(b"".join(parts))
        except (ValueError, UnicodeDecodeError):
            raise FetchError(f"{url[:200]} is not JSON: not a IIIF image service.") from None
        if not isinstance(info, dict):
            raise FetchError(f"{url[:200]} is not a IIIF image information document.")
        for name in ("width", "height"):
            if not isinstance(info.get(name), int) or info[name] < 1:
                raise FetchError(f"{url[:200]} gives no valid {name}.")
        return info

    # -- the image -----------------------------------------------------------------------------

    def fetch(self, url: str, service: str | None, directory: Path) -> FetchedImage:
        """The image, from its IIIF service at the largest size it gives, else ``url``."""
        info: dict[str, Any] = {}
        target = url
        if service:
            info = self.service_info(service)
            width, height = largest_size(info)
            if width * height > self.limits.max_pixels:
                raise FetchError(self._too_many(width, height))
            target = service.rstrip("/") + "/full/" + size_parameter(info, width, height)
            target += "/0/default.jpg"
        directory.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - handed to the caller
            dir=directory, prefix="remote-", delete=False
        )
        path = Path(handle.name)
        try:
            digest = hashlib.sha256()

            def write(chunk: bytes) -> None:
                digest.update(chunk)
                handle.write(chunk)

            with handle:
                response = self._open(target, "image/*")
                try:
                    media_type = response.headers.get("content-type", "").split(";")[0].strip()
                    if not media_type.lower().startswith("image/"):
                        raise FetchError(
                            f"{str(response.url)[:200]} is {media_type or 'of no stated type'}, "
                            "not an image."
                        )
                    final_url = str(response.url)
                    size = self._read(response, self.limits.max_bytes, write)
                finally:
                    response.close()
            width, height, extension = self._check_image(path, final_url)
            return FetchedImage(
                path=path,
                url=final_url,
                media_type=media_type.lower(),
                sha256=digest.hexdigest(),
                size=size,
                width=width,
                height=height,
                extension=extension,
                fetched_at=utcnow(),
                service=_service_summary(info) if info else {},
            )
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def _too_many(self, width: int, height: int) -> str:
        return (
            f"The image is {width:,} × {height:,} pixels, more than the "
            f"{self.limits.max_pixels:,} this instance accepts (HERITAGE_IMAGE_MAX_PIXELS)."
        )

    def _check_image(self, path: Path, url: str) -> tuple[int, int, str]:
        """Width, height and file extension, once libvips has read the whole image."""
        try:
            image = pyvips.Image.new_from_file(str(path), access="sequential", fail=True)
            loader = str(image.get("vips-loader")).removesuffix("_source").removesuffix("_file")
            extension = LOADER_EXTENSIONS.get(loader)
            if extension is None:
                raise FetchError(
                    f"{url[:200]} is read by {loader}, not one of the raster formats "
                    "images are kept in."
                )
            if image.width * image.height > self.limits.max_pixels:
                raise FetchError(self._too_many(image.width, image.height))
            image.avg()  # decodes every pixel: a damaged or truncated file fails here
        except pyvips.Error as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise FetchError(f"{url[:200]} is not an image libvips can read ({first}).") from None
        return image.width, image.height, extension


def _service_summary(info: dict[str, Any]) -> dict[str, Any]:
    keep = ("id", "@id", "type", "@type", "@context", "profile", "width", "height")
    return {key: info[key] for key in (*keep, "maxWidth", "maxHeight", "maxArea") if key in info}


def _limit(info: dict[str, Any], name: str) -> int | None:
    value = info.get(name)
    return value if isinstance(value, int) and value > 0 else None


def largest_size(info: dict[str, Any]) -> tuple[int, int]:
    """The largest size the service gives of its image: full size, scaled down (keeping
    the aspect ratio) to fit ``maxWidth``, ``maxHeight`` and ``maxArea``."""
    width, height = int(info["width"]), int(info["height"])
    scale = 1.0
    max_width = _limit(info, "maxWidth")
    max_height = _limit(info, "maxHeight") or (
        # Image API: maxWidth alone bounds the height too
        max_width if max_width is not None and "maxHeight" not in info else None
    )
    max_area = _limit(info, "maxArea")
    if max_width is not None:
        scale = min(scale, max_width / width)
    if max_height is not None:
        scale = min(scale, max_height / height)
    if max_area is not None:
        scale = min(scale, math.sqrt(max_area / (width * height)))
    if scale >= 1.0:
        return width, height
    fitted_w = max(1, math.floor(width * scale))
    fitted_h = max(1, math.floor(height * scale))
    return fitted_w, fitted_h


def is_version_2(info: dict[str, Any]) -> bool:
    context = info.get("@context")
    contexts = context if isinstance(context, list) else [context]
    return any(isinstance(item, str) and "/image/2/" in item for item in contexts)


def size_parameter(info: dict[str, Any], width: int, height: int) -> str:
    """The Image API size of ``width`` × ``height``: the whole image as the API version
    names it, else the exact size."""
    if (width, height) == (int(info["width"]), int(info["height"])):
        return "full" if is_version_2(info) else "max"
    return f"{width},{height}"
