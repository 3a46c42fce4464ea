"""The mini-program's exchanges with WeChat: the login (``jscode2session``),
the phone number button (``getuserphonenumber``) and the room's check-in
mini-program code (``getwxacodeunlimit``); the last two with the shared
access token (``with_access_token``).

The mini-program sends a one-time ``code``; we trade it for the user's openid
(and unionid when the app is bound to an open-platform account). WeChat also
returns a ``session_key``: it stays here, unused and never logged or returned.
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx

from app.core.config import Settings
from app.core.errors import AppError, Text

logger = logging.getLogger("zhendi.wechat")
T = TypeVar("T")

# errcodes that mean "this code is no good": invalid, already used, or the
# user is blocked as high-risk. Anything else is WeChat's problem, not the user's.
_REJECTED_CODE_ERRCODES = frozenset({40029, 40163, 40226})
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class WechatCodeRejected(AppError):
    status = 401
    code = "wechat_code_invalid"
    title = Text("微信登录凭证无效", "WeChat login code rejected")
    detail = Text("登录凭证无效或已使用，请重新登录", "The code is invalid or was already used")


class WechatUnavailable(AppError):
    status = 502
    code = "wechat_unavailable"
    title = Text("微信服务暂不可用", "WeChat unavailable")
    detail = Text("暂时无法连接微信服务，请稍后再试", "Could not reach WeChat; try again shortly")


@dataclass(frozen=True)
class WechatIdentity:
    openid: str
    unionid: str | None


class WechatClient:
    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http

    @classmethod
    def http_client(cls, settings: Settings) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=settings.wechat_api_base,
            timeout=httpx.Timeout(settings.wechat_timeout_seconds),
        )

    @staticmethod
    async def _json(api: str, request: Awaitable[httpx.Response]) -> tuple[dict[str, Any], Any]:
        """WeChat's JSON answer to ``request`` and its ``errcode`` (0: none); no
        answer, or one that is not a JSON object, is WeChat being unavailable."""
        try:
            response = await request
            # WeChat answers JSON, sometimes labelled text/plain.
            payload = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("%s failed: %s", api, type(exc).__name__)
            raise WechatUnavailable() from None
        if not isinstance(payload, dict):
            logger.warning("%s answered HTTP %s", api, response.status_code)
            raise WechatUnavailable()
        return payload, payload.get("errcode") or 0

    async def exchange(self, code: str) -> WechatIdentity:
        settings = self._settings
        if settings.wechat_app_secret is None:  # pragma: no cover - guarded by the service
            raise WechatUnavailable()
        params = {
            "appid": settings.wechat_app_id or "",
            "secret": settings.wechat_app_secret.get_secret_value(),
            "js_code": code,
            "grant_type": "authorization_code",
        }
        payload, errcode = await self._json(
            "jscode2session", self._http.get("/sns/jscode2session", params=params)
        )
        if errcode in _REJECTED_CODE_ERRCODES:
            raise WechatCodeRejected()
        openid = payload.get("openid")
        if errcode or not isinstance(openid, str) or not 0 < len(openid) <= 64:
            logger.warning("jscode2session errcode %s", errcode)
            raise WechatUnavailable()
        unionid = payload.get("unionid")
        if not isinstance(unionid, str) or not 0 < len(unionid) <= 64:
            unionid = None
        return WechatIdentity(openid=openid, unionid=unionid)

    async def phone_number(self, code: str, access_token: str) -> str:
        """``getuserphonenumber``: the mini-program's phone number button gives a
        one-time code, which the server trades, with its access token, for the
        number the user chose to share."""
        payload, errcode = await self._json(
            "getuserphonenumber",
            self._http.post(
                "/wxa/business/getuserphonenumber",
                params={"access_token": access_token},
                json={"code": code},
            ),
        )
        if errcode in _BAD_ACCESS_TOKEN_ERRCODES:
            raise AccessTokenRefused()
        if errcode in _REJECTED_PHONE_CODE_ERRCODES:
            raise PhoneCodeRejected()
        info = payload.get("phone_info")
        if errcode or not isinstance(info, dict):
            logger.warning("getuserphonenumber errcode %s", errcode)
            raise WechatUnavailable()
        watermark = info.get("watermark")
        if isinstance(watermark, dict) and watermark.get("appid") != self._settings.wechat_app_id:
            logger.warning("getuserphonenumber answered for another app")
            raise WechatUnavailable()
        number, country = info.get("purePhoneNumber"), str(info.get("countryCode") or "86")
        if not isinstance(number, str) or not number.isdigit():
            raise WechatUnavailable()
        return number if country == "86" else f"+{country}{number}"

    async def mini_program_code(
        self, access_token: str, *, scene: str, page: str, env_version: str
    ) -> bytes:
        """``getwxacodeunlimit``: a mini-program code (PNG, transparent
        background) that WeChat's scanner opens at ``page`` with ``scene``."""
        try:
            response = await self._http.post(
                "/wxa/getwxacodeunlimit",
                params={"access_token": access_token},
                json={
                    "scene": scene,
                    "page": page,
                    "check_path": False,
                    "env_version": env_version,
                    "width": 430,
                    "is_hyaline": True,
                },
            )
        except httpx.HTTPError as exc:
            logger.warning("getwxacodeunlimit failed: %s", type(exc).__name__)
            raise WechatUnavailable() from None
        if response.status_code == 200 and response.content.startswith(PNG_SIGNATURE):
            return response.content
        try:  # an error comes as JSON
            payload = response.json()
        except ValueError:
            payload = None
        errcode = payload.get("errcode") if isinstance(payload, dict) else response.status_code
        if errcode in _BAD_ACCESS_TOKEN_ERRCODES:
            raise AccessTokenRefused()
        logger.warning("getwxacodeunlimit errcode %s", errcode)
        raise WechatUnavailable()


class PhoneCodeRejected(AppError):
    status = 422
    code = "phone_code_invalid"
    title = Text("手机号授权凭证无效", "Phone number code rejected")
    detail = Text(
        "手机号授权凭证无效或已使用，请重新点击获取手机号",
        "The code is invalid or was already used; tap the phone number button again",
    )


class AccessTokenRefused(Exception):
    """WeChat refused the access token sent: fetch a fresh one and try once more."""


# getuserphonenumber: the code is no good (invalid, used, expired).
_REJECTED_PHONE_CODE_ERRCODES = frozenset({40029, 40163, 40226})
_BAD_ACCESS_TOKEN_ERRCODES = frozenset({40001, 40014, 42001})


class AccessTokenUnavailable(Exception):
    """No access token to be had from WeChat now."""


class AccessTokens(Protocol):
    """The shared access token (app/notifications/wechat.py keeps it)."""

    async def token(self, *, invalid: str | None = None) -> str:
        """The live token; ``invalid``: one WeChat just refused. Raises
        ``AccessTokenUnavailable`` (or an HTTP error) when none can be had."""
        ...


async def with_access_token(tokens: AccessTokens, call: Callable[[str], Awaitable[T]]) -> T:
    """``call`` with the shared access token; a token WeChat refuses is
    replaced once. No token to be had is WeChat being unavailable."""
    try:
        token = await tokens.token()
        try:
            return await call(token)
        except AccessTokenRefused:
            return await call(await tokens.token(invalid=token))
    except (AccessTokenRefused, AccessTokenUnavailable, httpx.HTTPError, ValueError):
        raise WechatUnavailable() from None
