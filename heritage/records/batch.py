"""Batch editing: one change to many records, previewed first, applied as versions,
reverted as a whole.

A request names a :class:`Selection` (record uuids, or the list's filters) and a
list of :data:`Operation` applied in order to each selected record: set, add or
remove values of a field, find and replace text in it, or set or clear one of the
single-valued fields. :meth:`BatchService.preview` says, without writing anything,
what would change in each record. :meth:`BatchService.apply` writes one new version
per record that changes (its message names the batch); a record someone saved in
the meantime is reported as a conflict and left as it is, and the rest go on. The
batch and what happened to each record are kept (:mod:`heritage.records.batch_models`),
so :meth:`BatchService.revert` can put back the versions before the batch, for each
record nobody changed since.

Selections up to :data:`INLINE_LIMIT` records run in the caller's process; larger ones
run as a ``records.batch`` job.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from heritage.accounts.identity import Identity
from heritage.audit.services import record as audit
from heritage.db.base import utcnow
from heritage.errors import Conflict, InvalidInput, NotFound, ServiceError
from heritage.jobs.actors import job_actor
from heritage.policy import require
from heritage.records.batch_models import (
    BatchOutcome,
    BatchStatus,
    RecordBatch,
    RecordBatchItem,
    RevertOutcome,
)
from heritage.records.diff import FieldChange, diff_records
from heritage.records.fields import EDM_TYPES
from heritage.records.model import LIST_FIELDS, Record, Value
from heritage.records.models import RecordRow
from heritage.records.selection import (
    PAGE_SIZE,
    SelectedRow,
    Selection,
    count_selected,
    iter_selected,
)
from heritage.records.services import RecordService
from heritage.runtime import Runtime
from heritage.workspaces.models import Workspace
from heritage.workspaces.services import workspace_for, workspace_target

BATCH_JOB = "records.batch"
INLINE_LIMIT = 1000  # larger selections run as a job
MAX_OPERATIONS = 20
PREVIEW_ITEMS = 100  # records with changes listed by a preview (the counts cover all)
SINGLE_FIELDS = ("edm_type", "rights", "is_shown_at")
Progress = Callable[[float, str], None]


# -- operations --------------------------------------------------------------------------------


def _list_field(value: str) -> str:
    if value not in LIST_FIELDS:
        raise ValueError(f"'{value}' is not a field with values ({', '.join(LIST_FIELDS)})")
    return value


def _same_lang(value: Value, lang: str | None) -> bool:
    if lang is None:
        return True
    return (value.lang or "").lower() == lang.lower()


def _unique(values: Sequence[Value]) -> list[Value]:
    return list(dict.fromkeys(values))


class _FieldOperation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str

    @field_validator("field")
    @classmethod
    def _field(cls, value: str) -> str:
        return _list_field(value)

    def _replace(self, record: Record, values: list[Value]) -> Record:
        return record.model_copy(update={self.field: values})


class SetValues(_FieldOperation):
    """Replace all values of the field with ``values`` (none: empty the field)."""

    op: Literal["set"] = "set"
    values: list[Value] = Field(default_factory=list, max_length=100)

    def apply(self, record: Record) -> Record:
        return self._replace(record, _unique(self.values))

    def summary(self) -> str:
        return f"set {self.field}"


class AddValue(_FieldOperation):
    """Add ``value`` to the field, unless it has it already."""

    op: Literal["add"] = "add"
    value: Value

    def apply(self, record: Record) -> Record:
        return self._replace(record, _unique([*record.values(self.field), self.value]))

    def summary(self) -> str:
        return f"add '{self.value.display()[:60]}' to {self.field}"


class RemoveValue(_FieldOperation):
    """Remove the values whose text (or link) equals ``value``; with ``lang``, only those
    in that language."""

    op: Literal["remove"] = "remove"
    value: str = Field(min_length=1, max_length=2000)
    lang: str | None = Field(default=None, max_length=50)

    def apply(self, record: Record) -> Record:
        wanted = self.value.strip()
        kept = [
            item
            for item in record.values(self.field)
            if not ((item.value == wanted or item.ref == wanted) and _same_lang(item, self.lang))
        ]
        return self._replace(record, kept)

    def summary(self) -> str:
        return f"remove '{self.value[:60]}' from {self.field}"


class ReplaceText(_FieldOperation):
    """Find and replace in the texts of the field's values (not in links): a plain
    substring, or a regular expression (``regex``; the replacement may then use ``\\1``).
    A value whose text becomes empty, and has no link, is removed."""

    op: Literal["replace"] = "replace"
    find: str = Field(min_length=1, max_length=500)
    replace: str = Field(default="", max_length=10_000)
    regex: bool = False
    case_sensitive: bool = True
    lang: str | None = Field(default=None, max_length=50)

    def pattern(self) -> re.Pattern[str]:
        flags = 0 if self.case_sensitive else re.IGNORECASE
        return re.compile(self.find if self.regex else re.escape(self.find), flags)

    @model_validator(mode="after")
    def _compiles(self) -> ReplaceText:
        try:
            self.pattern().sub(self.replace if self.regex else "", "")
        except re.error as error:
            raise ValueError(f"not a valid regular expression or replacement: {error}") from None
        return self

    def _text(self, text: str) -> str:
        pattern = self.pattern()
        if self.regex:
            return pattern.sub(self.replace, text)
        return pattern.sub(lambda _: self.replace, text)

    def apply(self, record: Record) -> Record:
        out: list[Value] = []
        for item in record.values(self.field):
            if not item.value or not _same_lang(item, self.lang):
                out.append(item)
                continue
            text = self._text(item.value)
            if text == item.value:
                out.append(item)
            elif text.strip() or item.ref:
                out.append(Value(value=text, lang=item.lang, ref=item.ref))
        return self._replace(record, _unique(out))

    def summary(self) -> str:
        return f"replace '{self.find[:40]}' with '{self.replace[:40]}' in {self.field}"


class SetSingle(BaseModel):
    """Set one of the single-valued fields: the EDM type, the rights URI, the landing page."""

    model_config = ConfigDict(extra="forbid")

    op: Literal["set_single"] = "set_single"
    field: Literal["edm_type", "rights", "is_shown_at"]
    value: str = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _edm_type(self) -> SetSingle:
        if self.field == "edm_type" and self.value.strip().upper() not in EDM_TYPES:
            raise ValueError(f"'{self.value}' is not an EDM type ({', '.join(EDM_TYPES)})")
        return self

    def apply(self, record: Record) -> Record:
        value = self.value.strip()
        return record.model_copy(
            update={self.field: value.upper() if self.field == "edm_type" else value}
        )

    def summary(self) -> str:
        return f"set {self.field} to '{self.value[:60]}'"


class ClearField(BaseModel):
    """Empty a field: remove all its values, or unset a single-valued field."""

    model_config = ConfigDict(extra="forbid")

    op: Literal["clear"] = "clear"
    field: str

    @field_validator("field")
    @classmethod
    def _field(cls, value: str) -> str:
        return value if value in SINGLE_FIELDS else _list_field(value)

    def apply(self, record: Record) -> Record:
        empty: Any = None if self.field in SINGLE_FIELDS else []
        return record.model_copy(update={self.field: empty})

    def summary(self) -> str:
        return f"clear {self.field}"


Operation = Annotated[
    SetValues | AddValue | RemoveValue | ReplaceText | SetSingle | ClearField,
    Field(discriminator="op"),
]


class BatchRequest(BaseModel):
    """A batch edit: which records, and what to do to each, in order."""

    model_config = ConfigDict(extra="forbid")

    selection: Selection = Field(default_factory=Selection)
    operations: list[Operation] = Field(min_length=1, max_length=MAX_OPERATIONS)
    description: str = Field(default="", max_length=500)

    def summary(self) -> str:
        return self.description.strip() or "; ".join(op.summary() for op in self.operations)


def apply_operations(record: Record, operations: Sequence[Operation]) -> Record:
    """The record after the operations, validated again (:class:`ValidationError` if the
    result is not a valid record)."""
    for operation in operations:
        record = operation.apply(record)
    return Record.model_validate(record.model_dump())


def _edited(row: SelectedRow, request: BatchRequest) -> tuple[Record, Record | None, str | None]:
    """The record, the record after the batch (None when it does not change), or an error."""
    record = Record.model_validate(row.data)
    try:
        after = apply_operations(record, request.operations)
    except (ValidationError, ValueError, re.error) as error:
        return record, None, _error_text(error)
    if after.canonical() == record.canonical():
        return record, None, None
    return record, after, None


def _error_text(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()
        )[:2000]
    return str(error)[:2000]


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewItem:
    uuid: str
    identifier: str
    title: str
    version: str
    changes: list[FieldChange]
    error: str | None = None  # the batch would make the record invalid


@dataclass(frozen=True)
class BatchPreview:
    selected: int
    changed: int
    unchanged: int
    failed: int
    items: list[PreviewItem]  # records that would change or fail, the first PREVIEW_ITEMS
    truncated: bool


@dataclass(frozen=True)
class BatchView:
    batch: RecordBatch
    workspace_slug: str
    started_job: str | None = None  # the job this call handed the work to, if any


def _zero_counts() -> dict[str, int]:
    return {"selected": 0, "changed": 0, "unchanged": 0, "conflict": 0, "failed": 0}


# -- the service -------------------------------------------------------------------------------


class BatchService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.records = RecordService(runtime)

    def _workspace(self, session: Session, actor: Identity, slug: str, action: str) -> Workspace:
        return workspace_for(session, actor, slug, action)

    def _batch(
        self, session: Session, actor: Identity, batch_id: str, action: str
    ) -> tuple[RecordBatch, Workspace]:
        batch = session.get(RecordBatch, str(batch_id)[:36])
        if batch is None:
            raise NotFound(f"No batch '{batch_id}'")
        workspace = session.get(Workspace, batch.workspace_id)
        assert workspace is not None
        require(actor, action, workspace_target(session, actor, workspace))
        return batch, workspace

    # -- preview -------------------------------------------------------------------------------

    def preview(
        self,
        actor: Identity,
        workspace_slug: str,
        request: BatchRequest,
        *,
        limit: int = PREVIEW_ITEMS,
    ) -> BatchPreview:
        """What the batch would change, record by record; writes nothing."""
        with self.runtime.database.session() as session:
            workspace_id = self._workspace(session, actor, workspace_slug, "records.batch").id
        counts = _zero_counts()
        items: list[PreviewItem] = []
        for page in iter_selected(self.runtime, workspace_id, request.selection):
            for row in page:
                counts["selected"] += 1
                before, after, error = _edited(row, request)
                if error is not None:
                    counts["failed"] += 1
                elif after is None:
                    counts["unchanged"] += 1
                    continue
                else:
                    counts["changed"] += 1
                if len(items) < limit:
                    changes = diff_records(before, after) if after is not None else []
                    items.append(
                        PreviewItem(
                            row.uuid, row.identifier, row.title, row.head_version, changes, error
                        )
                    )
        return BatchPreview(
            selected=counts["selected"],
            changed=counts["changed"],
            unchanged=counts["unchanged"],
            failed=counts["failed"],
            items=items,
            truncated=counts["changed"] + counts["failed"] > len(items),
        )

    # -- apply ---------------------------------------------------------------------------------

    def apply(
        self,
        actor: Identity,
        workspace_slug: str,
        request: BatchRequest,
        *,
        inline_limit: int | None = None,
    ) -> BatchView:
        """Apply the batch: now for up to ``inline_limit`` records, else as a job (the
        returned batch is then queued, with its ``job_id``)."""
        limit = INLINE_LIMIT if inline_limit is None else inline_limit
        with self.runtime.database.session(write=True) as session:
            workspace = self._workspace(session, actor, workspace_slug, "records.batch")
            batch = RecordBatch(
                id=str(uuid.uuid4()),
                workspace_id=workspace.id,
                description=request.summary()[:2000],
                operation=request.model_dump(mode="json"),
                status=BatchStatus.QUEUED,
                counts=_zero_counts(),
                created_by=actor.user_id,
                created_by_label=actor.label[:200],
            )
            session.add(batch)
            session.commit()
            batch_id, workspace_id = batch.id, workspace.id
        if count_selected(self.runtime, workspace_id, request.selection) > limit:
            title = f"Batch edit: {request.summary()}"
            job_id = self._enqueue(actor, batch_id, "apply", workspace_id, title)
            return replace(self.get(actor, batch_id), started_job=job_id)
        self.run(actor, batch_id)
        return self.get(actor, batch_id)

    def _enqueue(
        self, actor: Identity, batch_id: str, mode: str, workspace_id: int, title: str
    ) -> str:
        from heritage.jobs.services import JobService

        job = JobService(self.runtime).enqueue(
            actor,
            BATCH_JOB,
            {"batch_id": batch_id, "mode": mode, "user_id": actor.user_id},
            title=title[:300],
            workspace_id=workspace_id,
        )
        with self.runtime.database.session(write=True) as session:
            batch = session.get(RecordBatch, batch_id)
            assert batch is not None
            batch.job_id = job.id
            session.commit()
        return job.id

    def run(self, actor: Identity, batch_id: str, progress: Progress | None = None) -> BatchView:
        """Apply a registered batch. Idempotent: records that already have an item in this
        batch (an interrupted run) are counted, not edited again."""
        with self.runtime.database.session(write=True) as session:
            batch, workspace = self._batch(session, actor, batch_id, "records.batch")
            if batch.status not in (BatchStatus.QUEUED, BatchStatus.RUNNING, BatchStatus.FAILED):
                raise Conflict(f"Batch {batch_id} has already run ({batch.status.value}).")
            batch.status = BatchStatus.RUNNING
            session.commit()
            request = BatchRequest.model_validate(batch.operation)
            workspace_id, label = workspace.id, batch.description
            done: dict[str, BatchOutcome] = dict(
                session.execute(
                    select(RecordBatchItem.record_uuid, RecordBatchItem.outcome).where(
                        RecordBatchItem.batch_id == batch_id
                    )
                ).all()
            )
        total = count_selected(self.runtime, workspace_id, request.selection)
        counts = _zero_counts()
        message = f"Batch {batch_id}: {label}"[:2000]
        try:
            for page in iter_selected(self.runtime, workspace_id, request.selection):
                items: list[RecordBatchItem] = []
                for row in page:
                    counts["selected"] += 1
                    if row.uuid in done:
                        counts[done[row.uuid].value] += 1
                        continue
                    item = self._apply_one(actor, batch_id, row, request, message)
                    if item is None:
                        counts["unchanged"] += 1
                    else:
                        counts[item.outcome.value] += 1
                        items.append(item)
                self._save_page(batch_id, items, counts)
                if progress is not None:
                    progress(min(counts["selected"] / max(total, 1), 0.99), f"{counts} so far")
        except Exception as error:
            self._finish(actor, batch_id, counts, BatchStatus.FAILED, f"{type(error).__name__}")
            raise
        self._finish(actor, batch_id, counts, BatchStatus.FINISHED, None)
        return self.get(actor, batch_id)

    def _apply_one(
        self,
        actor: Identity,
        batch_id: str,
        row: SelectedRow,
        request: BatchRequest,
        message: str,
    ) -> RecordBatchItem | None:
        _, after, error = _edited(row, request)
        item = RecordBatchItem(
            batch_id=batch_id,
            record_uuid=row.uuid,
            identifier=row.identifier[:500],
            version_before=row.head_version,
        )
        if error is not None:
            item.outcome, item.message = BatchOutcome.FAILED, error
            return item
        if after is None:
            return None
        try:
            version = self.records.save(
                actor,
                row.uuid,
                after,
                base_version=row.head_version,
                message=message,
                action="records.batch",
                audit_action="record.batch-edit",
            )
        except Conflict as conflict:
            item.outcome, item.message = BatchOutcome.CONFLICT, str(conflict)[:2000]
            return item
        except ServiceError as failure:
            item.outcome, item.message = BatchOutcome.FAILED, str(failure)[:2000]
            return item
        if version == row.head_version:
            return None
        item.outcome, item.version_after = BatchOutcome.CHANGED, version
        return item

    def _save_page(
        self, batch_id: str, items: list[RecordBatchItem], counts: dict[str, int]
    ) -> None:
        with self.runtime.database.session(write=True) as session:
            session.add_all(items)
            batch = session.get(RecordBatch, batch_id)
            assert batch is not None
            batch.counts = dict(counts)
            session.commit()

    def _finish(
        self,
        actor: Identity,
        batch_id: str,
        counts: dict[str, int],
        status: BatchStatus,
        error: str | None,
    ) -> None:
        with self.runtime.database.session(write=True) as session:
            batch = session.get(RecordBatch, batch_id)
            assert batch is not None
            batch.counts = dict(counts)
            batch.status = status
            batch.error = error
            batch.finished_at = utcnow()
            audit(
                session,
                actor,
                "record.batch",
                "record_batch",
                batch_id,
                workspace_id=batch.workspace_id,
                details={"description": batch.description, "counts": dict(counts)},
            )
            session.commit()

    # -- reading -------------------------------------------------------------------------------

    def get(self, actor: Identity, batch_id: str) -> BatchView:
        with self.runtime.database.session() as session:
            batch, workspace = self._batch(session, actor, batch_id, "records.view")
            return BatchView(batch, workspace.slug)

    def items(
        self, actor: Identity, batch_id: str, *, offset: int = 0, limit: int = 100
    ) -> tuple[int, list[RecordBatchItem]]:
        """How many items the batch has, and those from ``offset`` (in record order)."""
        with self.runtime.database.session() as session:
            self._batch(session, actor, batch_id, "records.view")
            where = RecordBatchItem.batch_id == batch_id
            total = session.scalar(select(func.count()).select_from(RecordBatchItem).where(where))
            rows = list(
                session.scalars(
                    select(RecordBatchItem)
                    .where(where)
                    .order_by(RecordBatchItem.id)
                    .offset(max(0, offset))
                    .limit(max(1, min(limit, 1000)))
                )
            )
            return int(total or 0), rows

    # -- revert --------------------------------------------------------------------------------

    def revert(
        self, actor: Identity, batch_id: str, *, inline_limit: int | None = None
    ) -> BatchView:
        """Give each record the batch changed a new version with its metadata from before
        the batch, if nobody changed it since (else it is reported as a conflict)."""
        limit = INLINE_LIMIT if inline_limit is None else inline_limit
        with self.runtime.database.session(write=True) as session:
            batch, _ = self._batch(session, actor, batch_id, "records.batch")
            if batch.status is not BatchStatus.FINISHED:
                raise Conflict(
                    f"Batch {batch_id} is {batch.status.value}: only a finished batch can be "
                    "reverted, and only once."
                )
            batch.status = BatchStatus.REVERTING
            session.commit()
            workspace_id, label = batch.workspace_id, batch.description
            changed = session.scalar(
                select(func.count())
                .select_from(RecordBatchItem)
                .where(
                    RecordBatchItem.batch_id == batch_id,
                    RecordBatchItem.outcome == BatchOutcome.CHANGED,
                )
            )
        if int(changed or 0) > limit:
            title = f"Revert batch edit: {label}"
            job_id = self._enqueue(actor, batch_id, "revert", workspace_id, title)
            return replace(self.get(actor, batch_id), started_job=job_id)
        self.run_revert(actor, batch_id)
        return self.get(actor, batch_id)

    def run_revert(
        self, actor: Identity, batch_id: str, progress: Progress | None = None
    ) -> BatchView:
        """Revert the items not reverted yet (so an interrupted revert can run again)."""
        with self.runtime.database.session() as session:
            batch, _ = self._batch(session, actor, batch_id, "records.batch")
            if batch.status is not BatchStatus.REVERTING:
                raise Conflict(f"Batch {batch_id} is {batch.status.value}, not being reverted.")
            message = f"Reverted batch {batch_id}: {batch.description}"[:2000]
            counts = dict(batch.counts)
        total = max(counts.get("changed", 0), 1)
        for key in ("reverted", "revert_conflict", "revert_failed"):
            counts.setdefault(key, 0)
        last = 0
        while True:
            with self.runtime.database.session() as session:
                page = list(
                    session.scalars(
                        select(RecordBatchItem)
                        .where(
                            RecordBatchItem.batch_id == batch_id,
                            RecordBatchItem.outcome == BatchOutcome.CHANGED,
                            RecordBatchItem.revert_outcome.is_(None),
                            RecordBatchItem.id > last,
                        )
                        .order_by(RecordBatchItem.id)
                        .limit(PAGE_SIZE)
                    )
                )
            if not page:
                break
            last = page[-1].id
            results = [(item.id, *self._revert_one(actor, item, message)) for item in page]
            with self.runtime.database.session(write=True) as session:
                for item_id, outcome, version, text in results:
                    item = session.get(RecordBatchItem, item_id)
                    assert item is not None
                    item.revert_outcome, item.revert_version = outcome, version
                    item.revert_message = text
                    key = "reverted" if outcome is RevertOutcome.REVERTED else f"revert_{outcome}"
                    counts[key] += 1
                batch = session.get(RecordBatch, batch_id)
                assert batch is not None
                batch.counts = dict(counts)
                session.commit()
            if progress is not None:
                done = counts["reverted"] + counts["revert_conflict"] + counts["revert_failed"]
                progress(min(done / total, 0.99), f"{done} records reverted or skipped")
        with self.runtime.database.session(write=True) as session:
            batch = session.get(RecordBatch, batch_id)
            assert batch is not None
            batch.status = BatchStatus.REVERTED
            batch.reverted_at = utcnow()
            batch.reverted_by = actor.user_id
            batch.counts = dict(counts)
            audit(
                session,
                actor,
                "record.batch-revert",
                "record_batch",
                batch_id,
                workspace_id=batch.workspace_id,
                details={"description": batch.description, "counts": dict(counts)},
            )
            session.commit()
        return self.get(actor, batch_id)

    def _revert_one(
        self, actor: Identity, item: RecordBatchItem, message: str
    ) -> tuple[RevertOutcome, str | None, str | None]:
        with self.runtime.database.session() as session:
            row = session.scalar(select(RecordRow).where(RecordRow.uuid == item.record_uuid))
            head = None if row is None else row.head_version
            deleted = row is None or row.deleted
            updated_by = None if row is None else row.updated_by
        if deleted or head != item.version_after:
            who = f" by {updated_by}" if updated_by else ""
            state = "deleted" if deleted else f"changed since the batch (now {head}{who})"
            return RevertOutcome.CONFLICT, None, f"Left as it is: the record was {state}."
        try:
            old = self.records.version(actor, item.record_uuid, item.version_before)
            current = self.records.get(actor, item.record_uuid)
            stored = {rep.file for rep in current.record.representations if rep.file}
            kept = [rep for rep in old.representations if not rep.file or rep.file in stored]
            version = self.records.save(
                actor,
                item.record_uuid,
                old.model_copy(update={"representations": kept}),
                base_version=item.version_after,
                message=message,
                action="records.batch",
                audit_action="record.batch-revert-edit",
            )
        except Conflict as conflict:
            return RevertOutcome.CONFLICT, None, str(conflict)[:2000]
        except ServiceError as failure:
            return RevertOutcome.FAILED, None, str(failure)[:2000]
        return RevertOutcome.REVERTED, version, None


# -- the job -----------------------------------------------------------------------------------


def run_batch_job(runtime: Runtime, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """The body of a ``records.batch`` job: it runs as the user who started the batch."""
    actor = job_actor(runtime, params, "batch")
    service = BatchService(runtime)
    if params.get("mode") == "revert":
        view = service.run_revert(actor, params["batch_id"], progress)
    elif params.get("mode") == "apply":
        view = service.run(actor, params["batch_id"], progress)
    else:
        raise InvalidInput.on("mode", "a batch job either applies or reverts")
    return {"batch_id": view.batch.id, "counts": dict(view.batch.counts)}
