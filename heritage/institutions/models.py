from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from heritage.db.base import Base, utcnow


class InstitutionKind(enum.StrEnum):
    MUSEUM = "museum"
    ARCHIVE = "archive"
    LIBRARY = "library"
    UNIVERSITY = "university"
    RESEARCH = "research"
    GALLERY = "gallery"
    OTHER = "other"


class InstitutionRole(enum.StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class Institution(Base):
    __tablename__ = "institutions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[InstitutionKind] = mapped_column(
        Enum(
            InstitutionKind,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=InstitutionKind.MUSEUM,
    )
    country: Mapped[str | None] = mapped_column(String(2), default=None)
    website: Mapped[str | None] = mapped_column(String(500), default=None)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    memberships: Mapped[list[InstitutionMembership]] = relationship(
        back_populates="institution", cascade="all, delete-orphan"
    )


class InstitutionMembership(Base):
    __tablename__ = "institution_memberships"
    __table_args__ = (UniqueConstraint("institution_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[InstitutionRole] = mapped_column(
        Enum(
            InstitutionRole,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=InstitutionRole.MEMBER,
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    institution: Mapped[Institution] = relationship(back_populates="memberships")
