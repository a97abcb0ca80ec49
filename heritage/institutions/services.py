"""Institutions and their members."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from heritage.accounts.identity import Identity
from heritage.accounts.models import User
from heritage.accounts.services import normalise_email
from heritage.audit.services import record
from heritage.db.uow import UnitOfWork
from heritage.errors import Conflict, InvalidInput, NotFound
from heritage.institutions.models import (
    Institution,
    InstitutionKind,
    InstitutionMembership,
    InstitutionRole,
)
from heritage.policy import Target, require
from heritage.runtime import Runtime
from heritage.slugs import check_name, check_slug


def institution_role(
    session: Session, identity: Identity, institution_id: int
) -> InstitutionRole | None:
    if identity.user_id is None:
        return None
    return session.scalar(
        select(InstitutionMembership.role).where(
            InstitutionMembership.institution_id == institution_id,
            InstitutionMembership.user_id == identity.user_id,
        )
    )


def _kind(value: str) -> InstitutionKind:
    try:
        return InstitutionKind(value)
    except ValueError:
        choices = ", ".join(kind.value for kind in InstitutionKind)
        raise InvalidInput.on("kind", f"must be one of {choices}") from None


class InstitutionService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def target(self, session: Session, identity: Identity, institution: Institution) -> Target:
        return Target(institution_role=institution_role(session, identity, institution.id))

    def _load(self, session: Session, slug: str) -> Institution:
        institution = session.scalar(select(Institution).where(Institution.slug == slug))
        if institution is None:
            raise NotFound(f"No institution '{slug}'")
        return institution

    def create(
        self,
        actor: Identity,
        slug: str,
        name: str,
        *,
        kind: str = "museum",
        country: str | None = None,
        website: str | None = None,
        description: str = "",
    ) -> Institution:
        require(actor, "institution.create")
        values = {
            "slug": check_slug(slug),
            "name": check_name(name),
            "kind": _kind(kind),
            "country": _country(country),
            "website": _website(website),
            "description": description.strip()[:5000],
        }
        with UnitOfWork(self.runtime.database) as uow:
            if uow.session.scalar(select(Institution.id).where(Institution.slug == values["slug"])):
                raise Conflict(f"An institution with the slug '{values['slug']}' already exists.")
            institution = Institution(**values)
            uow.session.add(institution)
            uow.session.flush()
            record(uow.session, actor, "institution.create", "institution", institution.slug)
            uow.commit()
            return institution

    def get(self, actor: Identity, slug: str) -> Institution:
        with self.runtime.database.session() as session:
            institution = self._load(session, slug)
            require(actor, "institution.view", self.target(session, actor, institution))
            return institution

    def list(self) -> list[Institution]:
        with self.runtime.database.session() as session:
            return list(session.scalars(select(Institution).order_by(Institution.name)))

    def update(
        self,
        actor: Identity,
        slug: str,
        *,
        name: str | None = None,
        kind: str | None = None,
        country: str | None = None,
        website: str | None = None,
        description: str | None = None,
    ) -> Institution:
        with UnitOfWork(self.runtime.database) as uow:
            institution = self._load(uow.session, slug)
            require(actor, "institution.update", self.target(uow.session, actor, institution))
            if name is not None:
                institution.name = check_name(name)
            if kind is not None:
                institution.kind = _kind(kind)
            if country is not None:
                institution.country = _country(country)
            if website is not None:
                institution.website = _website(website)
            if description is not None:
                institution.description = description.strip()[:5000]
            record(uow.session, actor, "institution.update", "institution", institution.slug)
            uow.commit()
            return institution

    def members(self, actor: Identity, slug: str) -> list[tuple[User, InstitutionRole]]:
        with self.runtime.database.session() as session:
            institution = self._load(session, slug)
            require(actor, "institution.members.view", self.target(session, actor, institution))
            rows = session.execute(
                select(User, InstitutionMembership.role)
                .join(InstitutionMembership, InstitutionMembership.user_id == User.id)
                .where(InstitutionMembership.institution_id == institution.id)
                .order_by(User.display_name)
            ).all()
            return [(user, role) for user, role in rows]

    def set_member(
        self, actor: Identity, slug: str, email: str, role: str
    ) -> InstitutionMembership:
        try:
            new_role = InstitutionRole(role)
        except ValueError:
            raise InvalidInput.on("role", "must be admin or member") from None
        address = normalise_email(email)
        with UnitOfWork(self.runtime.database) as uow:
            institution = self._load(uow.session, slug)
            require(
                actor, "institution.members.manage", self.target(uow.session, actor, institution)
            )
            user = uow.session.scalar(select(User).where(User.email == address))
            if user is None:
                raise InvalidInput.on("email", f"no user with the email {address}")
            membership = uow.session.scalar(
                select(InstitutionMembership).where(
                    InstitutionMembership.institution_id == institution.id,
                    InstitutionMembership.user_id == user.id,
                )
            )
            if membership is None:
                membership = InstitutionMembership(
                    institution_id=institution.id, user_id=user.id, role=new_role
                )
                uow.session.add(membership)
            else:
                membership.role = new_role
            record(
                uow.session,
                actor,
                "institution.member_set",
                "institution",
                institution.slug,
                details={"user": address, "role": new_role.value},
            )
            uow.commit()
            return membership

    def remove_member(self, actor: Identity, slug: str, user_id: int) -> None:
        with UnitOfWork(self.runtime.database) as uow:
            institution = self._load(uow.session, slug)
            require(
                actor, "institution.members.manage", self.target(uow.session, actor, institution)
            )
            membership = uow.session.scalar(
                select(InstitutionMembership).where(
                    InstitutionMembership.institution_id == institution.id,
                    InstitutionMembership.user_id == user_id,
                )
            )
            if membership is None:
                raise NotFound("That person is not a member of this institution.")
            uow.session.delete(membership)
            record(
                uow.session,
                actor,
                "institution.member_remove",
                "institution",
                institution.slug,
                details={"user_id": user_id},
            )
            uow.commit()

    def memberships_of(self, user_id: int) -> list[tuple[Institution, InstitutionRole]]:
        with self.runtime.database.session() as session:
            rows = session.execute(
                select(Institution, InstitutionMembership.role)
                .join(InstitutionMembership)
                .where(InstitutionMembership.user_id == user_id)
                .order_by(Institution.name)
            ).all()
            return [(institution, role) for institution, role in rows]


def _country(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    code = value.strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise InvalidInput.on("country", "use a two-letter ISO 3166 code such as DE or FR")
    return code


def _website(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    url = value.strip()
    if not url.startswith(("http://", "https://")) or len(url) > 500:
        raise InvalidInput.on("website", "must be an http:// or https:// address")
    return url
