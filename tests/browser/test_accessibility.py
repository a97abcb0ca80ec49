"""Accessibility of every page: axe-core, keyboard use, narrow screens, a clean console.

The crawl starts at /dashboard as the demo administrator and follows every
same-origin GET link breadth-first; anonymous pages are checked on their own.
Each page is checked with axe-core (serious and critical violations fail),
for console errors and for failed same-origin requests; each link must lead to
a page that answers (a broken link is a failure too).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest
from playwright.sync_api import expect

MAX_PAGES = 60
FAILING_IMPACTS = ("serious", "critical")
SKIPPED_PREFIXES = ("/static", "/api/openapi.json", "/logout")
# Stored files and search exports are downloads, not pages (tests/api/test_objects_api.py
# and tests/web/test_search_pages.py cover them).
DOWNLOAD = re.compile(r"^((/workspaces/[^/]+/objects|/records)/[^/]+/files/|/api/search/export)")
NODES_SHOWN = 3


@dataclass
class PageReport:
    url: str
    status: int | None
    expected_status: int = 200
    found_on: str = ""
    content_type: str = ""
    violations: list[dict] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)


class Watcher:
    """Console errors, uncaught exceptions and failed same-origin requests of one page."""

    def __init__(self, page, base_url: str) -> None:
        self.base_url = base_url
        self.console: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.in_flight: set = set()
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)
        page.on("request", lambda request: self.in_flight.add(request))
        page.on("requestfinished", lambda request: self.in_flight.discard(request))
        page.on("requestfailed", lambda request: self.in_flight.discard(request))

    def settle(self, page, quiet_ms: int = 150, timeout_ms: int = 10_000) -> None:
        """Wait until no request has been under way for ``quiet_ms`` (Swagger UI, for
        one, fetches the API description after the load event): axe then sees the page
        as a person does, and no request is cut off by going to the next page."""
        waited, quiet = 0, 0
        while quiet < quiet_ms and waited < timeout_ms:
            page.wait_for_timeout(25)
            waited += 25
            quiet = 0 if self.in_flight else quiet + 25

    def _same_origin(self, url: str) -> bool:
        return url.startswith(self.base_url + "/")

    def _on_console(self, message) -> None:
        where = (message.location or {}).get("url", "")
        # Chromium asks for /favicon.ico once per context, at a moment of its choosing:
        # its answer is checked by test_favicon_answers, not here (that would be flaky).
        if message.type == "error" and urlsplit(where).path != "/favicon.ico":
            self.console.append((message.text, where))

    def _on_request_failed(self, request) -> None:
        if self._same_origin(request.url):
            self.failed.append(f"{request.method} {request.url}: {request.failure}")

    def _on_response(self, response) -> None:
        request = response.request
        if not self._same_origin(response.url) or request.is_navigation_request():
            return
        if response.status >= 400:
            self.failed.append(f"{request.method} {response.url}: HTTP {response.status}")

    def take(self, url: str, expected_status: int) -> tuple[list[str], list[str]]:
        """Errors since the last call; the browser's own note on an expected error page
        ("Failed to load resource: ... 404") is not one."""
        console = [
            f"{text} (at {where})" if where else text
            for text, where in self.console
            if not (
                expected_status >= 400
                and where == url
                and text.startswith("Failed to load resource")
                and str(expected_status) in text
            )
        ]
        errors, failed = console + self.errors, list(self.failed)
        self.console.clear()
        self.errors.clear()
        self.failed.clear()
        return errors, failed


def run_axe(page, axe_js: str) -> list[dict]:
    """Inject axe-core and return its violations.

    The pages send ``Content-Security-Policy: script-src 'self'``, which blocks the
    inline <script> that ``page.add_script_tag`` would insert (and that would add a
    console error of its own). Evaluating the source through the DevTools protocol
    is not subject to the page's CSP, so the check runs on the page exactly as served.
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate("() => {\n" + axe_js + "\n}")
    return page.evaluate(
        """async () => {
            const results = await axe.run(document, {resultTypes: ['violations']});
            return results.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({target: n.target, html: n.html})),
            }));
        }"""
    )


