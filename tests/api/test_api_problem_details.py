"""Every API error is an RFC 9457 problem: bad bodies on every route, service errors, 404, 500.

The JSON-body routes are discovered from the application, so a new route is
covered without touching this file.
"""

from __future__ import annotations

import itertools
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from fastapi import FastAPI, params
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from httpx import Response
from pydantic import BaseModel, TypeAdapter, ValidationError

from heritage.config import load_settings
from heritage.logs import configure_logging
from heritage.runtime import Runtime
from heritage.testing.plugin import TEST_SECRET_KEY
from heritage.testing.world import WORLD_FILE, World, build_world
from heritage.web.app import create_app

PROBLEM = "application/problem+json"
UNKNOWN_FIELD = "surely_not_a_field"


@dataclass(frozen=True)
class BodyRoute:
    method: str
    path: str
    model: type[BaseModel]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def json_body_routes() -> list[BodyRoute]:
    settings = load_settings(
        _env_file=None,
        data_dir=Path(tempfile.gettempdir()) / "heritage-api-routes",
        database_url="sqlite:///:memory:",
        secret_key=TEST_SECRET_KEY,
    )
    app = create_app(Runtime(settings))
    found = []
    for context in iter_route_contexts(app.router.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not str(context.path).startswith("/api/"):
            continue
        if route.body_field is None:
            continue
        if isinstance(route.body_field.field_info, params.Form):
            continue  # multipart uploads (imports): not JSON bodies
        model = route.body_field.field_info.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel), context.path
        for method in sorted((context.methods or set()) - {"HEAD"}):
            found.append(BodyRoute(method, str(context.path), model))
    return found


ROUTES = json_body_routes()


def test_json_body_routes_are_found() -> None:
    assert len(ROUTES) >= 11
    assert "POST /api/workspaces" in {str(route) for route in ROUTES}


@dataclass
class Api:
    client: TestClient
    world: World
    headers: dict[str, str]

    def url(self, path: str) -> str:
        people = self.world.people
        values = {
            "workspace_slug": "alpha",
            "institution_slug": "inst-a",
            "user_id": str(people["viewer"].user_id),
            "invitation_id": str(self.world.invitation_id),
            "token_id": str(people["admin"].token_id),
            "job_id": self.world.job_id,
            "secret": self.world.invitation_secret,
            "object_uuid": self.world.objects["alpha"],
            "file_path": WORLD_FILE,
            "record_id": self.world.records["alpha"],
            "import_id": self.world.imports["alpha"],
            "batch_id": getattr(self.world, "batches", {}).get("alpha", "none"),
            "version": "v1",
        }
        return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m.group(1)], path)

    def send(self, route: BodyRoute, *, json: Any = None, content: str | None = None) -> Response:
        if content is None:
            return self.client.request(
                route.method, self.url(route.path), json=json, headers=self.headers
            )
        return self.client.request(
            route.method,
            self.url(route.path),
            content=content,
            headers={**self.headers, "Content-Type": "application/json"},
        )


@pytest.fixture
def plain_logging() -> Iterator[None]:
    """Log errors as the server does (plain tracebacks): structlog's default renders
    every local variable of every frame with rich, which takes seconds per error."""
    saved = structlog.get_config()
    configure_logging("INFO")
    yield
    structlog.configure(**saved)


@pytest.fixture
def api(heritage_runtime: Runtime, heritage_app: FastAPI) -> Iterator[Api]:
    world = build_world(heritage_runtime)
    headers = {"Authorization": f"Bearer {world.people['admin'].token}"}
    with TestClient(heritage_app, raise_server_exceptions=False) as client:
        yield Api(client, world, headers)


def problem_issues(response: Response, statuses: tuple[int, ...] = (422,)) -> list[str]:
    """What is wrong with a response that should be a problem document."""
    issues = []
    if response.status_code not in statuses:
        issues.append(f"status {response.status_code}, not {statuses}")
    if response.headers.get("content-type") != PROBLEM:
        issues.append(f"content type {response.headers.get('content-type')}")
        return issues
    body = response.json()
    for key in ("type", "title", "status", "detail"):
        if not body.get(key):
            issues.append(f"no {key!r}")
    if body.get("status") != response.status_code:
        issues.append(f"status member {body.get('status')} != {response.status_code}")
    return issues


