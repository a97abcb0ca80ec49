"""Who is acting. Services receive an :class:`Identity`, never a request.

An identity is produced by an identity provider (local password, API token,
and later OpenID Connect); the services do not care which one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    user_id: int | None
    label: str
    is_admin: bool = False
    via: str = "anonymous"
    language: str | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None or self.via == "system"


ANONYMOUS = Identity(user_id=None, label="anonymous")
# Used by the command line run by the operator and by background jobs.
SYSTEM = Identity(user_id=None, label="system", is_admin=True, via="system")
