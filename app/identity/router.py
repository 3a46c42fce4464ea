from typing import Annotated

from fastapi import Depends
from fastapi.security import OAuth2PasswordRequestForm

from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.routing import api_router
from app.identity import service
from app.identity.dependencies import (
    CipherDep,
    CurrentStaff,
    CurrentUser,
    RealNameVerifierDep,
    SettingsDep,
    WechatDep,
)
from app.identity.schemas import (
    RealNameRequest,
    StaffOut,
    StaffToken,
    UserOut,
    UserToken,
    WechatLogin,
)

router = api_router(tags=["identity"])


@router.post("/auth/wechat", response_model=UserToken, responses=problem_responses(502))
async def login_with_wechat(
    body: WechatLogin, session: SessionDep, settings: SettingsDep, wechat: WechatDep
) -> UserToken:
    """Exchange a mini-program login code for a resident's bearer token."""
    user, token = await service.login_with_wechat(session, settings, wechat, body.code)
    return UserToken(
        access_token=token.access_token,
        expires_in=token.expires_in,
        user=UserOut.model_validate(user),
    )


@router.post("/auth/token", response_model=StaffToken)
async def login_staff(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> StaffToken:
    """Staff password login (OAuth2 password form)."""
    token = await service.login_staff(session, settings, form.username, form.password)
    return StaffToken(access_token=token.access_token, expires_in=token.expires_in)


@router.get("/me", response_model=UserOut)
async def read_me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.post("/me/real-name", response_model=UserOut)
async def verify_real_name(
    body: RealNameRequest,
    user: CurrentUser,
    session: SessionDep,
    cipher: CipherDep,
    verifier: RealNameVerifierDep,
) -> UserOut:
    """Verify your real name: the response shows masked forms only."""
    verified = await service.verify_real_name(
        session, cipher, verifier, user, body.name, body.id_number
    )
    return UserOut.model_validate(verified)


@router.get("/admin/me", response_model=StaffOut, tags=["admin"])
async def read_staff_me(staff: CurrentStaff) -> StaffOut:
    return StaffOut(
        id=staff.id,
        username=staff.username,
        role=staff.role,
        district=staff.district,
        center_ids=sorted(staff.center_ids),
    )
