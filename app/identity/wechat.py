"""The WeChat mini-program login exchange (``jscode2session``).

The mini-program sends a one-time ``code``; we trade it for the user's openid
(and unionid when the app is bound to an open-platform account). WeChat also
returns a ``session_key``: it stays here, unused and never logged or returned.
"""

import logging
from dataclasses import dataclass

import httpx

from app.core.config import Settings
from app.core.errors import AppError, Text

logger = logging.getLogger("zhendi.wechat")

# errcodes that mean "this code is no good": invalid, already used, or the
# user is blocked as high-risk. Anything else is WeChat's problem, not the user's.
_REJECTED_CODE_ERRCODES = frozenset({40029, 40163, 40226})


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
        try:
            response = await self._http.get("/sns/jscode2session", params=params)
            # WeChat answers JSON, sometimes labelled text/plain.
            payload = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("jscode2session failed: %s", type(exc).__name__)
            raise WechatUnavailable() from None
        if not isinstance(payload, dict):
            logger.warning("jscode2session answered HTTP %s", response.status_code)
            raise WechatUnavailable()
        errcode = payload.get("errcode") or 0
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
