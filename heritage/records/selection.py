"""Which records of a workspace a batch edit or an export takes: a :class:`Selection`
(record uuids and/or the record list's filters), read in pages with
:func:`iter_selected` so memory stays flat whatever the selection's size."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, or_, select

from heritage.records.models import RecordRow, RecordStatus
from heritage.runtime import Runtime

PAGE_SIZE = 500  # records read per query (keyset by id)
MAX_UUIDS = 10_000


class Selection(BaseModel):
    """Which records of a workspace: given uuids and/or the list's filters (all of them
    must hold). Deleted records are never selected. New filters are added as fields
    here, with their condition in :meth:`conditions`."""

    model_config = ConfigDict(extra="forbid")

    uuids: list[str] | None = Field(default=None, max_length=MAX_UUIDS)
    q: str = Field(default="", max_length=200)
    status: RecordStatus | None = None
    edm_type: str | None = Field(default=None, pattern=r"^(TEXT|IMAGE|SOUND|VIDEO|3D)$")

    @field_validator("uuids")
    @classmethod
    def _uuids(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        try:
            return sorted({str(uuid.UUID(item)) for item in value})
        except ValueError:
            raise ValueError("every uuid must be a record uuid") from None

    def conditions(self, workspace_id: int) -> list[Any]:
        where: list[Any] = [RecordRow.workspace_id == workspace_id, RecordRow.deleted.is_(False)]
        if self.uuids is not None:
            where.append(RecordRow.uuid.in_(self.uuids))
        if self.status is not None:
            where.append(RecordRow.status == self.status)
        if self.edm_type:
            where.append(RecordRow.edm_type == self.edm_type)
        if self.q.strip():
            escaped = self.q.strip().lower().replace("%", r"\%").replace("_", r"\_")
            pattern = f"%{escaped}%"
            where.append(
                or_(
                    func.lower(RecordRow.title).like(pattern, escape="\\"),
                    func.lower(RecordRow.identifier).like(pattern, escape="\\"),
                )
            )
        return where


@dataclass(frozen=True)
class SelectedRow:
    id: int
    uuid: str
    identifier: str
    title: str
    head_version: str
    data: dict[str, Any]


def iter_selected(
    runtime: Runtime, workspace_id: int, selection: Selection, page_size: int = PAGE_SIZE
) -> Iterator[list[SelectedRow]]:
    """The selected records in pages of ``page_size``, keyset by id: each page is its own
    short read, so memory stays flat and no transaction spans the whole walk."""
    last = 0
    where = selection.conditions(workspace_id)
    while True:
        with runtime.database.session() as session:
            rows = session.execute(
                select(
                    RecordRow.id,
                    RecordRow.uuid,
                    RecordRow.identifier,
                    RecordRow.title,
                    RecordRow.head_version,
                    RecordRow.data,
                )
                .where(*where, RecordRow.id > last)
                .order_by(RecordRow.id)
                .limit(page_size)
            ).all()
        if not rows:
            return
        yield [SelectedRow(*row) for row in rows]
        last = rows[-1][0]


def count_selected(runtime: Runtime, workspace_id: int, selection: Selection) -> int:
    with runtime.database.session() as session:
        where = selection.conditions(workspace_id)
        return int(session.scalar(select(func.count()).select_from(RecordRow).where(*where)) or 0)
