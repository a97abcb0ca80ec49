"""Passwords are argon2id hashes; repeated wrong passwords lock sign-in for a while."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select, update

from heritage.accounts.identity import SYSTEM
from heritage.accounts.models import LoginAttempt, User
from heritage.accounts.services import AccountService
from heritage.errors import AuthenticationFailed, InvalidInput, Throttled
from heritage.runtime import Runtime
from heritage.web.context import SESSION_COOKIE

PASSWORD = "correct horse battery staple"
EMAIL = "ada@example.org"


@pytest.fixture
def accounts(heritage_runtime: Runtime) -> AccountService:
    service = AccountService(heritage_runtime)
    service.create_user(SYSTEM, EMAIL, PASSWORD, display_name="Ada")
    return service


def stored_hash(runtime: Runtime, email: str = EMAIL) -> str:
    with runtime.database.session() as session:
        value = session.scalar(select(User.password_hash).where(User.email == email))
    assert value is not None
    return value


def age_attempts(runtime: Runtime, minutes: int) -> None:
    with runtime.database.session(write=True) as session:
        for attempt in session.scalars(select(LoginAttempt)):
            attempt.at = attempt.at - timedelta(minutes=minutes)
        session.commit()


def fail_times(accounts: AccountService, count: int, *, client: str = "198.51.100.7") -> None:
    for _ in range(count):
        with pytest.raises(AuthenticationFailed):
            accounts.authenticate(EMAIL, "wrong password!", client=client)


# -- hashing ---------------------------------------------------------------------------
def test_passwords_are_stored_as_argon2id(heritage_runtime: Runtime, accounts: AccountService):
    value = stored_hash(heritage_runtime)
    assert value.startswith("$argon2id$")
    assert PASSWORD not in value
    # The configured memory cost is used (1024 KiB in the tests).
    assert re.search(r"\$m=1024,t=3,p=4\$", value), value
    # Same password, another account: another salt, another hash.
    accounts.create_user(SYSTEM, "bob@example.org", PASSWORD)
    assert stored_hash(heritage_runtime, "bob@example.org") != value


def test_sign_in_checks_the_password(accounts: AccountService) -> None:
    assert accounts.authenticate(EMAIL, PASSWORD, client="c").email == EMAIL
    assert accounts.authenticate("  ADA@Example.org ", PASSWORD, client="c").email == EMAIL
    for email, password in [(EMAIL, PASSWORD + "x"), ("nobody@example.org", PASSWORD), ("", "")]:
        with pytest.raises(AuthenticationFailed):
            accounts.authenticate(email, password, client="c")


def test_short_password_is_refused(accounts: AccountService) -> None:
    with pytest.raises(InvalidInput) as raised:
        accounts.create_user(SYSTEM, "bob@example.org", "short")
    assert raised.value.errors[0].field == "password"


def test_deactivated_account_cannot_sign_in(
    heritage_runtime: Runtime, accounts: AccountService
) -> None:
    with heritage_runtime.database.session(write=True) as session:
        session.execute(update(User).where(User.email == EMAIL).values(is_active=False))
        session.commit()
    with pytest.raises(AuthenticationFailed):
        accounts.authenticate(EMAIL, PASSWORD, client="c")


def test_weaker_hash_is_upgraded_on_sign_in(
    heritage_runtime: Runtime, accounts: AccountService
) -> None:
    from heritage.accounts.passwords import Passwords

    weak = Passwords(memory_kib=1024, time_cost=1).hash(PASSWORD)
    with heritage_runtime.database.session(write=True) as session:
        session.execute(update(User).where(User.email == EMAIL).values(password_hash=weak))
        session.commit()
    accounts.authenticate(EMAIL, PASSWORD, client="c")
    upgraded = stored_hash(heritage_runtime)
    assert upgraded != weak and ",t=3," in upgraded


# -- throttling ------------------------------------------------------------------------
def test_too_many_failures_lock_even_the_right_password(
    heritage_runtime: Runtime, accounts: AccountService
) -> None:
    limit = heritage_runtime.settings.login_max_failures
    fail_times(accounts, limit)
    with pytest.raises(Throttled) as raised:
        accounts.authenticate(EMAIL, PASSWORD, client="198.51.100.7")
    assert raised.value.retry_after_seconds == heritage_runtime.settings.login_lockout_minutes * 60
    # A refused attempt while locked does not count as a success.
    with heritage_runtime.database.session() as session:
        assert not session.scalars(
            select(LoginAttempt).where(LoginAttempt.succeeded.is_(True))
        ).all()


def test_lock_ends_after_the_window(heritage_runtime: Runtime, accounts: AccountService) -> None:
    settings = heritage_runtime.settings
    fail_times(accounts, settings.login_max_failures)
    age_attempts(heritage_runtime, settings.login_lockout_minutes - 1)
    with pytest.raises(Throttled):
        accounts.authenticate(EMAIL, PASSWORD, client="198.51.100.7")
    age_attempts(heritage_runtime, 2)  # now older than the window
    assert accounts.authenticate(EMAIL, PASSWORD, client="198.51.100.7").email == EMAIL


def test_one_failure_short_of_the_limit_is_not_throttled(
    heritage_runtime: Runtime, accounts: AccountService
) -> None:
    limit = heritage_runtime.settings.login_max_failures
    fail_times(accounts, limit - 1)
    assert accounts.authenticate(EMAIL, PASSWORD, client="198.51.100.7").email == EMAIL
    # Success starts the count again.
    fail_times(accounts, limit - 1)
    assert accounts.authenticate(EMAIL, PASSWORD, client="198.51.100.7").email == EMAIL


def test_one_address_guessing_many_accounts_is_throttled(
    heritage_runtime: Runtime, accounts: AccountService
) -> None:
    limit = heritage_runtime.settings.login_max_failures
    for n in range(limit * 4):
        with pytest.raises(AuthenticationFailed):
            accounts.authenticate(f"victim{n}@example.org", "guess guess", client="203.0.113.9")
    with pytest.raises(Throttled):
        accounts.authenticate(EMAIL, PASSWORD, client="203.0.113.9")
    # Another address is not affected.
    assert accounts.authenticate(EMAIL, PASSWORD, client="192.0.2.1").email == EMAIL


# -- through the sign-in page ------------------------------------------------------------
def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF field on the page"
    return match.group(1)


def post_login(client: TestClient, token: str, password: str) -> Response:
    return client.post(
        "/login",
        data={"csrf_token": token, "email": EMAIL, "password": password},
        follow_redirects=False,
    )


def test_sign_in_page_answers_429_when_throttled(
    heritage_runtime: Runtime, accounts: AccountService, heritage_client: TestClient
) -> None:
    token = csrf_of(heritage_client.get("/login").text)
    for _ in range(heritage_runtime.settings.login_max_failures):
        response = post_login(heritage_client, token, "wrong password!")
        assert response.status_code == 401
        assert "Wrong email or password" in response.text
    response = post_login(heritage_client, token, PASSWORD)
    assert response.status_code == 429
    assert "text/html" in response.headers["content-type"]
    minutes = heritage_runtime.settings.login_lockout_minutes
    assert f"wait {minutes} minutes" in response.text
    assert SESSION_COOKIE not in response.cookies


def test_throttled_sign_in_page_sends_retry_after(
    heritage_runtime: Runtime, accounts: AccountService, heritage_client: TestClient
) -> None:
    """RFC 6585: a 429 answer says how long to wait, for browsers and scripts alike."""
    token = csrf_of(heritage_client.get("/login").text)
    for _ in range(heritage_runtime.settings.login_max_failures):
        post_login(heritage_client, token, "wrong password!")
    response = post_login(heritage_client, token, PASSWORD)
    assert response.status_code == 429
    expected = str(heritage_runtime.settings.login_lockout_minutes * 60)
    assert response.headers.get("retry-after") == expected
