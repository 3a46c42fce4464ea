"""Authentication dependencies: who is calling, as a typed ``Annotated`` alias."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import tokens
from app.core.config import Settings
from app.core.crypto import PiiCipher
from app.core.db import DatabaseDep, SessionDep
from app.core.errors import Forbidden, InvalidToken, NotAuthenticated, Text
from app.core.ratelimit import Limiter
from app.identity import service
from app.identity.principals import Actor, StaffPrincipal
from app.identity.real_name import RealNameVerifier
from app.identity.wechat import AccessTokens, WechatClient
from app.models import User

_user_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="UserToken",
    description="Token from POST /api/v1/auth/wechat",
)
_staff_bearer = OAuth2PasswordBearer(
    tokenUrl="/api/v1/auth/token",
    auto_error=False,
    scheme_name="StaffToken",
)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_wechat(request: Request) -> WechatClient:
    wechat: WechatClient = request.app.state.wechat
    return wechat


async def get_wechat_tokens(request: Request) -> AccessTokens:
    tokens: AccessTokens = request.app.state.wechat_tokens
    return tokens


async def get_cipher(request: Request) -> PiiCipher:
    cipher: PiiCipher = request.app.state.pii_cipher
    return cipher


async def get_real_name_verifier(request: Request) -> RealNameVerifier:
    verifier: RealNameVerifier = request.app.state.real_name_verifier
    return verifier


async def get_limiter(request: Request) -> Limiter:
    limiter: Limiter = request.app.state.limiter
    return limiter


def client_address(request: Request) -> str:
    """The caller's IP address: the peer, or the client a trusted reverse proxy
    named (uvicorn's ``--forwarded-allow-ips``)."""
    return request.client.host if request.client else "unknown"


SettingsDep = Annotated[Settings, Depends(get_settings)]
LimiterDep = Annotated[Limiter, Depends(get_limiter)]
ClientAddress = Annotated[str, Depends(client_address)]
WechatDep = Annotated[WechatClient, Depends(get_wechat)]
WechatTokensDep = Annotated[AccessTokens, Depends(get_wechat_tokens)]
CipherDep = Annotated[PiiCipher, Depends(get_cipher)]
RealNameVerifierDep = Annotated[RealNameVerifier, Depends(get_real_name_verifier)]


def _claims(settings: Settings, audience: tokens.Audience, token: str | None) -> tokens.TokenClaims:
    """Verify ``token`` for ``audience``.

    A genuine token of our other audience (a resident on an admin endpoint, or
    staff on a resident one) is authenticated but not allowed: 403. Anything
    else that fails verification is 401.
    """
    if not token:
        raise NotAuthenticated()
    try:
        return tokens.verify(settings, audience, token)
    except tokens.TokenRejected:
        pass
    other = tokens.Audience.user if audience is tokens.Audience.staff else tokens.Audience.staff
    try:
        tokens.verify(settings, other, token)
    except tokens.TokenRejected:
        raise InvalidToken() from None
    raise Forbidden(WRONG_ACCOUNT_KIND[audience])


WRONG_ACCOUNT_KIND = {
    tokens.Audience.staff: Text("仅限工作人员账号", "Staff accounts only"),
    tokens.Audience.user: Text("请使用居民账号访问", "Resident accounts only"),
}


async def current_user(
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_user_bearer)],
) -> User:
    token = credentials.credentials if credentials else None
    claims = _claims(settings, tokens.Audience.user, token)
    return await service.get_user(session, claims.subject_id)


async def current_user_id(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_user_bearer)],
) -> int:
    """The resident a valid token names, without reading the database: for the hot
    path that reads the user together with everything else it needs."""
    token = credentials.credentials if credentials else None
    return resident_id(request.app.state.settings, token)


def resident_id(settings: Settings, token: str | None) -> int:
    """The resident ``token`` names (401 or 403 otherwise), for the hot routes
    answered outside FastAPI's dependencies (app/core/fastlane.py)."""
    return _claims(settings, tokens.Audience.user, token).subject_id


