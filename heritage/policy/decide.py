"""Evaluate :data:`RULES` for an identity and a target."""

from __future__ import annotations

from dataclasses import dataclass

from heritage.accounts.identity import Identity
from heritage.errors import AuthenticationRequired, NotFound, PermissionDenied
from heritage.institutions.models import InstitutionRole
from heritage.policy.rules import RULES, Grant
from heritage.workspaces.models import Role

_ROLE_GRANTS = {
    Grant.VIEWER: Role.VIEWER,
    Grant.CONTRIBUTOR: Role.CONTRIBUTOR,
    Grant.EDITOR: Role.EDITOR,
    Grant.MANAGER: Role.MANAGER,
    Grant.OWNER: Role.OWNER,
}


@dataclass(frozen=True)
class Target:
    """What the policy needs to know about the thing acted upon."""

    workspace_role: Role | None = None
    workspace_public: bool = False
    institution_role: InstitutionRole | None = None
    creator_id: int | None = None


NO_TARGET = Target()


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # True when the identity may not even learn that the target exists
    # (a private workspace seen from outside): answered as "not found".
    hidden: bool = False


def _granted(grant: Grant, identity: Identity, target: Target) -> bool:
    if grant is Grant.ANYONE:
        return True
    if grant is Grant.SIGNED_IN:
        return identity.is_authenticated
    if grant is Grant.PUBLIC_WORKSPACE:
        return target.workspace_public
    if grant in _ROLE_GRANTS:
        role = target.workspace_role
        return role is not None and role.at_least(_ROLE_GRANTS[grant])
    if grant is Grant.INSTITUTION_MEMBER:
        return target.institution_role is not None
    if grant is Grant.INSTITUTION_ADMIN:
        return target.institution_role is InstitutionRole.ADMIN
    if grant is Grant.CREATOR:
        return identity.user_id is not None and identity.user_id == target.creator_id
    return False


def decide(identity: Identity, action: str, target: Target = NO_TARGET) -> Decision:
    rule = RULES.get(action)
    if rule is None:
        return Decision(allowed=False)
    if identity.is_admin:
        return Decision(allowed=True)
    if any(_granted(grant, identity, target) for grant in rule.grants):
        return Decision(allowed=True)
    can_see_workspace = target.workspace_role is not None or target.workspace_public
    hidden = rule.scope.value in ("workspace", "job") and not can_see_workspace
    if rule.scope.value == "job" and target.creator_id == identity.user_id:
        hidden = False
    return Decision(allowed=False, hidden=hidden)


def require(identity: Identity, action: str, target: Target = NO_TARGET) -> None:
    """Raise the error a denied caller should see; return quietly when allowed."""
    decision = decide(identity, action, target)
    if decision.allowed:
        return
    if decision.hidden:
        raise NotFound("Not found")
    if not identity.is_authenticated:
        raise AuthenticationRequired("Please sign in to do this.")
    raise PermissionDenied(f"You are not allowed to do this ({action}).")
