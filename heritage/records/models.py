"""The database's index of records, saved column mappings, and import reports.

``RecordRow`` is an index of the store: each record is a stored object whose
``record.jsonld`` holds the record, and ``heritage rebuild-index`` rebuilds the
rows from it. ``RecordImport`` and its items are the reports of imports and
harvests (and what lets an interrupted one resume); ``SavedMapping`` keeps
spreadsheet column mappings for reuse.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Enum,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from heritage.db.base import Base, utcnow


def _enum(kind: type[enum.Enum]) -> Enum:
    return Enum(kind, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class RecordStatus(enum.StrEnum):
    VALID = "valid"  # meets the rules Europeana enforces
    DRAFT = "draft"  # kept, flagged: has errors to fix before it can be published


class RecordRow(Base):
    __tablename__ = "records"
    __table_args__ = (
        UniqueConstraint("workspace_id", "identifier"),
        Index("ix_records_workspace_updated", "workspace_id", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # the record's stored object (its uuid names the record in URLs)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    object_id: Mapped[str] = mapped_column(String(200), unique=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    identifier: Mapped[str] = mapped_column(String(500))
    title: Mapped[str] = mapped_column(String(500), default="")
    edm_type: Mapped[str | None] = mapped_column(String(10), default=None, index=True)
    status: Mapped[RecordStatus] = mapped_column(_enum(RecordStatus), default=RecordStatus.DRAFT)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    warning_count: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # the record's canonical JSON (heritage.records.model.Record.canonical)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    content_hash: Mapped[str] = mapped_column(String(64))
    head_version: Mapped[str] = mapped_column(String(20))
    deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(200), default=None)
    # Europeana's publishing tiers as search last decided them (heritage.quality.tiers),
    # with the fingerprint of the rules that did: a rebuild of the search index reads
    # them instead of deciding a million records' tiers again.
    content_tier: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    metadata_tier: Mapped[str | None] = mapped_column(String(1), default=None)
    tiers_rules: Mapped[str | None] = mapped_column(String(16), default=None)


class SavedMapping(Base):
    """A spreadsheet column mapping saved for reuse in a workspace."""

    __tablename__ = "record_mappings"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ImportStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"  # the source could not be read to its end; what was read is kept


class ItemAction(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    DELETE = "delete"  # deleted at an OAI-PMH source
    FAILED = "failed"  # could not be mapped or stored; explained in its problems


class RecordImport(Base):
    """One import of a file or harvest of an endpoint, with its report."""

    __tablename__ = "record_imports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    format: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(2000))  # a file name or an endpoint URL
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dry_run: Mapped[bool] = mapped_column(default=False)
    status: Mapped[ImportStatus] = mapped_column(_enum(ImportStatus), default=ImportStatus.QUEUED)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # records of the source already handled: an interrupted import resumes after them
    position: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # OAI-PMH: where an incremental re-harvest starts
    last_datestamp: Mapped[str | None] = mapped_column(String(40), default=None)
    resumption_token: Mapped[str | None] = mapped_column(Text, default=None)
    job_id: Mapped[str | None] = mapped_column(String(36), default=None)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class RecordImportItem(Base):
    """What an import did with one source record, and the problems found in it."""

    __tablename__ = "record_import_items"
    __table_args__ = (UniqueConstraint("import_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[str] = mapped_column(
        ForeignKey("record_imports.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    location: Mapped[str] = mapped_column(String(500))
    identifier: Mapped[str | None] = mapped_column(String(500), default=None)
    # the source's own id of the record (OAI-PMH header identifier), when it has one
    source_id: Mapped[str | None] = mapped_column(String(500), default=None, index=True)
    action: Mapped[ItemAction] = mapped_column(_enum(ItemAction))
    record_uuid: Mapped[str | None] = mapped_column(String(36), default=None)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    warning_count: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
