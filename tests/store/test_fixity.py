"""Fixity audits: every kind of damage found and named, events on record, pacing, resuming."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from heritage.accounts.identity import SYSTEM
from heritage.db.base import utcnow
from heritage.jobs.models import Job, JobStatus
from heritage.jobs.services import JobService
from heritage.runtime import Runtime
from heritage.store.description import DESCRIPTION_PATH, ObjectDescription
from heritage.store.fixity import RateLimiter, audit_object
from heritage.store.maintenance import FIXITY_JOB, FixityService
from heritage.store.models import EventOutcome, EventType, PreservationEvent, StoredObject
from heritage.store.ocfl import Changes, User
from heritage.store.services import PreservationService
from heritage.store.signing import instance_keys
from heritage.testing.damage import add_workspace, content_path, flip_byte, swap, truncate

LETTER = b"Dear Sir, the parcel arrived intact. " * 3000  # ~110 kB
SCAN = bytes(range(256)) * 5000  # 1.28 MB: two encryption chunks


@pytest.fixture
def runtime(heritage_runtime: Runtime) -> Runtime:
    add_workspace(heritage_runtime, "letters")  # private: files are encrypted
    add_workspace(heritage_runtime, "open", public=True)  # files stored as they are
    return heritage_runtime


def store_object(runtime: Runtime, workspace: str = "open", title: str = "Letter") -> str:
    service = PreservationService(runtime)
    view = service.create_object(
        SYSTEM, workspace, title=title, files={"letter.txt": LETTER, "scan.tif": SCAN}
    )
    service.add_files(SYSTEM, workspace, view.uuid, {"notes/reply.txt": b"A reply."})
    return view.row.object_id


def stored(runtime: Runtime, object_id: str, logical: str) -> Path:
    storage = runtime.storage
    return storage.object_root(object_id) / content_path(storage, object_id, logical)


def events(runtime: Runtime, object_id: str, kind: EventType) -> list[PreservationEvent]:
    with runtime.database.session() as session:
        query = select(PreservationEvent).where(
            PreservationEvent.object_id == object_id, PreservationEvent.event_type == kind
        )
        return list(session.scalars(query.order_by(PreservationEvent.id)))


def row_of(runtime: Runtime, object_id: str) -> StoredObject:
    with runtime.database.session() as session:
        row = session.scalar(select(StoredObject).where(StoredObject.object_id == object_id))
        assert row is not None
        return row


@pytest.mark.parametrize("workspace", ["open", "letters"])
def test_an_intact_object_passes_and_the_check_is_on_record(
    runtime: Runtime, workspace: str
) -> None:
    object_id = store_object(runtime, workspace)
    run = FixityService(runtime).run(SYSTEM)
    assert run.ok and run.checked == 1 and not run.failures
    assert run.bytes_read > len(LETTER) + len(SCAN)  # every stored byte was read
    [event] = events(runtime, object_id, EventType.FIXITY_CHECK)
    assert event.outcome is EventOutcome.SUCCESS
    assert event.version == "v2" and event.agent == "heritage fixity audit"
    assert event.detail.startswith("all intact; 5 files hashed, 2 signatures verified")
    row = row_of(runtime, object_id)
    assert row.last_fixity_outcome is EventOutcome.SUCCESS
    assert row.last_fixity_at is not None and utcnow() - row.last_fixity_at < timedelta(minutes=1)


def _flip(runtime: Runtime, object_id: str) -> None:
    flip_byte(stored(runtime, object_id, "letter.txt"), 1000)


def _truncate(runtime: Runtime, object_id: str) -> None:
    truncate(stored(runtime, object_id, "scan.tif"))


def _delete(runtime: Runtime, object_id: str) -> None:
    stored(runtime, object_id, "notes/reply.txt").unlink()


def _swap(runtime: Runtime, object_id: str) -> None:
    swap(stored(runtime, object_id, "letter.txt"), stored(runtime, object_id, "scan.tif"))


def _tamper_inventory(runtime: Runtime, object_id: str) -> None:
    inventory = runtime.storage.object_root(object_id) / "inventory.json"
    inventory.write_bytes(inventory.read_bytes().replace(b"Added notes", b"Added n0tes"))


def _tamper_signature(runtime: Runtime, object_id: str) -> None:
    root = runtime.storage.object_root(object_id)
    signature = root / "extensions/heritage-signed-inventories/v1.sig.json"
    signature.write_bytes(signature.read_bytes().replace(b'"v1"', b'"v2"'))


def _remove_signature(runtime: Runtime, object_id: str) -> None:
    root = runtime.storage.object_root(object_id)
    (root / "extensions/heritage-signed-inventories/v2.sig.json").unlink()


DAMAGE: dict[str, tuple[Callable[[Runtime, str], None], set[tuple[str, str]]]] = {
    # how to damage -> (code, file named) findings expected; {logical} is the file's name
    "flipped byte": (_flip, {("HC-DIGEST-MISMATCH", "v1/content/letter.txt (letter.txt)")}),
    "truncated": (_truncate, {("HC-DIGEST-MISMATCH", "v1/content/scan.tif (scan.tif)")}),
    "deleted": (_delete, {("HC-FILE-MISSING", "v2/content/notes/reply.txt (notes/reply.txt)")}),
    "swapped pair": (
        _swap,
        {
            ("HC-FILE-SWAPPED", "v1/content/letter.txt (letter.txt)"),
            ("HC-FILE-SWAPPED", "v1/content/scan.tif (scan.tif)"),
        },
    ),
    "tampered inventory": (
        _tamper_inventory,
        {
            ("HC-SIDECAR-MISMATCH", "inventory.json.sha512"),
            ("HC-SIG-DIGEST-MISMATCH", "inventory.json"),
        },
    ),
    "removed signature": (
        _remove_signature,
        {("HC-SIG-MISSING", "extensions/heritage-signed-inventories/v2.sig.json")},
    ),
    "tampered signature": (
        _tamper_signature,
        {("HC-SIG-BAD", "extensions/heritage-signed-inventories/v1.sig.json")},
    ),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damage_is_found_and_named(runtime: Runtime, damage: str) -> None:
    object_id = store_object(runtime)
    intact = store_object(runtime, title="Untouched")
    harm, expected = DAMAGE[damage]
    harm(runtime, object_id)

    run = FixityService(runtime).run(SYSTEM)

    assert run.checked == 2 and not run.ok
    [audit] = run.failures
    assert audit.object_id == object_id
    found = {(f.code, audit.name_of(f.path)) for f in audit.problems}
    assert expected <= found, found
    [event] = events(runtime, object_id, EventType.FIXITY_CHECK)
    assert event.outcome is EventOutcome.FAILURE
    for code, name in expected:
        assert f"{code} {name}: " in event.detail
        assert "not repaired: no replica is configured" in event.detail
    assert row_of(runtime, object_id).last_fixity_outcome is EventOutcome.FAILURE
    assert row_of(runtime, intact).last_fixity_outcome is EventOutcome.SUCCESS
    assert not events(runtime, object_id, EventType.REPAIR)


def test_an_object_without_any_signature_is_a_warning_not_a_failure(runtime: Runtime) -> None:
    # as imported objects are before Heritage Cloud signs a version of theirs
    object_id = store_object(runtime)
    shutil.rmtree(runtime.storage.object_root(object_id) / "extensions")
    run = FixityService(runtime).run(SYSTEM)
    assert run.ok and run.warnings == 1
    [event] = events(runtime, object_id, EventType.FIXITY_CHECK)
    assert event.outcome is EventOutcome.WARNING
    assert "HC-SIG-MISSING extensions/heritage-signed-inventories/v1.sig.json: warning:" in (
        event.detail
    )


def test_an_object_missing_from_the_store_fails(runtime: Runtime) -> None:
    object_id = store_object(runtime)
    shutil.rmtree(runtime.storage.object_root(object_id))
    run = FixityService(runtime).run(SYSTEM)
    [audit] = run.failures
    assert [f.code for f in audit.problems] == ["HC-OBJECT-MISSING"]
    assert row_of(runtime, object_id).last_fixity_outcome is EventOutcome.FAILURE


def test_deep_check_compares_the_plaintext_with_its_recorded_sha256(runtime: Runtime) -> None:
    encrypted = store_object(runtime, "letters")
    plain = store_object(runtime, "open")
    # A version whose description records a wrong SHA-256 for the letter: every stored
    # digest is right (the store wrote them), only the plaintext check can tell.
    storage = runtime.storage
    with storage.read(plain, DESCRIPTION_PATH) as stream:
        description = ObjectDescription.from_bytes(stream.read())
    entry = description.files["letter.txt"]
    wrong = description.with_files({"letter.txt": type(entry)(entry.size, "0" * 64, "text/plain")})
    storage.create_or_update(
        plain,
        Changes.of({DESCRIPTION_PATH: wrong.to_bytes()}),
        "wrong digest",
        User("t", "mailto:t@example.org"),
    )
    keys = instance_keys(runtime.settings).public_keys()

    shallow = audit_object(storage, plain, keys)
    assert shallow.ok  # the stored bytes are as recorded
    deep = audit_object(storage, plain, keys, deep=True, key_lookup=runtime.keyring.data_key)
    assert [(f.code, f.path) for f in deep.problems] == [
        ("HC-PLAINTEXT-MISMATCH", "v1/content/letter.txt")
    ]
    assert deep.plaintext_checked == 3

    decrypted = audit_object(
        storage, encrypted, keys, deep=True, key_lookup=runtime.keyring.data_key
    )
    assert decrypted.ok and decrypted.plaintext_checked == 3
    keyless = audit_object(storage, encrypted, keys, deep=True)
    assert keyless.ok and {f.code for f in keyless.warnings} == {"HC-KEY-UNAVAILABLE"}


class FakeClock:
    """Time that passes only when someone sleeps; records every sleep asked for."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_rate_limiter_books_time_per_byte_and_earns_no_burst_when_idle() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1000, clock=clock, sleep=clock.sleep)
    limiter.consume(500)
    limiter.consume(500)
    assert clock.sleeps == [0.5, 0.5]
    clock.now += 60  # a long pause
    limiter.consume(2000)
    assert clock.sleeps[-1] == pytest.approx(2.0)
    unlimited = RateLimiter(0, clock=clock, sleep=clock.sleep)
    unlimited.consume(10**9)
    assert len(clock.sleeps) == 3


