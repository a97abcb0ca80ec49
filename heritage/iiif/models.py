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


class CopyStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class RemoteImageCopy(Base):
    """A request to copy an image a record shows from another IIIF server into the
    preservation store, and what came of it: the provenance of the stored master (where
    it was fetched from, when, its digest) or, when it failed, why."""

    __tablename__ = "remote_image_copies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    record_uuid: Mapped[str] = mapped_column(String(36), index=True)
    # the representation's URL and IIIF Image service as the record had them
    source_url: Mapped[str] = mapped_column(String(2000))
    source_service: Mapped[str | None] = mapped_column(String(2000), default=None)
    status: Mapped[CopyStatus] = mapped_column(
        Enum(
            CopyStatus,
            native_enum=False,
            length=20,
            values_callable=lambda kind: [member.value for member in kind],
        ),
        default=CopyStatus.QUEUED,
    )
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # what was stored: the file's path in the record, the URL it was fetched from
    path: Mapped[str | None] = mapped_column(String(1000), default=None)
    fetched_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    fetched_at: Mapped[datetime | None] = mapped_column(default=None)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    size: Mapped[int | None] = mapped_column(Integer, default=None)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    requested_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    job_id: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
