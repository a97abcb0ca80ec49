"""Choosing the interface language in the page footer."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from heritage.web.i18n import translations

# The main navigation of a signed-in (non-administrator) person, in English.
NAVIGATION = ("Dashboard", "Workspaces", "Institutions", "Jobs")
# Texts that every translation changes (a translator may keep "Dashboard" or "Jobs").
SURELY_TRANSLATED = ("Workspaces", "Sign out", "Language")


def choose_language(page, option: str) -> None:
    footer = page.get_by_role("contentinfo")
    footer.get_by_role("combobox").select_option(label=option)
    footer.get_by_role("button").click()


def check_language(page, code: str, option: str) -> None:
    catalog = translations(code)
    expect(page.locator("html")).to_have_attribute("lang", code)
    footer = page.get_by_role("contentinfo")
    expect(footer.get_by_role("combobox")).to_have_value(code)
    expect(footer.get_by_role("combobox").locator("option:checked")).to_have_text(option)
    for english in SURELY_TRANSLATED:
        translated = catalog.gettext(english)
        assert translated != english, f"{english!r} has no {option} translation"
    nav = page.get_by_role("navigation", name=catalog.gettext("Main"))
    for english in NAVIGATION:
        expect(nav.get_by_role("link", name=catalog.gettext(english), exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Workspaces", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name=catalog.gettext("Sign out"))).to_be_visible()
    expect(footer.get_by_text(catalog.gettext("Language"), exact=True)).to_be_visible()


@pytest.fixture
def curator_page(page, sign_in, live_server):
    """Signed in as the demo curator, so the administrator's language stays English;
    the curator's choice is put back afterwards."""
    sign_in(page, live_server.curator_email)
    yield page
    page.goto("/dashboard")
    choose_language(page, "English")


def test_switch_to_german_then_french(curator_page):
    page = curator_page
    expect(page.locator("html")).to_have_attribute("lang", "en")

    choose_language(page, "Deutsch")
    expect(page).to_have_url(re.compile(r"/dashboard$"))  # back on the same page
    check_language(page, "de", "Deutsch")

    # The choice is kept in the account: other pages are German too.
    page.goto("/workspaces")
    expect(page.locator("html")).to_have_attribute("lang", "de")

    choose_language(page, "Français")
    expect(page).to_have_url(re.compile(r"/workspaces$"))
    check_language(page, "fr", "Français")


def test_anonymous_visitor_switches_language(page):
    page.goto("/login")
    choose_language(page, "Deutsch")
    expect(page).to_have_url(re.compile(r"/login$"))
    catalog = translations("de")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    heading = catalog.gettext("Sign in")
    assert heading != "Sign in", "'Sign in' has no German translation"
    expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()
    expect(page.get_by_label(catalog.gettext("Password"), exact=True)).to_be_visible()
