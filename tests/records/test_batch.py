"""Batch editing: operations, preview, apply with conflicts, revert, permissions, jobs."""

from __future__ import annotations

import pytest

from heritage.accounts.identity import Identity
from heritage.audit.services import list_entries
from heritage.errors import Conflict, NotFound, PermissionDenied
from heritage.records.batch import (
    AddValue,
    BatchRequest,
    BatchService,
    ClearField,
    RemoveValue,
    ReplaceText,
    SetSingle,
    SetValues,
    apply_operations,
)
from heritage.records.batch_models import BatchOutcome, BatchStatus, RevertOutcome
from heritage.records.model import Record, Value
from heritage.records.selection import Selection
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.testing.world import World, build_world

CC0 = "http://creativecommons.org/publicdomain/zero/1.0/"
BY = "http://creativecommons.org/licenses/by/4.0/"


def who(world: World, name: str, runtime: Runtime) -> Identity:
    from heritage.accounts.models import User
    from heritage.accounts.services import identity_of

    with runtime.database.session() as session:
        user = session.get(User, world.people[name].user_id)
        assert user is not None
        return identity_of(user, "test")


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    return build_world(heritage_runtime)


@pytest.fixture
def editor(heritage_runtime: Runtime, world: World) -> Identity:
    return who(world, "editor", heritage_runtime)


def sample(identifier: str, title: str = "Windmill", subject: str = "mills") -> Record:
    return Record(
        identifier=identifier,
        title=[Value.text(title, "en"), Value.text(title.upper(), "de")],
        subject=[Value.text(subject)],
        edm_type="IMAGE",
        rights=CC0,
        data_provider=[Value.text("Museum Alpha")],
        provider=[Value.text("Heritage Cloud")],
        is_shown_at=f"https://museum.example/{identifier}",
    )


def make(runtime: Runtime, actor: Identity, count: int, prefix: str = "b") -> list[str]:
    service = RecordService(runtime)
    return [
        service.create(actor, "alpha", sample(f"{prefix}-{n}", title=f"Mill {n}")).uuid
        for n in range(count)
    ]


# -- the operations, on records in memory ------------------------------------------------------


def test_each_operation() -> None:
    record = sample("x", title="Old Mill")
    set_ = apply_operations(
        record, [SetValues(field="subject", values=[Value.text("a"), Value.text("a")])]
    )
    assert set_.subject == [Value.text("a")]
    added = apply_operations(record, [AddValue(field="subject", value=Value.text("wind"))])
    assert [v.value for v in added.subject] == ["mills", "wind"]
    again = apply_operations(added, [AddValue(field="subject", value=Value.text("wind"))])
    assert again == added  # adding a value it has changes nothing
    removed = apply_operations(record, [RemoveValue(field="title", value="OLD MILL", lang="en")])
    assert removed.title == record.title  # the value is in German, not English
    removed = apply_operations(record, [RemoveValue(field="title", value="OLD MILL")])
    assert removed.title == [Value.text("Old Mill", "en")]
    linked = record.model_copy(update={"creator": [Value.link("http://ex.org/a", "A")]})
    assert (
        apply_operations(linked, [RemoveValue(field="creator", value="http://ex.org/a")]).creator
        == []
    )

    plain = apply_operations(record, [ReplaceText(field="title", find="Mill", replace="Mühle")])
    assert plain.title == [Value.text("Old Mühle", "en"), Value.text("OLD MILL", "de")]
    nocase = apply_operations(
        record, [ReplaceText(field="title", find="mill", replace="Mühle", case_sensitive=False)]
    )
    assert [v.value for v in nocase.title] == ["Old Mühle", "OLD Mühle"]
    only_de = apply_operations(
        record,
        [ReplaceText(field="title", find="mill", replace="X", case_sensitive=False, lang="de")],
    )
    assert [v.value for v in only_de.title] == ["Old Mill", "OLD X"]
    regex = apply_operations(
        record, [ReplaceText(field="title", find=r"(\w+) (\w+)", replace=r"\2, \1", regex=True)]
    )
    assert [v.value for v in regex.title] == ["Mill, Old", "MILL, OLD"]
    literal = apply_operations(record, [ReplaceText(field="title", find="Old", replace=r"\1 $&")])
    assert literal.title[0].value == r"\1 $& Mill"  # plain replacements are taken as they are
    emptied = apply_operations(record, [ReplaceText(field="subject", find="mills")])
    assert emptied.subject == []  # a value whose text becomes empty goes
    with pytest.raises(ValueError, match="regular expression"):
        ReplaceText(field="title", find="(", regex=True)

    typed = apply_operations(record, [SetSingle(field="edm_type", value="text")])
    assert typed.edm_type == "TEXT"
    with pytest.raises(ValueError, match="EDM type"):
        SetSingle(field="edm_type", value="PAINTING")
    licensed = apply_operations(record, [SetSingle(field="rights", value=BY)])
    assert licensed.rights == BY
    cleared = apply_operations(
        record, [ClearField(field="is_shown_at"), ClearField(field="subject")]
    )
    assert cleared.is_shown_at is None and cleared.subject == []
    with pytest.raises(ValueError, match="not a field"):
        SetValues(field="identifier", values=[])
    # operations run in order
    both = apply_operations(
        record,
        [
            AddValue(field="subject", value=Value.text("wind")),
            RemoveValue(field="subject", value="mills"),
        ],
    )
    assert [v.value for v in both.subject] == ["wind"]


