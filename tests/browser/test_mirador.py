"""Mirador, a IIIF viewer on another site, opens one of our manifests: a record of a public
workspace gets an image through the JSON API, a worker makes its derivatives, then a page
served from another origin (Mirador from node_modules, never a CDN) opens the manifest
from the live server. Mirador must show no error, draw the picture (not a blank canvas)
from our /iiif/3/ tiles, every one of which answered 200 (so CORS allows the origin).
Writes docs/screenshots/mirador.jpg with HERITAGE_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import pyvips

from tests.browser.conftest import LiveServer, _server_env, _stop

ROOT = Path(__file__).resolve().parents[2]
MIRADOR_JS = ROOT / "node_modules" / "mirador" / "dist" / "mirador.min.js"
SCREENSHOT = ROOT / "docs" / "screenshots" / "mirador.jpg"
# Mirador 4.0.0's own bundle logs this React 19 deprecation notice: its code, not ours
REACT_NOTICE = "Accessing element.ref was removed in React 19"
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>Mirador</title></head>
<body style="margin:0">
<div id="mirador" style="position:absolute;inset:0"></div>
<script src="/mirador.min.js"></script>
<script>
  window.miradorInstance = Mirador.viewer({
    id: "mirador",
    windows: [{ manifestId: %s, thumbnailNavigationPosition: "off" }],
    window: { allowClose: false, sideBarOpen: false },
    workspaceControlPanel: { enabled: false },
  });
</script>
</body></html>
"""


@contextlib.contextmanager
def other_site(manifest_url: str) -> Iterator[str]:
    """A page with Mirador on 127.0.0.1 at another port: another origin than the server's."""
    page = (PAGE % json.dumps(manifest_url)).encode()
    script = MIRADOR_JS.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, media_type = {
                "/": (page, "text/html; charset=utf-8"),
                "/mirador.min.js": (script, "text/javascript"),
            }.get(self.path, (b"", ""))
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", media_type or "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def public_record_with_image(admin_page, live_server: LiveServer, image: Path) -> str:
    """A new public workspace holding a record with ``image``; returns the record's uuid."""
    page = admin_page
    page.goto("/dashboard")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    headers = {"X-CSRF-Token": token}
    slug = f"mirador-{uuid.uuid4().hex[:6]}"
    created = page.request.post(
        "/api/workspaces",
        data={"slug": slug, "name": "Mirador check", "institution": "demo-museum"}
        | {"visibility": "public"},
        headers=headers,
    )
    assert created.status == 201, created.text()
    record = page.request.post(
        f"/api/workspaces/{slug}/records",
        data={"record": {"identifier": "castle", "title": [{"value": "Bentheim castle"}]}},
        headers=headers,
    )
    assert record.status == 201, record.text()
    record_uuid = record.json()["id"]
    attached = page.request.put(
        f"/api/records/{record_uuid}/files/media/bentheim.jpg",
        data=image.read_bytes(),
        headers=headers | {"Content-Type": "image/jpeg"},
    )
    assert attached.status == 200, attached.text()
    return record_uuid


def make_derivatives(page, live_server: LiveServer, manifest: str, log: Path) -> None:
    """Run a worker until the manifest answers (the server runs no worker of its own)."""
    env = _server_env(live_server.data_dir, 0, live_server.database_url)
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "heritage", "worker"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while page.request.get(manifest).status != 200:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(1)
        finally:
            _stop(worker)


def test_mirador_shows_our_manifest(
    admin_page, new_context, live_server: LiveServer, shared_data: Path, tmp_path: Path
) -> None:
    if not MIRADOR_JS.is_file():
        pytest.skip(f"{MIRADOR_JS} missing: run 'npm ci --no-audit --no-fund' in {ROOT}")
    image = shared_data / "images" / "bentheim.jpg"
    record_uuid = public_record_with_image(admin_page, live_server, image)
    manifest = live_server.url(f"/iiif/presentation/records/{record_uuid}/manifest")
    make_derivatives(admin_page, live_server, manifest, tmp_path / "worker.log")

    page = new_context(base_url=None).new_page()  # anonymous, as a visitor of the other site
    errors: list[str] = []
    page.on(
        "console",
        lambda m: (
            errors.append(m.text) if m.type == "error" and REACT_NOTICE not in m.text else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    tiles: list[tuple[str, int]] = []
    page.on(
        "response",
        lambda r: tiles.append((r.url, r.status)) if "/iiif/3/" in r.url else None,
    )
    with other_site(manifest) as site:
        page.goto(site)
        # Mirador fetched and parsed the manifest and the image service without an error
        page.wait_for_function(
            """(manifest) => {
                const state = window.miradorInstance.store.getState();
                const loaded = state.manifests[manifest];
                return loaded && !loaded.isFetching && (loaded.json || loaded.error);
            }""",
            arg=manifest,
        )
        osd = page.locator(".openseadragon-canvas canvas").first
        osd.wait_for(state="visible")
        # wait until OpenSeadragon has drawn tiles of our image service
        page.wait_for_function(
            "() => Object.values(window.miradorInstance.store.getState().infoResponses)"
            ".some((r) => !r.isFetching && (r.json || r.error))"
        )
        deadline = time.monotonic() + 20
        while not any(url.endswith(".jpg") and status == 200 for url, status in tiles):
            assert time.monotonic() < deadline, tiles
            page.wait_for_timeout(200)
        page.wait_for_timeout(1500)  # the drawing's fade-in
        state = page.evaluate(
            """(manifest) => {
                const state = window.miradorInstance.store.getState();
                return {
                    manifest: state.manifests[manifest].error || null,
                    info: Object.values(state.infoResponses).map(
                        (r) => [r.id, r.error ? String(r.error) : null, !!r.json]),
                };
            }""",
            manifest,
        )
        assert state["manifest"] is None, state
        # Mirador's own record of errors (its error dialogue shows these) is empty
        shown_errors = page.evaluate(
            "() => window.miradorInstance.store.getState().errors.items || []"
        )
        assert not shown_errors, shown_errors
        shot = osd.screenshot(animations="disabled")
        full = page.screenshot(type="jpeg", quality=80)
    (tmp_path / "mirador.jpg").write_bytes(full)
    if os.environ.get("HERITAGE_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(full)

    info = [entry for entry in state["info"] if "/iiif/3/" in entry[0]]
    assert info and all(error is None and loaded for _, error, loaded in info), state
    ours = [(url, status) for url, status in tiles if url.startswith(live_server.base_url)]
    image_requests = [(url, status) for url, status in ours if url.endswith(".jpg")]
    assert image_requests, tiles
    assert all(status == 200 for _, status in ours), ours
    # the canvas shows the picture: its middle varies (a blank canvas is one colour)
    drawn = pyvips.Image.new_from_buffer(shot, "")
    middle = drawn.crop(drawn.width // 4, drawn.height // 4, drawn.width // 2, drawn.height // 2)
    assert middle.extract_band(0).deviate() > 10, "Mirador drew a flat area, not the picture"
    assert not errors, errors
