"""What only the PostgreSQL engine has: its numbered facet values, set up once and
found again by every later process, and the tables of an older index format, which
searches refuse until a rebuild from scratch."""

# SQL names below are the engine's constant table names.
# ruff: noqa: S608

from __future__ import annotations

import pytest
from sqlalchemy import text

from heritage.accounts.identity import SYSTEM
from heritage.errors import ContentUnavailable
from heritage.records.model import Record, Value
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.search.backends.postgres import FACET_NAMES, FACET_VALUES, FORMER_TABLES, TABLE
from heritage.search.indexing import SearchIndexer
from heritage.search.services import SearchParams, SearchService
from heritage.testing.world import World


@pytest.fixture
def postgres_search(search_runtime: Runtime) -> Runtime:
    if search_runtime.settings.search_backend != "postgresql":
        pytest.skip("about the PostgreSQL engine only")
    return search_runtime


def test_facet_values_are_numbered_once_and_counted_with_ties_in_value_order(
    postgres_search: Runtime, search_world: World
) -> None:
    records = RecordService(postgres_search)
    for number, creator in enumerate(["Zorn", "Abel", "Maes", "Abel", "Zorn", "Hals"]):
        records.create(
            SYSTEM,
            "alpha",
            Record(
                identifier=f"tie-{number}",
                title=[Value.text(f"Ledger {number}")],
                creator=[Value.text(creator)],
            ),
        )
    result = SearchService(postgres_search).search(
        SYSTEM, SearchParams(q="ledger", facets=("creator",), facet_size=3)
    )
    assert [(item.value, item.count) for item in result.facets["creator"]] == [
        ("Abel", 2),
        ("Zorn", 2),
        ("Hals", 1),
    ]
    with postgres_search.database.engine.connect() as connection:
        numbered = connection.execute(
            text(f"SELECT value, id >> 32 FROM {FACET_VALUES} WHERE facet = 'creator'")
        ).all()
    assert sorted(value for value, _ in numbered) == ["Abel", "Hals", "Maes", "Zorn"]
    assert len({number for _, number in numbered}) == 1  # the facet's number


def test_an_older_format_is_refused_until_a_rebuild_from_scratch(
    postgres_search: Runtime, search_world: World
) -> None:
    service = SearchService(postgres_search)
    assert service.search(SYSTEM, SearchParams(q="")).total > 0
    with postgres_search.database.engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE {FORMER_TABLES[0]} (record_uuid text)"))
    with pytest.raises(ContentUnavailable, match="heritage reindex --clear"):
        service.search(SYSTEM, SearchParams(q="anything"))
    SearchIndexer(postgres_search).reindex(clear=True)
    with postgres_search.database.engine.connect() as connection:
        assert connection.scalar(text(f"SELECT to_regclass('{FORMER_TABLES[0]}')")) is None
    assert service.search(SYSTEM, SearchParams(q="")).total > 0


def test_a_later_process_sets_up_over_the_existing_tables_and_keeps_the_numbers(
    postgres_search: Runtime, search_world: World
) -> None:
    service = SearchService(postgres_search)
    params = SearchParams(q="", facets=("workspace",))
    first = service.search(SYSTEM, params)
    assert first.facets["workspace"]
    numbers_sql = text(f"SELECT facet, number FROM {FACET_NAMES} ORDER BY number")
    with postgres_search.database.engine.connect() as connection:
        before = connection.execute(numbers_sql).all()
    # A runtime of its own is what a restarted server or another worker has.
    later = Runtime(postgres_search.settings)
    try:
        found = SearchService(later).search(SYSTEM, params)
    finally:
        later.close()
    assert (found.total, found.facets) == (first.total, first.facets)
    with postgres_search.database.engine.connect() as connection:
        assert connection.execute(numbers_sql).all() == before
    assert len(before) == len({number for _, number in before})


def _index_names(runtime: Runtime) -> set[str]:
    with runtime.database.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT indexname FROM pg_indexes WHERE tablename = :table"), {"table": TABLE}
        )
        return {name for (name,) in rows}


def test_a_rebuild_from_scratch_makes_the_indexes_once_the_rows_are_in(
    postgres_search: Runtime, search_world: World
) -> None:
    backend = postgres_search.search
    every_index = _index_names(postgres_search)
    assert {f"{TABLE}_{name}" for name in ("terms", "facets", "workspace")} <= every_index
    with pytest.raises(RuntimeError, match="cut short"), backend.bulk(fresh=True):
        assert _index_names(postgres_search) == {f"{TABLE}_pkey"}
        raise RuntimeError("cut short")
    assert _index_names(postgres_search) == every_index  # made even so
    SearchIndexer(postgres_search).reindex(clear=True)
    assert _index_names(postgres_search) == every_index
    found = SearchService(postgres_search).search(SYSTEM, SearchParams(q="", facets=("workspace",)))
    assert found.total > 0 and found.facets["workspace"]
