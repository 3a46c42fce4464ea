"""A resident's profile: the nickname they choose, and the phone number they
share with the mini-program's getPhoneNumber button (kept as
app/identity/phones.py says)."""

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import utcnow
from app.core.config import Settings
from app.core.crypto import PiiCipher
from app.identity import phones, placeholders
from app.identity.service import DEV_CODE_PREFIX, get_user
from app.identity.wechat import AccessTokens, PhoneCodeRejected, WechatClient, with_access_token
from app.models import User


async def update_profile(session: AsyncSession, user_id: int, nickname: str | None) -> User:
    user = await get_user(session, user_id)
    user.nickname = nickname
    await session.flush()
    return user


async def phone_from_wechat(
    settings: Settings, wechat: WechatClient, tokens: AccessTokens, code: str
) -> str:
    """The number behind a getPhoneNumber ``code``; in development without
    WeChat, ``dev:<mobile number>`` stands for it."""
    if code.startswith(DEV_CODE_PREFIX) and settings.dev_login_enabled:
        phone = code.removeprefix(DEV_CODE_PREFIX)
        if not phones.is_phone(phone):
            raise PhoneCodeRejected()
        return phone
    if not settings.wechat_configured:
        raise PhoneCodeRejected()
    phone = await with_access_token(tokens, lambda token: wechat.phone_number(code, token))
    if not phones.is_phone(phone):
        raise PhoneCodeRejected()
    return phone


async def bind_phone(session: AsyncSession, cipher: PiiCipher, user_id: int, phone: str) -> User:
    """Seal ``phone`` onto the account, replacing any number bound before; a
    placeholder staff made for that phone is claimed by the account."""
    user = await get_user(session, user_id)
    phones.bind(cipher, user, phone)
    await session.flush()
    await placeholders.claim(session, user, utcnow())
    return user
