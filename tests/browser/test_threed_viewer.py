"""The 3D viewer on a record page: a real scan (the Bali mask, glTF with buffer and
texture) is added through the page, processed by a worker, drawn by three.js; the
tools answer, and a screenshot is kept to look at (test-results/threed-viewer.png)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import _server_env, _stop
from tests.browser.test_accessibility import run_axe

ROOT = Path(__file__).resolve().parents[2]
MASK = ROOT.parent / "shared" / "data" / "3d" / "gltf" / "mask-bali-separated"
LAZ = ROOT.parent / "shared" / "data" / "pointcloud" / "las" / "simple.laz"
SPOT = ROOT.parent / "shared" / "data" / "3d" / "obj" / "spot"
SCREENSHOT = ROOT / "test-results" / "threed-viewer.png"
BACKGROUND = (243, 243, 243)


@pytest.fixture
def worker(live_server):
    """A ``heritage worker`` on the live server's database and store."""
    env = _server_env(live_server.data_dir, 0, live_server.database_url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "heritage", "worker", "--threads", "1"],
        cwd=live_server.data_dir.parent,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    yield proc
    _stop(proc)


def drawn_pixels(page) -> float:
    """The share of the canvas's pixels that differ from the background."""
    return page.evaluate(
        """([r, g, b]) => {
            const source = document.querySelector('.threed-canvas');
            const copy = document.createElement('canvas');
            copy.width = source.width; copy.height = source.height;
            const context = copy.getContext('2d');
            context.drawImage(source, 0, 0);
            const data = context.getImageData(0, 0, copy.width, copy.height).data;
            let drawn = 0;
            for (let i = 0; i < data.length; i += 4) {
                const off = Math.abs(data[i] - r) + Math.abs(data[i + 1] - g)
                    + Math.abs(data[i + 2] - b);
                if (off > 30) drawn++;
            }
            return drawn / (data.length / 4);
        }""",
        list(BACKGROUND),
    )


def add_model(page, live_server, record_number: int, files: list[Path]) -> None:
    """Add a model to one of the demo's records through its page; wait for the viewer."""
    listing = page.request.get(f"/api/workspaces/{live_server.workspace}/records?limit=5")
    record_id = listing.json()["items"][record_number]["id"]
    page.goto(f"/records/{record_id}")
    page.get_by_label("Model files").set_input_files([str(path) for path in files])
    page.get_by_role("button", name="Add model").click()
    expect(page.get_by_role("heading", name="3D models")).to_be_visible()
    viewer = page.locator("[data-threed-viewer]")
    for _attempt in range(60):  # the worker analyses the model and makes its derivatives
        if viewer.count():
            break
        page.wait_for_timeout(1000)
        page.reload()
    expect(viewer).to_have_attribute("data-state", "ready", timeout=30_000)


def test_mask_is_drawn_and_measured(admin_page, live_server, worker, axe_source) -> None:
    if not MASK.is_dir():
        pytest.skip(f"shared 3D data not found at {MASK}")
    page = admin_page
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    add_model(page, live_server, 0, list(MASK.iterdir()))
    page.wait_for_timeout(500)  # a few frames
    assert drawn_pixels(page) > 0.05

    # the analysis is on the page, in real units (glTF: metres)
    expect(page.get_by_text("100,000")).to_be_visible()
    # wireframe and clipping change the picture
    before = drawn_pixels(page)
    page.get_by_label("Clipping plane").fill("50")
    page.wait_for_timeout(300)
    assert drawn_pixels(page) < before
    page.get_by_label("Clipping plane").fill("100")

    # measuring: two clicks on the model give a distance in metres
    page.get_by_role("button", name="Measure").click()
    canvas = page.locator(".threed-canvas")
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5)
    page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.5)
    expect(page.locator(".threed-measure")).to_contain_text(" m")
    distance = page.evaluate("window.heritageViewers[0].lastDistance")
    assert 0 < distance < 1  # a mask: centimetres apart, in metres
    page.get_by_label("Lighting").select_option("raking")
    page.wait_for_timeout(300)
    # a screenshot is the canvas as a PNG download; full screen shows the viewer alone
    with page.expect_download() as download:
        page.get_by_role("button", name="Screenshot").click()
    shot = Path(download.value.path()).read_bytes()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 10_000
    # no WebXR in headless Chromium: the AR button stays hidden
    expect(page.locator('[data-tool="ar"]')).to_be_hidden()
    page.get_by_role("button", name="Full screen").click()
    page.wait_for_function("document.fullscreenElement?.matches('[data-threed-viewer]')")
    page.keyboard.press("Escape")
    page.evaluate("document.fullscreenElement && document.exitFullscreen()")

    # the page with its viewer, analysis, quality report and paradata form: no serious
    # or critical accessibility violations
    serious = [
        item
        for item in run_axe(page, axe_source.read_text())
        if item["impact"] in ("serious", "critical")
    ]
    assert not serious, serious
    assert not errors, errors  # no script, CSP or loading error on the page
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.locator("[data-threed-viewer]").screenshot(path=str(SCREENSHOT))

    # the embeddable viewer draws the same model
    page.goto(page.locator("a", has_text="Embeddable viewer").get_attribute("href"))
    expect(page.locator("[data-threed-viewer]")).to_have_attribute("data-state", "ready")
    page.wait_for_timeout(300)
    assert drawn_pixels(page) > 0.05


def test_point_cloud_is_drawn_with_its_point_size(admin_page, live_server, worker) -> None:
    if not LAZ.is_file():
        pytest.skip(f"shared point cloud not found at {LAZ}")
    page = admin_page
    add_model(page, live_server, 1, [LAZ])
    expect(page.get_by_text("1,065")).to_be_visible()  # points, from the analysis
    page.wait_for_timeout(300)
    small = drawn_pixels(page)
    assert small > 0.0005
    page.get_by_label("Point size").fill("8")
    page.wait_for_timeout(300)
    assert drawn_pixels(page) > 3 * small


def test_draco_compressed_model_is_decoded_and_drawn(admin_page, live_server, worker) -> None:
    """The level of detail the viewer opens is Draco-compressed; three.js's decoder,
    served from /static under the page's CSP, decodes it and the model is drawn. A
    browser that cannot fetch the decoder gets the uncompressed level instead."""
    if not SPOT.is_dir():
        pytest.skip(f"shared 3D data not found at {SPOT}")
    page = admin_page
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    decoder: list[str] = []
    page.on("request", lambda request: "/draco/" in request.url and decoder.append(request.url))
    add_model(page, live_server, 2, [path for path in SPOT.iterdir() if path.suffix != ".txt"])
    figure = page.locator("[data-threed-viewer]")
    shown = figure.get_attribute("data-shown-url")
    assert "name=lod-100k" in shown and "uncompressed" not in shown
    glb = page.request.get(shown).body()
    assert b"KHR_draco_mesh_compression" in glb[:4096]
    assert any(url.endswith("draco_decoder.wasm") for url in decoder), decoder
    assert all(url.startswith(live_server.base_url) for url in decoder)  # ours, not a CDN
    page.wait_for_timeout(500)
    assert drawn_pixels(page) > 0.05
    assert not errors, errors  # no CSP refusal of the WebAssembly or the worker

    # without the decoder the viewer falls back to the uncompressed level
    page.route("**/static/vendor/three/draco/**", lambda route: route.abort())
    page.reload()
    expect(figure).to_have_attribute("data-state", "ready", timeout=30_000)
    assert "name=lod-100k-uncompressed" in figure.get_attribute("data-shown-url")
    page.wait_for_timeout(500)
    assert drawn_pixels(page) > 0.05
