"""The derivatives of each image a record stores: one row per (record, file)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from heritage.db.base import Base, utcnow


class DerivativeStatus(enum.StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


class ImageDerivative(Base):
    """What the derivative job made of one stored image, or why it could not.

    The files themselves live under ``DATA_DIR/derivatives`` (:mod:`heritage.iiif.files`);
    this row says which master they were made from (``master_sha256``), with what
    (``provenance``) and what the master is (``technical``).
    """

    __tablename__ = "image_derivatives"
    __table_args__ = (UniqueConstraint("record_uuid", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # the IIIF identifier: the record's uuid, "~" and a short hash of the path
    identifier: Mapped[str] = mapped_column(String(60), unique=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    record_uuid: Mapped[str] = mapped_column(String(36), index=True)
    path: Mapped[str] = mapped_column(String(1000))
    master_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[DerivativeStatus] = mapped_column(
        Enum(
            DerivativeStatus,
            native_enum=False,
            length=20,
            values_callable=lambda kind: [member.value for member in kind],
        ),
        default=DerivativeStatus.PENDING,
    )
    error: Mapped[str | None] = mapped_column(Text, default=None)
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    # the access copy's pyramid: [[width, height], ...] from full size down
    levels: Mapped[list[Any]] = mapped_column(JSON, default=list)
    technical: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # the workspace data key the derivative files are encrypted with, if any
    key_id: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
