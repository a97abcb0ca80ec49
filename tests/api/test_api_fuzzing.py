"""Schemathesis drives every operation of the OpenAPI document: no input makes the API fail.

Only the ``not_a_server_error`` check runs. The stricter conformance checks
currently report documentation gaps rather than failures (error responses are
served as application/problem+json but documented as application/json;
constraints such as the slug pattern or the email format are enforced by the
services but absent from the schema), which would drown a real 5xx.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import structlog
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from heritage.logs import configure_logging
from heritage.runtime import Runtime
from heritage.testing.world import WORLD_FILE, add_world_images, build_world

EXAMPLES = 20


def can_be_invalid(definition: dict[str, Any]) -> bool:
    """Whether there is anything to send wrong: a body, a query, a non-string path part.

    (Any string is a valid slug for the schema; asking Hypothesis for an invalid
    one only burns hundreds of rejected attempts.)
    """
    if "requestBody" in definition:
        return True
    return any(
        parameter.get("in") == "query" or parameter.get("schema", {}).get("type") != "string"
        for parameter in definition.get("parameters", [])
    )


@pytest.fixture
def plain_logging() -> Iterator[None]:
    """Log errors as the server does: structlog's default (rich, with every frame's
    locals) takes seconds per error and would make a failing run crawl."""
    saved = structlog.get_config()
    configure_logging("INFO")
    yield
    structlog.configure(**saved)


@pytest.mark.parametrize(
    "mode",
    [
        # Valid data aimed at things that exist, to get past the 404s...
        GenerationMode.POSITIVE,
        # ...and invalid data everywhere, path included.
        GenerationMode.NEGATIVE,
    ],
    ids=["valid-data", "invalid-data"],
)
def test_no_input_causes_a_server_error(
    heritage_runtime: Runtime, heritage_app: FastAPI, plain_logging: None, mode: GenerationMode
) -> None:
    world = build_world(heritage_runtime)
    add_world_images(heritage_runtime, world)
    people = world.people
    real = {
        "workspace_slug": "alpha",
        "institution_slug": "inst-a",
        "user_id": people["viewer"].user_id,
        "invitation_id": world.invitation_id,
        "token_id": people["viewer"].token_id,
        "job_id": world.job_id,
        "secret": world.invitation_secret,
        "object_uuid": world.objects["alpha"],
        "file_path": WORLD_FILE,
        "record_id": world.records["alpha"],
        "import_id": world.imports["alpha"],
        "batch_id": getattr(world, "batches", {}).get("alpha", "0" * 36),
        "version": "v1",
        "saved_id": people["admin"].saved_search_id,
        "image_id": world.images["alpha"],
        "region": "full",
        "size": "max",
        "rotation": "0",
        "quality_format": "default.jpg",
        "page": 1,
        # an upload id that exists nowhere: its routes answer 404, never 5xx
        "upload_id": "0" * 32,
    }
    headers = {"Authorization": f"Bearer {people['admin'].token}"}
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", heritage_app)

    failures: list[str] = []
    operations = runs = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        if mode is GenerationMode.POSITIVE:
            names = set(re.findall(r"\{(\w+)(?::\w+)?\}", operation.path))
            path_parameters: dict[str, Any] | None = {name: real[name] for name in names}
        elif can_be_invalid(operation.definition.raw):
            path_parameters = None
        else:
            continue
        runs += 1

        @given(case=operation.as_strategy(mode, path_parameters=path_parameters))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        try:
            call()
        except Unsatisfiable:
            failures.append(f"{operation.label}: no case could be generated")
        except Exception as error:
            failures.append(f"{operation.label}: {type(error).__name__}: {error}")

    assert operations >= 25
    assert runs >= 15
    assert not failures, "\n\n".join(failures)
