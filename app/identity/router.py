from typing import Annotated

from fastapi import Cookie, Depends, Header, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from app.core.clock import utcnow
from app.core.db import DatabaseDep, ReadSessionDep, SessionDep
from app.core.errors import problem_responses
from app.core.routing import API_PREFIX, api_router
from app.identity import devices, profile, service
from app.identity.dependencies import (
    CipherDep,
    ClientAddress,
    CurrentUser,
    CurrentUserId,
    LimiterDep,
    RealNameVerifierDep,
    SettingsDep,
    StaffChangingPassword,
    WechatDep,
    WechatTokensDep,
)
from app.identity.schemas import (
    PhoneBinding,
    ProfileUpdate,
    RealNameRequest,
    StaffOut,
    StaffToken,
    UserOut,
    UserToken,
    WechatLogin,
)

router = api_router(tags=["identity"])
TOKEN_PATH = f"{API_PREFIX}/auth/token"


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
    response: Response,
    session: ReadSessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    address: ClientAddress,
    device_header: Annotated[str | None, Header(alias=devices.HEADER)] = None,
    device_cookie: Annotated[str | None, Cookie(alias=devices.COOKIE)] = None,
) -> StaffToken:
    """Staff password login (OAuth2 password form). Attempts are limited per
    username and per address, or, from a trusted device, per device; the
    password is checked outside any write transaction. The answer's
    ``device_token`` (also set as the ``zhendi_device`` cookie) makes this
    client a trusted device: sent back in the ``Zhendi-Device-Token`` header
    (or the cookie), it keeps signing in while strangers have throttled the
    username."""
    signed_in = await service.login_staff(
        session,
        settings,
        limiter,
        form.username,
        form.password,
        address=address,
        device_tokens=[device_header] if device_header else devices.tokens_in(device_cookie),
    )
    devices.remember(
        response,
        settings,
        signed_in.device,
        path=TOKEN_PATH,
        staff_id=signed_in.staff_id,
        cookie=device_cookie,
    )
    return StaffToken(
        access_token=signed_in.access.access_token,
        expires_in=signed_in.access.expires_in,
        device_token=signed_in.device.access_token,
    )


@router.post("/auth/sign-out", status_code=status.HTTP_204_NO_CONTENT, tags=["admin"])
async def sign_out_staff(staff: StaffChangingPassword, session: SessionDep) -> Response:
    """Sign out everywhere: every token issued to you before this second, this
    one and the console's included, is refused from now on."""
    await service.sign_out_staff(session, staff.id, utcnow())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=UserOut)
async def read_me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.patch("/me", response_model=UserOut)
async def update_me(body: ProfileUpdate, user_id: CurrentUserId, session: SessionDep) -> UserOut:
    """Change your nickname (`null` clears it)."""
    return UserOut.model_validate(await profile.update_profile(session, user_id, body.nickname))


@router.post("/me/phone", response_model=UserOut, responses=problem_responses(429, 502))
async def bind_phone(
    body: PhoneBinding,
    user_id: CurrentUserId,
    database: DatabaseDep,
    settings: SettingsDep,
    wechat: WechatDep,
    tokens: WechatTokensDep,
    cipher: CipherDep,
    limiter: LimiterDep,
    address: ClientAddress,
) -> UserOut:
    """Bind the phone number the user shared with the mini-program's
    getPhoneNumber button: the server trades the button's `code` at WeChat.
    Stored sealed; the answer shows it masked. Staff then find your bookings
    by the number's last four digits."""
    await limiter.hit(limiter.rules.wechat_per_ip, address)
    # WeChat is asked outside the write transaction: on SQLite that
    # transaction is the database's one write lock.
    phone = await profile.phone_from_wechat(settings, wechat, tokens, body.code)
    async with database.writer.begin() as session:
        user = await profile.bind_phone(session, cipher, user_id, phone)
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
async def read_staff_me(staff: StaffChangingPassword) -> StaffOut:
    return StaffOut(
        id=staff.id,
        username=staff.username,
        role=staff.role,
        district=staff.district,
        street=staff.street,
        scope=staff.scope,
        center_ids=sorted(staff.center_ids),
        must_change_password=staff.must_change_password,
    )
