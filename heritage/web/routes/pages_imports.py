"""The import wizard and import reports.

Upload a file (format detected or chosen, dry run or not). A spreadsheet (CSV,
XLSX) then goes through a mapping step: its first rows and a suggested column
mapping, which can be changed, saved under a name and loaded again. Starting
registers the import (:class:`ImportService`, the file kept under the import's
folder) and queues it; the report page follows its progress and lists the
records with problems. A finished dry run can be run for real from its report.

Between the upload and the mapping step the file waits in a staging folder of
the workspace and person, named by a random token.
"""

from __future__ import annotations

import functools
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from heritage.accounts.identity import Identity
from heritage.errors import InvalidInput, NotFound, PermissionDenied, ServiceError
from heritage.jobs.services import JobService
from heritage.records.fields import FIELDS
from heritage.records.formats import FORMATS, detect_format
from heritage.records.importers.base import SourceError
from heritage.records.importers.column_mapping import SPECIAL_TARGETS, Mapping
from heritage.records.importers.tabular import Preview, check_mapping, preview
from heritage.records.imports import ImportService
from heritage.records.mappings import get_mapping, list_mappings, save_mapping
from heritage.records.models import ImportStatus, RecordImport
from heritage.runtime import Runtime
from heritage.web.deps import RuntimeDep, allowed
from heritage.web.i18n import N_
from heritage.web.i18n import gettext as _
from heritage.web.routes.api_imports import receive_upload
from heritage.web.routes.pages_records import label_of
from heritage.web.routes.pages_workspaces import _workspace_context
from heritage.web.templating import render
from heritage.workspaces.services import WorkspaceService

router = APIRouter(include_in_schema=False)
POLL_SECONDS = 2
ITEMS_PAGE = 50
PREVIEW_ROWS = 5
STAGING_HOURS = 24
TOKEN = re.compile(r"^[0-9a-f]{32}$")
TABULAR = ("csv", "xlsx")
Token = Annotated[str, Query(pattern=r"^[0-9a-f]{32}$")]

# Labels of the mapping's special targets, and of stored import states and actions.
TARGET_LABELS = {
    "identifier": N_("Record identifier"),
    "edm_type": N_("EDM type"),
    "rights": N_("Rights"),
    "is_shown_at": N_("Landing page"),
    "preview": N_("Preview image"),
    "media": N_("Media files (attached by the command line only)"),
    "media_url": N_("Media URL"),
    "ignore": N_("Ignore this column"),
}
assert set(TARGET_LABELS) == set(SPECIAL_TARGETS)
STATE_LABELS = (
    N_("queued"),
    N_("running"),
    N_("finished"),
    N_("failed"),
    N_("create"),
    N_("update"),
    N_("unchanged"),
    N_("delete"),
)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _base(request: Request, runtime: Runtime, identity: Identity, slug: str) -> dict[str, Any]:
    service = WorkspaceService(runtime)
    workspace = service.get(identity, slug)
    context = _workspace_context(request, runtime, identity, workspace, "records")
    context["can_import"] = service.can(identity, workspace, "records.import")
    return context


def _import_name(row: RecordImport) -> str:
    return str(row.options.get("name") or Path(row.source).name)


# -- staging the uploaded file between the upload and the mapping step ---------------------------


def _staging_root(runtime: Runtime, identity: Identity, slug: str) -> Path:
    person = str(identity.user_id) if identity.user_id is not None else "anonymous"
    return runtime.settings.resolved_data_dir / "imports" / "staging" / slug / person


def _sweep(root: Path) -> None:
    """Forget files staged long ago and never imported."""
    if not root.is_dir():
        return
    limit = time.time() - STAGING_HOURS * 3600
    for folder in root.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < limit:
            shutil.rmtree(folder, ignore_errors=True)


def _stage(root: Path, received: Path, name: str) -> str:
    _sweep(root)
    token = secrets.token_hex(16)
    folder = root / token
    folder.mkdir(parents=True)
    shutil.move(str(received), folder / name)
    return token


