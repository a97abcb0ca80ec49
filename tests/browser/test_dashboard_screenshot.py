"""The dashboard screenshot of the documentation, made reproducibly.

Run with HERITAGE_UPDATE_SCREENSHOTS=1 to (re)write docs/screenshots/dashboard.png;
otherwise the test only takes the screenshot and checks its size.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "screenshots" / "dashboard.png"
WIDTH, HEIGHT = 1280, 800


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_dashboard_screenshot(admin_page):
    page = admin_page
    page.goto("/dashboard")
    expect(page.get_by_role("heading", level=1, name="Dashboard")).to_be_visible()
    expect(page.get_by_role("main").get_by_role("link", name="Demo collection")).to_be_visible()
    # The cards of one row start at the same height.
    tops = page.locator("main .grid > *").evaluate_all(
        "els => els.map(e => Math.round(e.getBoundingClientRect().top))"
    )
    assert len(tops) >= 3 and len(set(tops)) == 1, f"dashboard cards not aligned: tops {tops}"
    page.evaluate("document.fonts.ready")
    # The mouse away from links, no text cursor: the picture does not depend on chance.
    page.mouse.move(0, HEIGHT - 1)
    image = page.screenshot(full_page=False, animations="disabled", caret="hide")
    assert _png_size(image) == (WIDTH, HEIGHT)
    if os.environ.get("HERITAGE_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(image)
