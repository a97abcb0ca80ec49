"""A job acts as the user who started it, with that user's rights; the system otherwise."""

from __future__ import annotations

import pytest

from heritage.accounts.identity import SYSTEM
from heritage.errors import NotFound
from heritage.jobs.actors import job_actor
from heritage.runtime import Runtime
from heritage.testing.world import build_world


def test_the_user_who_started_the_job_or_the_system(heritage_runtime: Runtime) -> None:
    world = build_world(heritage_runtime)
    editor = world.people["editor"]
    actor = job_actor(heritage_runtime, {"user_id": editor.user_id}, "import")
    assert actor.user_id == editor.user_id and actor is not SYSTEM
    assert job_actor(heritage_runtime, {}, "import") is SYSTEM


def test_a_user_who_no_longer_exists_is_a_clear_error(heritage_runtime: Runtime) -> None:
    with pytest.raises(NotFound, match="the user who started this batch no longer exists"):
        job_actor(heritage_runtime, {"user_id": 987654}, "batch")
