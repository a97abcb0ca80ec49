"""Tables of the search package: the outbox of records to (re)index, and rebuild state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from heritage.db.base import Base, utcnow


class SearchPending(Base):
    """A record whose search document is older than its index row.

    Written in the same transaction as the ``records`` row it names (a session
    listener in ``outbox.py``), removed once the search backend committed the
    record's new document. A crash in between leaves the row, so the change is
    indexed again later: nothing committed is ever missing from search for long.
    """

    __tablename__ = "search_pending"
    __table_args__ = {"info": {"derived": True}}  # remade, not backed up (backup/dump.py)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_uuid: Mapped[str] = mapped_column(String(36), index=True)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)


class SearchState(Base):
    """Small named state of the search package (the position of a rebuild)."""

    __tablename__ = "search_state"
    __table_args__ = {"info": {"derived": True}}  # remade, not backed up (backup/dump.py)

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SavedSearch(Base):
    """A search someone keeps, with new matches counted for its alert.

    ``query`` is the search as a query string (``params.to_query_string``).
    ``new_matches`` counts the records that match and changed since the owner last
    opened it (``seen_at``); workers count them (``search.alerts``) as the owner, so
    it never counts what the owner may not see.
    """

    __tablename__ = "saved_searches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    query: Mapped[str] = mapped_column(String(4000))
    alert: Mapped[bool] = mapped_column(default=True)
    new_matches: Mapped[int] = mapped_column(Integer, default=0)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)  # the owner last opened it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
