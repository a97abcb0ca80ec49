"""Append to and verify the audit log.

:func:`record` is called inside the caller's transaction, so an action and its
audit entry are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from heritage.accounts.identity import Identity
from heritage.audit.chain import GENESIS, entry_digest
from heritage.audit.models import AuditEntry
from heritage.db.base import utcnow

_SECRET_KEYS = ("password", "token", "secret", "key")
_CHAIN_LOCK_ID = 7_242_001


def _without_secrets(details: dict[str, Any]) -> dict[str, Any]:
    for key in details:
        if any(word in key.lower() for word in _SECRET_KEYS):
            raise ValueError(f"audit details must not contain secrets (field {key!r})")
    return details


@dataclass(frozen=True)
class AuditItem:
    """What one entry says; :func:`record_many` appends several at once."""

    action: str
    target_type: str
    target_id: object
    workspace_id: int | None = None
    details: dict[str, Any] | None = None


def record(
    session: Session,
    identity: Identity,
    action: str,
    target_type: str,
    target_id: object,
    *,
    workspace_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    item = AuditItem(action, target_type, target_id, workspace_id, details)
    return record_many(session, identity, [item])[0]


def record_many(session: Session, identity: Identity, items: list[AuditItem]) -> list[AuditEntry]:
    """Append an entry per item, chained in order, with one look-up of the chain's end
    (bulk imports write hundreds in one transaction)."""
    if not items:
        return []
    if session.get_bind().dialect.name == "postgresql":
        # Serialise appends so two transactions never chain onto the same entry.
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _CHAIN_LOCK_ID})
    last = session.execute(
        select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = utcnow()
    entries = []
    for item in items:
        fields: dict[str, Any] = {
            "seq": seq,
            "at": at,
            "actor_id": identity.user_id,
            "actor": identity.label,
            "action": item.action,
            "target_type": item.target_type,
            "target_id": str(item.target_id),
            "workspace_id": item.workspace_id,
            "details": _without_secrets(dict(item.details or {})),
            "prev_hash": prev_hash,
        }
        entry = AuditEntry(**fields, entry_hash=entry_digest(**fields))
        entries.append(entry)
        seq, prev_hash = seq + 1, entry.entry_hash
    session.add_all(entries)
    session.flush()
    return entries


@dataclass(frozen=True)
class ChainReport:
    checked: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _entries(session: Session, batch: int = 2000) -> Iterator[AuditEntry]:
    last_seq = 0
    while True:
        rows = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.seq > last_seq)
            .order_by(AuditEntry.seq)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last_seq = rows[-1].seq
        session.expunge_all()


def verify_chain(session: Session) -> ChainReport:
    """Walk the log in order; report the first entry that was edited, removed or moved."""
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    for entry in _entries(session):
        if entry.seq != expected_seq:
            return ChainReport(
                checked,
                expected_prev,
                expected_seq,
                f"entry {expected_seq} is missing (next entry found is {entry.seq})",
            )
        if entry.prev_hash != expected_prev:
            return ChainReport(
                checked,
                expected_prev,
                entry.seq,
                f"entry {entry.seq} does not follow entry {entry.seq - 1}: "
                "an entry before it was deleted, reordered or replaced",
            )
        recomputed = entry_digest(
            seq=entry.seq,
            at=entry.at,
            actor_id=entry.actor_id,
            actor=entry.actor,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            workspace_id=entry.workspace_id,
            details=entry.details,
            prev_hash=entry.prev_hash,
        )
        if recomputed != entry.entry_hash:
            return ChainReport(
                checked,
                expected_prev,
                entry.seq,
                f"entry {entry.seq} was edited after it was written (its hash does not match)",
            )
        expected_prev, expected_seq, checked = entry.entry_hash, entry.seq + 1, checked + 1
    return ChainReport(checked, expected_prev)


def list_entries(
    session: Session,
    *,
    workspace_id: int | None = None,
    before_seq: int | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if workspace_id is not None:
        query = query.where(AuditEntry.workspace_id == workspace_id)
    if before_seq is not None:
        query = query.where(AuditEntry.seq < before_seq)
    return list(session.scalars(query))
