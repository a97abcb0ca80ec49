"""Search stays in step with the records: the outbox written with each records row,
the worker tick that catches up, resumable rebuilds, and a rebuild killed midway."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select, update

from heritage.accounts.identity import SYSTEM
from heritage.db.base import utcnow
from heritage.db.engine import Database
from heritage.jobs.services import JobService
from heritage.quality.tiers import RULES_FINGERPRINT, assess
from heritage.records.model import Record, Value
from heritage.records.models import RecordRow, RecordStatus
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.search import outbox
from heritage.search.indexing import SearchIndexer
from heritage.search.jobs import sync_search
from heritage.search.models import SearchPending, SearchState
from heritage.search.services import SearchParams, SearchService
from heritage.testing.world import World


def total(runtime: Runtime, q: str = "") -> int:
    return SearchService(runtime).search(SYSTEM, SearchParams(q=q)).total


def add_rows(runtime: Runtime, workspace_id: int, count: int, word: str = "ledger") -> None:
    """Records written straight into the table, as a bulk load or a restore would."""
    now = utcnow()
    with runtime.database.session(write=True) as session:
        session.execute(
            insert(RecordRow),
            [
                {
                    "uuid": str(uuid.uuid4()),
                    "object_id": f"bulk-{number}",
                    "workspace_id": workspace_id,
                    "identifier": f"bulk-{number}",
                    "title": f"{word} {number}",
                    "status": RecordStatus.VALID,
                    "problems": [],
                    "data": {
                        "identifier": f"bulk-{number}",
                        "title": [{"value": f"{word} {number}"}],
                    },
                    "content_hash": "",
                    "head_version": "v1",
                    "created_at": now,
                    "updated_at": now - timedelta(seconds=number),
                }
                for number in range(count)
            ],
        )
        session.commit()


def alpha_id(runtime: Runtime) -> int:
    from heritage.workspaces.models import Workspace

    with runtime.database.session() as session:
        found = session.scalar(select(Workspace.id).where(Workspace.slug == "alpha"))
        assert found is not None
        return found


def test_a_commit_whose_sync_never_ran_is_caught_up_by_the_tick(
    search_runtime: Runtime, search_world: World
) -> None:
    record = RecordService(search_runtime).create(
        SYSTEM, "alpha", Record(identifier="tick-1", title=[Value.text("Astrolabe")])
    )
    assert total(search_runtime, "astrolabe") == 1
    # Another process changes the record and dies before its sync: its outbox row
    # is committed with the change, nothing else happened.
    other = Database(search_runtime.settings.resolved_database_url)
    outbox.install(other, lambda: None)
    with other.session(write=True) as session:
        row = session.scalar(select(RecordRow).where(RecordRow.uuid == record.uuid))
        assert row is not None
        row.data = {"identifier": "tick-1", "title": [{"value": "Armillary sphere"}]}
        session.commit()
    other.dispose()
    assert total(search_runtime, "armillary") == 0
    assert SearchIndexer(search_runtime).pending() == 1
    # the workers' tick, registered with the queue at their start
    assert "search.sync" in JobService(search_runtime).install_schedules()
    sync_search(search_runtime)
    assert total(search_runtime, "armillary") == 1
    assert total(search_runtime, "astrolabe") == 0
    assert SearchIndexer(search_runtime).pending() == 0


def test_restored_records_are_queued_for_search(
    search_runtime: Runtime, search_world: World
) -> None:
    add_rows(search_runtime, alpha_id(search_runtime), 30)
    assert total(search_runtime, "ledger") == 0  # written around the outbox
    outbox.queue_all(search_runtime.database)
    assert SearchIndexer(search_runtime).pending() >= 30
    SearchIndexer(search_runtime).sync()
    assert total(search_runtime, "ledger") == 30


def test_a_rebuild_cut_short_goes_on_where_it_stopped(
    search_runtime: Runtime, search_world: World
) -> None:
    add_rows(search_runtime, alpha_id(search_runtime), 250)
    service = SearchIndexer(search_runtime)
    seen: list[int] = []

    def stop_after_two_batches(done: int, _total: int) -> None:
        seen.append(done)
        if done >= 100:
            raise KeyboardInterrupt

    with contextlib.suppress(KeyboardInterrupt):
        service.reindex(clear=True, batch=50, progress=stop_after_two_batches)
    with search_runtime.database.session() as session:
        state = session.get(SearchState, "rebuild")
        assert state is not None and state.value["done"] == 100
    # searches work meanwhile, over what is indexed so far
    assert total(search_runtime) == 100
    resumed: list[int] = []
    done = service.reindex(batch=50, progress=lambda done, _total: resumed.append(done))
    assert resumed[0] == 100  # it did not start again
    with search_runtime.database.session() as session:
        records = len(session.scalars(select(RecordRow.id)).all())  # the world's too
    assert done == total(search_runtime) == records
    with search_runtime.database.session() as session:
        assert session.get(SearchState, "rebuild") is None
        assert session.scalar(select(SearchPending.id)) is None


def test_a_rebuild_killed_midway_leaves_a_usable_index(
    search_runtime: Runtime, search_world: World, tmp_path: Path
) -> None:
    add_rows(search_runtime, alpha_id(search_runtime), 3000)
    settings = search_runtime.settings
    script = textwrap.dedent(
        f"""
        import sys
        from heritage.config import load_settings
        from heritage.runtime import Runtime
        from heritage.search.indexing import SearchIndexer
        settings = load_settings(
            _env_file=None, data_dir={str(settings.data_dir)!r},
            database_url={settings.resolved_database_url!r},
            search_backend={settings.search_backend!r}, queue="immediate",
        )
        def report(done, total):
            print(done, flush=True)
        SearchIndexer(Runtime(settings)).reindex(clear=True, batch=100, progress=report)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        env=os.environ.copy(),
    )
    assert child.stdout is not None
    for line in child.stdout:
        if int(line) >= 700:
            break
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    # whatever it was doing, the index opens and answers
    search_runtime.search.close()
    found = total(search_runtime, "ledger")
    assert 600 <= found <= 3000
    started = time.monotonic()
    SearchIndexer(search_runtime).reindex(batch=500)
    assert total(search_runtime, "ledger") == 3000
    assert time.monotonic() - started < 120


