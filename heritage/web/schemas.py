"""Request and response bodies of the JSON API (strict: no silent type coercion)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class StrictInput(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- accounts -----------------------------------------------------------------
class UserOut(Output):
    id: int
    email: str
    display_name: str
    is_admin: bool
    language: str | None
    created_at: datetime


class UserCreate(StrictInput):
    email: str = Field(max_length=320)
    display_name: str = Field(default="", max_length=200)
    password: str = Field(min_length=1, max_length=1024)
    is_admin: bool = False


class ProfileUpdate(StrictInput):
    display_name: str | None = Field(default=None, max_length=200)
    language: Literal["en", "de", "fr"] | None = None


class TokenOut(Output):
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreate(StrictInput):
    name: str = Field(min_length=1, max_length=100)
    days: int = Field(default=90, ge=1, le=3650)


class NewTokenOut(BaseModel):
    token: TokenOut
    secret: str = Field(description="The token itself. Shown only this once.")


# -- institutions ---------------------------------------------------------------
class InstitutionOut(Output):
    slug: str
    name: str
    kind: str
    country: str | None
    website: str | None
    description: str


class InstitutionCreate(StrictInput):
    slug: str = Field(max_length=64)
    name: str = Field(max_length=200)
    kind: str = "museum"
    country: str | None = Field(default=None, max_length=2)
    website: str | None = Field(default=None, max_length=500)
    description: str = Field(default="", max_length=5000)


class InstitutionUpdate(StrictInput):
    name: str | None = Field(default=None, max_length=200)
    kind: str | None = None
    country: str | None = Field(default=None, max_length=2)
    website: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=5000)


class InstitutionMemberOut(BaseModel):
    user_id: int
    email: str
    display_name: str
    role: str


class InstitutionMemberSet(StrictInput):
    email: str = Field(max_length=320)
    role: Literal["admin", "member"] = "member"


# -- workspaces -----------------------------------------------------------------
Visibility = Literal["private", "public"]
RoleName = Literal["viewer", "contributor", "editor", "manager", "owner"]


class WorkspaceOut(BaseModel):
    slug: str
    name: str
    description: str
    institution: str
    visibility: str
    created_at: datetime
    your_role: str | None = None


class WorkspaceCreate(StrictInput):
    slug: str = Field(max_length=64)
    name: str = Field(max_length=200)
    institution: str = Field(max_length=64)
    description: str = Field(default="", max_length=5000)
    visibility: Visibility = "private"


class WorkspaceUpdate(StrictInput):
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    visibility: Visibility | None = None


class MemberOut(BaseModel):
    user_id: int
    email: str
    display_name: str
    role: str


class MemberAdd(StrictInput):
    email: str = Field(max_length=320)
    role: RoleName = "viewer"


class MemberRole(StrictInput):
    role: RoleName


class InvitationOut(Output):
    id: int
    email: str | None
    role: str
    note: str
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


class InvitationCreate(StrictInput):
    role: RoleName = "viewer"
    email: str | None = Field(default=None, max_length=320)
    days: int = Field(default=14, ge=1, le=365)
    note: str = Field(default="", max_length=500)


class NewInvitationOut(BaseModel):
    invitation: InvitationOut
    link: str = Field(description="The invitation link. Shown only this once.")


class InvitationInfo(BaseModel):
    workspace: str
    workspace_name: str
    role: str
    expires_at: datetime
    usable: bool
    reason: str


# -- audit and jobs -------------------------------------------------------------
class AuditEntryOut(Output):
    seq: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]
    entry_hash: str


class JobOut(Output):
    id: str
    kind: str
    title: str
    status: str
    progress: float
    progress_message: str
    error: str | None
    result: dict[str, Any] | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}
