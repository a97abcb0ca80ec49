"""API tokens, web sessions, CSRF protection and the session cookie's flags."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select, update

from heritage.accounts.identity import SYSTEM
from heritage.accounts.models import ApiToken, User, WebSession
from heritage.accounts.services import AccountService, identity_of
from heritage.config import Settings, load_settings
from heritage.db.base import utcnow
from heritage.runtime import Runtime
from heritage.web import csrf
from heritage.web.app import create_app
from heritage.web.context import SESSION_COOKIE

PASSWORD = "correct horse battery staple"
EMAIL = "ada@example.org"


@pytest.fixture
def accounts(heritage_runtime: Runtime) -> AccountService:
    service = AccountService(heritage_runtime)
    service.create_user(SYSTEM, EMAIL, PASSWORD, display_name="Ada")
    return service


@pytest.fixture
def ada(accounts: AccountService) -> User:
    return accounts.find_user(EMAIL)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF field on the page"
    return match.group(1)


def sign_in(client: TestClient, email: str = EMAIL, password: str = PASSWORD) -> Response:
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": email, "password": password},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return response


def new_client(runtime: Runtime, base_url: str = "http://testserver") -> TestClient:
    return TestClient(create_app(runtime), base_url=base_url)


# -- API tokens ------------------------------------------------------------------------
def test_token_secret_is_shown_once_and_only_its_hash_is_stored(
    heritage_runtime: Runtime, accounts: AccountService, ada: User
) -> None:
    new = accounts.create_token(identity_of(ada, "session"), "scripts", days=30)
    assert new.secret.startswith("hc_") and len(new.secret) > 40
    with heritage_runtime.database.session() as session:
        row = session.get(ApiToken, new.token.id)
        assert row is not None
        assert row.token_hash == hashlib.sha256(new.secret.encode()).hexdigest()
        assert row.token_hash != new.secret
        assert new.secret.startswith(row.prefix) and len(row.prefix) < 12
        stored = [str(getattr(row, column.key)) for column in ApiToken.__table__.columns]
    assert not any(new.secret in value for value in stored)
    assert accounts.identity_from_token(new.secret) is not None


def test_token_created_through_the_api_is_returned_once(
    heritage_client: TestClient, accounts: AccountService, ada: User
) -> None:
    first = accounts.create_token(identity_of(ada, "session"), "bootstrap")
    created = heritage_client.post(
        "/api/me/tokens", json={"name": "ci", "days": 5}, headers=bearer(first.secret)
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    assert secret.startswith("hc_")
    listed = heritage_client.get("/api/me/tokens", headers=bearer(secret))
    assert listed.status_code == 200
    assert {token["name"] for token in listed.json()} == {"bootstrap", "ci"}
    assert secret not in listed.text and first.secret not in listed.text
    assert all("secret" not in token for token in listed.json())


def test_bearer_token_signs_in_to_the_api(
    heritage_client: TestClient, accounts: AccountService, ada: User
) -> None:
    new = accounts.create_token(identity_of(ada, "session"), "scripts")
    response = heritage_client.get("/api/me", headers=bearer(new.secret))
    assert response.status_code == 200
    assert response.json()["email"] == EMAIL
    anonymous = heritage_client.get("/api/me")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.headers["www-authenticate"].startswith("Bearer")


def test_unusable_tokens_are_refused(
    heritage_runtime: Runtime, heritage_client: TestClient, accounts: AccountService
) -> None:
    for spoil in ("expired", "revoked", "deactivated", "unknown", "not-ours"):
        user = accounts.create_user(SYSTEM, f"{spoil}@example.org", PASSWORD)
        new = accounts.create_token(identity_of(user, "session"), "scripts")
        secret = new.secret
        assert heritage_client.get("/api/me", headers=bearer(secret)).status_code == 200
        with heritage_runtime.database.session(write=True) as session:
            if spoil == "expired":
                session.execute(
                    update(ApiToken)
                    .where(ApiToken.id == new.token.id)
                    .values(expires_at=utcnow() - timedelta(seconds=1))
                )
            elif spoil == "deactivated":
                session.execute(update(User).where(User.id == user.id).values(is_active=False))
            session.commit()
        if spoil == "revoked":
            accounts.revoke_token(identity_of(user, "session"), new.token.id)
        elif spoil == "unknown":
            secret = "hc_" + "x" * 43
        elif spoil == "not-ours":
            secret = secret[3:]  # without the hc_ marker
        response = heritage_client.get("/api/me", headers=bearer(secret))
        assert response.status_code == 401, (spoil, response.text)
        assert response.json()["status"] == 401


def test_someone_elses_token_cannot_be_revoked(
    heritage_client: TestClient, accounts: AccountService, ada: User
) -> None:
    bob = accounts.create_user(SYSTEM, "bob@example.org", PASSWORD)
    ada_token = accounts.create_token(identity_of(ada, "session"), "ada")
    bob_token = accounts.create_token(identity_of(bob, "session"), "bob")
    response = heritage_client.delete(
        f"/api/me/tokens/{ada_token.token.id}", headers=bearer(bob_token.secret)
    )
    assert response.status_code == 404
    assert heritage_client.get("/api/me", headers=bearer(ada_token.secret)).status_code == 200


def test_bad_token_does_not_fall_back_to_the_session_cookie(
    heritage_runtime: Runtime, accounts: AccountService, ada: User
) -> None:
    with new_client(heritage_runtime) as client:
        sign_in(client)
        assert client.get("/api/me").status_code == 200
        assert client.get("/api/me", headers=bearer("hc_forged")).status_code == 401


# -- sessions --------------------------------------------------------------------------
def test_sign_out_ends_the_session_on_the_server(
    heritage_runtime: Runtime, accounts: AccountService, ada: User
) -> None:
    with new_client(heritage_runtime) as client:
        sign_in(client)
        cookie = client.cookies[SESSION_COOKIE]
        assert client.get("/api/me").json()["email"] == EMAIL
        token = csrf_of(client.get("/settings").text)
        out = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
        assert out.status_code == 303
        assert out.headers["location"] == "/login"
    with heritage_runtime.database.session() as session:
        assert session.scalars(select(WebSession)).all() == []
    # Someone who copied the cookie before sign-out cannot use it.
    with new_client(heritage_runtime) as thief:
        thief.cookies.set(SESSION_COOKIE, cookie)
        assert thief.get("/api/me").status_code == 401
        page = thief.get("/dashboard", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"].startswith("/login")


def test_expired_session_is_anonymous(
    heritage_runtime: Runtime, accounts: AccountService, ada: User
) -> None:
    secret = accounts.start_session(ada)
    assert accounts.identity_from_session(secret) is not None
    with heritage_runtime.database.session(write=True) as session:
        session.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    assert accounts.identity_from_session(secret) is None


def test_session_of_deactivated_user_is_anonymous(
    heritage_runtime: Runtime, accounts: AccountService, ada: User
) -> None:
    secret = accounts.start_session(ada)
    with heritage_runtime.database.session(write=True) as session:
        session.execute(update(User).where(User.id == ada.id).values(is_active=False))
        session.commit()
    assert accounts.identity_from_session(secret) is None


def test_changing_the_password_ends_other_sessions(accounts: AccountService, ada: User) -> None:
    laptop, phone = accounts.start_session(ada), accounts.start_session(ada)
    accounts.change_password(identity_of(ada, "session"), PASSWORD, "a brand new password")
    assert accounts.identity_from_session(laptop) is None
    assert accounts.identity_from_session(phone) is None
    accounts.authenticate(EMAIL, "a brand new password", client="c")


def test_changing_the_password_in_the_browser_keeps_only_that_browser(
    heritage_runtime: Runtime, accounts: AccountService, ada: User
) -> None:
    with new_client(heritage_runtime) as laptop, new_client(heritage_runtime) as phone:
        sign_in(laptop)
        sign_in(phone)
        old_laptop_cookie = laptop.cookies[SESSION_COOKIE]
        token = csrf_of(laptop.get("/settings").text)
        response = laptop.post(
            "/settings/password",
            data={
                "csrf_token": token,
                "current_password": PASSWORD,
                "new_password": "a brand new password",
                "new_password_confirm": "a brand new password",
            },
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        assert laptop.cookies[SESSION_COOKIE] != old_laptop_cookie
        assert laptop.get("/api/me").status_code == 200
        assert phone.get("/api/me").status_code == 401
    assert accounts.identity_from_session(old_laptop_cookie) is None


def test_wrong_current_password_changes_nothing(accounts: AccountService, ada: User) -> None:
    from heritage.errors import InvalidInput

    session = accounts.start_session(ada)
    with pytest.raises(InvalidInput) as raised:
        accounts.change_password(identity_of(ada, "session"), "not my password", "another one!")
    assert raised.value.errors[0].field == "current_password"
    assert accounts.identity_from_session(session) is not None
    accounts.authenticate(EMAIL, PASSWORD, client="c")


# -- CSRF ------------------------------------------------------------------------------
@pytest.fixture
def browser(heritage_runtime: Runtime, accounts: AccountService) -> Iterator[TestClient]:
    with new_client(heritage_runtime) as client:
        sign_in(client)
        client.get("/settings")
        yield client


def profile_form(token: str | None) -> dict[str, str]:
    form = {"display_name": "Ada L.", "language": "en"}
    if token is not None:
        form["csrf_token"] = token
    return form


def display_name(runtime: Runtime) -> str:
    with runtime.database.session() as session:
        name = session.scalar(select(User.display_name).where(User.email == EMAIL))
    return str(name)


def test_form_without_csrf_token_is_refused(heritage_runtime: Runtime, browser: TestClient):
    response = browser.post("/settings/profile", data=profile_form(None), follow_redirects=False)
    assert response.status_code == 403
    assert "CSRF" in response.text
    assert display_name(heritage_runtime) == "Ada"


def test_token_made_for_another_cookie_is_refused(
    heritage_runtime: Runtime, browser: TestClient
) -> None:
    key = heritage_runtime.settings.signing_key
    foreign = csrf.token_for(key, csrf.new_cookie_value())
    response = browser.post("/settings/profile", data=profile_form(foreign), follow_redirects=False)
    assert response.status_code == 403
    # Nor does a token computed with another key for this very cookie.
    forged = csrf.token_for("another key", browser.cookies[csrf.CSRF_COOKIE])
    response = browser.post("/settings/profile", data=profile_form(forged), follow_redirects=False)
    assert response.status_code == 403
    assert display_name(heritage_runtime) == "Ada"


def test_form_with_the_right_token_is_accepted(
    heritage_runtime: Runtime, browser: TestClient
) -> None:
    token = csrf_of(browser.get("/settings").text)
    assert token == csrf.token_for(
        heritage_runtime.settings.signing_key, browser.cookies[csrf.CSRF_COOKIE]
    )
    response = browser.post("/settings/profile", data=profile_form(token), follow_redirects=False)
    assert response.status_code == 303, response.text
    assert display_name(heritage_runtime) == "Ada L."


def test_csrf_header_works_for_scripts_of_the_page(
    heritage_runtime: Runtime, browser: TestClient
) -> None:
    response = browser.patch("/api/me", json={"display_name": "Ada H."})
    assert response.status_code == 403
    token = csrf_of(browser.get("/settings").text)
    response = browser.patch(
        "/api/me", json={"display_name": "Ada H."}, headers={csrf.CSRF_HEADER: token}
    )
    assert response.status_code == 200, response.text
    assert display_name(heritage_runtime) == "Ada H."


def test_api_with_bearer_token_needs_no_csrf(
    heritage_runtime: Runtime, heritage_client: TestClient, accounts: AccountService, ada: User
) -> None:
    new = accounts.create_token(identity_of(ada, "session"), "scripts")
    heritage_client.cookies.clear()
    response = heritage_client.patch(
        "/api/me", json={"display_name": "Ada API"}, headers=bearer(new.secret)
    )
    assert response.status_code == 200, response.text
    assert display_name(heritage_runtime) == "Ada API"


def test_sign_in_form_itself_needs_the_csrf_token(
    heritage_client: TestClient, accounts: AccountService
) -> None:
    response = heritage_client.post(
        "/login", data={"email": EMAIL, "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    assert SESSION_COOKIE not in response.cookies


# -- cookie flags ----------------------------------------------------------------------
def session_set_cookie(response: Response) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)]
    assert len(headers) == 1, response.headers
    return headers[0]


def test_session_cookie_flags_over_http(
    heritage_client: TestClient, heritage_settings: Settings, accounts: AccountService
) -> None:
    header = session_set_cookie(sign_in(heritage_client)).lower()
    assert "httponly" in header
    assert "samesite=lax" in header
    assert "path=/" in header
    assert "secure" not in header
    assert f"max-age={heritage_settings.session_lifetime_hours * 3600}" in header


def test_csrf_cookie_flags(heritage_client: TestClient) -> None:
    [header] = [
        h.lower()
        for h in heritage_client.get("/login").headers.get_list("set-cookie")
        if h.startswith(csrf.CSRF_COOKIE)
    ]
    assert "httponly" in header and "samesite=strict" in header
    assert "secure" not in header


def test_session_cookie_is_secure_when_served_over_https(
    heritage_settings: Settings, accounts: AccountService
) -> None:
    settings = load_settings(
        _env_file=None,
        data_dir=heritage_settings.data_dir,
        database_url=heritage_settings.resolved_database_url,
        secret_key=heritage_settings.secret_key,
        password_memory_kib=1024,
        queue="immediate",
        base_url="https://heritage.example.org",
    )
    assert settings.secure_cookies
    runtime = Runtime(settings)
    try:
        with new_client(runtime, base_url="https://testserver") as client:
            [csrf_header] = [
                h.lower()
                for h in client.get("/login").headers.get_list("set-cookie")
                if h.startswith(csrf.CSRF_COOKIE)
            ]
            assert "secure" in csrf_header.split("; ")
            header = session_set_cookie(sign_in(client)).lower()
            assert "secure" in header.split("; ")
            assert "httponly" in header and "samesite=lax" in header
    finally:
        runtime.close()
