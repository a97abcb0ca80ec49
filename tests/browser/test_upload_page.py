"""The upload page: a file goes up through tus-js-client, progress reaches 100 %, and the
new object holds it."""

from __future__ import annotations

import os
import re

from playwright.sync_api import expect


def test_upload_a_file_through_the_page(admin_page, live_server, tmp_path) -> None:
    page = admin_page
    file = tmp_path / "survey scan.tif"
    data = os.urandom(3 * 1024 * 1024 + 17)
    file.write_bytes(data)
    page.goto(f"/workspaces/{live_server.workspace}/upload")
    expect(page.get_by_role("heading", name="Upload files")).to_be_visible()
    page.get_by_label("Files", exact=True).set_input_files(str(file))
    page.get_by_label("Message for the new version").fill("Survey, first pass")
    page.get_by_role("button", name="Upload", exact=True).click()

    item = page.locator(".upload-item")
    expect(item.locator(".upload-percent")).to_have_text("100 %", timeout=30_000)
    expect(item.get_by_role("progressbar", name="survey scan.tif")).to_have_attribute(
        "value", "100"
    )
    link = item.get_by_role("link", name="Open the object")
    expect(link).to_have_attribute(
        "href", re.compile(rf"^/workspaces/{live_server.workspace}/objects/[0-9a-f-]{{36}}$")
    )
    link.click()
    main = page.get_by_role("main")
    expect(main).to_contain_text("survey scan.tif")
    # The stored file is the one sent, byte for byte.
    href = page.get_by_role("link", name="survey scan.tif").first.get_attribute("href")
    response = page.request.get(href)
    assert response.ok and response.body() == data
