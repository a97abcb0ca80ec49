"""An upload in progress: who sends what where, and how much has durably arrived.

The part file (``DATA_DIR/uploads/<id>.part``) is the truth about what arrived;
``offset`` is what the last request made durable, kept for status answers and
checked against the file when an upload is continued.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from heritage.db.base import Base, utcnow


class UploadStatus(enum.StrEnum):
    RECEIVING = "receiving"  # bytes may arrive (or all did, and the commit is to be retried)
    COMMITTED = "committed"  # a new version holds the file
    FAILED = "failed"  # refused for good (checksum mismatch, commit refused)


class Upload(Base):
    __tablename__ = "uploads"

    # Random and unguessable: the id is the upload's URL.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    # None: the upload creates a new object, titled after the file.
    object_uuid: Mapped[str | None] = mapped_column(String(36), default=None)
    logical_path: Mapped[str] = mapped_column(String(1000))
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    expected_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    key_id: Mapped[str | None] = mapped_column(String(100), default=None)
    chunk_size: Mapped[int | None] = mapped_column(default=None)
    status: Mapped[UploadStatus] = mapped_column(
        Enum(
            UploadStatus,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=UploadStatus.RECEIVING,
    )
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # Set once committed: the object and version that hold the file.
    result_object: Mapped[str | None] = mapped_column(String(36), default=None)
    result_version: Mapped[str | None] = mapped_column(String(20), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