def check_page(
    page, watcher: Watcher, axe_js: str, url: str, expected_status: int = 200, found_on: str = ""
) -> PageReport:
    response = page.goto(url)
    report = PageReport(
        url=url,
        status=response.status if response else None,
        expected_status=expected_status,
        found_on=found_on,
        content_type=(response.headers.get("content-type", "") if response else ""),
    )
    if report.content_type.startswith("text/html"):
        page.wait_for_load_state("load")
        watcher.settle(page)
        report.violations = run_axe(page, axe_js)
    report.console_errors, report.failed_requests = watcher.take(page.url, expected_status)
    return report


def same_origin_links(page, base_url: str) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    links = []
    for href in hrefs:
        if not href or not href.startswith("/") or href.startswith("//"):
            continue
        path = urldefrag(href)[0]
        if not path or path.startswith(SKIPPED_PREFIXES) or DOWNLOAD.match(path):
            continue
        links.append(base_url + path)
    return links


def crawl(page, watcher: Watcher, axe_js: str, base_url: str, start: str) -> list[PageReport]:
    reports: list[PageReport] = []
    seen = {base_url + start}
    queue: deque[tuple[str, str]] = deque([(base_url + start, "")])
    while queue and len(reports) < MAX_PAGES:
        url, found_on = queue.popleft()
        report = check_page(page, watcher, axe_js, url, found_on=found_on)
        reports.append(report)
        if report.status != 200 or not report.content_type.startswith("text/html"):
            continue
        if urlsplit(page.url).path == "/login":
            continue  # signed out somehow: following links would test anonymous pages
        for link in same_origin_links(page, base_url):
            if link not in seen:
                seen.add(link)
                queue.append((link, url))
    return reports


def create_invitation(context, base_url: str, workspace: str) -> str:
    """An invitation link of the demo workspace, made through the JSON API with the
    signed-in session (the CSRF token comes from a page's form)."""
    page = context.new_page()
    page.goto("/dashboard")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    response = context.request.post(
        f"{base_url}/api/workspaces/{workspace}/invitations",
        data={"role": "viewer", "note": "accessibility check"},
        headers={"X-CSRF-Token": token},
    )
    assert response.status == 201, response.text()
    page.close()
    return json.loads(response.text())["link"]


@pytest.fixture(scope="module")
def axe_js(axe_source: Path) -> str:
    return axe_source.read_text()


@pytest.fixture(scope="module")
def signed_in_reports(browser, live_server, admin_state, axe_js) -> list[PageReport]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 800},
        base_url=live_server.base_url,
        storage_state=str(admin_state),
    )
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        watcher = Watcher(page, live_server.base_url)
        reports = crawl(page, watcher, axe_js, live_server.base_url, "/dashboard")
    finally:
        context.close()
    _write_report("signed-in", reports)
    return reports


@pytest.fixture(scope="module")
def anonymous_reports(browser, live_server, admin_state, axe_js) -> list[PageReport]:
    admin = browser.new_context(base_url=live_server.base_url, storage_state=str(admin_state))
    admin.set_default_timeout(15_000)
    try:
        invitation = create_invitation(admin, live_server.base_url, live_server.workspace)
    finally:
        admin.close()
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, base_url=live_server.base_url
    )
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        watcher = Watcher(page, live_server.base_url)
        pages = [
            ("/login", 200),
            ("/workspaces", 200),
            ("/institutions", 200),
            ("/institutions/demo-museum", 200),
            ("/search?q=harbour", 200),
            (urlsplit(invitation).path, 200),
            ("/no-such-page", 404),
        ]
        reports = [
            check_page(page, watcher, axe_js, live_server.url(path), status, "anonymous")
            for path, status in pages
        ]
    finally:
        context.close()
    _write_report("anonymous", reports)
    return reports


