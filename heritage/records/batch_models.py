"""Batches of record edits: what was asked, who asked, and what happened to each record.

A :class:`RecordBatch` keeps the request (selection and operations) as JSON, its
counts and, once reverted, when and by whom. Each record the batch changed, or
could not change, has a :class:`RecordBatchItem` with the versions before and
after: what a revert of the whole batch works from. Unchanged records have no item
(they are only counted).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from heritage.db.base import Base, utcnow


def _enum(kind: type[enum.Enum]) -> Enum:
    return Enum(kind, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class BatchStatus(enum.StrEnum):
    QUEUED = "queued"  # waits for its job (large selections)
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"  # stopped by an unexpected error; the items written so far stand
    REVERTING = "reverting"
    REVERTED = "reverted"


class BatchOutcome(enum.StrEnum):
    CHANGED = "changed"  # a new version was written
    CONFLICT = "conflict"  # someone saved the record meanwhile; left as it was
    FAILED = "failed"  # the edit made the record invalid, or the save failed


class RevertOutcome(enum.StrEnum):
    REVERTED = "reverted"
    CONFLICT = "conflict"  # changed after the batch: left as it is
    FAILED = "failed"


class RecordBatch(Base):
    __tablename__ = "record_batches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    description: Mapped[str] = mapped_column(String(2000), default="")
    # the request: {"selection": {...}, "operations": [...]}
    operation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[BatchStatus] = mapped_column(_enum(BatchStatus), default=BatchStatus.QUEUED)
    # selected, changed, unchanged, conflict, failed (and reverted, revert_conflict, ...)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    job_id: Mapped[str | None] = mapped_column(String(36), default=None)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_by_label: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    reverted_at: Mapped[datetime | None] = mapped_column(default=None)
    reverted_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class RecordBatchItem(Base):
    """What a batch did with one record (records it left unchanged have none)."""

    __tablename__ = "record_batch_items"
    __table_args__ = (UniqueConstraint("batch_id", "record_uuid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[str] = mapped_column(
        ForeignKey("record_batches.id", ondelete="CASCADE"), index=True
    )
    record_uuid: Mapped[str] = mapped_column(String(36), index=True)
    identifier: Mapped[str] = mapped_column(String(500), default="")
    version_before: Mapped[str] = mapped_column(String(20))
    version_after: Mapped[str | None] = mapped_column(String(20), default=None)
    outcome: Mapped[BatchOutcome] = mapped_column(_enum(BatchOutcome))
    message: Mapped[str | None] = mapped_column(Text, default=None)
    revert_outcome: Mapped[RevertOutcome | None] = mapped_column(_enum(RevertOutcome), default=None)
    revert_version: Mapped[str | None] = mapped_column(String(20), default=None)
    revert_message: Mapped[str | None] = mapped_column(Text, default=None)
