"""CSRF protection: a signed double-submit cookie.

The browser holds a random value in the ``hc_csrf`` cookie; forms and htmx
requests send back HMAC(secret key, cookie value). A page on another site can
neither read the cookie nor compute the HMAC. Requests that authenticate with
an API token (no ambient browser credential) need no CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

CSRF_COOKIE = "hc_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def new_cookie_value() -> str:
    return secrets.token_urlsafe(32)


def token_for(secret_key: str, cookie_value: str) -> str:
    return hmac.new(secret_key.encode(), cookie_value.encode(), hashlib.sha256).hexdigest()


def is_valid(secret_key: str, cookie_value: str | None, submitted: str | None) -> bool:
    if not cookie_value or not submitted:
        return False
    return hmac.compare_digest(token_for(secret_key, cookie_value), submitted)