def test_request_round_trips_as_json() -> None:
    request = BatchRequest.model_validate(
        {
            "selection": {"q": "mill", "edm_type": "IMAGE"},
            "operations": [
                {"op": "add", "field": "subject", "value": {"value": "wind", "lang": "en"}},
                {"op": "replace", "field": "title", "find": "a", "replace": "b", "regex": True},
                {"op": "set_single", "field": "rights", "value": BY},
                {"op": "clear", "field": "is_shown_at"},
            ],
        }
    )
    assert BatchRequest.model_validate(request.model_dump(mode="json")) == request
    assert "add 'wind' to subject" in request.summary()


# -- preview and apply -------------------------------------------------------------------------


def test_preview_writes_nothing(heritage_runtime: Runtime, editor: Identity) -> None:
    uuids = make(heritage_runtime, editor, 3)
    records = RecordService(heritage_runtime)
    before = {u: records.get(editor, u).version for u in uuids}
    request = BatchRequest(
        selection=Selection(q="b-"),
        operations=[ReplaceText(field="title", find="Mill 1", replace="Windmill 1")],
    )
    preview = BatchService(heritage_runtime).preview(editor, "alpha", request)
    assert (preview.selected, preview.changed, preview.unchanged) == (3, 1, 2)
    [item] = preview.items
    assert item.uuid == uuids[1]
    assert [(c.field, c.removed, c.added) for c in item.changes] == [
        ("title", ["Mill 1 @en"], ["Windmill 1 @en"])
    ]
    assert {u: records.get(editor, u).version for u in uuids} == before


def test_apply_versions_only_changed_records_and_revert(
    heritage_runtime: Runtime, editor: Identity
) -> None:
    uuids = make(heritage_runtime, editor, 3)
    records = RecordService(heritage_runtime)
    service = BatchService(heritage_runtime)
    request = BatchRequest(
        selection=Selection(uuids=[*uuids[:2], uuids[2]]),
        operations=[ReplaceText(field="title", find=r"Mill [01]$", replace="Mill", regex=True)],
        description="tidy titles",
    )
    view = service.apply(editor, "alpha", request)
    batch = view.batch
    assert batch.status is BatchStatus.FINISHED
    assert batch.counts == {"selected": 3, "changed": 2, "unchanged": 1, "conflict": 0, "failed": 0}
    assert [records.get(editor, u).version for u in uuids] == ["v2", "v2", "v1"]
    newest = records.versions(editor, uuids[0])[0]
    assert newest.message == f"Batch {batch.id}: tidy titles"
    total, items = service.items(editor, batch.id)
    assert total == 2
    assert {(i.record_uuid, i.version_before, i.version_after, i.outcome) for i in items} == {
        (uuids[0], "v1", "v2", BatchOutcome.CHANGED),
        (uuids[1], "v1", "v2", BatchOutcome.CHANGED),
    }
    with heritage_runtime.database.session() as session:
        actions = [entry.action for entry in list_entries(session, limit=20)]
    assert actions.count("record.batch") == 1

    # someone edits the second record after the batch: the revert leaves it alone
    second = records.get(editor, uuids[1])
    edited = second.record.model_copy(update={"subject": [Value.text("edited")]})
    records.update(editor, uuids[1], edited, base_version="v2")
    reverted = service.revert(editor, batch.id).batch
    assert reverted.status is BatchStatus.REVERTED and reverted.reverted_at is not None
    assert reverted.counts["reverted"] == 1 and reverted.counts["revert_conflict"] == 1
    first = records.get(editor, uuids[0])
    assert first.version == "v3"
    assert first.record == sample("b-0", title="Mill 0")
    assert records.versions(editor, uuids[0])[0].message.startswith(f"Reverted batch {batch.id}")
    assert records.get(editor, uuids[1]).version == "v3"  # the later edit stands
    _, items = service.items(editor, batch.id)
    outcomes = {i.record_uuid: (i.revert_outcome, i.revert_version) for i in items}
    assert outcomes[uuids[0]] == (RevertOutcome.REVERTED, "v3")
    assert outcomes[uuids[1]] == (RevertOutcome.CONFLICT, None)
    with heritage_runtime.database.session() as session:
        actions = [entry.action for entry in list_entries(session, limit=20)]
    assert actions.count("record.batch-revert") == 1
    with pytest.raises(Conflict):
        service.revert(editor, batch.id)


