"""The tiers of one record as the record page and API show them."""

from __future__ import annotations

from heritage.quality.media import NO_FACTS, load_media_facts
from heritage.quality.tiers import Tiers, assess
from heritage.records.services import RecordView
from heritage.runtime import Runtime


class QualityService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def tiers(self, view: RecordView) -> Tiers:
        """The tiers of a record someone was allowed to read (``view`` comes from
        :meth:`RecordService.get`, which asked the policy), with its media's facts."""
        with self.runtime.database.session() as session:
            facts = load_media_facts(session, [view.uuid]).get(view.uuid, NO_FACTS)
        return assess(view.record, facts)
