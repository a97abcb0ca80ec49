"""Dependencies every route uses: the runtime, the identity, and :class:`Authorize`.

Every route of the application declares exactly one policy action through
``Depends(Authorize("..."))``; a test fails for any route without one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from heritage.accounts.identity import ANONYMOUS, Identity
from heritage.errors import NotFound, PermissionDenied
from heritage.institutions.models import Institution
from heritage.institutions.services import institution_role
from heritage.jobs.models import Job
from heritage.jobs.services import JobService
from heritage.policy import Target, require
from heritage.policy.decide import NO_TARGET
from heritage.runtime import Runtime
from heritage.web import csrf
from heritage.workspaces.models import Workspace
from heritage.workspaces.services import workspace_target


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def get_identity(request: Request) -> Identity:
    return getattr(request.state, "identity", ANONYMOUS)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _target(runtime: Runtime, identity: Identity, request: Request) -> Target:
    params = request.path_params
    with runtime.database.session() as session:
        if "workspace_slug" in params:
            workspace = session.scalar(
                select(Workspace).where(Workspace.slug == params["workspace_slug"])
            )
            if workspace is None:
                raise NotFound(f"No workspace '{params['workspace_slug']}'")
            return workspace_target(session, identity, workspace)
        if "institution_slug" in params:
            institution = session.scalar(
                select(Institution).where(Institution.slug == params["institution_slug"])
            )
            if institution is None:
                raise NotFound(f"No institution '{params['institution_slug']}'")
            return Target(institution_role=institution_role(session, identity, institution.id))
        if "record_id" in params or "import_id" in params or "batch_id" in params:
            from heritage.records.targets import record_workspace

            workspace = record_workspace(session, params)
            return workspace_target(session, identity, workspace)
        if "image_id" in params:
            from heritage.iiif.targets import image_target

            return image_target(session, identity, str(params["image_id"]))
        if "job_id" in params:
            job = session.get(Job, params["job_id"])
            if job is None:
                raise NotFound(f"No job {params['job_id']}")
            return JobService(runtime).target(session, identity, job)
    return NO_TARGET


async def _check_csrf(request: Request, runtime: Runtime) -> None:
    if request.method in csrf.SAFE_METHODS or request.state.uses_token:
        return
    submitted = request.headers.get(csrf.CSRF_HEADER)
    if submitted is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(csrf.CSRF_FIELD)
        submitted = value if isinstance(value, str) else None
    if not csrf.is_valid(
        runtime.settings.signing_key, request.cookies.get(csrf.CSRF_COOKIE), submitted
    ):
        raise PermissionDenied(
            "The form expired or did not come from this site (CSRF check failed). "
            "Reload the page and try again."
        )


class Authorize:
    """Check CSRF, then the policy for ``action``; hand the route the identity."""

    def __init__(self, action: str) -> None:
        self.action = action

    async def __call__(self, request: Request) -> Identity:
        runtime = get_runtime(request)
        identity = get_identity(request)
        target = await run_in_threadpool(_target, runtime, identity, request)
        require(identity, self.action, target)
        await _check_csrf(request, runtime)
        return identity

    def __repr__(self) -> str:
        return f"Authorize({self.action!r})"


def allowed(action: str) -> object:
    """``identity: allowed("workspace.view")`` in a route signature: checks and injects."""
    return Annotated[Identity, Depends(Authorize(action))]


# Row ids in URLs fit the database's 32-bit integer columns on every backend, so
# an absurd number is a clear 422 rather than an overflow deep in the driver.
MAX_ROW_ID = 2_147_483_647
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