def test_the_audit_reads_no_faster_than_the_limit(runtime: Runtime) -> None:
    store_object(runtime)
    store_object(runtime, "letters")
    clock = FakeClock()
    rate = 100_000
    limiter = RateLimiter(rate, clock=clock, sleep=clock.sleep)
    run = FixityService(runtime, limiter=limiter).run(SYSTEM)
    assert run.ok and run.checked == 2
    # The fake clock only moves by sleeping, so the sleeps are the whole audit's duration.
    assert sum(clock.sleeps) == pytest.approx(run.bytes_read / rate)
    assert sum(clock.sleeps) > 2 * (len(LETTER) + len(SCAN)) / rate
    assert len(clock.sleeps) > 10  # paced block by block, not once per object


def test_an_interrupted_audit_continues_with_what_it_left(runtime: Runtime) -> None:
    objects = [store_object(runtime, title=f"Letter {n}") for n in range(5)]
    service = FixityService(runtime)
    first = service.run(SYSTEM, due_only=True, max_objects=2)
    assert first.checked == 2 and first.remaining == 3
    second = service.run(SYSTEM, due_only=True)
    assert second.checked == 3 and second.remaining == 0
    assert service.run(SYSTEM, due_only=True).checked == 0  # nothing is due any more
    for object_id in objects:
        assert len(events(runtime, object_id, EventType.FIXITY_CHECK)) == 1
    # Due again once the interval has passed, oldest check first.
    with runtime.database.session(write=True) as session:
        rows = session.scalars(select(StoredObject).order_by(StoredObject.id)).all()
        for age, row in enumerate(rows):
            row.last_fixity_at = utcnow() - timedelta(days=31 + age)
        session.commit()
    order = [c.object_id for c in service.candidates(due_only=True)]
    assert order == objects[::-1]


