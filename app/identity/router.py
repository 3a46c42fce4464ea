from typing import Annotated

from fastapi import Depends, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from app.core.clock import utcnow
from app.core.db import ReadSessionDep, SessionDep
from app.core.errors import InvalidCredentials, problem_responses
from app.core.routing import api_router
from app.identity import service
from app.identity.dependencies import (
    CipherDep,
    ClientAddress,
    CurrentStaff,
    CurrentUser,
    LimiterDep,
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


@router.post("/auth/wechat", response_model=UserToken, responses=problem_responses(429, 502))
async def login_with_wechat(
    body: WechatLogin,
    session: SessionDep,
    settings: SettingsDep,
    wechat: WechatDep,
    limiter: LimiterDep,
    address: ClientAddress,
) -> UserToken:
    """Exchange a mini-program login code for a resident's bearer token."""
    await limiter.hit(limiter.rules.wechat_per_ip, address)
    user, token = await service.login_with_wechat(session, settings, wechat, body.code)
    return UserToken(
        access_token=token.access_token,
        expires_in=token.expires_in,
        user=UserOut.model_validate(user),
    )


@router.post("/auth/token", response_model=StaffToken, responses=problem_responses(429))
async def login_staff(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: ReadSessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    address: ClientAddress,
) -> StaffToken:
    """Staff password login (OAuth2 password form). Failed attempts are limited
    per username and per address; the password is checked outside any write
    transaction."""
    rules = limiter.rules
    username = form.username.lower()
    await limiter.check(rules.login_per_username, username)
    await limiter.check(rules.login_per_ip, address)
    try:
        token = await service.login_staff(session, settings, username, form.password)
    except InvalidCredentials:
        await limiter.hit(rules.login_per_username, username)
        await limiter.hit(rules.login_per_ip, address)
        raise
    return StaffToken(access_token=token.access_token, expires_in=token.expires_in)


@router.post("/auth/sign-out", status_code=status.HTTP_204_NO_CONTENT, tags=["admin"])
async def sign_out_staff(staff: CurrentStaff, session: SessionDep) -> Response:
    """Sign out everywhere: every token issued to you before this second, this
    one and the console's included, is refused from now on."""
    await service.sign_out_staff(session, staff.id, utcnow())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=UserOut)
async def read_me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.post("/me/real-name", response_model=UserOut, responses=problem_responses(429, 503))
async def verify_real_name(
    body: RealNameRequest,
    user: CurrentUser,
    session: SessionDep,
    cipher: CipherDep,
    verifier: RealNameVerifierDep,
    limiter: LimiterDep,
) -> UserOut:
    """Verify your real name: the response shows masked forms only."""
    await limiter.hit(limiter.rules.real_name_per_user, str(user.id))
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
