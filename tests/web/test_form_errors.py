"""Every form of the site answers bad input with a page that names the problem.

Each POST page route with form fields is sent garbage in every field (too long,
control characters, wrong types) by an administrator: the answer must be a
client error page that marks the field or explains the error, never a 500 and
never a success.
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from heritage.runtime import Runtime
from heritage.testing.world import World, build_world
from heritage.web import csrf
from heritage.web.app import create_app
from heritage.web.context import SESSION_COOKIE

GARBAGE = "\x00" + "ü" * 6000


def form_routes() -> list[tuple[str, list[str]]]:
    from heritage.config import load_settings

    settings = load_settings(
        _env_file=None, data_dir="/tmp/heritage-form-routes", database_url="sqlite:///:memory:"
    )
    app = create_app(Runtime(settings))
    found = []
    for context in iter_route_contexts(app.router.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or str(context.path).startswith("/api"):
            continue
        fields = [param.alias for param in route.dependant.body_params]
        if "POST" in (context.methods or set()) and fields:
            found.append((str(context.path), fields))
    return found


FORMS = form_routes()


def fill(path: str, world: World) -> str:
    values = {
        "workspace_slug": "alpha",
        "institution_slug": "inst-a",
        "user_id": str(world.people["viewer"].user_id),
        "object_uuid": world.objects["alpha"],
        "record_id": world.records["alpha"],
        "import_id": world.imports["alpha"],
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_forms_were_found() -> None:
    assert len(FORMS) >= 10


@pytest.mark.parametrize(("path", "fields"), FORMS, ids=[path for path, _ in FORMS])
def test_garbage_in_every_field_gets_a_clear_error_page(
    heritage_runtime: Runtime, path: str, fields: list[str]
) -> None:
    world = build_world(heritage_runtime)
    client = TestClient(
        create_app(heritage_runtime),
        base_url="http://testserver",
        follow_redirects=False,
        raise_server_exceptions=False,
        cookies={
            csrf.CSRF_COOKIE: "form-test-cookie",
            SESSION_COOKIE: world.people["admin"].session,
        },
    )
    token = csrf.token_for(heritage_runtime.settings.signing_key, "form-test-cookie")
    data = {field: GARBAGE for field in fields}
    data["csrf_token"] = token
    response = client.post(fill(path, world), data=data)
    assert response.status_code != 500, response.text[:500]
    assert 400 <= response.status_code < 500, (path, response.status_code)
    assert "text/html" in response.headers["content-type"]
    page = response.text
    assert 'class="error' in page or 'role="alert"' in page or "field-errors" in page, page[:800]
    assert "Traceback" not in page