def _write_report(name: str, reports: list[PageReport]) -> None:
    """With HERITAGE_AXE_REPORT=DIR, keep every finding (all impacts) as DIR/NAME.json."""
    directory = os.environ.get("HERITAGE_AXE_REPORT")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        body = json.dumps([dataclasses.asdict(report) for report in reports], indent=2)
        (Path(directory) / f"{name}.json").write_text(body)


def _describe_violations(reports: list[PageReport]) -> list[str]:
    lines = []
    for report in reports:
        for violation in report.violations:
            if violation["impact"] not in FAILING_IMPACTS:
                continue
            targets = "; ".join(
                " ".join(node["target"]) for node in violation["nodes"][:NODES_SHOWN]
            )
            more = len(violation["nodes"]) - NODES_SHOWN
            lines.append(
                f"{report.url}: [{violation['impact']}] {violation['id']}: {violation['help']} "
                f"({violation['helpUrl']}) at {targets}" + (f" and {more} more" if more > 0 else "")
            )
    return lines


def _describe_status(reports: list[PageReport]) -> list[str]:
    return [
        f"{report.url} answered {report.status}, expected {report.expected_status}"
        + (f" (linked from {report.found_on})" if report.found_on else "")
        for report in reports
        if report.status != report.expected_status
    ]


def _describe_console(reports: list[PageReport]) -> list[str]:
    return [
        f"{report.url}: {problem}"
        for report in reports
        for problem in report.console_errors + report.failed_requests
    ]


# -- signed in: the crawl ---------------------------------------------------------------
def test_crawl_reaches_the_application(signed_in_reports):
    paths = {urlsplit(report.url).path for report in signed_in_reports}
    assert {"/dashboard", "/workspaces", "/institutions", "/settings", "/admin"} <= paths, paths
    assert any(path.startswith("/workspaces/") for path in paths), paths


def test_signed_in_pages_have_no_serious_axe_violations(signed_in_reports):
    problems = _describe_violations(signed_in_reports)
    assert not problems, f"{len(problems)} serious or critical violation(s):\n" + "\n".join(
        problems
    )


def test_signed_in_links_lead_to_pages(signed_in_reports):
    problems = _describe_status(signed_in_reports)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_signed_in_pages_have_clean_console_and_requests(signed_in_reports):
    problems = _describe_console(signed_in_reports)
    assert not problems, "console errors or failed requests:\n" + "\n".join(problems)


def test_favicon_answers(page):
    """Browsers ask for the page's icon (or /favicon.ico) on their own: no 404 for it."""
    page.goto("/login")
    icon = page.locator("link[rel~=icon]").first
    href = icon.get_attribute("href") if icon.count() else "/favicon.ico"
    response = page.request.get(href)
    assert response.status == 200, f"GET {href} answered {response.status}"


# -- anonymous pages --------------------------------------------------------------------
def test_anonymous_pages_have_no_serious_axe_violations(anonymous_reports):
    problems = _describe_violations(anonymous_reports)
    assert not problems, f"{len(problems)} serious or critical violation(s):\n" + "\n".join(
        problems
    )


def test_anonymous_pages_answer(anonymous_reports):
    problems = _describe_status(anonymous_reports)
    assert not problems, "\n".join(problems)


def test_anonymous_pages_have_clean_console_and_requests(anonymous_reports):
    problems = _describe_console(anonymous_reports)
    assert not problems, "console errors or failed requests:\n" + "\n".join(problems)


# -- pages after a form was sent -----------------------------------------------------------
def _serious(violations: list[dict]) -> list[str]:
    return [
        f"{v['id']}: {v['help']} at " + "; ".join(" ".join(n["target"]) for n in v["nodes"][:3])
        for v in violations
        if v["impact"] in FAILING_IMPACTS
    ]


