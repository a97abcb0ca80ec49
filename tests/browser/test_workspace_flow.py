"""A workspace's life through the pages: create it, add a member, invite someone.

Selectors are accessible names (labels, roles), so the tests also check that
every field used is labelled and every button is named.
"""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from heritage.demo import CURATOR_EMAIL, INSTITUTION, RESEARCHER_EMAIL

INVITATION_LINK = re.compile(r"https?://[^\s/]+/invitations/[A-Za-z0-9_-]+")


def _new_slug() -> str:
    return f"letters-{uuid.uuid4().hex[:8]}"


def create_workspace(page, slug: str, name: str, *, public: bool) -> None:
    page.goto("/dashboard")
    page.get_by_role("main").get_by_role("link", name="New workspace").click()
    expect(page).to_have_url(re.compile(r"/workspaces/new"))
    expect(page.get_by_role("heading", level=1, name="New workspace")).to_be_visible()

    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Short name for addresses").fill(slug)
    page.get_by_label("Institution").select_option(INSTITUTION)
    page.get_by_label("Description").fill("Letters of the museum's founders, 1890-1920.")
    page.get_by_role("group", name="Visibility").get_by_role(
        "radio", name="public" if public else "private"
    ).check()
    page.get_by_role("button", name="Create workspace").click()


def test_create_workspace_add_member_and_invite(admin_page, new_context, live_server):
    page = admin_page
    slug, name = _new_slug(), "Founders' letters"

    # -- create it ----------------------------------------------------------------
    create_workspace(page, slug, name, public=False)
    expect(page).to_have_url(re.compile(rf"/workspaces/{slug}(\?notice=created)?$"))
    expect(page.get_by_role("heading", level=1, name=name)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("The workspace was created")
    main = page.get_by_role("main")
    expect(main.get_by_role("link", name="Demo Museum")).to_be_visible()
    expect(main).to_contain_text("Letters of the museum's founders")
    tabs = page.get_by_role("navigation", name="Workspace")
    expect(tabs.get_by_role("link", name="Overview")).to_have_attribute("aria-current", "page")

    # It is listed on the dashboard.
    page.goto("/dashboard")
    expect(page.get_by_role("main").get_by_role("link", name=name)).to_have_attribute(
        "href", f"/workspaces/{slug}"
    )
    page.get_by_role("main").get_by_role("link", name=name).click()

    # -- add a member ---------------------------------------------------------------
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Members").click()
    expect(page).to_have_url(re.compile(rf"/workspaces/{slug}/members$"))
    members = page.get_by_role("table", name="Members")
    expect(members.get_by_role("row")).to_have_count(2)  # header and the creator (owner)
    page.get_by_label("Email of an existing account").fill(CURATOR_EMAIL)
    page.get_by_label("Role", exact=True).select_option("editor")
    page.get_by_role("button", name="Add member").click()

    expect(page.get_by_role("status")).to_contain_text("The member was added")
    curator_row = members.get_by_role("row").filter(has_text=CURATOR_EMAIL)
    expect(curator_row).to_have_count(1)
    expect(curator_row.get_by_role("combobox", name="Role of Clara Curator")).to_have_value(
        "editor"
    )

    # An unknown email is refused, with the error tied to the field.
    page.get_by_label("Email of an existing account").fill("nobody@example.org")
    page.get_by_role("button", name="Add member").click()
    email = page.get_by_label("Email of an existing account")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description(re.compile("no user with the email"))

    # -- invite someone ----------------------------------------------------------------
    page.get_by_role("navigation", name="Workspace").get_by_role("link", name="Invitations").click()
    expect(page).to_have_url(re.compile(rf"/workspaces/{slug}/invitations$"))
    page.get_by_label("Role", exact=True).select_option("contributor")
    page.get_by_label("Note").fill("for the partner university")
    page.get_by_role("button", name="Create link").click()

    link_text = page.get_by_text(INVITATION_LINK)
    expect(link_text).to_be_visible()
    link = INVITATION_LINK.search(link_text.inner_text()).group(0)
    assert link.startswith(live_server.base_url + "/invitations/"), link
    invitations = page.get_by_role("table", name="Invitations")
    expect(
        invitations.get_by_role("row").filter(has_text="for the partner university")
    ).to_have_count(1)

    # -- the link, opened by someone who is not signed in -------------------------------------
    anonymous = new_context().new_page()
    anonymous.goto(link)
    expect(anonymous.get_by_role("heading", level=1)).to_contain_text(name)
    expect(anonymous.get_by_role("main")).to_contain_text("contributor")
    sign_in = anonymous.get_by_role("main").get_by_role("link", name=re.compile("Sign in"))
    expect(sign_in).to_be_visible()

    # They sign in from there, come back to the invitation and accept it.
    sign_in.click()
    expect(anonymous).to_have_url(re.compile(r"/login\?next="))
    anonymous.get_by_label("Email").fill(RESEARCHER_EMAIL)
    anonymous.get_by_label("Password").fill(live_server.admin_password)
    anonymous.get_by_role("button", name="Sign in").click()
    expect(anonymous).to_have_url(link)
    anonymous.get_by_role("button", name="Accept invitation").click()
    expect(anonymous).to_have_url(
        re.compile(rf"/workspaces/{slug}(\?notice=invitation-accepted)?$")
    )
    expect(anonymous.get_by_role("heading", level=1, name=name)).to_be_visible()
    expect(anonymous.get_by_role("main")).to_contain_text("contributor")

    # The link works once only.
    anonymous.goto(link)
    expect(anonymous.get_by_role("main")).to_contain_text("already been used")


def test_public_workspace_is_readable_without_signing_in(admin_page, page):
    slug, name = _new_slug(), "Open collection"
    create_workspace(admin_page, slug, name, public=True)
    expect(admin_page.get_by_role("heading", level=1, name=name)).to_be_visible()

    page.goto("/workspaces")
    page.get_by_role("main").get_by_role("link", name=name).click()
    expect(page).to_have_url(re.compile(rf"/workspaces/{slug}$"))
    expect(page.get_by_role("heading", level=1, name=name)).to_be_visible()
    # Members and settings stay with the members.
    tabs = page.get_by_role("navigation", name="Workspace")
    expect(tabs.get_by_role("link", name="Members")).to_have_count(0)
    expect(tabs.get_by_role("link", name="Settings")).to_have_count(0)


def test_private_workspace_is_not_found_for_anonymous_visitors(page, live_server):
    response = page.goto(f"/workspaces/{live_server.workspace}")
    # Anonymous visitors are asked to sign in (or told it does not exist), never shown it.
    assert response is not None
    assert response.status in (200, 404)
    if response.status == 200:
        expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.get_by_role("main")).not_to_contain_text("Demo collection")


def test_new_workspace_form_reports_errors_on_the_fields(admin_page):
    page = admin_page
    page.goto("/workspaces/new")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.get_by_role("alert")).to_be_visible()
    invalid = page.locator("[aria-invalid=true]")
    expect(invalid.first).to_be_visible()
    # Each invalid field is described by its error message.
    for index in range(invalid.count()):
        field = invalid.nth(index)
        described_by = field.get_attribute("aria-describedby") or ""
        assert described_by.strip(), f"invalid field without a description: {field}"
        for ident in described_by.split():
            expect(page.locator(f"#{ident}")).to_have_count(1)
