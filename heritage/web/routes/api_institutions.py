"""/api/institutions."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from heritage.institutions.services import InstitutionService
from heritage.web.deps import RowId, RuntimeDep, allowed
from heritage.web.schemas import (
    InstitutionCreate,
    InstitutionMemberOut,
    InstitutionMemberSet,
    InstitutionOut,
    InstitutionUpdate,
)

router = APIRouter(prefix="/api/institutions", tags=["institutions"])
NOT_FOUND = {404: {"description": "Not found"}}


@router.get("", response_model=list[InstitutionOut])
def list_institutions(
    runtime: RuntimeDep, identity: allowed("institution.list")
) -> list[InstitutionOut]:
    return [InstitutionOut.model_validate(i) for i in InstitutionService(runtime).list()]


@router.post("", response_model=InstitutionOut, status_code=status.HTTP_201_CREATED)
def create_institution(
    body: InstitutionCreate, runtime: RuntimeDep, identity: allowed("institution.create")
) -> InstitutionOut:
    institution = InstitutionService(runtime).create(identity, **body.model_dump())
    return InstitutionOut.model_validate(institution)


@router.get("/{institution_slug}", response_model=InstitutionOut, responses=NOT_FOUND)
def get_institution(
    institution_slug: str, runtime: RuntimeDep, identity: allowed("institution.view")
) -> InstitutionOut:
    return InstitutionOut.model_validate(
        InstitutionService(runtime).get(identity, institution_slug)
    )


@router.patch("/{institution_slug}", response_model=InstitutionOut, responses=NOT_FOUND)
def update_institution(
    institution_slug: str,
    body: InstitutionUpdate,
    runtime: RuntimeDep,
    identity: allowed("institution.update"),
) -> InstitutionOut:
    institution = InstitutionService(runtime).update(
        identity, institution_slug, **body.model_dump(exclude_unset=True)
    )
    return InstitutionOut.model_validate(institution)


@router.get(
    "/{institution_slug}/members", response_model=list[InstitutionMemberOut], responses=NOT_FOUND
)
def institution_members(
    institution_slug: str, runtime: RuntimeDep, identity: allowed("institution.members.view")
) -> list[InstitutionMemberOut]:
    return [
        InstitutionMemberOut(
            user_id=user.id, email=user.email, display_name=user.display_name, role=role.value
        )
        for user, role in InstitutionService(runtime).members(identity, institution_slug)
    ]


@router.put("/{institution_slug}/members", response_model=InstitutionMemberOut, responses=NOT_FOUND)
def set_institution_member(
    institution_slug: str,
    body: InstitutionMemberSet,
    runtime: RuntimeDep,
    identity: allowed("institution.members.manage"),
) -> InstitutionMemberOut:
    service = InstitutionService(runtime)
    service.set_member(identity, institution_slug, body.email, body.role)
    for user, role in service.members(identity, institution_slug):
        if user.email == body.email.strip().lower():
            return InstitutionMemberOut(
                user_id=user.id, email=user.email, display_name=user.display_name, role=role.value
            )
    raise AssertionError("member just set is missing")


@router.delete(
    "/{institution_slug}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
)
def remove_institution_member(
    institution_slug: str,
    user_id: RowId,
    runtime: RuntimeDep,
    identity: allowed("institution.members.manage"),
) -> Response:
    InstitutionService(runtime).remove_member(identity, institution_slug, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