def test_a_large_rebuild_makes_its_documents_in_worker_processes(
    search_runtime: Runtime, search_world: World
) -> None:
    add_rows(search_runtime, alpha_id(search_runtime), 400)
    done = SearchIndexer(search_runtime).reindex(clear=True, batch=50, workers=2, parallel_from=0)
    assert total(search_runtime, "ledger") == 400
    assert done == total(search_runtime)


def kept_tiers(runtime: Runtime, record_uuid: str) -> tuple[int | None, str | None, str | None]:
    with runtime.database.session() as session:
        row = session.execute(
            select(RecordRow.content_tier, RecordRow.metadata_tier, RecordRow.tiers_rules).where(
                RecordRow.uuid == record_uuid
            )
        ).one()
        return row.content_tier, row.metadata_tier, row.tiers_rules


def tier_facets(runtime: Runtime, q: str) -> dict[str, dict[str, int]]:
    result = SearchService(runtime).search(
        SYSTEM, SearchParams(q=q, facets=("content_tier", "metadata_tier"))
    )
    return {
        name: {value.value: value.count for value in values}
        for name, values in result.facets.items()
    }


def test_indexing_keeps_the_tiers_with_the_record_and_a_rebuild_reads_them(
    search_runtime: Runtime, search_world: World
) -> None:
    record = Record(
        identifier="kept-1",
        title=[Value.text("Pocket watch", "en")],
        description=[Value.text("Silver case, enamel dial", "en")],
    )
    created = RecordService(search_runtime).create(SYSTEM, "alpha", record)
    decided = assess(record)
    assert kept_tiers(search_runtime, created.uuid) == (
        decided.content,
        decided.metadata,
        RULES_FINGERPRINT,
    )
    # A rebuild takes the kept tiers as they are (here made different on purpose; the
    # change is made older than the rebuild, which indexes newer changes once more) ...
    with search_runtime.database.session(write=True) as session:
        session.execute(
            update(RecordRow.__table__)
            .where(RecordRow.__table__.c.uuid == created.uuid)
            .values(content_tier=3, metadata_tier="C", updated_at=utcnow() - timedelta(hours=1))
        )
        session.commit()
    SearchIndexer(search_runtime).reindex(clear=True)
    facets = tier_facets(search_runtime, "watch")
    assert facets["content_tier"] == {"3": 1}
    assert facets["metadata_tier"] == {"C": 1}
    # ... but tiers decided by other rules are decided again, and kept for next time.
    with search_runtime.database.session(write=True) as session:
        session.execute(
            update(RecordRow.__table__)
            .where(RecordRow.__table__.c.uuid == created.uuid)
            .values(tiers_rules="older-rules")
        )
        session.commit()
    SearchIndexer(search_runtime).reindex(clear=True)
    facets = tier_facets(search_runtime, "watch")
    assert facets["content_tier"] == {str(decided.content): 1}
    assert facets["metadata_tier"] == {decided.metadata: 1}
    assert kept_tiers(search_runtime, created.uuid)[2] == RULES_FINGERPRINT


def test_records_written_without_tiers_get_them_from_the_first_rebuild(
    search_runtime: Runtime, search_world: World
) -> None:
    add_rows(search_runtime, alpha_id(search_runtime), 25)
    SearchIndexer(search_runtime).reindex(clear=True, batch=10)
    with search_runtime.database.session() as session:
        kept = session.execute(
            select(RecordRow.metadata_tier, RecordRow.tiers_rules).where(
                RecordRow.identifier.startswith("bulk-")
            )
        ).all()
    assert len(kept) == 25
    assert {rules for _, rules in kept} == {RULES_FINGERPRINT}
    assert tier_facets(search_runtime, "ledger")["metadata_tier"] == {kept[0][0]: 25}
