"""Pages of collection records: a workspace's list, one record, its versions and
diffs, the edit and create forms, reverting, deleting and attaching files.

The pages only read forms and render answers; :class:`RecordService` decides
and checks everything (permissions, conflicts, validation).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from heritage.accounts.identity import Identity
from heritage.errors import Conflict, InvalidInput, NotFound
from heritage.quality.services import QualityService
from heritage.records.fields import EDM_TYPES, FIELDS, ValueKind
from heritage.records.models import RecordStatus
from heritage.records.rights import RIGHTS_CHOICES
from heritage.records.services import MEDIA_FOLDER, RecordService, RecordView
from heritage.runtime import Runtime
from heritage.store.services import PreservationService
from heritage.threed.services import ThreeDService
from heritage.web.context import content_security_policy
from heritage.web.deps import RuntimeDep, allowed
from heritage.web.downloads import file_response
from heritage.web.forms import field_errors
from heritage.web.i18n import N_
from heritage.web.i18n import gettext as _
from heritage.web.record_form import (
    ENTITY_TYPES,
    OTHER_RIGHTS,
    entity_values,
    form_from_post,
    form_from_record,
    fresh_key,
    record_from_form,
    representation_values,
)
from heritage.web.routes.api_imports import receive_upload
from heritage.web.routes.pages_threed import page_models, unprocessed_models
from heritage.web.routes.pages_workspaces import _workspace_context
from heritage.web.templating import render
from heritage.workspaces.services import WorkspaceService

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
# Files sent through the page's form (one request, no resuming); larger ones go through
# the resumable upload page.
SMALL_FILE_BYTES = 100 * 1024 * 1024
VERSION_PATTERN = r"^v\d{1,9}$"
VersionQuery = Annotated[str | None, Query(pattern=VERSION_PATTERN, max_length=10)]
ACTIONS = ("records.create", "records.update", "records.delete", "records.import")
# Languages offered while typing a language tag (any BCP 47 tag is accepted).
LANGUAGES = ("en", "de", "fr", "it", "es", "nl", "pl", "pt", "cs", "da", "sv", "fi", "el", "la")

# The labels of the record's fields (heritage.records.fields.FIELDS) and of the
# fields outside it, shown through _(label) in the templates.
FIELD_LABELS = (
    N_("Title"),
    N_("Other title"),
    N_("Description"),
    N_("Creator"),
    N_("Contributor"),
    N_("Publisher"),
    N_("Date"),
    N_("Date created"),
    N_("Date issued"),
    N_("Period"),
    N_("Object type"),
    N_("Subject"),
    N_("Material"),
    N_("Technique"),
    N_("Dimensions"),
    N_("Place"),
    N_("Current location"),
    N_("Identifier"),
    N_("Language"),
    N_("Rights note"),
    N_("Provenance"),
    N_("Source"),
    N_("Related to"),
    N_("Part of"),
    N_("Data provider"),
    N_("Provider"),
)
assert {spec.label for spec in FIELDS} == set(FIELD_LABELS)
OTHER_LABELS = {
    "identifier": N_("Record identifier"),
    "edm_type": N_("EDM type"),
    "rights": N_("Rights"),
    "is_shown_at": N_("Landing page"),
    "preview": N_("Preview image"),
    "representations": N_("Representations"),
    "entities": N_("Linked entities"),
    "other": N_("Other properties"),
    "file": N_("File"),
    "base_version": N_("Version"),
    "form": N_("Form"),
}
# Stored values shown through _(value).
STATUS_LABELS = (N_("valid"), N_("draft"), N_("error"), N_("warning"))
ENTITY_LABELS = (N_("agent"), N_("place"), N_("timespan"), N_("concept"))
assert {status.value for status in RecordStatus} <= set(STATUS_LABELS)


def label_of(name: str) -> str:
    if name.startswith("entity-"):
        return _("Linked entity")
    if name.startswith("rep-"):
        return _("Representation")
    for spec in FIELDS:
        if spec.name == name:
            return _(spec.label)
    return _(OTHER_LABELS.get(name, name))


def is_web_link(value: str | None) -> bool:
    """Only http(s) addresses become links: never javascript: or data: URIs."""
    return bool(value) and str(value).lower().startswith(("http://", "https://"))


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _base(
    request: Request, runtime: Runtime, identity: Identity, slug: str, tab: str = "records"
) -> dict[str, Any]:
    service = WorkspaceService(runtime)
    workspace = service.get(identity, slug)
    context = _workspace_context(request, runtime, identity, workspace, tab)
    context["can"] = {action: service.can(identity, workspace, action) for action in ACTIONS}
    notices = {
        "created": _("The record was created."),
        "saved": _("The record was saved as a new version."),
        "unchanged": _("Nothing changed, so no new version was made."),
        "reverted": _("The record was reverted: a new version holds the earlier metadata."),
        "deleted": _("The record was deleted. Its earlier versions are kept."),
        "attached": _("The file was attached as a new version."),
        "removed": _("The file was removed. Earlier versions still hold it."),
        "model-added": _("The 3D model was added as a new version; its analysis has started."),
        "model-processing": _("The 3D model is being analysed again."),
        "paradata-saved": _("The paradata was saved."),
        "copy-requested": _(
            "The image is being copied into the store; this page shows how it went."
        ),
    }
    context["notice"] = notices.get(request.query_params.get("notice", ""), context["notice"])
    context.update(
        label_of=label_of,
        is_web_link=is_web_link,
        fields=FIELDS,
        edm_types=EDM_TYPES,
        media_folder=MEDIA_FOLDER,
    )
    return context


# -- the list ----------------------------------------------------------------------------------


@router.get("/workspaces/{workspace_slug}/records")
def records_page(
    request: Request,
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("records.view"),
    q: Annotated[str, Query(max_length=200)] = "",
    status: Annotated[str, Query(pattern=r"^(|valid|draft)$")] = "",
    edm_type: Annotated[str, Query(pattern=r"^(|TEXT|IMAGE|SOUND|VIDEO|3D)$")] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    context = _base(request, runtime, identity, workspace_slug)
    result = RecordService(runtime).list(
        identity,
        workspace_slug,
        query=q,
        status=RecordStatus(status) if status else None,
        edm_type=edm_type or None,
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    filters = {"q": q, "status": status, "edm_type": edm_type}
    kept = {key: value for key, value in filters.items() if value}
    pages = max(1, -(-result.total // PAGE_SIZE))
    context.update(
        result=result,
        filters=filters,
        page=page,
        pages=pages,
        previous_url=f"?{urlencode(kept | {'page': page - 1})}" if page > 1 else None,
        next_url=f"?{urlencode(kept | {'page': page + 1})}" if page < pages else None,
        status_options=[("", _("any")), ("valid", _("valid")), ("draft", _("draft"))],
        type_options=[("", _("any")), *((item, item) for item in EDM_TYPES)],
    )
    return render(request, "records/list.html", context)


# -- one record --------------------------------------------------------------------------------


def _record_context(
    request: Request, runtime: Runtime, identity: Identity, record_id: str
) -> tuple[dict[str, Any], RecordView]:
    view = RecordService(runtime).get(identity, record_id)
    context = _base(request, runtime, identity, view.workspace_slug)
    context.update(view=view, row=view.row, record=view.record, record_id=view.uuid)
    return context, view


def _record_page(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    record_id: str,
    *,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    context, view = _record_context(request, runtime, identity, record_id)
    problems_by_field: dict[str, int] = {}
    for problem in view.problems:
        if problem.field:
            problems_by_field[problem.field] = problems_by_field.get(problem.field, 0) + 1
    context.update(
        message=message or context.get("message"),
        problems=view.problems,
        entities={entity.id: entity for entity in view.record.entities},
        rights_label=dict((uri, label) for label, uri in RIGHTS_CHOICES).get(
            view.record.rights or ""
        ),
        upload_limit=min(SMALL_FILE_BYTES, runtime.settings.upload_max_bytes),
        **_image_states(runtime, identity, view),
        tiers=QualityService(runtime).tiers(view),
        threed_models=page_models(runtime, identity, view.uuid),
        threed_unprocessed=unprocessed_models(view),
        **_remote_copies(runtime, identity, view),
    )
    response = render(request, "records/detail.html", context, status_code=status_code)
    if context["remote_origins"] or context["threed_models"]:
        # the viewer reads remote images from their own IIIF servers; the 3D viewer
        # decodes its Draco-compressed models with WebAssembly
        response.headers["Content-Security-Policy"] = content_security_policy(
            context["remote_origins"], threed_viewer=bool(context["threed_models"])
        )
    return response


_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def remote_origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, when it is plain enough to name in a
    Content-Security-Policy (nothing that could end the directive)."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin if _ORIGIN.match(origin) else None


def _image_states(runtime: Runtime, identity: Identity, view: RecordView) -> dict[str, Any]:
    """``images``: the info.json URLs of the record's images ready for the viewer, in
    record order; ``image_problems``: why a file has no derivatives, by its path."""
    from heritage.iiif.models import DerivativeStatus
    from heritage.iiif.presentation import remote_image
    from heritage.iiif.services import ImageService

    order = {item.file: index for index, item in enumerate(view.record.representations)}
    rows = [
        row for row in ImageService(runtime).images_of(identity, view.uuid) if row.path in order
    ]
    ready = {row.path: row for row in rows if row.status is DerivativeStatus.READY}
    images, origins = [], set()
    for item in view.record.representations:
        if item.file and item.file in ready:
            images.append(f"/iiif/3/{ready[item.file].identifier}/info.json")
        elif item.url and item.iiif_service and (origin := remote_origin(item.iiif_service)):
            # an image of an imported manifest: shown from its own IIIF server, not copied
            images.append(item.iiif_service.rstrip("/") + "/info.json")
            origins.add(origin)
    return {
        "images": images,
        "remote_origins": frozenset(origins),
        # our manifest holds the images we serve and those shown from their own servers
        "has_manifest": bool(ready)
        or any(remote_image(item) for item in view.record.representations),
        "image_problems": {
            row.path: row.error for row in rows if row.status is DerivativeStatus.FAILED
        },
        "images_pending": [row.path for row in rows if row.status is DerivativeStatus.PENDING],
    }


def _remote_copies(runtime: Runtime, identity: Identity, view: RecordView) -> dict[str, Any]:
    """``copyable``: the remote representations that can be copied into the store;
    ``copies``: the latest copy request of each remote URL (and of each stored copy's
    source)."""
    from heritage.iiif.copies import RemoteCopies, copyable

    latest: dict[str, Any] = {}
    for copy in RemoteCopies(runtime).of_record(identity, view.uuid):
        latest.setdefault(copy.source_url, copy)  # newest first
    return {
        "copyable": {item.url for item in view.record.representations if copyable(item)},
        "copies": latest,
    }


@router.post("/records/{record_id}/remote-images/copy")
def copy_remote_image(
    request: Request,
    record_id: str,
    runtime: RuntimeDep,
    identity: allowed("records.update"),
    url: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    from heritage.iiif.copies import RemoteCopies

    try:
        RemoteCopies(runtime).request(identity, record_id, url)
    except (InvalidInput, NotFound) as error:
        detail = "; ".join(item.reason for item in getattr(error, "errors", [])) or error.detail
        return _record_page(
            request, runtime, identity, record_id, message=detail, status_code=error.status
        )
    return _redirect(f"/records/{record_id}?notice=copy-requested")


@router.get("/records/{record_id}")
def record_page(
    request: Request, record_id: str, runtime: RuntimeDep, identity: allowed("records.view")
) -> Response:
    return _record_page(request, runtime, identity, record_id)


@router.get("/records/{record_id}/versions")
def versions_page(
    request: Request,
    record_id: str,
    runtime: RuntimeDep,
    identity: allowed("records.view"),
    old: Annotated[VersionQuery, Query(alias="from")] = None,
    new: Annotated[VersionQuery, Query(alias="to")] = None,
) -> Response:
    service = RecordService(runtime)
    context, view = _record_context(request, runtime, identity, record_id)
    versions = service.versions(identity, record_id)
    names = [version.name for version in versions]
    changes = None
    message = None
    if old or new:
        old = old or (names[1] if len(names) > 1 else names[0])
        new = new or view.version
        if old not in names or new not in names:
            missing = old if old not in names else new
            message = _("This record has no version %(name)s.") % {"name": missing}
        else:
            changes = service.diff(identity, record_id, old, new)
    elif len(names) > 1:
        old, new = names[1], names[0]
    context.update(versions=versions, changes=changes, old=old, new=new, message=message or None)
    return render(request, "records/versions.html", context, status_code=404 if message else 200)


@router.post("/records/{record_id}/revert")
def revert_record(
    request: Request,
    record_id: str,
    runtime: RuntimeDep,
    identity: allowed("records.update"),
    version: Annotated[str, Form(pattern=VERSION_PATTERN, max_length=10)],
    base_version: Annotated[str | None, Form(pattern=VERSION_PATTERN, max_length=10)] = None,
) -> Response:
    try:
        RecordService(runtime).revert(identity, record_id, version, base_version=base_version)
    except (Conflict, InvalidInput) as error:
        return _record_page(
            request, runtime, identity, record_id, message=error.detail, status_code=error.status
        )
    return _redirect(f"/records/{record_id}?notice=reverted")


@router.post("/records/{record_id}/delete")
def delete_record(
    request: Request,
    record_id: str,
    runtime: RuntimeDep,
    identity: allowed("records.delete"),
    message: Annotated[str, Form(max_length=2000)] = "",
    base_version: Annotated[str | None, Form(pattern=VERSION_PATTERN, max_length=10)] = None,
) -> Response:
    try:
        RecordService(runtime).delete(
            identity, record_id, message=message, base_version=base_version
        )
    except Conflict as error:
        return _record_page(
            request, runtime, identity, record_id, message=error.detail, status_code=409
        )
    return _redirect(f"/records/{record_id}?notice=deleted")


# -- files -------------------------------------------------------------------------------------


@router.api_route("/records/{record_id}/files/{file_path:path}", methods=["GET", "HEAD"])
def download(
    request: Request,
    record_id: str,
    file_path: str,
    runtime: RuntimeDep,
    identity: allowed("records.view"),
    version: VersionQuery = None,
    inline: Annotated[bool, Query()] = False,
) -> Response:
    view = RecordService(runtime).get(identity, record_id)
    opened = PreservationService(runtime).open_file(
        identity, view.workspace_slug, view.uuid, MEDIA_FOLDER + file_path, version
    )
    return file_response(request, opened, inline=inline)


@router.post("/records/{record_id}/files")
async def attach_file(
    request: Request,
    record_id: str,
    runtime: RuntimeDep,
    identity: allowed("records.update"),
    file: Annotated[UploadFile | None, File()] = None,
    primary: Annotated[bool, Form()] = False,
    base_version: Annotated[str | None, Form(pattern=VERSION_PATTERN, max_length=10)] = None,
) -> Response:
    service = RecordService(runtime)

    async def failed(text: str, status_code: int) -> Response:
        return await run_in_threadpool(
            lambda: _record_page(
                request, runtime, identity, record_id, message=text, status_code=status_code
            )
        )

    if file is None or not file.filename:
        return await failed(_("Choose a file to attach."), 422)
    view = await run_in_threadpool(service.get, identity, record_id)
    name = Path(file.filename).name.strip()[:200]
    spool = runtime.settings.resolved_data_dir / "records" / "incoming"
    try:
        limit = min(SMALL_FILE_BYTES, runtime.settings.upload_max_bytes)
        received = await receive_upload(file, spool, limit)
    except InvalidInput as error:
        return await failed(error.detail, 422)
    try:
        with received.open("rb") as body:
            prepared = await run_in_threadpool(service.store.prepare, view.workspace_slug, body)
        try:
            await run_in_threadpool(
                lambda: service.attach_file(
                    identity,
                    record_id,
                    name,
                    prepared,
                    primary=primary,
                    base_version=base_version,
                )
            )
        finally:
            prepared.discard()
    except (InvalidInput, Conflict) as error:
        detail = "; ".join(item.reason for item in getattr(error, "errors", [])) or error.detail
        return await failed(detail, error.status)
    finally:
        received.unlink(missing_ok=True)
    return _redirect(f"/records/{record_id}?notice=attached")


@router.post("/records/{record_id}/remove-file")
def remove_file(
    request: Request,
    record_id: str,
    runtime: RuntimeDep,
    identity: allowed("records.delete"),
    path: Annotated[str, Form(max_length=1000)] = "",
    base_version: Annotated[str | None, Form(pattern=VERSION_PATTERN, max_length=10)] = None,
) -> Response:
    try:
        view = RecordService(runtime).detach_file(
            identity, record_id, path, base_version=base_version
        )
        ThreeDService(runtime).prune(identity, view.uuid)  # a removed 3D model's derivatives
    except (InvalidInput, Conflict, NotFound) as error:
        return _record_page(
            request, runtime, identity, record_id, message=error.detail, status_code=error.status
        )
    return _redirect(f"/records/{record_id}?notice=removed")


# -- the edit and create forms -----------------------------------------------------------------


def _edit_page(
    request: Request,
    runtime: Runtime,
    identity: Identity,
    *,
    slug: str,
    values: dict[str, Any],
    view: RecordView | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    context = _base(request, runtime, identity, slug)
    context.update(
        view=view,
        record_id=view.uuid if view else None,
        form=values,
        errors=errors or {},
        message=message,
        conflict=status_code == 409,
        rights_choices=RIGHTS_CHOICES,
        other_rights=OTHER_RIGHTS,
        languages=LANGUAGES,
        text_kinds=(ValueKind.TEXT,),
        entity_types=ENTITY_TYPES,
        new_entity=entity_values(None, "__E__"),
        new_representation=representation_values(None, "__E__"),
        fresh_entity=entity_values(None, fresh_key(values["entities"])),
        fresh_representation=representation_values(None, fresh_key(values["representations"])),
        entity_list="entity-ids",
        action=(f"/records/{view.uuid}/edit" if view else f"/workspaces/{slug}/records/new"),
    )
    return render(request, "records/edit.html", context, status_code=status_code)


@router.get("/workspaces/{workspace_slug}/records/new")
def new_record(
    request: Request, workspace_slug: str, runtime: RuntimeDep, identity: allowed("records.create")
) -> Response:
    return _edit_page(
        request, runtime, identity, slug=workspace_slug, values=form_from_record(None, None)
    )


@router.post("/workspaces/{workspace_slug}/records/new")
async def create_record(
    request: Request,
    workspace_slug: str,
    runtime: RuntimeDep,
    identity: allowed("records.create"),
) -> Response:
    values = form_from_post(await request.form())

    def save() -> Response:
        record, errors = record_from_form(values, None)
        if record is None:
            return _edit_page(
                request,
                runtime,
                identity,
                slug=workspace_slug,
                values=values,
                errors=errors,
                status_code=422,
            )
        try:
            view = RecordService(runtime).create(
                identity, workspace_slug, record, message=values["message"] or "Created"
            )
        except (InvalidInput, Conflict) as error:
            return _edit_page(
                request,
                runtime,
                identity,
                slug=workspace_slug,
                values=values,
                errors=field_errors(error) if isinstance(error, InvalidInput) else None,
                message=error.detail,
                status_code=error.status,
            )
        return _redirect(f"/records/{view.uuid}?notice=created")

    return await run_in_threadpool(save)


@router.get("/records/{record_id}/edit")
def edit_record(
    request: Request, record_id: str, runtime: RuntimeDep, identity: allowed("records.update")
) -> Response:
    view = RecordService(runtime).get(identity, record_id)
    return _edit_page(
        request,
        runtime,
        identity,
        slug=view.workspace_slug,
        view=view,
        values=form_from_record(view.record, view.version),
    )


@router.post("/records/{record_id}/edit")
async def save_record(
    request: Request, record_id: str, runtime: RuntimeDep, identity: allowed("records.update")
) -> Response:
    values = form_from_post(await request.form())

    def save() -> Response:
        service = RecordService(runtime)
        view = service.get(identity, record_id)
        record, errors = record_from_form(values, view.record)
        if record is None:
            return _edit_page(
                request,
                runtime,
                identity,
                slug=view.workspace_slug,
                view=view,
                values=values,
                errors=errors,
                status_code=422,
            )
        base = values["base_version"]
        if not base:
            # a page form always carries the version it was made from
            return _edit_page(
                request,
                runtime,
                identity,
                slug=view.workspace_slug,
                view=view,
                values=values | {"base_version": view.version},
                message=_(
                    "The form did not say which version it edits. Check the values and save again."
                ),
                status_code=422,
            )
        try:
            saved = service.update(
                identity,
                record_id,
                record,
                base_version=base,
                message=values["message"] or "Edited",
            )
        except (InvalidInput, Conflict) as error:
            return _edit_page(
                request,
                runtime,
                identity,
                slug=view.workspace_slug,
                view=view,
                values=values,
                errors=field_errors(error) if isinstance(error, InvalidInput) else None,
                message=error.detail,
                status_code=error.status,
            )
        notice = "saved" if saved.version != view.version else "unchanged"
        return _redirect(f"/records/{record_id}?notice={notice}")

    return await run_in_threadpool(save)
