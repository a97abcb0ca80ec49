"""Translations: complete German and French catalogues, and pages in the chosen language."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from httpx import Response

from heritage.accounts.identity import SYSTEM
from heritage.accounts.services import AccountService
from heritage.institutions.models import InstitutionKind, InstitutionRole
from heritage.institutions.services import InstitutionService
from heritage.jobs.models import JobStatus
from heritage.runtime import Runtime
from heritage.web.app import create_app
from heritage.workspaces.models import Role, Visibility
from heritage.workspaces.services import WorkspaceService

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "heritage" / "locale"
LANGUAGES = ("de", "fr")
PASSWORD = "correct horse battery staple"


# -- the catalogues --------------------------------------------------------------------
def load_catalog(language: str) -> Catalog:
    with (LOCALE / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=language)


def extracted_now() -> set[str | tuple[str, ...]]:
    """Every message the code and templates hold today (as ``pybabel extract`` finds them)."""
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)

    def wanted(path: str) -> bool:
        name = os.path.basename(path)
        return not name.startswith((".", "_")) and name != "node_modules"

    found: set[str | tuple[str, ...]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, directory_filter=wanted
    ):
        if isinstance(message, tuple):
            found.add(tuple(part for part in message if part))
        elif message:
            found.add(message)
    return found


def catalog_ids(catalog: Catalog) -> set[str | tuple[str, ...]]:
    return {message.id if isinstance(message.id, str) else tuple(message.id) for message in catalog}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated(language: str) -> None:
    catalog = load_catalog(language)
    problems = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(part and part.strip() for part in strings):
            problems.append(message.id)
    assert not problems, f"untranslated or fuzzy in {language}: {problems}"
    assert len(catalog) > 200


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_match(language: str) -> None:
    errors = [(message.id, problems) for message, problems in load_catalog(language).check()]
    assert not errors
    for message in load_catalog(language):
        originals = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(re.findall(r"%\(\w+\)s", "".join(originals)))
        for string in strings:
            # Jinja formats every translated string with %: a stray % would break the page.
            assert set(re.findall(r"%\(\w+\)s", string)) == wanted, message.id
            assert "%" not in re.sub(r"%\(\w+\)s", "", string), message.id


def test_catalogues_hold_every_extracted_message() -> None:
    extracted = extracted_now()
    assert "Skip to content" in extracted and "Verify chain now" in extracted
    for language in LANGUAGES:
        missing = extracted - catalog_ids(load_catalog(language))
        assert not missing, (
            f"not in the {language} catalogue; run pybabel extract and update "
            f"(docs/translations.md): {sorted(map(str, missing))}"
        )


def test_stored_values_have_labels() -> None:
    """Roles, states and kinds are shown through _(value): each needs a catalogue entry."""
    values = {
        member.value
        for enum in (Role, Visibility, JobStatus, InstitutionKind, InstitutionRole)
        for member in enum
    }
    for language in LANGUAGES:
        ids = catalog_ids(load_catalog(language))
        assert not values - ids, language


# -- pages in the chosen language ------------------------------------------------------------
@pytest.fixture
def client(heritage_runtime: Runtime) -> Iterator[TestClient]:
    accounts = AccountService(heritage_runtime)
    accounts.create_user(SYSTEM, "olga@example.org", PASSWORD, display_name="Olga")
    InstitutionService(heritage_runtime).create(SYSTEM, "museum", "City Museum")
    workspaces = WorkspaceService(heritage_runtime)
    workspaces.create(SYSTEM, "letters", "Letters", institution="museum", visibility="public")
    workspaces.add_member(SYSTEM, "letters", "olga@example.org", "owner")
    yield TestClient(create_app(heritage_runtime), base_url="http://testserver")


def csrf_of(response: Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert match
    return match.group(1)


def choose_language(client: TestClient, language: str, page: str = "/workspaces") -> Response:
    token = csrf_of(client.get(page))
    response = client.post(
        "/language",
        data={"csrf_token": token, "language": language, "next": page},
        follow_redirects=False,
    )
    assert response.status_code == 303
    return client.get(response.headers["location"])


@pytest.mark.parametrize(
    ("language", "words"),
    [
        (
            "de",
            ["Arbeitsbereiche", "Institutionen", "Anmelden", "Zum Inhalt springen", "öffentlich"],
        ),
        (
            "fr",
            ["Espaces de travail", "Institutions", "Se connecter", "Aller au contenu", "public"],
        ),
    ],
)
def test_language_switch_translates_the_page(
    client: TestClient, language: str, words: list[str]
) -> None:
    english = client.get("/workspaces")
    assert "Skip to content" in english.text
    page = choose_language(client, language)
    assert f'<html lang="{language}">' in page.text
    for word in words:
        assert word in page.text
    assert "Skip to content" not in page.text
    assert f'<option value="{language}" lang="{language}" selected>' in page.text


def test_signed_in_pages_in_german_and_french(client: TestClient) -> None:
    token = csrf_of(client.get("/login"))
    client.post(
        "/login",
        data={"csrf_token": token, "email": "olga@example.org", "password": PASSWORD},
    )
    page = choose_language(client, "de", "/workspaces/letters/members")
    for text in ("Überblick", "Mitglieder", "Einladungen", "Eigentümer", "Mitglied hinzufügen"):
        assert text in page.text
    # The choice is kept in the account.
    assert AccountService(client.app.state.runtime).find_user("olga@example.org").language == "de"
    page = choose_language(client, "fr", "/workspaces/letters/settings")
    for text in ("Aperçu", "Paramètres de l’espace de travail", "Supprimer cet espace de travail"):
        assert text in page.text
    error = client.get("/workspaces/nowhere")
    assert error.status_code == 404 and "Introuvable" in error.text
