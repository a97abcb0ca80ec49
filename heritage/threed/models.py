"""The technical metadata, derivatives and paradata of each 3D model of a record.

One row per 3D representation (the record and the representation's main file).
The master lives in the record's stored object; this row holds what was learnt
from it (``analysis``), what was made from it (``derivatives``: cached files
with their provenance) and how it was made (``paradata``).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from heritage.db.base import Base, utcnow


class ModelStatus(enum.StrEnum):
    QUEUED = "queued"  # analysis and derivatives to come
    READY = "ready"  # analysed, derivatives made
    REJECTED = "rejected"  # the master cannot be used; ``error`` says why (it is kept)
    FAILED = "failed"  # our own failure (a bug, a full disk): retry


class ThreeDModel(Base):
    __tablename__ = "threed_models"
    __table_args__ = (UniqueConstraint("record_uuid", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    record_uuid: Mapped[str] = mapped_column(String(36), index=True)
    path: Mapped[str] = mapped_column(String(1000))  # the main file, e.g. media/mask.gltf
    format: Mapped[str] = mapped_column(String(10))
    # the master's SHA-256 the analysis and derivatives were made from
    master_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[ModelStatus] = mapped_column(
        Enum(
            ModelStatus,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=ModelStatus.QUEUED,
    )
    error: Mapped[str | None] = mapped_column(Text, default=None)
    analysis: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    derivatives: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    paradata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    job_id: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
