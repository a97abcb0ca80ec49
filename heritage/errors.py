"""Errors raised by services. The web layer turns them into problem details or pages."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FieldError:
    field: str
    reason: str


class ServiceError(Exception):
    """Base class: a clear, user-facing reason something could not be done."""

    status = 400
    kind = "bad-request"
    title = "The request could not be carried out"

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class InvalidInput(ServiceError):
    status = 422
    kind = "invalid-input"
    title = "Some values are not valid"

    @classmethod
    def on(cls, field: str, reason: str) -> InvalidInput:
        return cls(f"{field}: {reason}", errors=[FieldError(field, reason)])


class NotFound(ServiceError):
    status = 404
    kind = "not-found"
    title = "Not found"


class Conflict(ServiceError):
    status = 409
    kind = "conflict"
    title = "Conflict with the current state"


class AuthenticationRequired(ServiceError):
    status = 401
    kind = "authentication-required"
    title = "Sign-in required"


class AuthenticationFailed(ServiceError):
    status = 401
    kind = "authentication-failed"
    title = "Sign-in failed"


class PermissionDenied(ServiceError):
    status = 403
    kind = "permission-denied"
    title = "Not allowed"


class ContentUnavailable(ServiceError):
    """Stored content failed an integrity check (damaged, tampered, or its key is missing).

    Not the caller's fault, and never served: the answer names what failed.
    """

    status = 503
    kind = "content-unavailable"
    title = "The stored content failed its integrity check"


@dataclass
class Throttled(ServiceError):
    retry_after_seconds: int = 60
    detail: str = "Too many attempts"
    errors: list[FieldError] = field(default_factory=list)

    status = 429
    kind = "throttled"
    title = "Too many attempts"

    def __post_init__(self) -> None:
        Exception.__init__(self, self.detail)