def viewer_id(settings: Settings, token: str | None) -> int | None:
    """The resident a token names, on a public read that shows them their own:
    None without a token, or with a staff token (staff see what anyone sees);
    a token that fails verification is still 401."""
    if not token:
        return None
    try:
        return tokens.verify(settings, tokens.Audience.user, token).subject_id
    except tokens.TokenRejected:
        pass
    try:
        tokens.verify(settings, tokens.Audience.staff, token)
    except tokens.TokenRejected:
        raise InvalidToken() from None
    return None


async def optional_user_id(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_user_bearer)],
) -> int | None:
    token = credentials.credentials if credentials else None
    return viewer_id(request.app.state.settings, token)


OptionalUserId = Annotated[int | None, Depends(optional_user_id)]


async def current_staff(
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(_staff_bearer)],
) -> StaffPrincipal:
    claims = _claims(settings, tokens.Audience.staff, token)
    return await service.load_staff_principal(session, claims.subject_id, claims.issued_at)


async def current_staff_changing_password(
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(_staff_bearer)],
) -> StaffPrincipal:
    """``current_staff``, also for an account that must change its password:
    only for changing it, signing out and saying who is signed in."""
    claims = _claims(settings, tokens.Audience.staff, token)
    return await service.load_staff_principal(
        session, claims.subject_id, claims.issued_at, password_change_pending=True
    )


async def current_staff_reading(
    database: DatabaseDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(_staff_bearer)],
) -> StaffPrincipal:
    """``current_staff`` read in a read transaction of its own, ended before
    the endpoint runs: for an endpoint that takes its own transactions (the
    request's write transaction would hold SQLite's one write lock, and a
    connection of the pool, while they wait)."""
    claims = _claims(settings, tokens.Audience.staff, token)
    async with database.reader.begin() as session:
        return await service.load_staff_principal(session, claims.subject_id, claims.issued_at)


async def current_actor(
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_user_bearer)],
) -> Actor:
    """A resident or a staff member, for endpoints that serve both."""
    return await _actor(session, settings, credentials)


async def current_actor_reading(
    database: DatabaseDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_user_bearer)],
) -> Actor:
    """``current_actor`` read in a read transaction of its own (as
    ``current_staff_reading``), for endpoints that take their own transactions."""
    async with database.reader.begin() as session:
        return await _actor(session, settings, credentials)


async def _actor(
    session: AsyncSession,
    settings: Settings,
    credentials: HTTPAuthorizationCredentials | None,
) -> Actor:
    token = credentials.credentials if credentials else None
    if not token:
        raise NotAuthenticated()
    for audience in (tokens.Audience.user, tokens.Audience.staff):
        try:
            claims = tokens.verify(settings, audience, token)
        except tokens.TokenRejected:
            continue
        if audience is tokens.Audience.user:
            return await service.get_user(session, claims.subject_id)
        return await service.load_staff_principal(session, claims.subject_id, claims.issued_at)
    raise InvalidToken()


async def optional_actor(
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_user_bearer)],
) -> Actor | None:
    """On a public read: who asks, if anyone (a bad token is still 401)."""
    if credentials is None or not credentials.credentials:
        return None
    return await _actor(session, settings, credentials)


CurrentUser = Annotated[User, Depends(current_user)]
CurrentUserId = Annotated[int, Depends(current_user_id)]
CurrentActor = Annotated[Actor, Depends(current_actor)]
OptionalActor = Annotated[Actor | None, Depends(optional_actor)]
ActorReading = Annotated[Actor, Depends(current_actor_reading)]
CurrentStaff = Annotated[StaffPrincipal, Depends(current_staff)]
# The staff token itself, as the request carried it (one security scheme).
StaffTokenText = Annotated[str | None, Depends(_staff_bearer)]
StaffChangingPassword = Annotated[StaffPrincipal, Depends(current_staff_changing_password)]
StaffReading = Annotated[StaffPrincipal, Depends(current_staff_reading)]
