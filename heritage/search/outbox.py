"""Keep search in step with the ``records`` table, whichever service changes it.

Every flush that adds, changes or removes a :class:`RecordRow` also adds a
:class:`SearchPending` row for it, in the same transaction; once that transaction
committed, the process's :class:`~heritage.search.services.SearchService` indexes
what is pending (``sync``). Services therefore never call search themselves, and a
change can reach the records table without reaching search only if the process
dies between the commit and the sync; the next sync in any process, a
``search.sync`` job, or ``heritage reindex --pending`` then catches up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from heritage.db.engine import Database
from heritage.records.models import RecordRow
from heritage.search.models import SearchPending

log = structlog.get_logger(__name__)
_CHANGED = "heritage.search.changed"


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    touched: set[str] = set()
    for instance in (*session.new, *session.dirty, *session.deleted):
        if isinstance(instance, RecordRow) and instance.uuid:
            if instance in session.dirty and not session.is_modified(instance):
                continue
            touched.add(instance.uuid)
    if touched:
        session.add_all(SearchPending(record_uuid=uuid) for uuid in sorted(touched))
        session.info[_CHANGED] = True


def queue(session: Session, record_uuids: list[str]) -> None:
    """Name records whose search document changes without their row changing (their
    images' sizes or 3D analyses, which their tiers read), in ``session``'s
    transaction; they are indexed after its commit like any other change."""
    if record_uuids:
        session.add_all(SearchPending(record_uuid=uuid) for uuid in sorted(set(record_uuids)))
        session.info[_CHANGED] = True


def install(database: Database, on_commit: Callable[[], None]) -> None:
    """Write the outbox in ``database``'s sessions and call ``on_commit`` after a
    commit that wrote to it."""

    def after_commit(session: Session) -> None:
        if session.info.pop(_CHANGED, False):
            try:
                on_commit()
            except Exception:
                # The change is committed and its outbox row too: a later sync indexes it.
                log.exception("search sync after commit failed")

    def after_rollback(session: Session) -> None:
        session.info.pop(_CHANGED, None)

    for maker in database.sessionmakers():
        event.listen(maker, "before_flush", _before_flush)
        event.listen(maker, "after_commit", after_commit)
        event.listen(maker, "after_soft_rollback", lambda session, _tx: after_rollback(session))


def queue_all(database: Database) -> None:
    """Name every record in the outbox: a restored instance (whose search index is
    not part of the backup) indexes them all on its first sync."""
    with database.session(write=True) as session:
        session.execute(
            insert(SearchPending).from_select(
                ["record_uuid", "queued_at"], select(RecordRow.uuid, RecordRow.updated_at)
            )
        )
        session.commit()
