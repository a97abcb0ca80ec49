"""Signing in and out through the login form, in Chromium."""

from __future__ import annotations

import json
import re
import urllib.request

from playwright.sync_api import expect


def test_health_answers(live_server):
    with urllib.request.urlopen(live_server.url("/health"), timeout=5) as response:  # noqa: S310
        assert response.status == 200
        assert json.loads(response.read())["status"] == "ok"


def test_health_answers_in_the_browser(page):
    response = page.goto("/health")
    assert response is not None and response.status == 200
    assert response.json()["status"] == "ok"


def test_front_page_sends_anonymous_visitors_to_sign_in(page):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("heading", level=1, name="Sign in")).to_be_visible()


def test_admin_signs_in_and_sees_the_demo_workspace(page, live_server):
    page.goto("/login")
    page.get_by_label("Email").fill(live_server.admin_email)
    page.get_by_label("Password").fill(live_server.admin_password)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.get_by_role("heading", level=1, name="Dashboard")).to_be_visible()
    demo = page.get_by_role("main").get_by_role("link", name="Demo collection")
    expect(demo).to_be_visible()
    expect(demo).to_have_attribute("href", f"/workspaces/{live_server.workspace}")
    expect(page.get_by_role("main").get_by_role("link", name="Demo Museum")).to_be_visible()
    # The header names who is signed in and offers the administration.
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Administration")).to_be_visible()


def test_wrong_password_shows_an_error_and_stays_on_login(page, live_server):
    page.goto("/login")
    page.get_by_label("Email").fill(live_server.admin_email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_contain_text("Wrong email or password.")
    expect(page).to_have_url(re.compile(r"/login$"))
    # The email is kept, the password is not.
    expect(page.get_by_label("Email")).to_have_value(live_server.admin_email)
    expect(page.get_by_label("Password")).to_have_value("")
    assert "hc_session" not in {c["name"] for c in page.context.cookies()}


def test_empty_form_names_the_missing_fields(page):
    page.goto("/login")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    # Each error is tied to its field (aria-describedby), and summarised at the top.
    expect(page.get_by_label("Email")).to_have_accessible_description("Enter your email address.")
    expect(page.get_by_label("Password")).to_have_accessible_description("Enter your password.")
    expect(page.get_by_role("alert")).to_contain_text("Enter your email address.")


def test_sign_in_returns_to_the_page_asked_for(page, live_server):
    page.goto("/settings")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fsettings$|/login\?next=/settings$"))
    page.get_by_label("Email").fill(live_server.admin_email)
    page.get_by_label("Password").fill(live_server.admin_password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/settings$"))


def test_sign_out(page, sign_in):
    sign_in(page)
    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    # The session is over: the dashboard asks to sign in again.
    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