def test_workspace_and_object_restrict_the_audit(runtime: Runtime) -> None:
    in_open = store_object(runtime, "open")
    store_object(runtime, "letters")
    service = FixityService(runtime)
    assert service.run(SYSTEM, workspace="letters").checked == 1
    uuid = in_open.removeprefix("urn:uuid:")
    assert service.run(SYSTEM, object_uuid=uuid).checked == 1
    assert len(events(runtime, in_open, EventType.FIXITY_CHECK)) == 1


def test_report_lists_failures_first(runtime: Runtime) -> None:
    fine = store_object(runtime, title="Fine")
    broken = store_object(runtime, title="Broken")
    unchecked_later = store_object(runtime, title="Later")
    _flip(runtime, broken)
    service = FixityService(runtime)
    service.run(SYSTEM, max_objects=2)  # leaves the newest unchecked
    rows = service.report(SYSTEM)
    assert [row.object_id for row in rows] == [broken, unchecked_later, fine]
    assert rows[0].outcome is EventOutcome.FAILURE and "HC-DIGEST-MISMATCH" in rows[0].detail
    assert rows[1].outcome is None and rows[2].outcome is EventOutcome.SUCCESS
    summary = service.summary(SYSTEM)
    assert (summary.objects, summary.failing, summary.never_checked) == (3, 1, 1)


def test_the_job_audits_what_is_due_and_the_schedule_enqueues_it_once(runtime: Runtime) -> None:
    store_object(runtime)
    jobs = JobService(runtime)
    job = jobs.enqueue(SYSTEM, FIXITY_JOB)  # the immediate queue runs it at once
    done = jobs.get(SYSTEM, job.id)
    assert done.status is JobStatus.SUCCEEDED, done.error
    assert done.result is not None and done.result["checked"] == 1
    again = jobs.enqueue(SYSTEM, FIXITY_JOB)
    assert jobs.get(SYSTEM, again.id).result["checked"] == 0  # type: ignore[index]

    # A worker enqueues the kind daily; not while one is still waiting.
    assert FIXITY_JOB in jobs.install_schedules()
    huey = runtime.queue.huey
    due = {task.name for task in huey.read_periodic(utcnow().replace(hour=3, minute=17))}
    assert "heritage.schedule.store.fixity" in due
    later = huey.read_periodic(utcnow().replace(hour=3, minute=18))
    assert "heritage.schedule.store.fixity" not in {task.name for task in later}
    with runtime.database.session(write=True) as session:
        session.add(Job(id="waiting", kind=FIXITY_JOB, title="t", status=JobStatus.QUEUED))
        session.commit()
    assert jobs.enqueue_scheduled(FIXITY_JOB) is None
    with runtime.database.session(write=True) as session:
        waiting = session.get(Job, "waiting")
        assert waiting is not None
        waiting.created_at = utcnow() - timedelta(days=3)  # lost long ago
        session.commit()
    assert jobs.enqueue_scheduled(FIXITY_JOB) is not None
