"""The database's index of the preservation store, and what it alone knows.

``StoredObject`` and ``StoredFile`` are an index: ``heritage rebuild-index``
rebuilds them from the storage root. ``WorkspaceKey`` holds each workspace's
data key, wrapped by the master key (backed up with the keys, not the store).
``PreservationEvent`` is the PREMIS-style history of what happened to an object.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from heritage.db.base import Base, utcnow


class EventType(enum.StrEnum):
    """PREMIS 3 event types (id.loc.gov/vocabulary/preservation/eventType) we record."""

    INGESTION = "ingestion"
    MODIFICATION = "modification"
    FIXITY_CHECK = "fixity check"
    REPLICATION = "replication"
    MIGRATION = "migration"
    DELETION = "deletion"
    REPAIR = "repair"  # not in PREMIS' list: a file restored from a verified replica
    VALIDATION = "validation"


class EventOutcome(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    WARNING = "warning"


def _enum(kind: type[enum.Enum]) -> Enum:
    return Enum(kind, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class WorkspaceKey(Base):
    """A workspace's data key, wrapped by the master key (``WrappedKey`` JSON)."""

    __tablename__ = "workspace_keys"

    key_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    workspace_id: Mapped[int | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="SET NULL"), index=True
    )
    wrapped: Mapped[str] = mapped_column(Text)
    master_key_id: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rewrapped_at: Mapped[datetime | None] = mapped_column(default=None)


class StoredObject(Base):
    __tablename__ = "stored_objects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_id: Mapped[str] = mapped_column(String(200), unique=True)
    # names the object in URLs; the OCFL id of an imported object can be anything
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(40), default="files")
    title: Mapped[str] = mapped_column(String(500), default="")
    head_version: Mapped[str] = mapped_column(String(20))
    version_count: Mapped[int] = mapped_column(Integer, default=1)
    file_count: Mapped[int] = mapped_column(Integer, default=0)
    total_size: Mapped[int] = mapped_column(BigInteger, default=0)
    deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_fixity_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    last_fixity_outcome: Mapped[EventOutcome | None] = mapped_column(
        _enum(EventOutcome), default=None
    )


class StoredFile(Base):
    """A file in the head version of an object."""

    __tablename__ = "stored_files"
    __table_args__ = (UniqueConstraint("object_pk", "logical_path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_pk: Mapped[int] = mapped_column(
        ForeignKey("stored_objects.id", ondelete="CASCADE"), index=True
    )
    logical_path: Mapped[str] = mapped_column(String(1000))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_digest: Mapped[str] = mapped_column(String(128))
    media_type: Mapped[str] = mapped_column(String(200))
    encrypted_with: Mapped[str | None] = mapped_column(String(100), default=None)
    version_added: Mapped[str] = mapped_column(String(20))


class PreservationEvent(Base):
    """Kept after a purge (no foreign key to the object) so the deletion stays on record."""

    __tablename__ = "preservation_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_id: Mapped[str] = mapped_column(String(200), index=True)
    workspace_id: Mapped[int | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="SET NULL"), index=True
    )
    event_type: Mapped[EventType] = mapped_column(_enum(EventType))
    outcome: Mapped[EventOutcome] = mapped_column(_enum(EventOutcome))
    version: Mapped[str | None] = mapped_column(String(20), default=None)
    detail: Mapped[str] = mapped_column(Text, default="")
    agent: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
