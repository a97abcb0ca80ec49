"""Copying a record's remote image into the store: from a IIIF Image service at the
largest size it gives, or from the image's URL; the limits and checks of the fetch, the
guard against private addresses, the stored master (versioned, fixity-recorded,
encrypted), its provenance, the derivatives, the record page and the API.

The remote server is a real HTTP server on loopback, so the tests allow private
addresses (HERITAGE_REMOTE_FETCH_ALLOW_PRIVATE) except where they check the guard."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import pyvips
from fastapi.testclient import TestClient
from sqlalchemy import select

from heritage.accounts.identity import SYSTEM
from heritage.audit.models import AuditEntry
from heritage.iiif.models import DerivativeStatus, ImageDerivative
from heritage.iiif.remote import FetchError, FetchLimits, RemoteFetcher, largest_size
from heritage.records.model import Record, Representation, Value
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.store.models import StoredFile
from heritage.testing.world import World, build_world
from heritage.web.context import SESSION_COOKIE

PICTURE = pyvips.Image.black(300, 200).new_from_image([30, 120, 200]).cast("uchar")
PNG = PICTURE.draw_rect([250, 20, 20], 20, 20, 100, 60, fill=True).pngsave_buffer()
SMALL_JPEG = PICTURE.resize(0.5).jpegsave_buffer()  # 150 x 100


class Remote:
    """A IIIF image server on loopback, with the misbehaviours the fetch must survive."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        routes = self.routes = {
            "/iiif/map/info.json": (
                200,
                "application/ld+json",
                b'{"@context": "http://iiif.io/api/image/3/context.json", "id": "%s", '
                b'"type": "ImageService3", "profile": "level1", "width": 300, '
                b'"height": 200, "maxWidth": 150}',
            ),
            "/iiif/map/full/150,100/0/default.jpg": (200, "image/jpeg", SMALL_JPEG),
            "/files/photo.png": (200, "image/png", PNG),
            "/files/page.html": (200, "text/html", b"<html>not an image</html>"),
            "/files/torn.jpg": (200, "image/jpeg", SMALL_JPEG[: len(SMALL_JPEG) // 2]),
            "/files/vector.svg": (
                200,
                "image/svg+xml",
                b'<svg xmlns="http://www.w3.org/2000/svg"/>',
            ),
            "/files/grid.ppm": (200, "image/x-portable-pixmap", b"P6\n2 2\n255\n" + bytes(12)),
            "/files/missing.png": (404, "text/plain", b"gone"),
            "/hop": (302, "/files/photo.png", b""),
            "/to-file": (302, "file:///etc/passwd", b""),
            "/loop": (302, "/loop", b""),
        }
        remote = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                remote.requests.append(self.path)
                if self.path == "/slow.png":
                    time.sleep(3)
                if self.path == "/drip.png":  # a byte at a time, never done in time
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Length", str(len(PNG)))
                    self.end_headers()
                    for byte in PNG[:40]:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.1)
                    return
                status, kind, body = routes.get(self.path, (404, "text/plain", b"no"))
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", kind)
                else:
                    self.send_header("Content-Type", kind)
                body = body.replace(b"%s", remote.url("/iiif/map").encode())
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def remote() -> Iterator[Remote]:
    server = Remote()
    yield server
    server.close()


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    heritage_runtime.settings.remote_fetch_allow_private = True
    return build_world(heritage_runtime)


def limits(**changes: object) -> FetchLimits:
    values: dict[str, object] = {
        "timeout_seconds": 10,
        "max_bytes": 10_000_000,
        "max_pixels": 1_000_000,
        "allow_private": True,
    }
    return FetchLimits(**(values | changes))  # type: ignore[arg-type]


def fetch(remote: Remote, tmp_path: Path, path: str, service: str | None = None, **changes):
    with RemoteFetcher(limits(**changes)) as fetcher:
        return fetcher.fetch(remote.url(path), service and remote.url(service), tmp_path)


def test_the_largest_size_a_service_gives() -> None:
    info = {"width": 4000, "height": 3000}
    assert largest_size(info) == (4000, 3000)
    assert largest_size(info | {"maxWidth": 1000}) == (1000, 750)
    # maxWidth alone bounds the height too
    assert largest_size({"width": 3000, "height": 4000, "maxWidth": 1000}) == (750, 1000)
    assert largest_size(info | {"maxWidth": 2000, "maxHeight": 600}) == (800, 600)
    assert largest_size(info | {"maxArea": 1_200_000}) == (1264, 948)


def test_fetches_from_the_service_or_the_url(remote: Remote, tmp_path: Path) -> None:
    fetched = fetch(remote, tmp_path, "/iiif/map/full/max/0/default.jpg", "/iiif/map")
    assert fetched.url.endswith("/iiif/map/full/150,100/0/default.jpg")
    assert (fetched.width, fetched.height, fetched.extension) == (150, 100, "jpg")
    assert fetched.sha256 == hashlib.sha256(SMALL_JPEG).hexdigest()
    assert fetched.service["maxWidth"] == 150
    assert fetched.path.read_bytes() == SMALL_JPEG

    direct = fetch(remote, tmp_path, "/hop")  # a redirect to the image is followed
    assert direct.url.endswith("/files/photo.png") and direct.extension == "png"
    assert (direct.width, direct.height, direct.size) == (300, 200, len(PNG))


