"""A runtime per search backend: the same tests run on the embedded engine and, on
a PostgreSQL run (``--db=postgresql``), on PostgreSQL full text as well."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from heritage.accounts.identity import ANONYMOUS, Identity
from heritage.config import Settings
from heritage.db.migrate import upgrade
from heritage.runtime import Runtime
from heritage.testing.world import World, build_world


@pytest.fixture(params=["tantivy", "postgresql"])
def search_runtime(
    request: pytest.FixtureRequest, heritage_settings: Settings, heritage_db_kind: str
) -> Iterator[Runtime]:
    if request.param == "postgresql" and heritage_db_kind != "postgresql":
        pytest.skip("the PostgreSQL search backend runs with --db=postgresql")
    settings = heritage_settings.model_copy(update={"search_backend": request.param})
    runtime = Runtime(settings)
    upgrade(runtime.database)
    yield runtime
    runtime.close()


@pytest.fixture
def search_world(search_runtime: Runtime) -> World:
    return build_world(search_runtime)


def identity(runtime: Runtime, world: World, name: str | None) -> Identity:
    from heritage.accounts.models import User
    from heritage.accounts.services import identity_of

    if name is None:
        return ANONYMOUS
    with runtime.database.session() as session:
        user = session.get(User, world.people[name].user_id)
        assert user is not None
        return identity_of(user, "test")
