"""Pages of one's own account (settings, password, API tokens) and of the administration."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from httpx import Response
from sqlalchemy import text

from heritage.accounts.identity import SYSTEM, Identity
from heritage.accounts.services import AccountService, identity_of
from heritage.audit.models import AuditEntry
from heritage.runtime import Runtime
from heritage.testing.forms import FormClient
from heritage.web.app import create_app

PASSWORD = "correct horse battery staple"


class Browser(FormClient):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__(create_app(runtime))

    def sign_in(self, email: str, password: str = PASSWORD) -> None:
        super().sign_in(email, password)


@dataclass
class Site:
    runtime: Runtime
    accounts: AccountService

    def browser(self, email: str | None = None) -> Browser:
        browser = Browser(self.runtime)
        if email:
            browser.sign_in(email)
        return browser


@pytest.fixture
def site(heritage_runtime: Runtime) -> Iterator[Site]:
    accounts = AccountService(heritage_runtime)
    accounts.create_user(SYSTEM, "ada@example.org", PASSWORD, display_name="Ada")
    accounts.create_user(SYSTEM, "root@example.org", PASSWORD, display_name="Root", is_admin=True)
    yield Site(heritage_runtime, accounts)


def ada_identity(site: Site) -> Identity:
    return identity_of(site.accounts.find_user("ada@example.org"), "session")


def main_of(response: Response) -> str:
    text = response.text
    return text[text.index("<main") : text.index("</main>")]


# -- settings ---------------------------------------------------------------------
def test_settings_page_shows_profile_password_and_token_link(site: Site) -> None:
    page = site.browser("ada@example.org").get("/settings")
    assert page.status_code == 200
    assert page.text.count("<h1") == 1
    assert 'value="Ada"' in page.text
    assert 'action="/settings/password"' in page.text
    assert 'href="/settings/tokens"' in page.text


def test_settings_need_sign_in(site: Site) -> None:
    response = site.browser().get("/settings", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/settings"


def test_profile_update_saves_name_and_language(site: Site) -> None:
    browser = site.browser("ada@example.org")
    response = browser.post(
        "/settings/profile", {"display_name": "Ada L.", "language": "fr"}, follow_redirects=False
    )
    assert response.status_code == 303
    user = site.accounts.find_user("ada@example.org")
    assert (user.display_name, user.language) == ("Ada L.", "fr")
    page = browser.get(response.headers["location"])
    assert '<html lang="fr">' in page.text
    assert 'role="status"' in page.text


def test_profile_with_empty_name_shows_the_field_error(site: Site) -> None:
    browser = site.browser("ada@example.org")
    response = browser.post("/settings/profile", {"display_name": "  ", "language": "en"})
    assert response.status_code == 422
    assert 'id="e-display_name"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert site.accounts.find_user("ada@example.org").display_name == "Ada"


def test_password_change_keeps_this_browser_signed_in(site: Site) -> None:
    browser = site.browser("ada@example.org")
    other = site.browser("ada@example.org")
    new = "a much better passphrase"
    response = browser.post(
        "/settings/password",
        {"current_password": PASSWORD, "new_password": new, "new_password_confirm": new},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert browser.get("/settings", follow_redirects=False).status_code == 200
    # Every other browser has to sign in again.
    assert other.get("/settings", follow_redirects=False).status_code == 303
    site.browser().sign_in("ada@example.org", new)


@pytest.mark.parametrize(
    ("current", "new", "confirm", "field"),
    [
        (
            "wrong password!",
            "a much better passphrase",
            "a much better passphrase",
            "current_password",
        ),
        (PASSWORD, "a much better passphrase", "something else entirely", "new_password_confirm"),
        (PASSWORD, "short", "short", "new_password"),
    ],
)
def test_bad_password_change_is_refused(
    site: Site, current: str, new: str, confirm: str, field: str
) -> None:
    browser = site.browser("ada@example.org")
    response = browser.post(
        "/settings/password",
        {"current_password": current, "new_password": new, "new_password_confirm": confirm},
    )
    assert response.status_code == 422
    assert f'id="e-{field}"' in response.text
    site.browser().sign_in("ada@example.org", PASSWORD)


# -- API tokens -------------------------------------------------------------------
def test_new_token_is_shown_once_then_listed_by_prefix(site: Site) -> None:
    browser = site.browser("ada@example.org")
    assert browser.get("/settings/tokens").status_code == 200
    created = browser.post("/settings/tokens", {"name": "import script", "days": "30"})
    assert created.status_code == 200
    match = re.search(r'<code class="secret"[^>]*>(hc_[^<]+)</code>', created.text)
    assert match, "the new token is shown in a .secret block"
    secret = match.group(1)
    assert "will not be shown again" in created.text

    listing = browser.get("/settings/tokens")
    assert secret not in listing.text
    assert f"<code>{secret[:9]}…</code>" in listing.text
    assert "import script" in listing.text

    # The token works on the API.
    assert site.accounts.identity_from_token(secret) is not None


def test_token_revocation(site: Site) -> None:
    browser = site.browser("ada@example.org")
    created = browser.post("/settings/tokens", {"name": "short-lived", "days": "1"})
    secret = re.search(r'<code class="secret"[^>]*>(hc_[^<]+)</code>', created.text).group(1)
    [token] = site.accounts.list_tokens(ada_identity(site))
    response = browser.post(f"/settings/tokens/{token.id}/revoke", follow_redirects=False)
    assert response.status_code == 303
    page = browser.get(response.headers["location"])
    assert "status-revoked" in page.text
    assert f"/settings/tokens/{token.id}/revoke" not in page.text
    assert site.accounts.identity_from_token(secret) is None


def test_token_with_bad_days_shows_the_field_error_and_creates_nothing(site: Site) -> None:
    browser = site.browser("ada@example.org")
    for days in ("lots", "0", "99999"):
        response = browser.post("/settings/tokens", {"name": "x", "days": days})
        assert response.status_code == 422
        assert 'id="e-days"' in response.text
    assert site.accounts.list_tokens(ada_identity(site)) == []


# -- administration -----------------------------------------------------------------
def test_admin_overview_lists_users(site: Site) -> None:
    page = site.browser("root@example.org").get("/admin")
    assert page.status_code == 200
    assert "ada@example.org" in page.text
    assert 'action="/admin/users"' in page.text


def test_admin_pages_are_for_administrators_only(site: Site) -> None:
    browser = site.browser("ada@example.org")
    for path in ("/admin", "/admin/audit"):
        assert browser.get(path).status_code == 403


def test_admin_creates_an_account(site: Site) -> None:
    browser = site.browser("root@example.org")
    response = browser.post(
        "/admin/users",
        {
            "email": "grace@example.org",
            "display_name": "Grace",
            "password": "a long enough password",
            "is_admin": "on",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    grace = site.accounts.find_user("grace@example.org")
    assert grace.display_name == "Grace" and grace.is_admin
    site.browser().sign_in("grace@example.org", "a long enough password")


def test_admin_create_account_errors(site: Site) -> None:
    browser = site.browser("root@example.org")
    bad = browser.post("/admin/users", {"email": "not-an-email", "password": "long enough pw"})
    assert bad.status_code == 422
    assert 'id="e-email"' in bad.text
    taken = browser.post("/admin/users", {"email": "ada@example.org", "password": "long enough pw"})
    assert taken.status_code == 409
    assert 'id="e-email"' in taken.text
    assert len(site.accounts.list_users(SYSTEM)) == 2


def test_audit_log_pages_and_verification(site: Site) -> None:
    browser = site.browser("root@example.org")
    for number in range(55):
        site.accounts.create_user(SYSTEM, f"user{number}@example.org", None)
    page = browser.get("/admin/audit")
    assert page.status_code == 200
    assert "user54@example.org" in page.text
    older = re.search(r'href="/admin/audit\?before=(\d+)"', page.text)
    assert older, "a link to older entries"
    second = browser.get(f"/admin/audit?before={older.group(1)}")
    assert second.status_code == 200
    assert "ada@example.org" in second.text
    assert 'href="/admin/audit"' in second.text

    report = browser.post("/admin/audit/verify")
    assert report.status_code == 200
    assert "The audit log is intact." in report.text
    assert "entries checked" in report.text


def test_audit_verification_reports_tampering(site: Site) -> None:
    with site.runtime.database.session(write=True) as session:
        # Play the attacker with database access: lift the append-only guard first.
        if site.runtime.database.is_sqlite:
            session.execute(text("DROP TRIGGER audit_entries_no_update"))
        else:
            session.execute(text("DROP TRIGGER audit_entries_append_only ON audit_entries"))
        entry = session.get(AuditEntry, 2)
        assert entry is not None
        entry.actor = "somebody else"
        session.commit()
    report = site.browser("root@example.org").post("/admin/audit/verify")
    assert report.status_code == 200
    main = main_of(report)
    assert "The audit log has been tampered with." in main
    assert "First bad entry: 2" in main
