"""Pages of institutions, workspaces, their members, invitations, activity and settings."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from httpx import Response

from heritage.accounts.identity import SYSTEM
from heritage.accounts.services import AccountService, identity_of
from heritage.errors import NotFound
from heritage.institutions.services import InstitutionService
from heritage.runtime import Runtime
from heritage.testing.forms import FormClient
from heritage.web.app import create_app
from heritage.workspaces.models import Role
from heritage.workspaces.services import WorkspaceService

PASSWORD = "correct horse battery staple"


class Browser(FormClient):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__(create_app(runtime))

    def sign_in(self, email: str, password: str = PASSWORD) -> None:
        super().sign_in(email, password)


@dataclass
class Site:
    """Owner Olga, manager Max and viewer Vera in the private workspace "letters" of the
    institution "museum"; Nora belongs to the institution only; Root is an administrator."""

    runtime: Runtime
    accounts: AccountService
    institutions: InstitutionService
    workspaces: WorkspaceService

    def browser(self, name: str | None = None) -> Browser:
        browser = Browser(self.runtime)
        if name:
            browser.sign_in(f"{name}@example.org")
        return browser

    def user_id(self, name: str) -> int:
        return self.accounts.find_user(f"{name}@example.org").id

    def role(self, workspace: str, name: str) -> Role | None:
        target = self.workspaces.get(SYSTEM, workspace)
        user = self.accounts.find_user(f"{name}@example.org")
        return self.workspaces.role_of(identity_of(user, "session"), target)


@pytest.fixture
def site(heritage_runtime: Runtime) -> Iterator[Site]:
    accounts = AccountService(heritage_runtime)
    institutions = InstitutionService(heritage_runtime)
    workspaces = WorkspaceService(heritage_runtime)
    for name in ("olga", "max", "vera", "nora", "otto"):
        accounts.create_user(SYSTEM, f"{name}@example.org", PASSWORD, display_name=name.title())
    accounts.create_user(SYSTEM, "root@example.org", PASSWORD, display_name="Root", is_admin=True)
    institutions.create(SYSTEM, "museum", "City Museum")
    institutions.create(SYSTEM, "archive", "State Archive", kind="archive")
    institutions.set_member(SYSTEM, "museum", "olga@example.org", "admin")
    for name in ("max", "vera", "nora"):
        institutions.set_member(SYSTEM, "museum", f"{name}@example.org", "member")
    workspaces.create(SYSTEM, "letters", "Letters 1890", institution="museum")
    workspaces.add_member(SYSTEM, "letters", "olga@example.org", "owner")
    workspaces.add_member(SYSTEM, "letters", "max@example.org", "manager")
    workspaces.add_member(SYSTEM, "letters", "vera@example.org", "viewer")
    workspaces.create(SYSTEM, "open", "Open Maps", institution="museum", visibility="public")
    yield Site(heritage_runtime, accounts, institutions, workspaces)


def main_of(response: Response) -> str:
    text = response.text
    return text[text.index("<main") : text.index("</main>")]


def tabs_of(response: Response) -> list[str]:
    nav = re.search(r'<ul class="tabs">(.*?)</ul>', response.text, re.S)
    assert nav, "the workspace tabs"
    return re.findall(r">([^<>]+)</a></li>", nav.group(1))


# -- every page renders for someone allowed ------------------------------------------
@pytest.mark.parametrize(
    ("person", "path"),
    [
        (None, "/institutions"),
        (None, "/institutions/museum"),
        ("root", "/institutions/new"),
        (None, "/workspaces"),
        (None, "/workspaces/open"),
        ("nora", "/workspaces/new"),
        ("vera", "/workspaces/letters"),
        ("vera", "/workspaces/letters/members"),
        ("max", "/workspaces/letters/invitations"),
        ("max", "/workspaces/letters/activity"),
        ("max", "/workspaces/letters/jobs"),
        ("max", "/workspaces/letters/settings"),
    ],
)
def test_page_renders(site: Site, person: str | None, path: str) -> None:
    response = site.browser(person).get(path)
    assert response.status_code == 200
    assert response.text.count("<h1") == 1
    assert "style=" not in response.text and "<script>" not in response.text


# -- institutions ------------------------------------------------------------------
def test_institution_list_offers_new_institution_to_administrators_only(site: Site) -> None:
    assert 'href="/institutions/new"' in site.browser("root").get("/institutions").text
    listing = site.browser("nora").get("/institutions")
    assert "City Museum" in listing.text and "State Archive" in listing.text
    assert 'href="/institutions/new"' not in listing.text


def test_create_institution(site: Site) -> None:
    browser = site.browser("root")
    form = browser.get("/institutions/new")
    assert '<option value="library"' in form.text
    response = browser.post(
        "/institutions",
        {
            "slug": "uni-lib",
            "name": "University Library",
            "kind": "library",
            "country": "de",
            "website": "https://library.example.org",
            "description": "Old books.",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/institutions/uni-lib")
    page = browser.get(response.headers["location"])
    assert "University Library" in page.text and "DE" in page.text


def test_create_institution_errors(site: Site) -> None:
    browser = site.browser("root")
    bad = browser.post("/institutions", {"slug": "Not a slug", "name": "X", "kind": "museum"})
    assert bad.status_code == 422
    assert 'id="e-slug"' in bad.text
    assert 'value="Not a slug"' in bad.text
    taken = browser.post("/institutions", {"slug": "museum", "name": "X", "kind": "museum"})
    assert taken.status_code == 409
    assert 'id="e-slug"' in taken.text
    assert len(site.institutions.list()) == 2


def test_institution_members_only_for_members(site: Site) -> None:
    anonymous = site.browser().get("/institutions/museum")
    assert anonymous.status_code == 200
    assert "Letters 1890" not in anonymous.text  # private workspace
    assert "Open Maps" in anonymous.text
    assert 'id="members"' not in anonymous.text
    member = site.browser("nora").get("/institutions/museum")
    assert 'id="members"' in member.text and "vera@example.org" in member.text
    assert "Letters 1890" not in member.text  # Nora is not in that workspace
    assert 'action="/institutions/museum/members"' not in member.text
    admin = site.browser("olga").get("/institutions/museum")
    assert 'action="/institutions/museum/members"' in admin.text
    assert "Letters 1890" in admin.text


def test_institution_admin_adds_changes_and_removes_members(site: Site) -> None:
    browser = site.browser("olga")
    browser.get("/institutions/museum")
    added = browser.post(
        "/institutions/museum/members",
        {"email": "otto@example.org", "role": "member"},
        follow_redirects=False,
    )
    assert added.status_code == 303
    browser.post("/institutions/museum/members", {"email": "otto@example.org", "role": "admin"})
    roles = dict(
        (user.email, role.value) for user, role in site.institutions.members(SYSTEM, "museum")
    )
    assert roles["otto@example.org"] == "admin"
    unknown = browser.post(
        "/institutions/museum/members", {"email": "nobody@example.org", "role": "member"}
    )
    assert unknown.status_code == 422 and 'id="e-email"' in unknown.text
    removed = browser.post(
        f"/institutions/museum/members/{site.user_id('otto')}/remove", follow_redirects=False
    )
    assert removed.status_code == 303
    emails = [user.email for user, _ in site.institutions.members(SYSTEM, "museum")]
    assert "otto@example.org" not in emails


def test_institution_members_cannot_manage(site: Site) -> None:
    browser = site.browser("nora")
    browser.get("/institutions/museum")
    response = browser.post(
        "/institutions/museum/members", {"email": "otto@example.org", "role": "member"}
    )
    assert response.status_code == 403


# -- workspaces ------------------------------------------------------------------------
def test_workspace_list_shows_roles_and_public_badge(site: Site) -> None:
    page = site.browser("max").get("/workspaces")
    main = main_of(page)
    assert "Letters 1890" in main and "Open Maps" in main
    assert '<span class="badge">manager</span>' in main
    assert '<span class="badge public">public</span>' in main
    assert 'href="/workspaces/new"' in main
    anonymous = main_of(site.browser().get("/workspaces"))
    assert "Letters 1890" not in anonymous and "Open Maps" in anonymous
    assert 'href="/workspaces/new"' not in anonymous


def test_create_workspace_through_the_form(site: Site) -> None:
    browser = site.browser("nora")
    form = browser.get("/workspaces/new?institution=museum")
    assert '<option value="museum" selected>' in form.text
    assert "State Archive" not in form.text  # Nora is not a member there
    response = browser.post(
        "/workspaces",
        {
            "slug": "photos",
            "name": "Photographs",
            "institution": "museum",
            "description": "Glass plates.",
            "visibility": "public",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/workspaces/photos")
    page = browser.get(response.headers["location"])
    assert page.status_code == 200
    assert "Photographs" in page.text and "Glass plates." in page.text
    assert 'role="status"' in page.text
    workspace = site.workspaces.get(SYSTEM, "photos")
    assert workspace.is_public
    assert site.role("photos", "nora") is Role.OWNER


@pytest.mark.parametrize(
    ("form", "field", "status"),
    [
        ({"slug": "Bad Slug!", "name": "X", "institution": "museum"}, "slug", 422),
        ({"slug": "ok-slug", "name": "  ", "institution": "museum"}, "name", 422),
        ({"slug": "ok-slug", "name": "X", "institution": ""}, "institution", 422),
        ({"slug": "ok-slug", "name": "X", "institution": "nowhere"}, "institution", 422),
        (
            {"slug": "ok-slug", "name": "X", "institution": "museum", "visibility": "x"},
            "visibility",
            422,
        ),
        ({"slug": "letters", "name": "X", "institution": "museum"}, "slug", 409),
        ({"slug": "ok-slug", "name": "X", "institution": "archive"}, "institution", 403),
    ],
)
def test_bad_workspace_form_shows_the_field_error_and_creates_nothing(
    site: Site, form: dict[str, str], field: str, status: int
) -> None:
    browser = site.browser("nora")
    browser.get("/workspaces/new")
    response = browser.post("/workspaces", form)
    assert response.status_code == status
    assert f'id="e-{field}"' in response.text
    assert 'aria-invalid="true"' in response.text or field == "visibility"
    assert f'value="{form["slug"]}"' in response.text  # the form keeps what was typed
    with pytest.raises(NotFound):
        site.workspaces.get(SYSTEM, "ok-slug")


def test_workspace_without_institution_explains(site: Site) -> None:
    page = site.browser("otto").get("/workspaces/new")
    assert page.status_code == 200
    assert 'action="/workspaces"' not in page.text
    assert "not a member" in page.text


def test_workspace_tabs_follow_the_role(site: Site) -> None:
    owner = site.browser("olga").get("/workspaces/letters")
    assert tabs_of(owner) == [
        "Overview",
        "Files",
        "Records",
        "Members",
        "Invitations",
        "Activity",
        "Jobs",
        "Settings",
    ]
    assert '<a href="/workspaces/letters" aria-current="page">Overview</a>' in owner.text
    assert "City Museum" in owner.text
    viewer = site.browser("vera").get("/workspaces/letters/members")
    assert tabs_of(viewer) == ["Overview", "Files", "Records", "Members"]
    assert 'aria-current="page">Members</a>' in viewer.text
    anonymous = site.browser().get("/workspaces/open")
    # a public workspace's files and records are public too
    assert tabs_of(anonymous) == ["Overview", "Files", "Records"]


def test_private_workspace_is_not_found_for_outsiders(site: Site) -> None:
    assert site.browser("otto").get("/workspaces/letters").status_code == 404


# -- members ------------------------------------------------------------------------
def test_members_page_for_viewers_has_no_forms(site: Site) -> None:
    page = site.browser("vera").get("/workspaces/letters/members")
    assert "max@example.org" in page.text
    assert "/members/" not in main_of(page)
    assert 'action="/workspaces/letters/members"' not in page.text


def test_manager_adds_changes_and_removes_a_member(site: Site) -> None:
    browser = site.browser("max")
    page = browser.get("/workspaces/letters/members")
    assert f'<label class="visually-hidden" for="role-{site.user_id("vera")}">' in page.text
    added = browser.post(
        "/workspaces/letters/members",
        {"email": "nora@example.org", "role": "contributor"},
        follow_redirects=False,
    )
    assert added.status_code == 303
    assert site.role("letters", "nora") is Role.CONTRIBUTOR
    nora = site.user_id("nora")
    changed = browser.post(
        f"/workspaces/letters/members/{nora}/role", {"role": "editor"}, follow_redirects=False
    )
    assert changed.status_code == 303
    assert site.role("letters", "nora") is Role.EDITOR
    removed = browser.post(f"/workspaces/letters/members/{nora}/remove", follow_redirects=False)
    assert removed.status_code == 303
    assert site.role("letters", "nora") is None
    assert "The member was removed." in browser.get(removed.headers["location"]).text


def test_member_form_errors(site: Site) -> None:
    browser = site.browser("max")
    browser.get("/workspaces/letters/members")
    unknown = browser.post(
        "/workspaces/letters/members", {"email": "ghost@example.org", "role": "viewer"}
    )
    assert unknown.status_code == 422
    assert 'id="e-email"' in unknown.text and "ghost@example.org" in unknown.text
    # Only owners make owners.
    owner = browser.post(
        "/workspaces/letters/members", {"email": "otto@example.org", "role": "owner"}
    )
    assert owner.status_code == 403
    assert 'id="e-role"' in owner.text
    assert site.role("letters", "otto") is None
    # The last owner stays.
    olga = site.browser("olga")
    olga.get("/workspaces/letters/members")
    last = olga.post(f"/workspaces/letters/members/{site.user_id('olga')}/role", {"role": "viewer"})
    assert last.status_code == 409
    assert 'class="alert error"' in last.text
    assert site.role("letters", "olga") is Role.OWNER


def test_viewers_cannot_manage_members(site: Site) -> None:
    browser = site.browser("vera")
    browser.get("/workspaces/letters")
    response = browser.post(
        "/workspaces/letters/members", {"email": "nora@example.org", "role": "viewer"}
    )
    assert response.status_code == 403
    assert site.role("letters", "nora") is None


def test_forms_need_the_csrf_token(site: Site) -> None:
    browser = site.browser("max")
    browser.csrf = "forged"
    response = browser.post(
        "/workspaces/letters/members", {"email": "nora@example.org", "role": "viewer"}
    )
    assert response.status_code == 403
    assert site.role("letters", "nora") is None


# -- invitations ---------------------------------------------------------------------
def test_invitation_created_opened_and_accepted(site: Site) -> None:
    manager = site.browser("max")
    assert manager.get("/workspaces/letters/invitations").status_code == 200
    created = manager.post(
        "/workspaces/letters/invitations",
        {"role": "contributor", "email": "", "days": "7", "note": "for Otto"},
    )
    assert created.status_code == 200
    match = re.search(r'<code class="secret"[^>]*>([^<]+)</code>', created.text)
    assert match, "the new link is shown in a .secret block"
    link = match.group(1)
    base = site.runtime.settings.base_url
    assert link.startswith(f"{base}/invitations/")
    path = link.removeprefix(base)
    assert "will not be shown again" in created.text
    listing = manager.get("/workspaces/letters/invitations")
    assert link not in listing.text
    assert "for Otto" in listing.text and "status-active" in listing.text

    anonymous = site.browser().get(path)
    assert anonymous.status_code == 200
    assert "Letters 1890" in anonymous.text and "contributor" in anonymous.text
    assert f'href="/login?next={path}"' in anonymous.text

    otto = site.browser("otto")
    page = otto.get(path)
    assert f'action="{path}/accept"' in page.text
    accepted = otto.post(f"{path}/accept", follow_redirects=False)
    assert accepted.status_code == 303
    assert accepted.headers["location"].startswith("/workspaces/letters")
    assert site.role("letters", "otto") is Role.CONTRIBUTOR
    welcome = otto.get(accepted.headers["location"])
    assert welcome.status_code == 200 and 'role="status"' in welcome.text

    used = site.browser("nora").get(path)
    assert "already been used" in used.text
    assert f'action="{path}/accept"' not in used.text
    assert "status-accepted" in manager.get("/workspaces/letters/invitations").text


def test_invitation_for_another_email_is_refused(site: Site) -> None:
    invitation = site.workspaces.invite(SYSTEM, "letters", "viewer", email="nora@example.org")
    otto = site.browser("otto")
    otto.get(f"/invitations/{invitation.secret}")
    refused = otto.post(f"/invitations/{invitation.secret}/accept")
    assert refused.status_code == 403
    assert "another email address" in refused.text
    assert site.role("letters", "otto") is None


def test_invitation_form_errors_and_revocation(site: Site) -> None:
    manager = site.browser("max")
    manager.get("/workspaces/letters/invitations")
    bad = manager.post("/workspaces/letters/invitations", {"role": "viewer", "days": "400"})
    assert bad.status_code == 422 and 'id="e-days"' in bad.text
    owner_role = manager.post("/workspaces/letters/invitations", {"role": "owner", "days": "3"})
    assert owner_role.status_code == 403 and 'id="e-role"' in owner_role.text
    assert site.workspaces.invitations(SYSTEM, "letters") == []

    invitation = site.workspaces.invite(SYSTEM, "letters", "viewer")
    revoked = manager.post(
        f"/workspaces/letters/invitations/{invitation.invitation.id}/revoke",
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    assert "status-revoked" in manager.get(revoked.headers["location"]).text
    assert "withdrawn" in site.browser().get(f"/invitations/{invitation.secret}").text


def test_unknown_invitation_link(site: Site) -> None:
    assert site.browser().get("/invitations/not-a-real-secret").status_code == 404


# -- activity, jobs, settings -------------------------------------------------------------
def test_activity_lists_the_workspace_audit_entries(site: Site) -> None:
    page = site.browser("max").get("/workspaces/letters/activity")
    main = main_of(page)
    assert "workspace.member_set" in main and "vera@example.org" in main
    assert "Open Maps" not in main  # another workspace's entries stay out
    assert site.browser("vera").get("/workspaces/letters/activity").status_code == 403


def test_workspace_settings_update(site: Site) -> None:
    browser = site.browser("max")
    page = browser.get("/workspaces/letters/settings")
    assert 'action="/workspaces/letters/delete"' not in page.text  # managers cannot delete
    saved = browser.post(
        "/workspaces/letters/settings",
        {"name": "Letters 1890–1900", "description": "Now with more.", "visibility": "public"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    workspace = site.workspaces.get(SYSTEM, "letters")
    assert workspace.name == "Letters 1890–1900" and workspace.is_public
    bad = browser.post(
        "/workspaces/letters/settings", {"name": "", "description": "", "visibility": "public"}
    )
    assert bad.status_code == 422 and 'id="e-name"' in bad.text
    assert site.workspaces.get(SYSTEM, "letters").name == "Letters 1890–1900"


def test_deletion_needs_the_slug_typed(site: Site) -> None:
    browser = site.browser("olga")
    page = browser.get("/workspaces/letters/settings")
    assert 'action="/workspaces/letters/delete"' in page.text
    assert 'class="card danger-zone"' in page.text
    wrong = browser.post("/workspaces/letters/delete", {"confirm": "letter"})
    assert wrong.status_code == 422 and 'id="e-confirm"' in wrong.text
    assert site.workspaces.get(SYSTEM, "letters")


def test_owner_deletes_the_workspace(site: Site) -> None:
    browser = site.browser("olga")
    browser.get("/workspaces/letters/settings")
    deleted = browser.post(
        "/workspaces/letters/delete", {"confirm": "letters"}, follow_redirects=False
    )
    assert deleted.status_code == 303
    assert deleted.headers["location"].startswith("/workspaces")
    with pytest.raises(NotFound):
        site.workspaces.get(SYSTEM, "letters")
    assert "The workspace was deleted." in browser.get(deleted.headers["location"]).text


def test_managers_cannot_delete(site: Site) -> None:
    browser = site.browser("max")
    browser.get("/workspaces/letters/settings")
    response = browser.post("/workspaces/letters/delete", {"confirm": "letters"})
    assert response.status_code == 403
    assert site.workspaces.get(SYSTEM, "letters")
