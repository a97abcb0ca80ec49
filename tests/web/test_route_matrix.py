"""Every route × every person of the standard world, against docs/permissions.md.

The expected answers are read from the documentation page, not from the
policy code: the page is the contract. A route without a policy action, or with
an action the page does not list, fails the test.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from starlette.routing import Mount

from heritage.config import load_settings
from heritage.runtime import Runtime
from heritage.testing.plugin import TEST_SECRET_KEY
from heritage.testing.storage import snapshot_storage_root
from heritage.testing.world import WORLD_FILE, World, add_world_images, build_world
from heritage.web import csrf
from heritage.web.app import create_app
from heritage.web.context import SESSION_COOKIE
from heritage.web.deps import Authorize

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
SUBJECTS = {
    "Anonymous": None,
    "Outsider": "outsider",
    "Viewer": "viewer",
    "Contributor": "contributor",
    "Editor": "editor",
    "Manager": "manager",
    "Owner": "owner",
    "Administrator": "admin",
    "Institution member": "inst_member",
    "Institution admin": "inst_admin",
}
PUBLIC_COLUMN = "Anonymous, public workspace"


def read_doc_tables() -> dict[str, dict[str, bool]]:
    """action -> column heading -> allowed, from both tables of the page."""
    expected: dict[str, dict[str, bool]] = {}
    for name in ("workspace", "institution"):
        block = re.search(
            rf"<!-- permissions:{name} -->\n(.*?)<!-- /permissions:{name} -->",
            DOC.read_text(),
            re.S,
        )
        assert block, f"no {name} table in {DOC}"
        lines = [line for line in block.group(1).splitlines() if line.startswith("|")]
        headings = [cell.strip() for cell in lines[0].strip("|").split("|")][2:]
        for line in lines[2:]:
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            action = cells[0].strip("`")
            expected[action] = {
                heading: value == "yes" for heading, value in zip(headings, cells[2:], strict=True)
            }
    return expected


EXPECTED = read_doc_tables()


def route_action(route: APIRoute) -> str | None:
    actions = [
        dep.call.action for dep in route.dependant.dependencies if isinstance(dep.call, Authorize)
    ]
    return actions[0] if len(actions) == 1 else None


def application_routes() -> list[tuple[str, str, str | None]]:
    settings = load_settings(
        _env_file=None,
        data_dir=Path("/tmp/unused-heritage"),
        database_url="sqlite:///:memory:",
        secret_key=TEST_SECRET_KEY,
    )
    app = create_app(Runtime(settings))
    found = []
    for context in iter_route_contexts(app.router.routes):
        route = context.original_route
        if isinstance(route, Mount):
            assert context.path == "/static", f"unexpected mount {context.path}"
            continue
        assert isinstance(route, APIRoute), f"{route} is not an APIRoute"
        for method in sorted((context.methods or set()) - {"HEAD"}):
            found.append((method, str(context.path), route_action(route)))
    return found


ROUTES = application_routes()


def test_every_route_names_one_documented_action() -> None:
    problems = [
        f"{method} {path}: "
        + ("no Authorize(...) dependency" if action is None else f"action {action} not in docs")
        for method, path, action in ROUTES
        if action is None or action not in EXPECTED
    ]
    assert not problems, "\n".join(problems)


@dataclass
class Stage:
    """One application over the world, which can be put back as it was."""

    app: FastAPI
    runtime: Runtime
    world: World
    restore: callable  # type: ignore[valid-type]


@pytest.fixture(scope="module")
def stage(
    heritage_postgres: str | None,
    heritage_template_database: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stage]:
    workdir = tmp_path_factory.mktemp("matrix")
    if heritage_postgres is None:
        live = workdir / "live.sqlite3"
        shutil.copyfile(heritage_template_database, live)
        url = f"sqlite:///{live}"
    else:
        name = f"m_{uuid.uuid4().hex[:12]}"
        admin = create_engine(heritage_postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(
                text(f'CREATE DATABASE "{name}" TEMPLATE {heritage_template_database}')
            )
        url = heritage_postgres.rsplit("/", 1)[0] + f"/{name}"
    settings = load_settings(
        _env_file=None,
        data_dir=workdir / "data",
        database_url=url,
        secret_key=TEST_SECRET_KEY,
        password_memory_kib=1024,
        queue="immediate",
    )
    runtime = Runtime(settings)
    world = build_world(runtime)
    add_world_images(runtime, world)
    runtime.database.dispose()
    # The preservation store is part of the world too: purges and deletions change it.
    store = settings.resolved_storage_root
    store_snapshot = workdir / "store-snapshot"
    snapshot_storage_root(runtime.storage, store, store_snapshot)

    def restore_store() -> None:
        runtime.storage.wait_for_cleanup()
        shutil.rmtree(store)
        shutil.copytree(store_snapshot, store, symlinks=True)

    if heritage_postgres is None:
        snapshot = workdir / "world.sqlite3"
        shutil.copyfile(live, snapshot)

        def restore() -> None:
            runtime.database.dispose()
            restore_store()
            for suffix in ("-wal", "-shm"):
                Path(f"{live}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(snapshot, live)
    else:
        world_db = f"{name}_world"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{world_db}" TEMPLATE "{name}"'))

        def restore() -> None:
            runtime.database.dispose()
            restore_store()
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
                connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{world_db}"'))

    yield Stage(create_app(runtime), runtime, world, restore)
    runtime.close()
    if heritage_postgres is not None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'DROP DATABASE IF EXISTS "{world_db}" WITH (FORCE)'))
        admin.dispose()


def fill_path(path: str, world: World, person: str | None, workspace: str) -> str:
    own = world.people[person or "editor"]
    member = "inst_member" if path.startswith(("/api/institutions", "/institutions")) else "viewer"
    values = {
        "workspace_slug": workspace,
        "institution_slug": "inst-a",
        "job_id": world.job_id,
        "token_id": str(own.token_id),
        "user_id": str(world.people[member].user_id),
        "invitation_id": str(world.invitation_id),
        "secret": world.invitation_secret,
        "object_uuid": world.objects.get(workspace, world.objects["alpha"]),
        "file_path": WORLD_FILE,
        "record_id": world.records.get(workspace, world.records["alpha"]),
        "import_id": world.imports.get(workspace, world.imports["alpha"]),
        "batch_id": world.batches.get(workspace, world.batches["alpha"]),
        "image_id": world.images.get(workspace, world.images["alpha"]),
        "region": "full",
        "size": "max",
        "rotation": "0",
        "quality_format": "default.jpg",
        "page": "1",
        "version": "v1",
        "saved_id": str(own.saved_search_id),
        # No such upload: the tus routes check the policy, then the protocol (a
        # missing Tus-Resumable is 412) before they look the upload up.
        "upload_id": "matrix-no-such-upload",
    }

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        assert key in values, f"the matrix test does not know path parameter {{{key}}}"
        return values[key]

    return re.sub(r"\{(\w+)(?::\w+)?\}", value, path)


def call(stage: Stage, method: str, path: str, person: str | None) -> tuple[int, str]:
    is_api = path.startswith("/api/")
    headers = {}
    cookies = {csrf.CSRF_COOKIE: "matrix-csrf-cookie"}
    if method in UNSAFE:
        headers[csrf.CSRF_HEADER] = csrf.token_for(TEST_SECRET_KEY, "matrix-csrf-cookie")
    if person is not None:
        if is_api:
            headers["Authorization"] = f"Bearer {stage.world.people[person].token}"
        else:
            cookies[SESSION_COOKIE] = stage.world.people[person].session
    client = TestClient(
        stage.app,
        base_url="http://testserver",
        follow_redirects=False,
        raise_server_exceptions=False,
        cookies=cookies,
    )
    kwargs: dict[str, object] = {"headers": headers}
    if method in UNSAFE and method != "DELETE":
        if is_api:
            kwargs["json"] = {}
        else:
            kwargs["data"] = {"placeholder": ""}
    response = client.request(method, path, **kwargs)
    return response.status_code, response.headers.get("location", "")


def denied(status: int, location: str) -> bool:
    return status in (401, 403, 404) or (status in (302, 303) and location.startswith("/login?"))


CASES = [
    pytest.param(method, path, action, column, id=f"{method} {path} as {column}")
    for method, path, action in ROUTES
    if action in EXPECTED
    for column in EXPECTED[action]
    if column != PUBLIC_COLUMN or "{workspace_slug}" in path
    # Institution columns only apply to institution routes and vice versa.
    if (column in ("Institution member", "Institution admin")) == ("{institution_slug}" in path)
    or column in ("Anonymous", "Outsider", "Administrator")
]


@pytest.mark.parametrize(("method", "path", "action", "column"), CASES)
def test_route_answers_as_documented(
    stage: Stage, method: str, path: str, action: str, column: str
) -> None:
    if column == PUBLIC_COLUMN:
        person, workspace = None, "gamma"
    else:
        person, workspace = SUBJECTS[column], "alpha"
    url = fill_path(path, stage.world, person, workspace)
    try:
        status, location = call(stage, method, url, person)
    finally:
        if method in UNSAFE:
            stage.restore()  # the next case starts from the same world
    assert status != 500, f"{method} {url} as {column}: server error"
    expected_allowed = EXPECTED[action][column]
    if expected_allowed:
        assert not denied(status, location), (
            f"{method} {url} as {column}: expected allowed ({action}), got {status} {location}"
        )
    else:
        assert denied(status, location), (
            f"{method} {url} as {column}: expected denied ({action}), got {status} {location}"
        )
