"""Random secrets and their stored digests (tokens, session ids, invitation links)."""

from __future__ import annotations

import hashlib
import secrets


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    # These secrets have 256 bits of entropy, so a plain SHA-256 is enough to make
    # a leaked table useless without slowing every request down.
    return hashlib.sha256(secret.encode()).hexdigest()
