"""Slugs: the short names in URLs and on the command line."""

from __future__ import annotations

import re

from heritage.errors import InvalidInput

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
RESERVED = frozenset({"new", "api", "admin", "static", "settings", "login", "logout"})


def check_slug(value: str, field: str = "slug") -> str:
    slug = value.strip().lower()
    if not SLUG_PATTERN.match(slug):
        raise InvalidInput.on(
            field,
            "use 1 to 64 lowercase letters, digits and hyphens, "
            "starting and ending with a letter or digit",
        )
    if slug in RESERVED:
        raise InvalidInput.on(field, f"'{slug}' is reserved")
    return slug


def check_name(value: str, field: str = "name", limit: int = 200) -> str:
    name = value.strip()
    if not name:
        raise InvalidInput.on(field, "must not be empty")
    if len(name) > limit:
        raise InvalidInput.on(field, f"must be at most {limit} characters long")
    return name