def error_fields(response: Response) -> list[str]:
    errors = response.json().get("errors") or []
    return [error.get("field") for error in errors if error.get("reason")]


def wrong_value(annotation: Any) -> Any:
    """A JSON value the (strict) field refuses."""
    adapter = TypeAdapter(annotation)
    for candidate in (12345, "not a number", {"nested": True}):
        try:
            adapter.validate_python(candidate, strict=True)
        except ValidationError:
            return candidate
    raise AssertionError(f"no wrong value found for {annotation}")


def check_all(routes: list[BodyRoute], check: Any) -> None:
    problems = [f"{route}: {issue}" for route in routes for issue in check(route)]
    assert not problems, "\n".join(problems)


# -- every JSON-body route ---------------------------------------------------------------
def test_body_of_the_wrong_type(api: Api) -> None:
    def check(route: BodyRoute) -> list[str]:
        response = api.send(route, content="[]")
        issues = problem_issues(response)
        if not issues and error_fields(response) != ["body"]:
            issues.append(f"errors {response.json().get('errors')}")
        return issues

    check_all(ROUTES, check)


def test_field_of_the_wrong_type(api: Api) -> None:
    def check(route: BodyRoute) -> list[str]:
        issues = []
        for name, field in route.model.model_fields.items():
            response = api.send(route, json={name: wrong_value(field.annotation)})
            found = problem_issues(response)
            if not found and name not in error_fields(response):
                found.append(f"errors {response.json().get('errors')} do not name {name}")
            issues.extend(f"{name}: {issue}" for issue in found)
        return issues

    check_all(ROUTES, check)


def test_unknown_field(api: Api) -> None:
    def check(route: BodyRoute) -> list[str]:
        response = api.send(route, json={UNKNOWN_FIELD: 1})
        issues = problem_issues(response)
        if not issues and UNKNOWN_FIELD not in error_fields(response):
            issues.append(f"errors {response.json().get('errors')}")
        return issues

    check_all(ROUTES, check)


def test_malformed_json(api: Api) -> None:
    def check(route: BodyRoute) -> list[str]:
        response = api.send(route, content='{"name": "unterminated')
        issues = problem_issues(response, (400, 422))
        if not issues and not error_fields(response):
            issues.append("no errors")
        return issues

    check_all(ROUTES, check)


def test_malformed_json_error_names_the_body(api: Api) -> None:
    """A JSON syntax error is about the body, not about a field called "14"."""
    route = next(route for route in ROUTES if str(route) == "POST /api/workspaces")
    response = api.send(route, content='{"name": "x",,}')
    assert problem_issues(response, (400, 422)) == []
    assert error_fields(response) == ["body"], response.json()


