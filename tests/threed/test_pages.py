"""The record page's 3D section: adding a model through the form, its analysis and
quality report, the paradata form, errors shown on the page, and viewers' limits."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from fastapi import FastAPI

from heritage.accounts.identity import SYSTEM
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.testing.forms import FormClient
from heritage.testing.world import PASSWORD, World, build_world, email_of
from tests.records.test_record_service import complete


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    return build_world(heritage_runtime)


def signed_in(app: FastAPI, name: str) -> FormClient:
    client = FormClient(app)
    client.sign_in(email_of(name), PASSWORD)
    return client


def test_add_a_model_and_its_paradata_through_the_page(
    heritage_app: FastAPI, heritage_runtime: Runtime, world: World, models: Path
) -> None:
    record_uuid = RecordService(heritage_runtime).create(SYSTEM, "alpha", complete()).uuid
    editor = signed_in(heritage_app, "editor")
    page = editor.get(f"/records/{record_uuid}")
    assert "Add a 3D model" in page.text
    # a page without the 3D viewer may not compile WebAssembly nor start blob: workers
    assert "wasm-unsafe-eval" not in page.headers["Content-Security-Policy"]
    assert "worker-src" not in page.headers["Content-Security-Policy"]
    folder = models / "obj" / "cube-with-mtl"
    files = [("files", (path.name, path.read_bytes())) for path in sorted(folder.iterdir())]
    added = editor.post(f"/records/{record_uuid}/models", files=files, follow_redirects=False)
    assert added.status_code == 303, added.text
    page = editor.get(added.headers["location"])
    text = html.unescape(page.text)
    assert "The 3D model was added as a new version" in text
    assert "cube-obj-1.0-unmodified-unknown.obj" in text and "data-threed-viewer" in text
    # the viewer decodes Draco (WebAssembly in a worker from a blob:), nothing broader
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:;" in policy
    assert "unsafe-eval'" not in policy.replace("'wasm-unsafe-eval'", "")
    assert "unsafe-inline" not in policy
    assert "data-fallback-url=" in text and "name=lod-100k-uncompressed" in text
    assert "Watertight" in text and "Quality report:" in text
    assert "the units of the coordinates: measurements have no scale" in text

    saved = editor.post(
        f"/records/{record_uuid}/models/paradata",
        {
            "file": "cube-obj-1.0-unmodified-unknown/cube-obj-1.0-unmodified-unknown.obj",
            "method": "modelling",
            "device": "",
            "units": "cm",
            "object_movable": "yes",
            "accuracy_mm": "0,5",
            "software": "Blender 4.2\n",
            "steps": "modelled\nexported as OBJ",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    text = html.unescape(editor.get(saved.headers["location"]).text)
    assert "The paradata was saved." in text
    assert 'value="modelling" selected' in text and 'value="cm" selected' in text
    assert "exported as OBJ" in text and 'data-units="cm"' in text
    assert "measurements have no scale" not in text

    bad = editor.post(
        f"/records/{record_uuid}/models/paradata",
        {"file": "cube-obj-1.0-unmodified-unknown/cube-obj-1.0-unmodified-unknown.obj",
         "accuracy_mm": "-3"},
    )  # fmt: skip
    assert bad.status_code == 422 and "The paradata was not saved" in html.unescape(bad.text)

    refused = editor.post(
        f"/records/{record_uuid}/models",
        files=[("files", ("notes.txt", b"hello"))],
    )
    assert refused.status_code == 422
    assert "none of the files is a 3D model" in html.unescape(refused.text)

    viewer = signed_in(heritage_app, "viewer")
    page = viewer.get(f"/records/{record_uuid}")
    assert "data-threed-viewer" in page.text
    assert "Add a 3D model" not in page.text and "Save paradata" not in page.text
