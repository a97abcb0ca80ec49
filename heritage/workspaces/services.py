"""Workspaces, their members and invitations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from heritage.accounts.identity import Identity
from heritage.accounts.models import User
from heritage.accounts.services import normalise_email
from heritage.audit.services import record
from heritage.db.base import utcnow
from heritage.db.uow import UnitOfWork
from heritage.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from heritage.institutions.models import Institution
from heritage.institutions.services import institution_role
from heritage.policy import Target, decide, require
from heritage.runtime import Runtime
from heritage.secrets_util import digest, new_secret
from heritage.slugs import check_name, check_slug
from heritage.workspaces.models import (
    Invitation,
    Role,
    Visibility,
    Workspace,
    WorkspaceMembership,
)


def parse_role(value: str, field: str = "role") -> Role:
    try:
        return Role(value)
    except ValueError:
        choices = ", ".join(role.value for role in Role)
        raise InvalidInput.on(field, f"must be one of {choices}") from None


def parse_visibility(value: str) -> Visibility:
    try:
        return Visibility(value)
    except ValueError:
        raise InvalidInput.on("visibility", "must be private or public") from None


def workspace_role(session: Session, identity: Identity, workspace_id: int) -> Role | None:
    if identity.user_id is None:
        return None
    return session.scalar(
        select(WorkspaceMembership.role).where(
            WorkspaceMembership.workspace_id == workspace_id,
            WorkspaceMembership.user_id == identity.user_id,
        )
    )


def workspace_target(session: Session, identity: Identity, workspace: Workspace) -> Target:
    return Target(
        workspace_role=workspace_role(session, identity, workspace.id),
        workspace_public=workspace.is_public,
    )


def workspace_for(session: Session, identity: Identity, slug: str, action: str) -> Workspace:
    """The workspace named ``slug``, once the policy allows ``action`` on it."""
    workspace = session.scalar(select(Workspace).where(Workspace.slug == slug))
    if workspace is None:
        raise NotFound(f"No workspace '{slug}'")
    require(identity, action, workspace_target(session, identity, workspace))
    return workspace


@dataclass(frozen=True)
class Member:
    membership_id: int
    user_id: int
    email: str
    display_name: str
    role: Role


@dataclass(frozen=True)
class NewInvitation:
    invitation: Invitation
    secret: str  # part of the link, shown once

    def link(self, base_url: str) -> str:
        return f"{base_url}/invitations/{self.secret}"


@dataclass(frozen=True)
class InvitationView:
    invitation: Invitation
    workspace: Workspace
    usable: bool
    reason: str


class WorkspaceService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def _load(self, session: Session, slug: str) -> Workspace:
        workspace = session.scalar(select(Workspace).where(Workspace.slug == slug))
        if workspace is None:
            raise NotFound(f"No workspace '{slug}'")
        return workspace

    def _authorised(self, session: Session, actor: Identity, slug: str, action: str) -> Workspace:
        workspace = self._load(session, slug)
        require(actor, action, workspace_target(session, actor, workspace))
        return workspace

    # -- workspaces -----------------------------------------------------------
    def create(
        self,
        actor: Identity,
        slug: str,
        name: str,
        *,
        institution: str,
        description: str = "",
        visibility: str = "private",
    ) -> Workspace:
        require(actor, "workspace.create")
        values_slug = check_slug(slug)
        values_name = check_name(name)
        chosen_visibility = parse_visibility(visibility)
        with UnitOfWork(self.runtime.database) as uow:
            owner_institution = uow.session.scalar(
                select(Institution).where(Institution.slug == institution)
            )
            if owner_institution is None:
                raise InvalidInput.on("institution", f"no institution '{institution}'")
            if (
                not actor.is_admin
                and institution_role(uow.session, actor, owner_institution.id) is None
            ):
                raise PermissionDenied(
                    "You can create workspaces only for institutions you are a member of.",
                )
            if uow.session.scalar(select(Workspace.id).where(Workspace.slug == values_slug)):
                raise Conflict(f"A workspace with the slug '{values_slug}' already exists.")
            workspace = Workspace(
                slug=values_slug,
                name=values_name,
                description=description.strip()[:5000],
                institution_id=owner_institution.id,
                visibility=chosen_visibility,
                encrypt_files=chosen_visibility == Visibility.PRIVATE,
                created_by=actor.user_id,
            )
            uow.session.add(workspace)
            uow.session.flush()
            if actor.user_id is not None:
                uow.session.add(
                    WorkspaceMembership(
                        workspace_id=workspace.id, user_id=actor.user_id, role=Role.OWNER
                    )
                )
            record(
                uow.session,
                actor,
                "workspace.create",
                "workspace",
                workspace.slug,
                workspace_id=workspace.id,
                details={
                    "institution": owner_institution.slug,
                    "visibility": chosen_visibility.value,
                },
            )
            uow.commit()
            return workspace

    def get(self, actor: Identity, slug: str, action: str = "workspace.view") -> Workspace:
        with self.runtime.database.session() as session:
            return self._authorised(session, actor, slug, action)

    def role_of(self, actor: Identity, workspace: Workspace) -> Role | None:
        with self.runtime.database.session() as session:
            return workspace_role(session, actor, workspace.id)

    def can(self, actor: Identity, workspace: Workspace, action: str) -> bool:
        with self.runtime.database.session() as session:
            return decide(actor, action, workspace_target(session, actor, workspace)).allowed

    def list_visible(self, actor: Identity) -> list[tuple[Workspace, Role | None]]:
        """Public workspaces and those the actor belongs to (all, for administrators)."""
        with self.runtime.database.session() as session:
            query = (
                select(Workspace, WorkspaceMembership.role)
                .outerjoin(
                    WorkspaceMembership,
                    (WorkspaceMembership.workspace_id == Workspace.id)
                    & (WorkspaceMembership.user_id == (actor.user_id or -1)),
                )
                .order_by(Workspace.name)
            )
            if not actor.is_admin:
                query = query.where(
                    or_(
                        Workspace.visibility == Visibility.PUBLIC,
                        WorkspaceMembership.id.is_not(None),
                    )
                )
            return [(workspace, role) for workspace, role in session.execute(query).all()]

    def list_for_institution(self, actor: Identity, institution_id: int) -> list[Workspace]:
        return [
            workspace
            for workspace, _ in self.list_visible(actor)
            if workspace.institution_id == institution_id
        ]

    def update(
        self,
        actor: Identity,
        slug: str,
        *,
        name: str | None = None,
        description: str | None = None,
        visibility: str | None = None,
    ) -> Workspace:
        with UnitOfWork(self.runtime.database) as uow:
            workspace = self._authorised(uow.session, actor, slug, "workspace.update")
            changes: dict[str, str] = {}
            if name is not None:
                workspace.name = changes["name"] = check_name(name)
            if description is not None:
                workspace.description = description.strip()[:5000]
                changes["description"] = "changed"
            if visibility is not None:
                workspace.visibility = parse_visibility(visibility)
                changes["visibility"] = workspace.visibility.value
            record(
                uow.session,
                actor,
                "workspace.update",
                "workspace",
                workspace.slug,
                workspace_id=workspace.id,
                details=changes,
            )
            uow.commit()
            return workspace

    def delete(self, actor: Identity, slug: str, *, confirm_slug: str) -> None:
        with UnitOfWork(self.runtime.database) as uow:
            workspace = self._authorised(uow.session, actor, slug, "workspace.delete")
            if confirm_slug != workspace.slug:
                raise InvalidInput.on("confirm", "type the workspace's slug to confirm")
            record(
                uow.session,
                actor,
                "workspace.delete",
                "workspace",
                workspace.slug,
                details={"name": workspace.name},
            )
            uow.session.delete(workspace)
            uow.commit()

    # -- members --------------------------------------------------------------
    def members(self, actor: Identity, slug: str) -> list[Member]:
        with self.runtime.database.session() as session:
            workspace = self._authorised(session, actor, slug, "workspace.members.view")
            rows = session.execute(
                select(WorkspaceMembership, User)
                .join(User, User.id == WorkspaceMembership.user_id)
                .where(WorkspaceMembership.workspace_id == workspace.id)
                .order_by(User.display_name)
            ).all()
            return [
                Member(m.id, user.id, user.email, user.display_name, m.role) for m, user in rows
            ]

    def _guard_role_change(
        self,
        session: Session,
        actor: Identity,
        workspace: Workspace,
        old: Role | None,
        new: Role | None,
    ) -> None:
        actor_role = workspace_role(session, actor, workspace.id)
        touches_owner = Role.OWNER in (old, new)
        if touches_owner and not actor.is_admin and actor_role is not Role.OWNER:
            raise PermissionDenied("Only an owner can make or remove owners.")
        if old is Role.OWNER and new is not Role.OWNER:
            owners = session.scalar(
                select(func.count()).where(
                    WorkspaceMembership.workspace_id == workspace.id,
                    WorkspaceMembership.role == Role.OWNER,
                )
            )
            if (owners or 0) <= 1:
                raise Conflict(
                    "A workspace needs at least one owner. Make someone else owner first."
                )

    def add_member(self, actor: Identity, slug: str, email: str, role: str) -> Member:
        new_role = parse_role(role)
        address = normalise_email(email)
        with UnitOfWork(self.runtime.database) as uow:
            workspace = self._authorised(uow.session, actor, slug, "workspace.members.manage")
            user = uow.session.scalar(select(User).where(User.email == address))
            if user is None:
                raise InvalidInput.on(
                    "email", f"no user with the email {address}; send an invitation instead"
                )
            membership = uow.session.scalar(
                select(WorkspaceMembership).where(
                    WorkspaceMembership.workspace_id == workspace.id,
                    WorkspaceMembership.user_id == user.id,
                )
            )
            old = membership.role if membership else None
            self._guard_role_change(uow.session, actor, workspace, old, new_role)
            if membership is None:
                membership = WorkspaceMembership(
                    workspace_id=workspace.id, user_id=user.id, role=new_role
                )
                uow.session.add(membership)
            else:
                membership.role = new_role
            uow.session.flush()
            record(
                uow.session,
                actor,
                "workspace.member_set",
                "workspace",
                workspace.slug,
                workspace_id=workspace.id,
                details={
                    "user": address,
                    "role": new_role.value,
                    "previous": old.value if old else None,
                },
            )
            uow.commit()
            return Member(membership.id, user.id, user.email, user.display_name, new_role)

    def change_role(self, actor: Identity, slug: str, user_id: int, role: str) -> Member:
        with self.runtime.database.session() as session:
            workspace = self._authorised(session, actor, slug, "workspace.members.manage")
            email = session.scalar(
                select(User.email)
                .join(WorkspaceMembership, WorkspaceMembership.user_id == User.id)
                .where(WorkspaceMembership.workspace_id == workspace.id, User.id == user_id)
            )
        if email is None:
            raise NotFound(f"No member {user_id} in this workspace")
        return self.add_member(actor, slug, email, role)

    def remove_member(self, actor: Identity, slug: str, user_id: int) -> None:
        with UnitOfWork(self.runtime.database) as uow:
            workspace = self._authorised(uow.session, actor, slug, "workspace.members.manage")
            membership = uow.session.scalar(
                select(WorkspaceMembership).where(
                    WorkspaceMembership.workspace_id == workspace.id,
                    WorkspaceMembership.user_id == user_id,
                )
            )
            if membership is None:
                raise NotFound("That person is not a member of this workspace.")
            self._guard_role_change(uow.session, actor, workspace, membership.role, None)
            uow.session.delete(membership)
            record(
                uow.session,
                actor,
                "workspace.member_remove",
                "workspace",
                workspace.slug,
                workspace_id=workspace.id,
                details={"user_id": user_id},
            )
            uow.commit()

    # -- invitations ----------------------------------------------------------
    def invite(
        self,
        actor: Identity,
        slug: str,
        role: str,
        *,
        email: str | None = None,
        days: int | None = None,
        note: str = "",
    ) -> NewInvitation:
        new_role = parse_role(role)
        address = normalise_email(email) if email and email.strip() else None
        lifetime = days if days is not None else self.runtime.settings.invitation_lifetime_days
        if not 1 <= lifetime <= 365:
            raise InvalidInput.on("days", "must be between 1 and 365")
        secret = new_secret()
        with UnitOfWork(self.runtime.database) as uow:
            workspace = self._authorised(uow.session, actor, slug, "workspace.invitations.manage")
            self._guard_role_change(uow.session, actor, workspace, None, new_role)
            invitation = Invitation(
                workspace_id=workspace.id,
                token_hash=digest(secret),
                email=address,
                role=new_role,
                note=note.strip()[:500],
                created_by=actor.user_id,
                expires_at=utcnow() + timedelta(days=lifetime),
            )
            uow.session.add(invitation)
            uow.session.flush()
            record(
                uow.session,
                actor,
                "invitation.create",
                "invitation",
                invitation.id,
                workspace_id=workspace.id,
                details={"role": new_role.value, "email": address, "days": lifetime},
            )
            uow.commit()
            return NewInvitation(invitation, secret)

    def invitations(self, actor: Identity, slug: str) -> list[Invitation]:
        with self.runtime.database.session() as session:
            workspace = self._authorised(session, actor, slug, "workspace.invitations.manage")
            return list(
                session.scalars(
                    select(Invitation)
                    .where(Invitation.workspace_id == workspace.id)
                    .order_by(Invitation.created_at.desc())
                )
            )

    def revoke_invitation(self, actor: Identity, slug: str, invitation_id: int) -> None:
        with UnitOfWork(self.runtime.database) as uow:
            workspace = self._authorised(uow.session, actor, slug, "workspace.invitations.manage")
            invitation = uow.session.get(Invitation, invitation_id)
            if invitation is None or invitation.workspace_id != workspace.id:
                raise NotFound(f"No invitation {invitation_id} in this workspace")
            if invitation.revoked_at is None and invitation.accepted_at is None:
                invitation.revoked_at = utcnow()
                record(
                    uow.session,
                    actor,
                    "invitation.revoke",
                    "invitation",
                    invitation.id,
                    workspace_id=workspace.id,
                )
            uow.commit()

    def _invitation_state(self, invitation: Invitation) -> tuple[bool, str]:
        if invitation.revoked_at is not None:
            return False, "This invitation was withdrawn."
        if invitation.accepted_at is not None:
            return False, "This invitation has already been used."
        if invitation.expires_at <= utcnow():
            return False, "This invitation has expired. Ask for a new one."
        return True, ""

    def open_invitation(self, secret: str) -> InvitationView:
        with self.runtime.database.session() as session:
            invitation = session.scalar(
                select(Invitation).where(Invitation.token_hash == digest(secret))
            )
            if invitation is None:
                raise NotFound("This invitation link is not valid.")
            workspace = session.get(Workspace, invitation.workspace_id)
            assert workspace is not None
            usable, reason = self._invitation_state(invitation)
            return InvitationView(invitation, workspace, usable, reason)

    def accept_invitation(self, actor: Identity, secret: str) -> Workspace:
        require(actor, "invitation.accept")
        if actor.user_id is None:
            raise InvalidInput.on("user", "invitations are accepted by a user account")
        with UnitOfWork(self.runtime.database) as uow:
            invitation = uow.session.scalar(
                select(Invitation).where(Invitation.token_hash == digest(secret))
            )
            if invitation is None:
                raise NotFound("This invitation link is not valid.")
            usable, reason = self._invitation_state(invitation)
            if not usable:
                raise Conflict(reason)
            if invitation.email and invitation.email != actor.label:
                raise PermissionDenied(
                    "This invitation was sent to another email address. "
                    "Sign in with that address to accept it."
                )
            workspace = uow.session.get(Workspace, invitation.workspace_id)
            assert workspace is not None
            membership = uow.session.scalar(
                select(WorkspaceMembership).where(
                    WorkspaceMembership.workspace_id == workspace.id,
                    WorkspaceMembership.user_id == actor.user_id,
                )
            )
            if membership is None:
                uow.session.add(
                    WorkspaceMembership(
                        workspace_id=workspace.id, user_id=actor.user_id, role=invitation.role
                    )
                )
            elif invitation.role.rank > membership.role.rank:
                membership.role = invitation.role
            invitation.accepted_at = utcnow()
            invitation.accepted_by = actor.user_id
            record(
                uow.session,
                actor,
                "invitation.accept",
                "invitation",
                invitation.id,
                workspace_id=workspace.id,
                details={"role": invitation.role.value},
            )
            uow.commit()
            return workspace