# -- integer parameters beyond the database's range ----------------------------------------
def integer_parameter_routes() -> list[tuple[str, str, str, str]]:
    """(method, path, parameter, "path" or "query") for every integer parameter of every route."""
    settings = load_settings(
        _env_file=None,
        data_dir=Path(tempfile.gettempdir()) / "heritage-api-routes",
        database_url="sqlite:///:memory:",
        secret_key=TEST_SECRET_KEY,
    )
    app = create_app(Runtime(settings))
    found = []
    for context in iter_route_contexts(app.router.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        params = [(p, "path") for p in route.dependant.path_params] + [
            (p, "query") for p in route.dependant.query_params
        ]
        for param, where in params:
            if int in (
                param.field_info.annotation,
                *getattr(param.field_info.annotation, "__args__", ()),
            ):
                for method in sorted((context.methods or set()) - {"HEAD"}):
                    found.append((method, str(context.path), param.name, where))
    return found


INTEGER_PARAMETERS = integer_parameter_routes()


def test_huge_integer_parameters_are_not_server_errors(api: Api, plain_logging: None) -> None:
    """Ids and sequence numbers beyond the database's integer range: an answer, never a 500
    (a problem document from the API; pages answer with their own error page).

    2**31 is one past PostgreSQL's integer columns, 2**63 one past SQLite's integers.
    """
    assert len(INTEGER_PARAMETERS) >= 6
    problems = []
    for value, (method, path, name, where) in itertools.product((2**31, 2**63), INTEGER_PARAMETERS):
        url = api.url(path.replace("{" + name + "}", str(value)))
        params = {name: value} if where == "query" else None
        body = {"role": "viewer"} if method == "PATCH" else None
        response = api.client.request(method, url, params=params, json=body, headers=api.headers)
        if response.status_code >= 500:
            problems.append(f"{method} {path} ({name}={value}): {response.status_code}")
        elif response.status_code >= 400 and path.startswith("/api/"):
            issues = problem_issues(response, (404, 422))
            problems.extend(f"{method} {path} ({name}={value}): {issue}" for issue in issues)
    assert not problems, "\n".join(problems)


# -- service errors carry the field ---------------------------------------------------------
def test_invalid_slug_names_the_field(api: Api) -> None:
    response = api.client.post(
        "/api/workspaces",
        json={"slug": "Bad Slug!", "name": "Bad", "institution": "inst-a"},
        headers=api.headers,
    )
    assert problem_issues(response) == []
    body = response.json()
    assert body["type"].endswith("invalid-input")
    assert body["errors"][0]["field"] == "slug"
    assert body["errors"][0]["reason"]


def test_unknown_institution_names_the_field(api: Api) -> None:
    response = api.client.post(
        "/api/workspaces",
        json={"slug": "fine", "name": "Fine", "institution": "nowhere"},
        headers=api.headers,
    )
    assert problem_issues(response) == []
    assert error_fields(response) == ["institution"]


def test_duplicate_slug_is_a_conflict(api: Api) -> None:
    response = api.client.post(
        "/api/workspaces",
        json={"slug": "alpha", "name": "Again", "institution": "inst-a"},
        headers=api.headers,
    )
    assert problem_issues(response, (409,)) == []
    assert response.json()["type"].endswith("conflict")
    assert "alpha" in response.json()["detail"]


def test_query_and_path_parameters_name_the_parameter(api: Api) -> None:
    response = api.client.get("/api/audit?limit=0", headers=api.headers)
    assert problem_issues(response) == []
    assert error_fields(response) == ["limit"]
    response = api.client.delete("/api/me/tokens/not-a-number", headers=api.headers)
    assert problem_issues(response) == []
    assert error_fields(response) == ["token_id"]


# -- routing errors and the unexpected ----------------------------------------------------
def test_unknown_api_route_is_a_problem(api: Api) -> None:
    response = api.client.get("/api/no-such-thing", headers=api.headers)
    assert problem_issues(response, (404,)) == []
    assert response.json()["type"].endswith("not-found")
    assert response.json()["instance"] == "/api/no-such-thing"


def test_wrong_method_is_a_problem(api: Api) -> None:
    response = api.client.put("/api/me", json={}, headers=api.headers)
    assert problem_issues(response, (405,)) == []
    assert response.headers.get("allow")


def test_missing_resource_is_a_problem(api: Api) -> None:
    response = api.client.get("/api/workspaces/nothing-here", headers=api.headers)
    assert problem_issues(response, (404,)) == []


def test_unexpected_error_is_a_500_problem_without_internals(
    heritage_runtime: Runtime, plain_logging: None
) -> None:
    app = create_app(heritage_runtime)

    def internal_handler_name() -> None:
        raise RuntimeError("connection string postgresql://admin:hunter2@db leaked")

    app.add_api_route("/api/boom", internal_handler_name, methods=["GET"])
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/boom", headers={"X-Request-ID": "req-4711"})
    assert problem_issues(response, (500,)) == []
    body = response.json()
    assert body["type"].endswith("internal-error")
    assert body["request_id"] == "req-4711"
    assert "req-4711" in body["detail"]
    text = response.text
    for leak in ("Traceback", "RuntimeError", "hunter2", "internal_handler_name", 'File "'):
        assert leak not in text, leak