@pytest.mark.parametrize(
    ("path", "changes", "reason"),
    [
        ("/files/page.html", {}, "text/html, not an image"),
        ("/files/torn.jpg", {}, "not an image libvips can read"),
        ("/files/vector.svg", {}, "not an image libvips can read|not one of the raster formats"),
        ("/files/grid.ppm", {}, "read by ppmload, not one of the raster formats"),
        ("/files/missing.png", {}, "answered HTTP 404"),
        ("/to-file", {}, "Only http and https URLs"),
        ("/loop", {}, "More than 5 redirects"),
        ("/files/photo.png", {"max_bytes": 100}, "more than the 100 allowed"),
        ("/files/photo.png", {"max_pixels": 10_000}, "more than the 10,000 this instance"),
        ("/slow.png", {"timeout_seconds": 1}, "did not answer in time"),
        ("/drip.png", {"timeout_seconds": 1}, "took longer than the 1 s allowed"),
        ("/files/photo.png", {"allow_private": False}, "private, loopback or reserved"),
    ],
)
def test_bad_sources_are_refused_with_a_reason(
    remote: Remote, tmp_path: Path, path: str, changes: dict[str, object], reason: str
) -> None:
    with pytest.raises(FetchError, match=reason.replace("(", r"\(")):
        fetch(remote, tmp_path, path, **changes)
    assert not list(tmp_path.iterdir())  # nothing half-fetched is left


def test_a_service_too_large_is_refused_before_fetching(remote: Remote, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="150 × 100 pixels"):
        fetch(remote, tmp_path, "/x.jpg", "/iiif/map", max_pixels=1000)
    assert not any("/full/" in path for path in remote.requests)


def remote_record(runtime: Runtime, remote: Remote) -> str:
    record = Record(
        identifier="harbour-map",
        title=[Value.text("Harbour map", "en")],
        representations=[
            Representation(
                url=remote.url("/iiif/map/full/max/0/default.jpg"),
                iiif_service=remote.url("/iiif/map"),
                role="primary",
                label=[Value.text("Front", "en")],
            ),
            Representation(url=remote.url("/files/photo.png"), media_type="image/png"),
            Representation(url=remote.url("/files/page.html"), media_type="image/png"),
        ],
    )
    return RecordService(runtime).create(SYSTEM, "alpha", record).uuid


def client_for(app: object, world: World, person: str) -> TestClient:
    headers = {"Authorization": f"Bearer {world.people[person].token}"}
    return TestClient(app, base_url="http://testserver", headers=headers)  # type: ignore[arg-type]


def test_copy_into_the_store_through_the_api(
    heritage_runtime: Runtime, heritage_app: object, world: World, remote: Remote
) -> None:
    record_uuid = remote_record(heritage_runtime, remote)
    url = remote.url("/iiif/map/full/max/0/default.jpg")
    viewer = client_for(heritage_app, world, "viewer")
    refused = viewer.post(f"/api/records/{record_uuid}/remote-images/copies", json={"url": url})
    assert refused.status_code in (403, 404)

    editor = client_for(heritage_app, world, "editor")
    # the test queue runs jobs at once: the copy and then the derivatives are made
    answer = editor.post(f"/api/records/{record_uuid}/remote-images/copies", json={"url": url})
    assert answer.status_code == 202, answer.text
    copy = answer.json()
    assert copy["status"] == "done", copy
    assert copy["path"] == "media/map.jpg"
    assert copy["sha256"] == hashlib.sha256(SMALL_JPEG).hexdigest()
    assert copy["fetched_url"].endswith("/iiif/map/full/150,100/0/default.jpg")

    view = RecordService(heritage_runtime).get(SYSTEM, record_uuid)
    first = view.record.representations[0]
    assert first.file == "media/map.jpg" and first.url is None
    assert (first.role, first.label[0].value) == ("primary", "Front")  # kept in its place
    assert (first.source_url, first.source_service) == (url, remote.url("/iiif/map"))
    assert (first.width, first.height, first.media_type) == (150, 100, "image/jpeg")
    assert view.version == "v2"
    with heritage_runtime.database.session() as session:
        stored = session.scalar(
            select(StoredFile).where(StoredFile.logical_path == "media/map.jpg")
        )
        assert stored is not None and stored.sha256 == copy["sha256"]
        assert stored.encrypted_with  # the workspace encrypts: so does the copy
        derivative = session.scalar(
            select(ImageDerivative).where(ImageDerivative.record_uuid == record_uuid)
        )
        assert derivative is not None and derivative.status is DerivativeStatus.READY
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "image.copy-remote"))
        assert entry is not None and entry.details["source_url"] == url
        assert entry.details["sha256"] == copy["sha256"]
    # the EDM JSON-LD keeps the source
    document = editor.get(f"/api/records/{record_uuid}/versions/v2").json()
    assert {"@id": url} in list(_values_of(document, "dcterms:source"))
    listed = editor.get(f"/api/records/{record_uuid}/remote-images/copies").json()
    assert [item["status"] for item in listed["copies"]] == ["done"]
    # copied already: the URL is no longer a remote representation of the record
    again = editor.post(f"/api/records/{record_uuid}/remote-images/copies", json={"url": url})
    assert again.status_code == 422 and "no remote representation" in again.text


