"""Whom a background job acts as: the user who started it, with that user's rights now."""

from __future__ import annotations

from typing import Any

from heritage.accounts.identity import SYSTEM, Identity
from heritage.errors import NotFound
from heritage.runtime import Runtime


def job_actor(runtime: Runtime, params: dict[str, Any], what: str) -> Identity:
    """The identity of the user whose id is ``params["user_id"]`` (the system when the
    job was not started by a user). ``what`` names the work in the error raised when
    that user no longer exists."""
    from heritage.accounts.models import User
    from heritage.accounts.services import identity_of

    user_id = params.get("user_id")
    if user_id is None:
        return SYSTEM
    with runtime.database.session() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(f"the user who started this {what} no longer exists")
        return identity_of(user, "job")