def test_form_results_have_no_serious_axe_violations(page, admin_page, axe_js, live_server):
    """Error messages, notices and the new-invitation box are not reached by the crawl."""
    found = {}
    page.goto("/login")
    page.get_by_label("Email").fill(live_server.admin_email)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    found["login with an error"] = _serious(run_axe(page, axe_js))

    admin_page.goto("/workspaces/new")
    admin_page.get_by_role("button", name="Create workspace").click()
    expect(admin_page.get_by_role("alert")).to_be_visible()
    found["new workspace with errors"] = _serious(run_axe(admin_page, axe_js))

    admin_page.goto(f"/workspaces/{live_server.workspace}/invitations")
    admin_page.get_by_role("button", name="Create link").click()
    expect(admin_page.get_by_text(re.compile(r"/invitations/[A-Za-z0-9_-]{20,}"))).to_be_visible()
    found["new invitation link"] = _serious(run_axe(admin_page, axe_js))

    admin_page.goto(f"/workspaces/{live_server.workspace}/members")
    admin_page.get_by_label("Email of an existing account").fill("nobody@example.org")
    admin_page.get_by_role("button", name="Add member").click()
    expect(admin_page.get_by_role("alert")).to_be_visible()
    found["add member with an error"] = _serious(run_axe(admin_page, axe_js))

    problems = [f"{state}: {line}" for state, lines in found.items() for line in lines]
    assert not problems, "\n".join(problems)


# -- keyboard -----------------------------------------------------------------------
FOCUSED = """() => {
    const e = document.activeElement;
    return e ? {tag: e.tagName.toLowerCase(), id: e.id, cls: e.className, type: e.type || '',
                text: (e.textContent || '').trim(), href: e.getAttribute('href') || ''} : null;
}"""


def test_login_page_keyboard_order(page):
    page.goto("/login")
    order = []
    for _ in range(25):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        order.append(focused)
        if focused and focused["tag"] == "button" and focused["text"] == "Sign in":
            break

    def index(predicate) -> int:
        for number, element in enumerate(order):
            if element and predicate(element):
                return number
        raise AssertionError(f"not reached with Tab; focus went through {order}")

    skip = index(lambda e: e["tag"] == "a" and e["href"] == "#main")
    email = index(lambda e: e["id"] == "f-email")
    password = index(lambda e: e["id"] == "f-password")
    submit = index(lambda e: e["tag"] == "button" and e["text"] == "Sign in")
    assert skip == 0, f"the skip link is not the first stop: {order}"
    assert skip < email < password < submit, order
    assert (password, submit) == (email + 1, email + 2), f"stops between the fields: {order}"


def test_skip_link_shows_on_focus_and_moves_to_main(page):
    page.goto("/login")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()


def test_login_form_submits_with_the_keyboard(page, live_server):
    page.goto("/login")
    page.get_by_label("Email").focus()
    page.keyboard.type(live_server.admin_email)
    page.keyboard.press("Tab")
    page.keyboard.type(live_server.admin_password)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/dashboard$"))


# -- narrow screens -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "signed_in"), [("/dashboard", True), ("/workspaces/demo", True), ("/login", False)]
)
def test_no_horizontal_scroll_at_375_px(new_context, admin_state, path, signed_in):
    state = {"storage_state": str(admin_state)} if signed_in else {}
    context = new_context(viewport={"width": 375, "height": 740}, **state)
    page = context.new_page()
    response = page.goto(path)
    assert response is not None and response.status == 200, (
        f"{path}: {response and response.status}"
    )
    sizes = page.evaluate(
        """() => ({scroll: document.documentElement.scrollWidth,
                   client: document.documentElement.clientWidth})"""
    )
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
            .slice(0, 5)
            .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                      + (e.className && typeof e.className === 'string'
                         ? '.' + e.className.trim().split(/\\s+/).join('.') : ''))"""
    )
    assert sizes["scroll"] <= sizes["client"], f"{path} scrolls sideways: {sizes}; wide: {wide}"
