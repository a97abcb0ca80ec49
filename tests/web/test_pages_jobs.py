"""Job pages: the list, a job's page with its htmx-polled fragment, and retrying."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from heritage.accounts.identity import SYSTEM
from heritage.accounts.services import AccountService
from heritage.db.base import utcnow
from heritage.institutions.services import InstitutionService
from heritage.jobs.models import Job, JobStatus
from heritage.jobs.services import JobService
from heritage.runtime import Runtime
from heritage.testing.forms import FormClient
from heritage.web.app import create_app
from heritage.workspaces.services import WorkspaceService

PASSWORD = "correct horse battery staple"


class Browser(FormClient):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__(create_app(runtime))

    def sign_in(self, email: str, password: str = PASSWORD) -> None:
        super().sign_in(email, password)


@dataclass
class Site:
    """Eddie (editor) started a failed and a running job in the workspace "letters";
    Vera is a viewer there."""

    runtime: Runtime
    failed_job: str
    running_job: str

    def browser(self, name: str | None = None) -> Browser:
        browser = Browser(self.runtime)
        if name:
            browser.sign_in(f"{name}@example.org")
        return browser

    def job(self, job_id: str) -> Job:
        return JobService(self.runtime).get(SYSTEM, job_id)


@pytest.fixture
def site(heritage_runtime: Runtime) -> Iterator[Site]:
    accounts = AccountService(heritage_runtime)
    workspaces = WorkspaceService(heritage_runtime)
    eddie = accounts.create_user(SYSTEM, "eddie@example.org", PASSWORD)
    accounts.create_user(SYSTEM, "vera@example.org", PASSWORD)
    InstitutionService(heritage_runtime).create(SYSTEM, "museum", "City Museum")
    workspace = workspaces.create(SYSTEM, "letters", "Letters", institution="museum")
    workspaces.add_member(SYSTEM, "letters", "eddie@example.org", "editor")
    workspaces.add_member(SYSTEM, "letters", "vera@example.org", "viewer")
    common = {
        "kind": "audit.verify",
        "title": "Verify the audit log's hash chain",
        "workspace_id": workspace.id,
        "created_by": eddie.id,
    }
    with heritage_runtime.database.session(write=True) as session:
        session.add(
            Job(
                id="00000000-0000-4000-8000-000000000001",
                status=JobStatus.FAILED,
                error="RuntimeError: disk <full>",
                attempts=1,
                finished_at=utcnow(),
                **common,
            )
        )
        session.add(
            Job(
                id="00000000-0000-4000-8000-000000000002",
                status=JobStatus.RUNNING,
                progress=0.4,
                progress_message="reading the audit log",
                attempts=1,
                started_at=utcnow(),
                **common,
            )
        )
        session.commit()
    yield Site(
        heritage_runtime,
        "00000000-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-000000000002",
    )


def test_job_list(site: Site) -> None:
    page = site.browser("eddie").get("/jobs")
    assert page.status_code == 200
    assert page.text.count("<h1") == 1
    assert f'href="/jobs/{site.failed_job}"' in page.text
    assert f'href="/jobs/{site.running_job}"' in page.text
    progress = re.findall(r"<progress [^>]*>", page.text)
    assert len(progress) == 2
    assert all("aria-label=" in tag for tag in progress)
    assert '<span class="status status-failed">failed</span>' in page.text


def test_job_list_of_someone_without_jobs(site: Site) -> None:
    page = site.browser("vera").get("/jobs")
    assert page.status_code == 200
    assert "/jobs/0000" not in page.text


def test_workspace_jobs_tab(site: Site) -> None:
    page = site.browser("eddie").get("/workspaces/letters/jobs")
    assert page.status_code == 200
    assert f'href="/jobs/{site.running_job}"' in page.text
    assert site.browser("vera").get("/workspaces/letters/jobs").status_code == 403


def test_failed_job_page_shows_the_error_and_offers_retry(site: Site) -> None:
    page = site.browser("eddie").get(f"/jobs/{site.failed_job}")
    assert page.status_code == 200
    assert "RuntimeError: disk &lt;full&gt;" in page.text
    assert f'action="/jobs/{site.failed_job}/retry"' in page.text
    assert "hx-trigger" not in page.text  # finished: no polling
    assert '<label for="job-progress">' in page.text


def test_running_job_page_polls_a_fragment(site: Site) -> None:
    browser = site.browser("eddie")
    page = browser.get(f"/jobs/{site.running_job}")
    assert page.status_code == 200
    assert f'hx-get="/jobs/{site.running_job}"' in page.text
    assert 'hx-trigger="every 2s"' in page.text
    assert "reading the audit log" in page.text and "40%" in page.text
    assert f'action="/jobs/{site.running_job}/retry"' not in page.text

    fragment = browser.get(f"/jobs/{site.running_job}", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and "<h1" not in fragment.text
    assert 'id="job-status"' in fragment.text and 'hx-trigger="every 2s"' in fragment.text
    assert "HX-Request" in fragment.headers["vary"]

    # htmx restoring the page from history wants all of it.
    restored = browser.get(
        f"/jobs/{site.running_job}",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in restored.text

    # Once the job has finished, the fragment no longer asks to be polled.
    with site.runtime.database.session(write=True) as session:
        job = session.get(Job, site.running_job)
        assert job is not None
        job.status, job.progress, job.finished_at = JobStatus.SUCCEEDED, 1.0, utcnow()
        job.result = {"checked": 12}
        session.commit()
    done = browser.get(f"/jobs/{site.running_job}", headers={"HX-Request": "true"})
    assert "hx-trigger" not in done.text
    assert "succeeded" in done.text and "&#34;checked&#34;: 12" in done.text


def test_retry_runs_the_job_again(site: Site) -> None:
    browser = site.browser("eddie")
    browser.get(f"/jobs/{site.failed_job}")
    response = browser.post(f"/jobs/{site.failed_job}/retry", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/jobs/{site.failed_job}")
    job = site.job(site.failed_job)
    assert job.status is JobStatus.SUCCEEDED  # the test queue runs it at once
    assert job.attempts == 2
    page = browser.get(response.headers["location"])
    assert "The job was queued again." in page.text


def test_retrying_a_job_that_did_not_fail_explains(site: Site) -> None:
    browser = site.browser("eddie")
    browser.get(f"/jobs/{site.running_job}")
    response = browser.post(f"/jobs/{site.running_job}/retry")
    assert response.status_code == 409
    assert 'class="alert error"' in response.text


def test_viewers_may_not_see_jobs(site: Site) -> None:
    assert site.browser("vera").get(f"/jobs/{site.failed_job}").status_code == 403
    anonymous = site.browser().get(f"/jobs/{site.failed_job}", follow_redirects=False)
    assert anonymous.status_code in (303, 404)