def test_a_failed_copy_changes_nothing_and_says_why(
    heritage_runtime: Runtime, heritage_app: object, world: World, remote: Remote
) -> None:
    record_uuid = remote_record(heritage_runtime, remote)
    before = RecordService(heritage_runtime).get(SYSTEM, record_uuid)
    url = remote.url("/files/page.html")
    editor = client_for(heritage_app, world, "editor")
    answer = editor.post(f"/api/records/{record_uuid}/remote-images/copies", json={"url": url})
    assert answer.status_code == 202
    assert answer.json()["status"] == "failed"
    assert "not an image" in answer.json()["error"]
    after = RecordService(heritage_runtime).get(SYSTEM, record_uuid)
    assert after.version == before.version and after.record == before.record

    page_client = TestClient(heritage_app, base_url="http://testserver")  # type: ignore[arg-type]
    page_client.cookies.set(SESSION_COOKIE, world.people["editor"].session)
    page = page_client.get(f"/records/{record_uuid}")
    assert "The copy into the store failed (the record is unchanged)" in page.text
    assert "not an image" in page.text
    assert page.text.count('action="/records/' + record_uuid + '/remote-images/copy"') == 3

    # the guard: without the setting, loopback is not fetched
    heritage_runtime.settings.remote_fetch_allow_private = False
    photo = remote.url("/files/photo.png")
    guarded = editor.post(f"/api/records/{record_uuid}/remote-images/copies", json={"url": photo})
    assert guarded.json()["status"] == "failed"
    assert "private, loopback or reserved" in guarded.json()["error"]
    assert "/files/photo.png" not in remote.requests
    with heritage_runtime.database.session() as session:
        assert session.scalar(
            select(AuditEntry).where(AuditEntry.action == "image.copy-remote-failed")
        )

    bad = editor.post(
        f"/api/records/{record_uuid}/remote-images/copies", json={"url": "https://else.example/x"}
    )
    assert bad.status_code == 422 and "no remote representation" in bad.text


def test_the_record_page_button_copies(
    heritage_runtime: Runtime, heritage_app: object, world: World, remote: Remote
) -> None:
    from heritage.testing.plugin import TEST_SECRET_KEY
    from heritage.web import csrf

    record_uuid = remote_record(heritage_runtime, remote)
    client = TestClient(heritage_app, base_url="http://testserver", follow_redirects=False)  # type: ignore[arg-type]
    client.cookies.set(SESSION_COOKIE, world.people["editor"].session)
    client.cookies.set(csrf.CSRF_COOKIE, "c")
    answer = client.post(
        f"/records/{record_uuid}/remote-images/copy",
        data={
            "url": remote.url("/files/photo.png"),
            "csrf_token": csrf.token_for(TEST_SECRET_KEY, "c"),
        },
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].endswith("notice=copy-requested")
    page = client.get(f"/records/{record_uuid}")
    assert "Copied from" in page.text and "photo.png</a>" in page.text
    view = RecordService(heritage_runtime).get(SYSTEM, record_uuid)
    assert view.record.representations[1].file == "media/photo.png"


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("10.1.2.3", True),
        ("192.168.0.1", True),
        ("169.254.169.254", True),  # cloud metadata
        ("127.0.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("fd00::1", True),
        ("0.0.0.0", True),  # noqa: S104 - an address to refuse, not to bind
        ("224.0.0.1", True),
        ("93.184.215.14", False),
        ("2a00:1450:4001:80e::200e", False),
    ],
)
def test_which_addresses_the_guard_refuses(address: str, refused: bool) -> None:
    from heritage.iiif.remote import _forbidden

    assert _forbidden(address) is refused


def test_the_address_really_reached_is_checked(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that resolved to a public address for the check but connects to loopback
    (DNS rebinding) is refused before its answer is read."""
    import types

    from heritage.iiif import remote as module

    public = types.SimpleNamespace(
        getaddrinfo=lambda host, port: [(2, 1, 6, "", ("93.184.215.14", port))]
    )
    monkeypatch.setattr(module, "socket", public)
    with pytest.raises(FetchError, match="answered from an address"):
        fetch(remote, tmp_path, "/files/photo.png", allow_private=False)


def _values_of(node: object, key: str) -> Iterator[object]:
    """Every value of ``key`` anywhere in a JSON document."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key:
                yield value
            yield from _values_of(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from _values_of(item, key)
