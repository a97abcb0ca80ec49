"""Translations (gettext catalogs compiled from the shipped .po files) and language choice."""

from __future__ import annotations

import io
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from heritage.config import SUPPORTED_LANGUAGES

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LANGUAGE_NAMES = {"en": "English", "de": "Deutsch", "fr": "Français"}

current_language: ContextVar[str] = ContextVar("current_language", default="en")


@cache
def translations(language: str) -> NullTranslations:
    po_file = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not po_file.exists():
        return NullTranslations()
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


def gettext(message: str) -> str:
    return translations(current_language.get()).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    return translations(current_language.get()).ngettext(singular, plural, count)


_ = gettext


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


# Names of form fields as people read them, for error summaries.
FIELD_LABELS = {
    "email": N_("Email"),
    "password": N_("Password"),
    "current_password": N_("Current password"),
    "new_password": N_("New password"),
    "display_name": N_("Display name"),
    "language": N_("Language"),
    "name": N_("Name"),
    "slug": N_("Short name"),
    "description": N_("Description"),
    "institution": N_("Institution"),
    "visibility": N_("Visibility"),
    "role": N_("Role"),
    "days": N_("Valid for (days)"),
    "note": N_("Note"),
    "kind": N_("Kind"),
    "country": N_("Country"),
    "website": N_("Website"),
    "confirm": N_("Confirmation"),
}


def field_label(name: str) -> str:
    return gettext(FIELD_LABELS[name]) if name in FIELD_LABELS else name


def negotiate(accept_language: str | None, default: str) -> str:
    """Pick the best supported language from an Accept-Language header."""
    if not accept_language:
        return default
    choices: list[tuple[float, str]] = []
    for part in accept_language.split(","):
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in SUPPORTED_LANGUAGES:
            choices.append((quality, primary))
    if not choices:
        return default
    return max(choices, key=lambda item: item[0])[1]
