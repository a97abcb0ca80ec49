"""The pages of stored objects: list, create, look at one, download, remove, delete, purge."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from heritage.runtime import Runtime
from heritage.testing.forms import FormClient
from heritage.testing.world import PASSWORD, WORLD_FILE, World, build_world, email_of


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    return build_world(heritage_runtime)


def signed_in(app: FastAPI, name: str) -> FormClient:
    client = FormClient(app)
    client.sign_in(email_of(name), PASSWORD)
    return client


def test_list_create_and_object_page(heritage_app: FastAPI, world: World) -> None:
    contributor = signed_in(heritage_app, "contributor")
    listing = contributor.get("/workspaces/alpha/objects")
    assert listing.status_code == 200
    assert "Alpha letter" in listing.text
    assert "Each file becomes a new object." in listing.text  # the resumable uploader
    created = contributor.post(
        "/workspaces/alpha/objects", {"title": "Herbarium sheet"}, follow_redirects=False
    )
    assert created.status_code == 303
    page = contributor.get(created.headers["location"])
    assert page.status_code == 200
    assert "Herbarium sheet" in page.text and "The object was created." in page.text
    assert "v1" in page.text
    # contributors do not delete: no remove or delete buttons
    assert "Delete object" not in page.text


def test_object_page_lists_files_versions_and_events(heritage_app: FastAPI, world: World) -> None:
    editor = signed_in(heritage_app, "editor")
    uuid = world.objects["alpha"]
    page = editor.get(f"/workspaces/alpha/objects/{uuid}")
    assert WORLD_FILE in page.text and "encrypted" in page.text
    assert "ingestion" in page.text
    assert "Each file becomes part of a new version of this object." in page.text
    download = editor.get(f"/workspaces/alpha/objects/{uuid}/files/{WORLD_FILE}")
    assert download.content == b"Dear colleague,"

    removed = editor.post(
        f"/workspaces/alpha/objects/{uuid}/remove-file",
        {"path": WORLD_FILE},
        follow_redirects=False,
    )
    assert removed.status_code == 303
    page = editor.get(removed.headers["location"])
    assert "Earlier versions still hold it." in page.text
    assert "This version holds no files." in page.text
    old = editor.get(f"/workspaces/alpha/objects/{uuid}/files/{WORLD_FILE}?version=v1")
    assert old.content == b"Dear colleague,"

    bad = editor.post(f"/workspaces/alpha/objects/{uuid}/remove-file", {"path": "../x"})
    assert bad.status_code == 422 and 'role="alert"' in bad.text


def test_purge_form_for_administrators(heritage_app: FastAPI, world: World) -> None:
    admin = signed_in(heritage_app, "admin")
    uuid = world.objects["alpha"]
    page = admin.get(f"/workspaces/alpha/objects/{uuid}")
    assert "Purge object" in page.text
    empty = admin.post(f"/workspaces/alpha/objects/{uuid}/purge", {"reason": ""})
    assert empty.status_code == 422 and 'aria-invalid="true"' in empty.text
    done = admin.post(
        f"/workspaces/alpha/objects/{uuid}/purge", {"reason": "test data"}, follow_redirects=False
    )
    assert done.status_code == 303
    assert admin.get(f"/workspaces/alpha/objects/{uuid}").status_code == 404
