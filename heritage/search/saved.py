"""Saved searches and their alerts: a person keeps a search and is told how many
records matching it changed since they last opened it.

Counting runs as the owner (``search.alerts``, hourly), through the same
:class:`SearchService` as their own searches, so an alert never counts a record
the owner may not see, nor one they lost access to since saving the search.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import structlog
from sqlalchemy import func, select

from heritage.accounts.identity import Identity
from heritage.accounts.models import User
from heritage.accounts.services import identity_of
from heritage.audit.services import record as audit
from heritage.db.base import utcnow
from heritage.db.uow import UnitOfWork
from heritage.errors import InvalidInput, NotFound
from heritage.jobs.registry import Schedule, maintenance_tick
from heritage.policy.decide import require
from heritage.runtime import Runtime
from heritage.search.models import SavedSearch
from heritage.search.params import from_query_string, to_query_string
from heritage.search.services import SearchService

log = structlog.get_logger(__name__)
MAX_SAVED = 100  # per person
HOURLY = Schedule(minute="7")


@dataclass(frozen=True)
class SavedSearchView:
    id: int
    name: str
    query: str
    alert: bool
    new_matches: int
    seen_at: datetime
    created_at: datetime

    @property
    def url(self) -> str:
        return f"/search?{self.query}"


def _view(row: SavedSearch) -> SavedSearchView:
    return SavedSearchView(
        row.id, row.name, row.query, row.alert, row.new_matches, row.seen_at, row.created_at
    )


class SavedSearchService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def list(self, actor: Identity) -> list[SavedSearchView]:
        require(actor, "search.save")
        with self.runtime.database.session() as session:
            rows = session.scalars(
                select(SavedSearch)
                .where(SavedSearch.user_id == actor.user_id)
                .order_by(SavedSearch.name, SavedSearch.id)
            )
            return [_view(row) for row in rows]

    def create(
        self, actor: Identity, name: str, query: str, *, alert: bool = True
    ) -> SavedSearchView:
        require(actor, "search.save")
        name = " ".join(name.split())
        if not 1 <= len(name) <= 200:
            raise InvalidInput.on("name", "give the search a name of 1 to 200 characters")
        params = from_query_string(query)  # refuses what is not a search
        canonical = to_query_string(params)
        if len(canonical) > 4000:
            raise InvalidInput.on("query", "a search of at most 4,000 characters")
        with UnitOfWork(self.runtime.database) as uow:
            count = uow.session.scalar(
                select(func.count()).where(SavedSearch.user_id == actor.user_id)
            )
            if (count or 0) >= MAX_SAVED:
                raise InvalidInput.on(
                    "name", f"at most {MAX_SAVED} saved searches: delete one you no longer need"
                )
            row = SavedSearch(user_id=actor.user_id, name=name, query=canonical, alert=alert)
            uow.session.add(row)
            uow.session.flush()
            audit(uow.session, actor, "search.save", "saved_search", row.id, details={"name": name})
            uow.commit()
            return _view(row)

    def _own(self, session: object, actor: Identity, saved_id: int) -> SavedSearch:
        row = session.get(SavedSearch, saved_id)  # type: ignore[attr-defined]
        if row is None or row.user_id != actor.user_id:
            raise NotFound(f"No saved search {saved_id}")
        return row

    def open(self, actor: Identity, saved_id: int) -> SavedSearchView:
        """The saved search, its new matches now seen."""
        require(actor, "search.save")
        with self.runtime.database.session(write=True) as session:
            row = self._own(session, actor, saved_id)
            row.new_matches = 0
            row.seen_at = utcnow()
            session.commit()
            return _view(row)

    def delete(self, actor: Identity, saved_id: int) -> None:
        require(actor, "search.save")
        with UnitOfWork(self.runtime.database) as uow:
            row = self._own(uow.session, actor, saved_id)
            uow.session.delete(row)
            audit(uow.session, actor, "search.delete-saved", "saved_search", saved_id)
            uow.commit()

    def count_new_matches(self) -> int:
        """Count each alert's new matches as its owner; return how many were counted."""
        with self.runtime.database.session() as session:
            pending = session.execute(
                select(SavedSearch, User)
                .join(User, User.id == SavedSearch.user_id)
                .where(SavedSearch.alert.is_(True), User.is_active.is_(True))
            ).all()
        search = SearchService(self.runtime)
        counted = 0
        for saved, user in pending:
            owner = identity_of(user, "alert")
            try:
                params = from_query_string(saved.query)
                params = replace(
                    params,
                    # changed after the millisecond it was opened in
                    changed_since=int(saved.seen_at.timestamp() * 1000) + 1,
                    limit=1,
                    facets=(),
                    histogram=False,
                )
                found = search.search(owner, params).total
            except InvalidInput as error:
                # a search saved by an older version that this one reads differently
                log.warning("saved search not counted", saved_search=saved.id, error=str(error))
                continue
            with self.runtime.database.session(write=True) as session:
                row = session.get(SavedSearch, saved.id)
                if row is not None and row.seen_at == saved.seen_at:
                    row.new_matches = found
                    session.commit()
            counted += 1
        return counted


@maintenance_tick("search.alerts", HOURLY)
def count_alerts(runtime: Runtime) -> object:
    return SavedSearchService(runtime).count_new_matches()
