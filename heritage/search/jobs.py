"""Search upkeep the workers run: index what the outbox still names.

A change normally reaches search right after its commit, in the process that
made it. When that process died in between, or after an upgrade or a restore
filled the outbox, the next worker tick (every minute) catches up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from heritage.jobs.registry import maintenance_tick

if TYPE_CHECKING:
    from heritage.runtime import Runtime


@maintenance_tick("search.sync")
def sync_search(runtime: Runtime) -> object:
    from heritage.search.indexing import SearchIndexer

    return SearchIndexer(runtime).sync()