def _staged(runtime: Runtime, identity: Identity, slug: str, token: str) -> Path:
    if not TOKEN.match(token):
        raise NotFound("No such uploaded file")
    folder = _staging_root(runtime, identity, slug) / token
    files = [item for item in folder.iterdir() if item.is_file()] if folder.is_dir() else []
    if len(files) != 1:
        raise NotFound(
            _("The uploaded file is no longer here (it is kept for a day). Upload it again.")
        )
    return files[0]


def _safe_name(name: str | None) -> str:
    base = Path(name or "upload").name.strip() or "upload"
    return base[:200]


# -- start: upload a file ------------------------------------------------------------------------


def _new_page(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    slug: str,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    context = _base(request, runtime, identity, slug)
    context.update(
        form=form or {"format": "auto", "dry_run": True},
        errors=errors or {},
        message=message,
        formats=FORMATS,
        saved=list_mappings(runtime, identity, slug),
        upload_limit=runtime.settings.upload_max_bytes,
    )
    return render(request, "imports/new.html", context, status_code=status_code)


@router.get("/workspaces/{workspace_slug}/imports/new")
def new_import(
    request: Request, workspace_slug: str, runtime: RuntimeDep, identity: allowed("records.import")
) -> Response:
    return _new_page(request, runtime, identity, workspace_slug)


def _start(
    runtime: Runtime,
    identity: Identity,
    slug: str,
    path: Path,
    *,
    format: str,
    mapping: dict[str, Any] | None,
    dry_run: bool,
    name: str,
) -> RecordImport:
    """Register the import (the file moves under the import's folder) and queue it."""
    service = ImportService(runtime)
    row = service.create(
        identity,
        slug,
        path,
        format=format,
        mapping=mapping,
        dry_run=dry_run,
        keep_copy=True,
        source_name=name,
    )
    try:
        return service.enqueue(identity, row.id)
    except Exception:
        shutil.rmtree(service.files_dir(row.id), ignore_errors=True)
        raise


@router.post("/workspaces/{workspace_slug}/imports/new")
async def upload_import(
    request: Request,
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("records.import"),
    file: Annotated[UploadFile | None, File()] = None,
    format: Annotated[str, Form(max_length=20)] = "auto",
    dry_run: Annotated[bool, Form()] = False,
    saved: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    form = {"format": format, "dry_run": dry_run, "saved": saved}

    async def refuse(errors: dict[str, str], status_code: int = 422) -> Response:
        return await run_in_threadpool(
            lambda: _new_page(
                request,
                runtime,
                identity,
                workspace_slug,
                form=form,
                errors=errors,
                status_code=status_code,
            )
        )

    if format != "auto" and format not in FORMATS:
        return await refuse({"format": _("Choose one of the formats in the list.")})
    if file is None or not file.filename:
        return await refuse({"file": _("Choose a file to import.")})
    name = _safe_name(file.filename)
    root = _staging_root(runtime, identity, workspace_slug)
    try:
        received = await receive_upload(file, root, runtime.settings.upload_max_bytes)
    except InvalidInput as error:
        return await refuse({"file": error.errors[0].reason if error.errors else error.detail})
    token = await run_in_threadpool(_stage, root, received, name)
    staged = root / token / name

    def proceed() -> Response:
        try:
            chosen = detect_format(staged) if format == "auto" else format
        except InvalidInput as error:
            shutil.rmtree(staged.parent, ignore_errors=True)
            return _new_page(
                request,
                runtime,
                identity,
                workspace_slug,
                form=form,
                errors={"format": error.errors[0].reason if error.errors else error.detail},
                status_code=422,
            )
        except SourceError as error:
            shutil.rmtree(staged.parent, ignore_errors=True)
            return _new_page(
                request,
                runtime,
                identity,
                workspace_slug,
                form=form,
                errors={"file": str(error)},
                status_code=422,
            )
        if chosen in TABULAR:
            query: dict[str, str] = {"staged": token, "format": chosen}
            if dry_run:
                query["dry_run"] = "1"
            if saved:
                query["saved"] = saved
            return _redirect(f"/workspaces/{workspace_slug}/imports/mapping?{urlencode(query)}")
        try:
            row = _start(
                runtime,
                identity,
                workspace_slug,
                staged,
                format=chosen,
                mapping=None,
                dry_run=dry_run,
                name=name,
            )
        except (InvalidInput, SourceError) as error:
            shutil.rmtree(staged.parent, ignore_errors=True)
            text = error.detail if isinstance(error, ServiceError) else str(error)
            return _new_page(
                request,
                runtime,
                identity,
                workspace_slug,
                form=form,
                message=text,
                status_code=422,
            )
        shutil.rmtree(staged.parent, ignore_errors=True)
        return _redirect(f"/imports/{row.id}?notice=started")

    return await run_in_threadpool(proceed)


# -- the mapping step (spreadsheets) -------------------------------------------------------------


def _target_options() -> list[tuple[str, str]]:
    special = [(key, _(TARGET_LABELS[key])) for key in SPECIAL_TARGETS]
    fields = [(spec.name, _(spec.label)) for spec in FIELDS]
    return [special[-1], *special[:-1], *fields]


def _mapping_page(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    slug: str,
    *,
    token: str,
    format: str,
    dry_run: bool,
    table: Preview,
    mapping: Mapping,
    saved_name: str = "",
    save_as: str = "",
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    context = _base(request, runtime, identity, slug)
    columns = []
    for index, header in enumerate(table.headers):
        chosen = mapping.column(header)
        samples = [row[index] for row in table.rows if index < len(row) and row[index].strip()]
        columns.append({"index": index, "header": header, "mapping": chosen, "samples": samples})
    unknown = [item.column for item in mapping.columns if item.column not in table.headers]
    if unknown and not message:
        message = _(
            "The mapping names columns this file does not have: %(columns)s. "
            "They are left out; check the mapping before you start."
        ) % {"columns": ", ".join(unknown)}
    context.update(
        token=token,
        format=format,
        dry_run=dry_run,
        table=table,
        mapping=mapping,
        columns=columns,
        target_options=_target_options(),
        saved=list_mappings(runtime, identity, slug),
        saved_name=saved_name,
        save_as=save_as,
        errors=errors or {},
        message=message,
    )
    return render(request, "imports/mapping.html", context, status_code=status_code)


def _read_preview(path: Path, format: str) -> Preview:
    if format == "xlsx" and path.suffix.lower() not in (".xlsx", ".xlsm"):
        raise SourceError("choose the XLSX format only for .xlsx workbooks", source=path.name)
    return preview(path, rows=PREVIEW_ROWS)


@router.get("/workspaces/{workspace_slug}/imports/mapping")
def mapping_step(
    request: Request,
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("records.import"),
    staged: Token,
    format: Annotated[str, Query(pattern=r"^(csv|xlsx)$")] = "csv",
    dry_run: Annotated[bool, Query()] = False,
    saved: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    try:
        path = _staged(runtime, identity, workspace_slug, staged)
    except NotFound as error:
        return _new_page(
            request, runtime, identity, workspace_slug, message=error.detail, status_code=404
        )
    try:
        table = _read_preview(path, format)
    except SourceError as error:
        shutil.rmtree(path.parent, ignore_errors=True)
        return _new_page(
            request,
            runtime,
            identity,
            workspace_slug,
            errors={"file": str(error)},
            status_code=422,
        )
    mapping = table.mapping
    message = None
    if saved:
        try:
            mapping = get_mapping(runtime, identity, workspace_slug, saved)
        except NotFound as error:
            message = error.detail
        except ValidationError:
            message = _("The saved mapping %(name)s cannot be read any more.") % {"name": saved}
    return _mapping_page(
        request,
        runtime,
        identity,
        workspace_slug,
        token=staged,
        format=format,
        dry_run=dry_run,
        table=table,
        mapping=mapping,
        saved_name=saved,
        message=message,
        status_code=404 if message and saved and mapping is table.mapping else 200,
    )


def _posted(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _mapping_from_form(form: FormData) -> dict[str, Any]:
    """The mapping as posted: one entry per column row of the form."""
    columns = [value for value in form.getlist("column") if isinstance(value, str)]
    linked = {value for value in form.getlist("links") if isinstance(value, str)}
    items = []
    for index, column in enumerate(columns):
        item: dict[str, Any] = {
            "column": column,
            "target": _posted(form, f"target-{index}") or "ignore",
            "lang": _posted(form, f"lang-{index}") or None,
            "separator": (form.get(f"separator-{index}") or None),
            "links": str(index) in linked,
        }
        if not isinstance(item["separator"], str) or not item["separator"].strip():
            item["separator"] = None
        items.append(item)
    data: dict[str, Any] = {"columns": items}
    for key in ("delimiter", "sheet"):
        value = form.get(key)
        if isinstance(value, str) and value:
            data[key] = value
    return data


def _mapping_errors(data: dict[str, Any], headers: list[str]) -> tuple[Mapping | None, str | None]:
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as error:
        reasons = "; ".join(
            str(item.get("msg", "")).removeprefix("Value error, ") for item in error.errors()
        )
        return None, _("The mapping is not valid: %(reasons)s") % {"reasons": reasons}
    try:
        check_mapping(mapping, headers, "")  # the importer's own check, before it starts
    except SourceError as error:
        return mapping, str(error)
    return mapping, None


@router.post("/workspaces/{workspace_slug}/imports/start")
async def start_import(
    request: Request,
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("records.import"),
) -> Response:
    form = await request.form()
    token = _posted(form, "staged")
    format = _posted(form, "format")
    dry_run = _posted(form, "dry_run") in ("on", "true", "1")
    save_as = _posted(form, "save_as")[:200]
    data = _mapping_from_form(form)

    def proceed() -> Response:
        if format not in TABULAR:
            return _new_page(
                request,
                runtime,
                identity,
                workspace_slug,
                errors={"format": _("Choose one of the formats in the list.")},
                status_code=422,
            )
        try:
            path = _staged(runtime, identity, workspace_slug, token)
            table = _read_preview(path, format)
        except (NotFound, SourceError) as error:
            text = error.detail if isinstance(error, ServiceError) else str(error)
            return _new_page(
                request, runtime, identity, workspace_slug, message=text, status_code=422
            )
        mapping, problem = _mapping_errors(data, table.headers)
        # the mapping step again, as posted, with what is wrong
        again = functools.partial(
            _mapping_page,
            request,
            runtime,
            identity,
            workspace_slug,
            token=token,
            format=format,
            dry_run=dry_run,
            table=table,
            save_as=save_as,
            status_code=422,
        )
        if problem is not None:
            return again(mapping=mapping or table.mapping, message=problem)
        assert mapping is not None
        if save_as:
            try:
                save_mapping(runtime, identity, workspace_slug, save_as, mapping)
            except InvalidInput as error:
                reason = error.errors[0].reason if error.errors else error.detail
                return again(mapping=mapping, errors={"save_as": reason})
        try:
            row = _start(
                runtime,
                identity,
                workspace_slug,
                path,
                format=format,
                mapping=mapping.model_dump(mode="json", exclude_defaults=True),
                dry_run=dry_run,
                name=path.name,
            )
        except (InvalidInput, SourceError) as error:
            text = error.detail if isinstance(error, ServiceError) else str(error)
            return _new_page(
                request, runtime, identity, workspace_slug, message=text, status_code=422
            )
        shutil.rmtree(path.parent, ignore_errors=True)
        return _redirect(f"/imports/{row.id}?notice=started")

    return await run_in_threadpool(proceed)


# -- reports ---------------------------------------------------------------------------------


@router.get("/workspaces/{workspace_slug}/imports")
def imports_page(
    request: Request, workspace_slug: str, runtime: RuntimeDep, identity: allowed("records.view")
) -> Response:
    context = _base(request, runtime, identity, workspace_slug)
    rows = ImportService(runtime).list(identity, workspace_slug)
    context["imports"] = [(row, _import_name(row)) for row in rows]
    return render(request, "imports/list.html", context)


def _report_context(
    request: Request, runtime: Runtime, identity: Identity, import_id: str, page: int
) -> dict[str, Any]:
    service = ImportService(runtime)
    row, slug = service.get(identity, import_id)
    context = _base(request, runtime, identity, slug)
    items, total = service.items(
        identity,
        import_id,
        only_problems=True,
        offset=(page - 1) * ITEMS_PAGE,
        limit=ITEMS_PAGE,
    )
    job = None
    if row.job_id:
        try:
            job = JobService(runtime).get(identity, row.job_id)
        except (NotFound, PermissionDenied):
            job = None
    running = row.status in (ImportStatus.QUEUED, ImportStatus.RUNNING)
    if row.status in (ImportStatus.FINISHED, ImportStatus.FAILED):
        progress = 1.0
    else:
        progress = job.progress if job is not None else 0.0
    pages = max(1, -(-total // ITEMS_PAGE))
    context.update(
        row=row,
        name=_import_name(row),
        job=job,
        running=running,
        progress=progress,
        percent=round(progress * 100),
        items=items,
        total=total,
        page=page,
        pages=pages,
        poll_seconds=POLL_SECONDS,
        can_run_for_real=(
            context["can_import"] and row.dry_run and row.status is ImportStatus.FINISHED
        ),
        handled=sum(row.counts.values()),
        label_of=label_of,
    )
    return context


@router.get("/imports/{import_id}")
def report_page(
    request: Request,
    import_id: str,
    runtime: RuntimeDep,
    identity: allowed("records.view"),
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    context = _report_context(request, runtime, identity, import_id, page)
    polled = request.headers.get("HX-Request") == "true"
    if polled and request.headers.get("HX-History-Restore-Request") != "true":
        response = render(request, "imports/_report.html", context)
    else:
        notices = {"started": _("The import was started.")}
        context["notice"] = notices.get(request.query_params.get("notice", ""))
        response = render(request, "imports/report.html", context)
    response.headers["Vary"] = "HX-Request"
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/imports/{import_id}/run")
def run_for_real(
    request: Request, import_id: str, runtime: RuntimeDep, identity: allowed("records.import")
) -> Response:
    service = ImportService(runtime)
    row, slug = service.get(identity, import_id)

    def refuse(text: str) -> Response:
        context = _report_context(request, runtime, identity, import_id, 1)
        context["message"] = text
        return render(request, "imports/report.html", context, status_code=409)

    if not row.dry_run or row.status is not ImportStatus.FINISHED:
        return refuse(_("Only a finished dry run can be run for real."))
    source = Path(row.source)
    folder = service.files_dir(import_id)
    if not source.is_relative_to(folder) or not source.is_file():
        return refuse(_("The file of this dry run is no longer kept. Upload it again."))
    root = _staging_root(runtime, identity, slug)
    root.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    (root / token).mkdir()
    copy = root / token / source.name
    shutil.copyfile(source, copy)
    try:
        new = _start(
            runtime,
            identity,
            slug,
            copy,
            format=row.format,
            mapping=row.options.get("mapping"),
            dry_run=False,
            name=_import_name(row),
        )
    except (InvalidInput, SourceError) as error:
        return refuse(error.detail if isinstance(error, ServiceError) else str(error))
    finally:
        shutil.rmtree(root / token, ignore_errors=True)
    return _redirect(f"/imports/{new.id}?notice=started")