def test_a_conflict_is_reported_and_the_rest_applies(
    heritage_runtime: Runtime, editor: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    uuids = make(heritage_runtime, editor, 3)
    records = RecordService(heritage_runtime)
    original = RecordService.save
    raced = {"done": False}

    def racing_save(self: RecordService, actor: Identity, record_uuid: str, *a, **k):  # type: ignore[no-untyped-def]
        if record_uuid == uuids[1] and not raced["done"]:
            raced["done"] = True  # someone saves this record just before the batch does
            current = records.get(editor, record_uuid)
            other = current.record.model_copy(update={"description": [Value.text("meanwhile")]})
            original(self, actor, record_uuid, other, base_version=current.version)
        return original(self, actor, record_uuid, *a, **k)

    monkeypatch.setattr(RecordService, "save", racing_save)
    request = BatchRequest(
        selection=Selection(q="b-"), operations=[AddValue(field="subject", value=Value.text("x"))]
    )
    batch = BatchService(heritage_runtime).apply(editor, "alpha", request).batch
    assert batch.counts["changed"] == 2 and batch.counts["conflict"] == 1
    _, items = BatchService(heritage_runtime).items(editor, batch.id)
    conflict = next(i for i in items if i.outcome is BatchOutcome.CONFLICT)
    assert conflict.record_uuid == uuids[1] and "changed while you were editing" in conflict.message
    assert [v.value for v in records.get(editor, uuids[1]).record.subject] == ["mills"]
    assert [v.value for v in records.get(editor, uuids[2]).record.subject] == ["mills", "x"]


def test_an_edit_that_makes_a_record_invalid_fails_alone(
    heritage_runtime: Runtime, editor: Identity
) -> None:
    make(heritage_runtime, editor, 2)
    request = BatchRequest(
        operations=[
            ReplaceText(field="title", find="Mill 1", replace="x" * 10_000),
            *[ReplaceText(field="title", find="x", replace="xx")] * 4,  # beyond 100,000
        ]
    )
    service = BatchService(heritage_runtime)
    preview = service.preview(editor, "alpha", request)
    assert preview.failed == 1 and preview.items[0].error
    batch = service.apply(editor, "alpha", request).batch
    assert batch.counts["failed"] == 1 and batch.counts["changed"] == 0


def test_permissions(heritage_runtime: Runtime, world: World) -> None:
    contributor = who(world, "contributor", heritage_runtime)
    viewer = who(world, "viewer", heritage_runtime)
    editor = who(world, "editor", heritage_runtime)
    request = BatchRequest(operations=[AddValue(field="subject", value=Value.text("x"))])
    service = BatchService(heritage_runtime)
    for person in (contributor, viewer):
        with pytest.raises(PermissionDenied):
            service.preview(person, "alpha", request)
        with pytest.raises(PermissionDenied):
            service.apply(person, "alpha", request)
    batch = service.apply(editor, "alpha", request).batch
    assert batch.counts["changed"] == 1  # the world's record
    assert service.get(viewer, batch.id).batch.id == batch.id  # viewers may read reports
    with pytest.raises(PermissionDenied):
        service.revert(contributor, batch.id)
    outsider = who(world, "outsider", heritage_runtime)
    with pytest.raises(NotFound):  # a private workspace is hidden from outsiders
        service.get(outsider, batch.id)


def test_large_batches_run_as_a_job(heritage_runtime: Runtime, editor: Identity) -> None:
    from heritage.jobs.models import Job, JobStatus

    uuids = make(heritage_runtime, editor, 3)
    service = BatchService(heritage_runtime)
    request = BatchRequest(
        selection=Selection(uuids=uuids),
        operations=[SetSingle(field="rights", value=BY)],
    )
    view = service.apply(editor, "alpha", request, inline_limit=2)
    assert view.started_job is not None
    with heritage_runtime.database.session() as session:
        job = session.get(Job, view.started_job)
        assert job is not None and job.kind == "records.batch"
        assert job.status is JobStatus.SUCCEEDED, job.error
    batch = service.get(editor, view.batch.id).batch  # the immediate queue ran it already
    assert batch.status is BatchStatus.FINISHED and batch.counts["changed"] == 3
    reverted = service.revert(editor, batch.id, inline_limit=2)
    assert reverted.started_job is not None
    assert service.get(editor, batch.id).batch.counts["reverted"] == 3
    records = RecordService(heritage_runtime)
    assert {records.get(editor, u).record.rights for u in uuids} == {CC0}
