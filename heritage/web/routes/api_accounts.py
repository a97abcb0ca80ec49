"""/api/me, /api/me/tokens and /api/users."""

from __future__ import annotations

from fastapi import APIRouter, status

from heritage.accounts.services import AccountService
from heritage.web.deps import RowId, RuntimeDep, allowed
from heritage.web.schemas import (
    NewTokenOut,
    ProfileUpdate,
    TokenCreate,
    TokenOut,
    UserCreate,
    UserOut,
)

router = APIRouter(prefix="/api", tags=["accounts"])
NOT_FOUND = {404: {"description": "Not found"}}


@router.get("/me", response_model=UserOut)
def me(runtime: RuntimeDep, identity: allowed("account.view")) -> UserOut:
    return UserOut.model_validate(AccountService(runtime).get_user(identity.user_id))


@router.patch("/me", response_model=UserOut)
def update_me(
    body: ProfileUpdate, runtime: RuntimeDep, identity: allowed("account.update")
) -> UserOut:
    user = AccountService(runtime).update_profile(
        identity, display_name=body.display_name, language=body.language
    )
    return UserOut.model_validate(user)


@router.get("/me/tokens", response_model=list[TokenOut])
def list_tokens(runtime: RuntimeDep, identity: allowed("account.view")) -> list[TokenOut]:
    return [TokenOut.model_validate(t) for t in AccountService(runtime).list_tokens(identity)]


@router.post("/me/tokens", response_model=NewTokenOut, status_code=status.HTTP_201_CREATED)
def create_token(
    body: TokenCreate, runtime: RuntimeDep, identity: allowed("tokens.create")
) -> NewTokenOut:
    new = AccountService(runtime).create_token(identity, body.name, days=body.days)
    return NewTokenOut(token=TokenOut.model_validate(new.token), secret=new.secret)


@router.delete("/me/tokens/{token_id}", response_model=TokenOut, responses=NOT_FOUND)
def revoke_token(
    token_id: RowId, runtime: RuntimeDep, identity: allowed("tokens.revoke")
) -> TokenOut:
    return TokenOut.model_validate(AccountService(runtime).revoke_token(identity, token_id))


@router.get("/users", response_model=list[UserOut])
def list_users(runtime: RuntimeDep, identity: allowed("users.view")) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in AccountService(runtime).list_users(identity)]


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(
    body: UserCreate, runtime: RuntimeDep, identity: allowed("users.create")
) -> UserOut:
    user = AccountService(runtime).create_user(
        identity,
        body.email,
        body.password,
        display_name=body.display_name,
        is_admin=body.is_admin,
    )
    return UserOut.model_validate(user)
