"""WeChat's server API for subscribe messages: the shared access token and the send.

The access token (``POST /cgi-bin/stable_token``) is kept in the database, so
that every process and worker uses one token, and refreshed by whichever of
them first finds it about to expire, under a lock the others wait on
(PostgreSQL: an advisory lock; SQLite: one process, one lock). It is sealed
like personal data: it lets whoever holds it message every user. On SQLite
the fetch happens outside any transaction (the write transaction is the
whole database's lock), one refresh at a time per process.
"""

import asyncio
import logging
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import utcnow
from app.core.config import Settings
from app.core.crypto import PiiCipher, Sealed
from app.core.db import Database
from app.identity.wechat import AccessTokenUnavailable
from app.models import WechatToken
from app.notifications.templates import Message

log = logging.getLogger("zhendi.notifications")

TOKEN_PURPOSE = "wechat-access-token"
# Refreshed this long before WeChat says it expires.
REFRESH_MARGIN = timedelta(minutes=5)
TOKEN_LOCK = "SELECT pg_advisory_xact_lock(hashtext('zhendi wechat access token'))"
# errcodes that mean "the token you sent is no good".
BAD_TOKEN = frozenset({40001, 40014, 42001})
REFUSED_BY_USER = 43101  # no subscription (credit) for this template, or revoked
# WeChat is busy or limiting: try again later.
TRY_AGAIN = frozenset({-1, 45009, 45011, 45047})


class Outcome(Enum):
    sent = "sent"
    refused = "refused"  # 43101: the user has no credit with WeChat
    retry = "retry"  # a timeout, a 5xx, WeChat busy: later
    rejected = "rejected"  # WeChat will never take this message


@dataclass(frozen=True)
class Sent:
    outcome: Outcome
    detail: str


class TokenUnavailable(AccessTokenUnavailable):
    pass


_REFRESH_LOCKS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = (
    weakref.WeakKeyDictionary()
)


def _refresh_lock() -> asyncio.Lock:
    """One token refresh at a time on this event loop."""
    loop = asyncio.get_running_loop()
    lock = _REFRESH_LOCKS.get(loop)
    if lock is None:
        lock = _REFRESH_LOCKS[loop] = asyncio.Lock()
    return lock


class WechatMessenger:
    def __init__(
        self, settings: Settings, database: Database, cipher: PiiCipher, http: httpx.AsyncClient
    ) -> None:
        self._settings = settings
        self._database = database
        self._cipher = cipher
        self._http = http

    async def send(self, openid: str, message: Message) -> Sent:
        """One message; a token WeChat calls invalid is refreshed and the send
        tried once more."""
        try:
            token = await self.token()
            answer = await self._post_message(token, openid, message)
            if answer.get("errcode") in BAD_TOKEN:
                token = await self.token(invalid=token)
                answer = await self._post_message(token, openid, message)
        except (httpx.HTTPError, ValueError, TokenUnavailable) as exc:
            return Sent(Outcome.retry, f"{type(exc).__name__}: {exc}"[:200])
        return _judge(answer)

    async def _post_message(self, token: str, openid: str, message: Message) -> dict[str, object]:
        response = await self._http.post(
            "/cgi-bin/message/subscribe/send",
            params={"access_token": token},
            json={
                "touser": openid,
                "template_id": message.template_id,
                "page": message.page,
                "data": message.data,
                "miniprogram_state": self._settings.wechat_miniprogram_state,
                "lang": "zh_CN",
            },
        )
        if response.status_code >= 500:
            raise httpx.HTTPStatusError(
                f"WeChat answered HTTP {response.status_code}",
                request=response.request,
                response=response,
            )
        answer = response.json()
        if not isinstance(answer, dict):
            raise ValueError("WeChat answered no JSON object")
        return answer

    async def token(self, *, invalid: str | None = None) -> str:
        """The shared token; ``invalid``: the one WeChat just refused, which must
        not be handed out again."""
        now = utcnow()
        async with self._database.reader.begin() as session:
            row = await session.get(WechatToken, self._app_id)
            if row is not None and self._usable(row, now, invalid):
                return self._open(row)
        if self._database.is_sqlite:
            return await self._refresh_sqlite(now, invalid)
        async with self._database.writer.begin() as session:
            # One refresher at a time across processes; the others wait, then
            # find the fresh token.
            await session.execute(text(TOKEN_LOCK))
            row = await session.get(WechatToken, self._app_id, populate_existing=True)
            if row is not None and self._usable(row, now, invalid):
                return self._open(row)
            token, expires_at = await self._fetch(force=invalid is not None, now=now)
            self._store(session, row, token, expires_at, now)
        return token

    async def _refresh_sqlite(self, now: datetime, invalid: str | None) -> str:
        """On SQLite the write transaction is the database's one write lock: the
        fetch happens outside it, one at a time in this process."""
        async with _refresh_lock():
            async with self._database.reader.begin() as session:
                row = await session.get(WechatToken, self._app_id)
                if row is not None and self._usable(row, now, invalid):
                    return self._open(row)
            token, expires_at = await self._fetch(force=invalid is not None, now=now)
            async with self._database.writer.begin() as session:
                row = await session.get(WechatToken, self._app_id, populate_existing=True)
                self._store(session, row, token, expires_at, now)
        return token

    def _store(
        self,
        session: AsyncSession,
        row: WechatToken | None,
        token: str,
        expires_at: datetime,
        now: datetime,
    ) -> None:
        sealed = self._cipher.seal(TOKEN_PURPOSE, token)
        if row is None:
            row = WechatToken(app_id=self._app_id)
            session.add(row)
        row.token_sealed, row.key_version = sealed.ciphertext, sealed.key_version
        row.expires_at, row.refreshed_at = expires_at, now

    @property
    def _app_id(self) -> str:
        return self._settings.wechat_app_id or ""

    def _usable(self, row: WechatToken, now: datetime, invalid: str | None) -> bool:
        if row.expires_at - REFRESH_MARGIN <= now:
            return False
        return invalid is None or self._open(row) != invalid

    def _open(self, row: WechatToken) -> str:
        return self._cipher.open(TOKEN_PURPOSE, Sealed(row.token_sealed, row.key_version))

    async def _fetch(self, *, force: bool, now: datetime) -> tuple[str, datetime]:
        secret = self._settings.wechat_app_secret
        if secret is None:
            raise TokenUnavailable("no WeChat app secret configured")
        response = await self._http.post(
            "/cgi-bin/stable_token",
            json={
                "grant_type": "client_credential",
                "appid": self._app_id,
                "secret": secret.get_secret_value(),
                "force_refresh": force,
            },
        )
        answer = response.json() if response.status_code == 200 else None
        if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
            errcode = answer.get("errcode") if isinstance(answer, dict) else response.status_code
            log.warning("stable_token failed: %s", errcode)
            raise TokenUnavailable(f"stable_token answered {errcode}")
        expires_in = int(answer.get("expires_in") or 7200)
        return answer["access_token"], now + timedelta(seconds=expires_in)


def _judge(answer: dict[str, object]) -> Sent:
    errcode = answer.get("errcode") or 0
    detail = f"errcode {errcode}: {answer.get('errmsg', '')}"[:200]
    if errcode == 0:
        return Sent(Outcome.sent, "")
    if errcode == REFUSED_BY_USER:
        return Sent(Outcome.refused, detail)
    if errcode in TRY_AGAIN or errcode in BAD_TOKEN:
        return Sent(Outcome.retry, detail)
    return Sent(Outcome.rejected, detail)
