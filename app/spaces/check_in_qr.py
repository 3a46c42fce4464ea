"""The check-in QR code printed in a room: scanning it in the mini-program and
sending its token checks the owner's booking in (``POST /reservations/{id}/
check-in``). Staff print it, and rotate it when a copy has left the room;
the old token stops working at once."""

import hmac
from dataclasses import dataclass

import segno
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.core.config import Settings
from app.core.errors import AppError, Text
from app.identity.principals import StaffPrincipal
from app.identity.wechat import AccessTokens, WechatClient, with_access_token
from app.models import Space, new_check_in_token
from app.spaces.service import get_space_in_scope

# What the QR code holds; the mini-program reads the space and the token from it.
PREFIX = "zhendi-check-in"


# getwxacodeunlimit's env_version for each miniprogram_state setting.
ENV_VERSIONS = {"formal": "release", "trial": "trial", "developer": "develop"}


class WechatNotConfigured(AppError):
    status = 409
    code = "wechat_not_configured"
    title = Text("未配置微信小程序", "WeChat is not configured")
    detail = Text(
        "未配置微信小程序凭据，无法生成小程序码；请改用普通二维码",
        "No WeChat credentials are configured for a mini-program code; use format=svg",
    )


@dataclass(frozen=True)
class CheckInQr:
    space_id: int
    token: str
    svg: str

    @property
    def content(self) -> str:
        """What the plain QR code holds."""
        return content_of(self.space_id, self.token)

    @property
    def scene(self) -> str:
        """What a mini-program code carries (WeChat allows 32 characters):
        ``<space id>:<token>``, 32 at most for space ids below 10^9."""
        return f"{self.space_id}:{self.token}"


def content_of(space_id: int, token: str) -> str:
    return f"{PREFIX}:{space_id}:{token}"


def qr_svg(content: str, *, scalable: bool = False) -> str:
    """``content`` as a QR code to print, in SVG (an activity's check-in code too);
    ``scalable``: with a viewBox and no size, to fill the printed page's box."""
    return str(segno.make(content, error="m").svg_inline(scale=8, border=2, omitsize=scalable))


def _draw(space: Space) -> CheckInQr:
    assert space.check_in_token is not None
    token = space.check_in_token
    return CheckInQr(space.id, token, qr_svg(content_of(space.id, token)))


async def mini_program_code(
    settings: Settings, wechat: WechatClient, tokens: AccessTokens, qr: CheckInQr
) -> bytes:
    """The room's code as a WeChat mini-program code (PNG): WeChat's own
    scanner opens the app at the check-in page with the token as ``scene``."""
    if not settings.wechat_configured:
        raise WechatNotConfigured()
    env_version = ENV_VERSIONS[settings.wechat_miniprogram_state]
    return await with_access_token(
        tokens,
        lambda token: wechat.mini_program_code(
            token, scene=qr.scene, page=settings.wechat_check_in_page, env_version=env_version
        ),
    )


async def read(session: AsyncSession, staff: StaffPrincipal, space_id: int) -> CheckInQr:
    """The space's QR code, made on first asking."""
    space = await get_space_in_scope(session, staff, space_id, for_update=True)
    if space.check_in_token is None:
        space.check_in_token = new_check_in_token()
        await session.flush()
    return _draw(space)


async def rotate(session: AsyncSession, staff: StaffPrincipal, space_id: int) -> CheckInQr:
    space = await get_space_in_scope(session, staff, space_id, for_update=True)
    space.check_in_token = new_check_in_token()
    audit.record(
        session,
        staff,
        entity="space",
        entity_id=space.id,
        action="rotate_check_in_qr",
        from_status=None,
        to_status=None,
    )
    await session.flush()
    return _draw(space)


def token_matches(space_token: str | None, given: str) -> bool:
    # As bytes: compare_digest refuses non-ASCII strings, and a token typed by
    # hand may hold anything.
    return space_token is not None and hmac.compare_digest(space_token.encode(), given.encode())
