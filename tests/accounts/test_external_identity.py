"""External sign-in providers map verified claims to local accounts."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from heritage.accounts.identity import SYSTEM
from heritage.accounts.models import ExternalIdentity
from heritage.accounts.providers import ExternalClaims
from heritage.accounts.services import AccountService
from heritage.errors import AuthenticationFailed
from heritage.runtime import Runtime


def claims(subject: str = "sub-1", email: str | None = "ada@uni.example", verified: bool = True):
    return ExternalClaims("keycloak", subject, email, verified, "Ada")


def test_new_person_gets_an_account_without_password(heritage_runtime: Runtime) -> None:
    identity = AccountService(heritage_runtime).identity_for_external(claims())
    user = AccountService(heritage_runtime).get_user(identity.user_id or 0)
    assert user.email == "ada@uni.example"
    assert user.password_hash is None
    assert identity.via == "keycloak"


def test_same_subject_signs_in_to_the_same_account(heritage_runtime: Runtime) -> None:
    accounts = AccountService(heritage_runtime)
    first = accounts.identity_for_external(claims())
    # The provider may change the email it reports; the subject decides.
    again = accounts.identity_for_external(claims(email="ada.new@uni.example"))
    assert again.user_id == first.user_id


def test_verified_email_links_an_existing_account(heritage_runtime: Runtime) -> None:
    accounts = AccountService(heritage_runtime)
    local = accounts.create_user(SYSTEM, "ada@uni.example", "a long password 1")
    identity = accounts.identity_for_external(claims())
    assert identity.user_id == local.id
    with heritage_runtime.database.session() as session:
        links = session.scalars(select(ExternalIdentity)).all()
    assert [(link.provider, link.subject, link.user_id) for link in links] == [
        ("keycloak", "sub-1", local.id)
    ]


def test_unverified_email_is_refused(heritage_runtime: Runtime) -> None:
    accounts = AccountService(heritage_runtime)
    accounts.create_user(SYSTEM, "ada@uni.example", "a long password 1")
    with pytest.raises(AuthenticationFailed):
        accounts.identity_for_external(claims(verified=False))
