"""Identity providers: how a request or an external sign-in becomes an :class:`Identity`.

Two kinds plug in here, each through a registry:

* **credential resolvers** read a credential from a request's headers or
  cookies (API token, session cookie) and return an identity or None;
* **external sign-in providers** (OpenID Connect: EGI Check-in, Keycloak, an
  eduGAIN bridge) complete a sign-in elsewhere and hand back verified claims,
  which :meth:`AccountService.identity_for_external` maps to a local account.

Services only ever see the resulting ``Identity``, so adding a provider does
not touch them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from heritage.accounts.identity import Identity

if TYPE_CHECKING:
    from heritage.runtime import Runtime

SESSION_COOKIE = "hc_session"


@dataclass(frozen=True)
class Credentials:
    """The parts of a request that may carry credentials (no HTTP types here)."""

    headers: Mapping[str, str]
    cookies: Mapping[str, str]


class CredentialResolver(Protocol):
    name: str

    def applies(self, credentials: Credentials) -> bool: ...

    def resolve(self, runtime: Runtime, credentials: Credentials) -> Identity | None: ...


@dataclass(frozen=True)
class ExternalClaims:
    """What an external provider vouches for after a successful sign-in."""

    provider: str
    subject: str
    email: str | None
    email_verified: bool
    display_name: str = ""


class ExternalSignInProvider(Protocol):
    """Contract for an OpenID Connect (or similar) provider added later."""

    name: str
    label: str

    def authorization_url(self, state: str, redirect_uri: str) -> str: ...

    def complete(self, query: Mapping[str, str], redirect_uri: str) -> ExternalClaims: ...


class BearerTokenResolver:
    name = "token"

    def applies(self, credentials: Credentials) -> bool:
        scheme, _, value = credentials.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and bool(value.strip())

    def resolve(self, runtime: Runtime, credentials: Credentials) -> Identity | None:
        from heritage.accounts.services import AccountService

        value = credentials.headers["authorization"].partition(" ")[2].strip()
        return AccountService(runtime).identity_from_token(value)


class SessionCookieResolver:
    name = "session"

    def applies(self, credentials: Credentials) -> bool:
        return bool(credentials.cookies.get(SESSION_COOKIE))

    def resolve(self, runtime: Runtime, credentials: Credentials) -> Identity | None:
        from heritage.accounts.services import AccountService

        return AccountService(runtime).identity_from_session(credentials.cookies[SESSION_COOKIE])


# Tried in order; the first that applies decides. A credential that applies but
# is invalid gives an anonymous identity: never a fall-back to the next one.
CREDENTIAL_RESOLVERS: list[CredentialResolver] = [BearerTokenResolver(), SessionCookieResolver()]
EXTERNAL_PROVIDERS: dict[str, ExternalSignInProvider] = {}


def register_external_provider(provider: ExternalSignInProvider) -> None:
    if provider.name in EXTERNAL_PROVIDERS:
        raise ValueError(f"identity provider {provider.name!r} is registered twice")
    EXTERNAL_PROVIDERS[provider.name] = provider


def presented(credentials: Credentials) -> bool:
    """Whether the request carries a credential some resolver takes (else: anonymous)."""
    return any(resolver.applies(credentials) for resolver in CREDENTIAL_RESOLVERS)


def resolve(runtime: Runtime, credentials: Credentials) -> Identity | None:
    for resolver in CREDENTIAL_RESOLVERS:
        if resolver.applies(credentials):
            return resolver.resolve(runtime, credentials)
    return None
