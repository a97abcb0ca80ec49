"""Harvesting into a workspace: incremental re-harvests, deletions at the source, resuming."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from heritage.accounts.identity import SYSTEM
from heritage.errors import InvalidInput
from heritage.records.imports import ImportService
from heritage.records.models import ImportStatus, RecordImport
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.testing.world import build_world
from tests.records.oai_server import OAI, Item, Repository, edm_items, serve


@pytest.fixture
def repository(shared_data: Path) -> Repository:
    return Repository(items=edm_items(shared_data), page_size=4)


def deleted_item(identifier: str, datestamp: str) -> Item:
    record = etree.Element(f"{{{OAI}}}record", nsmap={None: OAI})
    header = etree.SubElement(record, f"{{{OAI}}}header", status="deleted")
    etree.SubElement(header, f"{{{OAI}}}identifier").text = identifier
    etree.SubElement(header, f"{{{OAI}}}datestamp").text = datestamp
    return Item(identifier, datestamp, "edm", ["sandbox"], record)


def run(service: ImportService, url: str, **options: object) -> RecordImport:
    row = service.create_harvest(SYSTEM, "alpha", url, prefix="edm", **options)  # type: ignore[arg-type]
    service.run(SYSTEM, row.id)
    done, _ = service.get(SYSTEM, row.id)
    return done


def test_harvest_then_incremental_then_deletion(
    heritage_runtime: Runtime, repository: Repository
) -> None:
    build_world(heritage_runtime)
    service = ImportService(heritage_runtime)
    total = len(repository.items)
    with serve(repository) as url:
        first = run(service, url)
        assert first.status is ImportStatus.FINISHED, first.error
        handled = sum(first.counts.values())
        assert handled == total
        assert first.counts.get("create", 0) >= total - first.counts.get("failed", 0) - 2
        assert first.last_datestamp == max(item.datestamp for item in repository.items)

        # nothing changed: the next harvest asks only for what changed since, and stores nothing
        second = run(service, url)
        assert repository.requests[-1].get("from") == first.last_datestamp[:10]
        assert set(second.counts) <= {"unchanged", "failed"}

        # a record deleted at the source is deleted here (a new version; history kept)
        victim = next(item for item in repository.items if item.identifier.endswith("Record1"))
        repository.items.remove(victim)
        repository.items.append(deleted_item(victim.identifier, "2099-01-01T00:00:00Z"))
        third = run(service, url)
        assert third.counts.get("delete") == 1, third.counts
    items, _ = service.items(SYSTEM, third.id)
    gone = next(item for item in items if item.action.value == "delete")
    assert gone.source_id == victim.identifier
    assert gone.record_uuid is not None
    record = RecordService(heritage_runtime).get(SYSTEM, gone.record_uuid)
    assert record.row.deleted and record.version == "v2"


def test_harvest_options_are_checked(heritage_runtime: Runtime) -> None:
    build_world(heritage_runtime)
    service = ImportService(heritage_runtime)
    with pytest.raises(InvalidInput, match="url"):
        service.create_harvest(SYSTEM, "alpha", "ftp://example.org/oai", prefix="edm")
    with pytest.raises(InvalidInput, match="prefix"):
        service.create_harvest(SYSTEM, "alpha", "https://example.org/oai", prefix="marc21")


def test_an_endpoint_error_is_reported_and_keeps_what_was_harvested(
    heritage_runtime: Runtime, repository: Repository
) -> None:
    build_world(heritage_runtime)
    service = ImportService(heritage_runtime)
    repository.malformed_offsets = {8}  # the third page is broken, again and again
    with serve(repository) as url:
        row = service.create_harvest(SYSTEM, "alpha", url, prefix="edm")
        service.run(SYSTEM, row.id)
        broken, _ = service.get(SYSTEM, row.id)
        assert broken.status is ImportStatus.FAILED
        assert "line" in (broken.error or "") or "XML" in (broken.error or "")
        assert broken.position == 8 and broken.resumption_token
        # resumed, it asks for the page it could not read, and finishes
        repository.malformed_offsets = set()
        service.run(SYSTEM, row.id)
        resumed, _ = service.get(SYSTEM, row.id)
    assert resumed.status is ImportStatus.FINISHED, resumed.error
    assert sum(resumed.counts.values()) == len(repository.items)


def test_scheduled_harvests_start_again_incrementally(
    heritage_runtime: Runtime, repository: Repository
) -> None:
    from heritage.records.jobs import repeat_scheduled_harvests

    build_world(heritage_runtime)
    service = ImportService(heritage_runtime)
    with serve(repository) as url:
        first = run(service, url, schedule="daily")
        run(service, "http://127.0.0.1:9/other-oai", full=True)  # not on a schedule
        started = repeat_scheduled_harvests(heritage_runtime)  # the queue runs them at once
        assert len(started) == 1
        again, _ = service.get(SYSTEM, started[0])
    assert again.status is ImportStatus.FINISHED, again.error
    assert again.options["harvest"]["from"] == first.last_datestamp
    assert again.options["harvest"]["schedule"] == "daily"


def test_harvest_through_the_api(
    heritage_runtime: Runtime, heritage_client, repository: Repository
) -> None:
    world = build_world(heritage_runtime)
    heritage_client.headers["Authorization"] = f"Bearer {world.people['contributor'].token}"
    with serve(repository) as url:
        started = heritage_client.post(
            "/api/workspaces/alpha/harvests", json={"url": url, "prefix": "edm", "set": "sandbox"}
        )
        assert started.status_code == 202, started.text
        report = heritage_client.get(started.json()["links"]["self"]).json()
    assert report["status"] == "finished", report
    assert sum(report["counts"].values()) == len(repository.items)
    refused = heritage_client.post(
        "/api/workspaces/alpha/harvests", json={"url": url, "prefix": "marc"}
    )
    assert refused.status_code == 422


def test_a_harvest_reports_progress_against_the_announced_list_size(
    heritage_runtime: Runtime, repository: Repository
) -> None:
    build_world(heritage_runtime)
    service = ImportService(heritage_runtime)
    seen: list[tuple[int, int | None]] = []
    with serve(repository) as url:
        row = service.create_harvest(SYSTEM, "alpha", url, prefix="edm")
        service.run(SYSTEM, row.id, lambda done, total, where: seen.append((done, total)))
    assert seen[-1] == (len(repository.items), len(repository.items))
