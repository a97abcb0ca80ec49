"""The record page's deep-zoom viewer: an image attached through the page, its
derivatives made by a worker, then drawn by OpenSeadragon from our IIIF tiles; rotation
and the brightness / contrast / gamma adjustments act on it. Writes
docs/screenshots/viewer.png with HERITAGE_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import _server_env, _stop

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "screenshots" / "viewer.png"
OSD = ROOT / "heritage" / "web" / "static" / "vendor" / "openseadragon" / "openseadragon.min.js"


def test_viewer_draws_the_image_and_adjusts_it(
    admin_page, live_server, shared_data: Path, tmp_path: Path, axe_source: Path
) -> None:
    if not OSD.is_file():
        pytest.skip("OpenSeadragon is not copied: run npm ci && scripts/copy-assets.sh")
    page = admin_page
    errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            errors.append(f"{message.text} {message.location}") if message.type == "error" else None
        ),
    )
    identifier = f"mill-{uuid.uuid4().hex[:6]}"
    page.goto(f"/workspaces/{live_server.workspace}/records/new")
    page.get_by_label("Record identifier").fill(identifier)
    title = page.get_by_role("group", name=re.compile(r"^Title"))
    title.get_by_label("Text (Title)").first.fill("Bentheim castle")
    page.get_by_role("button", name="Create record").click()
    expect(page.get_by_role("heading", level=2, name="Bentheim castle")).to_be_visible()
    record_url = page.url

    page.get_by_label("File", exact=True).set_input_files(
        str(shared_data / "images" / "bentheim.jpg")
    )
    page.get_by_role("button", name="Attach").click()
    expect(page.get_by_role("link", name="bentheim.jpg")).to_be_visible()
    page.get_by_label("File", exact=True).set_input_files(
        str(shared_data / "iiif/image-api/67352ccc-d1b0-11e1-89ae-279075081939.png")
    )
    page.get_by_role("button", name="Attach").click()
    expect(
        page.get_by_role("link", name="67352ccc-d1b0-11e1-89ae-279075081939.png")
    ).to_be_visible()

    # the server runs no worker of its own: one takes the derivative job
    env = _server_env(live_server.data_dir, 0, live_server.database_url)
    worker = subprocess.Popen(
        [sys.executable, "-m", "heritage", "worker"],
        env=env,
        stdout=open(tmp_path / "worker.log", "wb"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        start_new_session=True,  # _stop ends its process group
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            page.goto(record_url)
            if page.locator("#iiif-viewer-compare").count():  # both images are ready
                break
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            time.sleep(1)
    finally:
        _stop(worker)

    viewer = page.locator("#iiif-viewer")
    expect(viewer).to_be_visible()
    # OpenSeadragon has drawn: the world holds the item and tiles are loaded and drawn
    page.wait_for_function(
        "() => window.heritageViewer && window.heritageViewer.world.getItemCount() === 1"
        " && window.heritageViewer.world.getItemAt(0).getFullyLoaded()"
    )
    size = page.evaluate(
        "() => { const s = window.heritageViewer.world.getItemAt(0).source;"
        " return [s.width, s.height]; }"
    )
    assert size == [3000, 2279]
    # the drawn canvas is not blank: sample the middle of the viewer
    painted = page.evaluate(
        """() => {
            const canvas = document.querySelector('#iiif-viewer canvas');
            const copy = document.createElement('canvas');
            copy.width = canvas.width; copy.height = canvas.height;
            const context = copy.getContext('2d');
            context.drawImage(canvas, 0, 0);
            const data = context.getImageData(
                canvas.width / 2 - 50, canvas.height / 2 - 50, 100, 100).data;
            let lo = 255, hi = 0;
            for (let i = 0; i < data.length; i += 4) {
                lo = Math.min(lo, data[i]); hi = Math.max(hi, data[i]);
            }
            return hi - lo;
        }"""
    )
    assert painted > 40, "the viewer drew a flat area, not the picture"

    page.get_by_role("button", name="Rotate right").click()
    page.wait_for_function("() => window.heritageViewer.viewport.getRotation() === 90")
    page.get_by_label("Brightness").fill("150")
    page.get_by_label("Gamma").fill("180")
    filter_ = page.evaluate("() => window.heritageViewer.canvas.style.filter")
    assert "brightness(1.5)" in filter_ and "url(" in filter_
    page.get_by_role("button", name="Reset").click()
    page.wait_for_function("() => window.heritageViewer.viewport.getRotation() === 0")
    # axe-core finds no serious or critical problem on the page with the viewer
    from tests.browser.test_accessibility import run_axe

    violations = [
        violation
        for violation in run_axe(page, axe_source.read_text())
        if violation["impact"] in ("serious", "critical")
    ]
    assert not violations, violations
    manifest = page.get_by_role("link", name=re.compile("IIIF manifest"))
    expect(manifest).to_have_attribute(
        "href", re.compile(r"/iiif/presentation/records/.+/manifest")
    )
    assert not errors, errors

    page.get_by_label("Contrast").fill("130")
    page.wait_for_function("() => window.heritageViewer.world.getItemAt(0).getFullyLoaded()")
    viewer.scroll_into_view_if_needed()
    image = viewer.screenshot(animations="disabled")
    (tmp_path / "viewer.png").write_bytes(image)
    if os.environ.get("HERITAGE_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(image)
    # side by side: the next image beside the first, zoomed and moved with it
    page.get_by_role("button", name="Side by side").click()
    expect(page.get_by_role("button", name="Side by side")).to_have_attribute(
        "aria-pressed", "true"
    )
    page.wait_for_function(
        "() => window.heritageCompare && window.heritageCompare.world.getItemCount() === 1"
        " && window.heritageCompare.world.getItemAt(0).getFullyLoaded()"
    )
    assert page.evaluate("() => window.heritageCompare.world.getItemAt(0).source.width") == 1000
    page.evaluate("() => window.heritageViewer.viewport.zoomTo(3, null, true)")
    page.wait_for_function("() => Math.abs(window.heritageCompare.viewport.getZoom() - 3) < 0.01")
    page.evaluate(
        "() => window.heritageCompare.viewport.panTo(new OpenSeadragon.Point(0.3, 0.2), true)"
    )
    page.wait_for_function(
        "() => Math.abs(window.heritageViewer.viewport.getCenter().x - 0.3) < 0.01"
    )
    pair = page.locator(".iiif-viewer-pair").screenshot(animations="disabled")
    (tmp_path / "side-by-side.png").write_bytes(pair)
    page.get_by_role("button", name="Side by side").click()
    assert not errors, errors
    # the full-screen button puts the viewer in full-page mode
    page.get_by_role("button", name="Full screen").click()
    page.wait_for_function("() => window.heritageViewer.isFullPage()")
