"""Unit of work: commit the database, then run side effects (enqueue jobs, index).

Side effects registered with :meth:`UnitOfWork.after_commit` run only once the
transaction is durable, so a job never sees a row that was rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

import structlog
from sqlalchemy.orm import Session

from heritage.db.engine import Database

log = structlog.get_logger(__name__)


class UnitOfWork:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._context = database.session(write=True)
        self.session: Session
        self._after_commit: list[Callable[[], None]] = []

    def __enter__(self) -> UnitOfWork:
        self.session = self._context.__enter__()
        return self

    def after_commit(self, action: Callable[[], None]) -> None:
        self._after_commit.append(action)

    def commit(self) -> None:
        self.session.commit()
        actions, self._after_commit = self._after_commit, []
        for action in actions:
            try:
                action()
            except Exception:
                # The change is committed; a failed side effect is logged and
                # repaired by the component that owns it (e.g. job re-enqueue).
                log.exception("after-commit action failed", action=repr(action))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.session.rollback()
        self._after_commit.clear()
        self._context.__exit__(exc_type, exc, traceback)
