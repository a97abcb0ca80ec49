"""The fixity page of the administration, and the events partial of the object pages."""

from __future__ import annotations

import re

import pytest
from fastapi import Request
from sqlalchemy import select

from heritage.accounts.identity import SYSTEM
from heritage.accounts.services import AccountService
from heritage.jobs.models import Job, JobStatus
from heritage.runtime import Runtime
from heritage.store.maintenance import FIXITY_JOB, FixityService
from heritage.store.models import EventType, PreservationEvent
from heritage.store.services import PreservationService
from heritage.testing.damage import add_workspace, content_path, flip_byte
from heritage.testing.forms import FormClient
from heritage.web.app import create_app
from heritage.web.i18n import current_language
from heritage.web.templating import templates

PASSWORD = "correct horse battery staple"


@pytest.fixture
def broken(heritage_runtime: Runtime) -> str:
    """An instance with an administrator, a member, and one object that failed its check."""
    accounts = AccountService(heritage_runtime)
    accounts.create_user(SYSTEM, "ada@example.org", PASSWORD, is_admin=True)
    accounts.create_user(SYSTEM, "max@example.org", PASSWORD)
    add_workspace(heritage_runtime, "letters")
    service = PreservationService(heritage_runtime)
    view = service.create_object(
        SYSTEM, "letters", title="Broken <letter>", files={"a.txt": b"x" * 999}
    )
    service.create_object(SYSTEM, "letters", title="Fine letter", files={"b.txt": b"y" * 999})
    storage = heritage_runtime.storage
    object_id = view.row.object_id
    flip_byte(storage.object_root(object_id) / content_path(storage, object_id, "a.txt"))
    FixityService(heritage_runtime).run(SYSTEM)
    return object_id


def browser(runtime: Runtime, email: str) -> FormClient:
    client = FormClient(create_app(runtime))
    client.sign_in(email, PASSWORD)
    return client


def test_admin_sees_the_failing_objects_and_can_start_an_audit(
    heritage_runtime: Runtime, broken: str
) -> None:
    admin = browser(heritage_runtime, "ada@example.org")
    assert 'href="/admin/fixity"' in admin.get("/admin").text
    page = admin.get("/admin/fixity")
    assert page.status_code == 200
    text = page.text
    uuid = broken.removeprefix("urn:uuid:")
    assert f'href="/workspaces/letters/objects/{uuid}">Broken &lt;letter&gt;</a>' in text
    assert "Fine letter" not in text  # only failures are listed
    assert "<code>HC-DIGEST-MISMATCH v1/content/a.txt (a.txt): sha512 is" in text
    facts = dict(re.findall(r"<dt>([^<]+)</dt><dd>(.*?)</dd>", text))
    assert facts["Stored objects"] == "2"
    assert "1" in facts["Failing their last check"]

    started = admin.post("/admin/fixity/run", follow_redirects=False)
    assert started.status_code == 303
    job_id = started.headers["location"].removeprefix("/jobs/")
    with heritage_runtime.database.session() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.kind == FIXITY_JOB
        assert job.status is JobStatus.SUCCEEDED and job.result["checked"] == 2  # type: ignore[index]
    assert f'href="/jobs/{job_id}"' in admin.get("/admin/fixity").text  # a recent run


def test_others_may_not_see_or_start_audits(heritage_runtime: Runtime, broken: str) -> None:
    member = browser(heritage_runtime, "max@example.org")
    assert member.get("/admin/fixity").status_code == 403
    assert member.post("/admin/fixity/run", follow_redirects=False).status_code == 403
    with heritage_runtime.database.session() as session:
        assert session.scalars(select(Job).where(Job.kind == FIXITY_JOB)).all() == []


def test_the_events_partial_lists_each_problem_in_the_language(
    heritage_runtime: Runtime, broken: str
) -> None:
    with heritage_runtime.database.session() as session:
        events = list(
            session.scalars(
                select(PreservationEvent)
                .where(PreservationEvent.object_id == broken)
                .order_by(PreservationEvent.id.desc())
            )
        )
    assert [e.event_type for e in events] == [EventType.FIXITY_CHECK, EventType.INGESTION]
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    token = current_language.set("de")
    try:
        html = templates.get_template("objects/_events.html").render(events=events, request=request)
    finally:
        current_language.reset(token)
    assert "<td>Integritätsprüfung</td>" in html
    assert '<span class="status status-failure">fehlgeschlagen</span>' in html
    problems = re.findall(r"<li><code>(.*?)</code></li>", html)
    assert len(problems) == 1 and problems[0].startswith("HC-DIGEST-MISMATCH v1/content/a.txt")
    empty = templates.get_template("objects/_events.html").render(events=[], request=request)
    assert "No preservation events yet." in empty
