"""Users, sign-in with throttling, web sessions and personal API tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select

from heritage.accounts.identity import Identity
from heritage.accounts.models import ApiToken, ExternalIdentity, LoginAttempt, User, WebSession
from heritage.accounts.passwords import password_problem
from heritage.accounts.providers import ExternalClaims
from heritage.audit.services import record
from heritage.config import SUPPORTED_LANGUAGES
from heritage.db.base import utcnow
from heritage.db.uow import UnitOfWork
from heritage.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound, Throttled
from heritage.policy import require
from heritage.runtime import Runtime
from heritage.secrets_util import digest, new_secret

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "hc_"  # noqa: S105 - a public marker, not a secret
# A session is touched at most this often, so reads do not all become writes.
SESSION_TOUCH_INTERVAL = timedelta(minutes=5)


def normalise_email(email: str) -> str:
    value = email.strip().lower()
    if not EMAIL_PATTERN.match(value) or len(value) > 320:
        raise InvalidInput.on("email", "is not a valid email address")
    return value


def identity_of(user: User, via: str) -> Identity:
    return Identity(
        user_id=user.id, label=user.email, is_admin=user.is_admin, via=via, language=user.language
    )


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once, never stored


class AccountService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings

    # -- users ----------------------------------------------------------------
    def create_user(
        self,
        actor: Identity,
        email: str,
        password: str | None,
        *,
        display_name: str = "",
        is_admin: bool = False,
    ) -> User:
        require(actor, "users.create")
        address = normalise_email(email)
        if password is not None and (problem := password_problem(password)):
            raise InvalidInput.on("password", problem)
        name = display_name.strip() or address.split("@")[0]
        if len(name) > 200:
            raise InvalidInput.on("display_name", "must be at most 200 characters long")
        with UnitOfWork(self.runtime.database) as uow:
            if uow.session.scalar(select(User.id).where(User.email == address)):
                raise Conflict(f"A user with the email {address} already exists.", errors=[])
            user = User(
                email=address,
                display_name=name,
                password_hash=self.runtime.passwords.hash(password) if password else None,
                is_admin=is_admin,
            )
            uow.session.add(user)
            uow.session.flush()
            record(
                uow.session,
                actor,
                "user.create",
                "user",
                user.id,
                details={"email": address, "admin": is_admin},
            )
            uow.commit()
            return user

    def get_user(self, user_id: int) -> User:
        with self.runtime.database.session() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFound(f"No user {user_id}")
            return user

    def find_user(self, email: str) -> User:
        address = normalise_email(email)
        with self.runtime.database.session() as session:
            user = session.scalar(select(User).where(User.email == address))
            if user is None:
                raise NotFound(f"No user with the email {address}")
            return user

    def list_users(self, actor: Identity) -> list[User]:
        require(actor, "users.view")
        with self.runtime.database.session() as session:
            return list(session.scalars(select(User).order_by(User.email)))

    def update_profile(
        self, actor: Identity, *, display_name: str | None = None, language: str | None = None
    ) -> User:
        require(actor, "account.update")
        with UnitOfWork(self.runtime.database) as uow:
            user = uow.session.get(User, actor.user_id)
            if user is None:
                raise NotFound("No such user")
            changed: dict[str, str] = {}
            if display_name is not None:
                name = display_name.strip()
                if not name:
                    raise InvalidInput.on("display_name", "must not be empty")
                if len(name) > 200:
                    raise InvalidInput.on("display_name", "must be at most 200 characters long")
                user.display_name = changed["display_name"] = name
            if language is not None:
                if language not in SUPPORTED_LANGUAGES:
                    raise InvalidInput.on(
                        "language", f"must be one of {', '.join(SUPPORTED_LANGUAGES)}"
                    )
                user.language = changed["language"] = language
            record(uow.session, actor, "user.update", "user", user.id, details=changed)
            uow.commit()
            return user

    def change_password(self, actor: Identity, current: str, new: str) -> None:
        require(actor, "account.update")
        if problem := password_problem(new):
            raise InvalidInput.on("new_password", problem)
        with UnitOfWork(self.runtime.database) as uow:
            user = uow.session.get(User, actor.user_id)
            if user is None or not self.runtime.passwords.verify(user.password_hash, current):
                raise InvalidInput.on("current_password", "is not your current password")
            user.password_hash = self.runtime.passwords.hash(new)
            # Every other browser signed in as this user has to sign in again.
            uow.session.execute(delete(WebSession).where(WebSession.user_id == user.id))
            record(uow.session, actor, "user.password_change", "user", user.id)
            uow.commit()

    def set_admin_password(self, actor: Identity, email: str, password: str) -> None:
        """Operator reset from the command line."""
        require(actor, "users.create")
        if problem := password_problem(password):
            raise InvalidInput.on("password", problem)
        with UnitOfWork(self.runtime.database) as uow:
            user = uow.session.scalar(select(User).where(User.email == normalise_email(email)))
            if user is None:
                raise NotFound(f"No user with the email {email}")
            user.password_hash = self.runtime.passwords.hash(password)
            uow.session.execute(delete(WebSession).where(WebSession.user_id == user.id))
            record(uow.session, actor, "user.password_reset", "user", user.id)
            uow.commit()

    # -- signing in -----------------------------------------------------------
    def _check_throttle(self, email: str, client: str) -> None:
        window_start = utcnow() - timedelta(minutes=self.settings.login_lockout_minutes)
        limit = self.settings.login_max_failures
        with self.runtime.database.session() as session:
            last_success = session.scalar(
                select(func.max(LoginAttempt.at)).where(
                    LoginAttempt.email == email, LoginAttempt.succeeded.is_(True)
                )
            )
            since = max(window_start, last_success) if last_success else window_start
            failures = session.scalar(
                select(func.count()).where(
                    LoginAttempt.email == email,
                    LoginAttempt.succeeded.is_(False),
                    LoginAttempt.at > since,
                )
            )
            from_client = session.scalar(
                select(func.count()).where(
                    LoginAttempt.client == client,
                    LoginAttempt.succeeded.is_(False),
                    LoginAttempt.at > window_start,
                )
            )
        if (failures or 0) >= limit or (from_client or 0) >= limit * 4:
            raise Throttled(
                retry_after_seconds=self.settings.login_lockout_minutes * 60,
                detail="Too many failed sign-in attempts. Please wait "
                f"{self.settings.login_lockout_minutes} minutes and try again.",
            )

    def authenticate(self, email: str, password: str, *, client: str) -> User:
        try:
            address = normalise_email(email)
        except InvalidInput:
            raise AuthenticationFailed("Wrong email or password.") from None
        self._check_throttle(address, client)
        with UnitOfWork(self.runtime.database) as uow:
            user = uow.session.scalar(select(User).where(User.email == address))
            ok = self.runtime.passwords.verify(user.password_hash if user else None, password)
            ok = ok and user is not None and user.is_active
            uow.session.add(LoginAttempt(email=address, client=client[:64], succeeded=ok))
            if ok and user is not None:
                user.last_login_at = utcnow()
                if user.password_hash and self.runtime.passwords.needs_rehash(user.password_hash):
                    user.password_hash = self.runtime.passwords.hash(password)
            uow.commit()
        if not ok or user is None:
            raise AuthenticationFailed("Wrong email or password.")
        return user

    def start_session(self, user: User, *, user_agent: str = "") -> str:
        secret = new_secret()
        lifetime = timedelta(hours=self.settings.session_lifetime_hours)
        with UnitOfWork(self.runtime.database) as uow:
            uow.session.add(
                WebSession(
                    id_hash=digest(secret),
                    user_id=user.id,
                    expires_at=utcnow() + lifetime,
                    user_agent=user_agent[:300],
                )
            )
            record(uow.session, identity_of(user, "session"), "session.create", "user", user.id)
            uow.commit()
        return secret

    def identity_from_session(self, secret: str) -> Identity | None:
        now = utcnow()
        with self.runtime.database.session() as session:
            row = session.get(WebSession, digest(secret))
            if row is None or row.expires_at <= now:
                return None
            user = session.get(User, row.user_id)
            if user is None or not user.is_active:
                return None
            stale = now - row.last_seen_at > SESSION_TOUCH_INTERVAL
            identity = identity_of(user, "session")
        if stale:
            with self.runtime.database.session(write=True) as session:
                row = session.get(WebSession, digest(secret))
                if row is not None:
                    row.last_seen_at = now
                    session.commit()
        return identity

    def end_session(self, secret: str) -> None:
        with UnitOfWork(self.runtime.database) as uow:
            row = uow.session.get(WebSession, digest(secret))
            if row is None:
                return
            uow.session.delete(row)
            uow.commit()

    # -- external identity providers -----------------------------------------
    def identity_for_external(self, claims: ExternalClaims) -> Identity:
        """The local account for a completed external sign-in (OpenID Connect).

        An account already linked to (provider, subject) is used; otherwise an
        account with the same *verified* email is linked; otherwise a new
        account without a password is created.
        """
        with UnitOfWork(self.runtime.database) as uow:
            link = uow.session.scalar(
                select(ExternalIdentity).where(
                    ExternalIdentity.provider == claims.provider,
                    ExternalIdentity.subject == claims.subject,
                )
            )
            user = uow.session.get(User, link.user_id) if link else None
            if user is None:
                if not claims.email or not claims.email_verified:
                    raise AuthenticationFailed(
                        "The identity provider did not confirm an email address for this account."
                    )
                address = normalise_email(claims.email)
                user = uow.session.scalar(select(User).where(User.email == address))
                if user is None:
                    user = User(
                        email=address,
                        display_name=claims.display_name.strip()[:200] or address.split("@")[0],
                        password_hash=None,
                    )
                    uow.session.add(user)
                    uow.session.flush()
                    record(
                        uow.session,
                        identity_of(user, claims.provider),
                        "user.create",
                        "user",
                        user.id,
                        details={"email": address, "via": claims.provider},
                    )
                uow.session.add(
                    ExternalIdentity(
                        user_id=user.id, provider=claims.provider, subject=claims.subject
                    )
                )
                record(
                    uow.session,
                    identity_of(user, claims.provider),
                    "user.link_external",
                    "user",
                    user.id,
                    details={"provider": claims.provider},
                )
            if not user.is_active:
                raise AuthenticationFailed("This account is deactivated.")
            user.last_login_at = utcnow()
            uow.commit()
            return identity_of(user, claims.provider)

    # -- API tokens -----------------------------------------------------------
    def create_token(self, actor: Identity, name: str, *, days: int | None = None) -> NewToken:
        require(actor, "tokens.create")
        if actor.user_id is None:
            raise InvalidInput.on("user", "tokens belong to a user account")
        label = name.strip()
        if not label:
            raise InvalidInput.on("name", "must not be empty")
        if len(label) > 100:
            raise InvalidInput.on("name", "must be at most 100 characters long")
        lifetime = days if days is not None else self.settings.token_default_days
        if not 1 <= lifetime <= 3650:
            raise InvalidInput.on("days", "must be between 1 and 3650")
        secret = new_secret(TOKEN_PREFIX)
        with UnitOfWork(self.runtime.database) as uow:
            token = ApiToken(
                user_id=actor.user_id,
                name=label,
                prefix=secret[: len(TOKEN_PREFIX) + 6],
                token_hash=digest(secret),
                expires_at=utcnow() + timedelta(days=lifetime),
            )
            uow.session.add(token)
            uow.session.flush()
            record(
                uow.session,
                actor,
                "token.create",
                "token",
                token.id,
                details={"name": label, "days": lifetime},
            )
            uow.commit()
        return NewToken(token=token, secret=secret)

    def list_tokens(self, actor: Identity) -> list[ApiToken]:
        require(actor, "account.view")
        with self.runtime.database.session() as session:
            return list(
                session.scalars(
                    select(ApiToken)
                    .where(ApiToken.user_id == actor.user_id)
                    .order_by(ApiToken.created_at.desc())
                )
            )

    def revoke_token(self, actor: Identity, token_id: int) -> ApiToken:
        require(actor, "tokens.revoke")
        with UnitOfWork(self.runtime.database) as uow:
            token = uow.session.get(ApiToken, token_id)
            if token is None or (token.user_id != actor.user_id and not actor.is_admin):
                raise NotFound(f"No token {token_id}")
            if token.revoked_at is None:
                token.revoked_at = utcnow()
                record(uow.session, actor, "token.revoke", "token", token.id)
            uow.commit()
            return token

    def identity_from_token(self, secret: str) -> Identity | None:
        if not secret.startswith(TOKEN_PREFIX):
            return None
        now = utcnow()
        with self.runtime.database.session() as session:
            token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
            if token is None or token.revoked_at is not None or token.expires_at <= now:
                return None
            user = session.get(User, token.user_id)
            if user is None or not user.is_active:
                return None
            stale = token.last_used_at is None or now - token.last_used_at > SESSION_TOUCH_INTERVAL
            identity = identity_of(user, "token")
            token_id = token.id
        if stale:
            with self.runtime.database.session(write=True) as session:
                row = session.get(ApiToken, token_id)
                if row is not None:
                    row.last_used_at = now
                    session.commit()
        return identity
