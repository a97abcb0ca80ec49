"""The workspace a record, an import or a batch belongs to: what the policy checks routes
against."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from heritage.errors import NotFound
from heritage.records.models import RecordImport, RecordRow
from heritage.store.services import parse_object_uuid
from heritage.workspaces.models import Workspace


def record_workspace(session: Session, params: Mapping[str, Any]) -> Workspace:
    workspace_id: int | None = None
    if "record_id" in params:
        record_uuid = parse_object_uuid(str(params["record_id"]))
        workspace_id = session.scalar(
            select(RecordRow.workspace_id).where(RecordRow.uuid == record_uuid)
        )
        if workspace_id is None:
            raise NotFound(f"No record '{params['record_id']}'")
    elif "batch_id" in params:
        from heritage.records.batch_models import RecordBatch

        batch = session.get(RecordBatch, str(params["batch_id"])[:36])
        if batch is None:
            raise NotFound(f"No batch '{params['batch_id']}'")
        workspace_id = batch.workspace_id
    else:
        row = session.get(RecordImport, str(params["import_id"])[:36])
        if row is None:
            raise NotFound(f"No import '{params['import_id']}'")
        workspace_id = row.workspace_id
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound("No such workspace")
    return workspace
