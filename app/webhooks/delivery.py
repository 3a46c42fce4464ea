"""The ``send-webhooks`` job: the webhooks' outbox to their receivers.

A run claims what is due (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two
workers never take the same row; SQLite's write transaction serializes runs)
and pushes each claimed row's next attempt past a lease, so a worker that dies
mid-send leaves it to be tried again later rather than lost. It sends outside
any transaction — signed as the Standard Webhooks specification says, with the
``standardwebhooks`` library — then settles each row with a compare-and-swap
on the attempt it claimed. A 2xx answer delivers it; anything else is tried
again after the next wait of ``RETRY_WAITS`` (about 24 hours in all), then the
row is a dead letter until someone retries it.

Each hop is checked before it is sent (app/webhooks/addresses.py) and sent to
the address checked; a redirect is followed only when it keeps the POST (307,
308), at most ``MAX_REDIRECTS`` times, each hop checked again.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook

from app.core.clock import utcnow
from app.core.config import Settings
from app.core.crypto import PiiCipher
from app.core.db import Database
from app.core.errors import AppError
from app.core.jobs import Report
from app.models import WebhookDelivery, WebhookEndpoint, WebhookStatus
from app.webhooks import addresses
from app.webhooks.service import open_secret

log = logging.getLogger("zhendi.webhooks")
BATCH = 8
# The waits after each failed attempt: 8 attempts over 23 h 35 min, then a dead letter.
RETRY_WAITS = tuple(
    timedelta(seconds=seconds)
    for seconds in (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 6 * 3600)
)
# A claimed row is left alone this long from its claim, then tried again: well
# beyond one send (MAX_REDIRECTS + 1 hops of at most ZHENDI_WEBHOOK_TIMEOUT_SECONDS).
LEASE = timedelta(minutes=5)
MAX_REDIRECTS = 3
KEPT_METHOD = frozenset({307, 308})


@dataclass(frozen=True)
class Claimed:
    id: int
    attempts: int
    url: str
    secret: str
    body: bytes


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status_code: int | None
    error: str | None


@dataclass
class Tally:
    delivered: int = 0
    retried: int = 0
    dead: int = 0

    @property
    def changed(self) -> int:
        return self.delivered + self.retried + self.dead


def message_id(delivery_id: int) -> str:
    return f"msg_{delivery_id}"


def body(delivery: WebhookDelivery) -> bytes:
    """The message as Standard Webhooks shapes it: its type, when, its data."""
    return orjson.dumps(
        {
            "type": delivery.event.value,
            "timestamp": delivery.created_at.isoformat(),
            "data": delivery.data,
        }
    )


async def send_webhooks(database: Database, settings: Settings, now: datetime) -> Report:
    tally = Tally()
    cipher = PiiCipher(settings.pii_key_bytes)
    async with httpx.AsyncClient(
        timeout=settings.webhook_timeout_seconds, follow_redirects=False, trust_env=False
    ) as http:
        while True:
            async with database.writer.begin() as session:
                claimed = await _claim(session, cipher, now)
            await asyncio.gather(
                *(_deliver(database, settings, http, row, now, tally) for row in claimed)
            )
            if len(claimed) < BATCH:
                break
    summary = f"{tally.delivered} delivered, {tally.retried} to retry, {tally.dead} dead"
    return Report(tally.changed, summary)


async def _claim(session: AsyncSession, cipher: PiiCipher, now: datetime) -> list[Claimed]:
    rows = (
        await session.execute(
            select(WebhookDelivery, WebhookEndpoint)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.status == WebhookStatus.queued,
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(BATCH)
            .with_for_update(of=WebhookDelivery, skip_locked=True)
        )
    ).all()
    claimed = []
    for delivery, endpoint in rows:
        delivery.attempts += 1
        # From the claim: a run that started long ago must not hand out a
        # lease that has already run out.
        delivery.next_attempt_at = max(now, utcnow()) + LEASE
        secret = open_secret(cipher, endpoint)
        claimed.append(
            Claimed(delivery.id, delivery.attempts, endpoint.url, secret, body(delivery))
        )
    return claimed


async def _deliver(
    database: Database,
    settings: Settings,
    http: httpx.AsyncClient,
    row: Claimed,
    now: datetime,
    tally: Tally,
) -> None:
    """Send one claimed row and settle it at once, whatever went wrong."""
    try:
        outcome = await send(http, settings, row)
    except Exception as exc:  # the row is retried, and the error shown to its owner
        log.warning("webhook delivery %s failed: %s", row.id, type(exc).__name__)
        outcome = Outcome(False, None, f"{type(exc).__name__}: {exc}"[:200])
    async with database.writer.begin() as session:
        await _settle(session, row, outcome, now, tally)


def _signed_headers(row: Claimed) -> dict[str, str]:
    sent_at = utcnow()
    msg_id = message_id(row.id)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(row.secret).sign(msg_id, sent_at, row.body),
    }


async def send(http: httpx.AsyncClient, settings: Settings, row: Claimed) -> Outcome:
    headers = _signed_headers(row)
    url = row.url
    for _ in range(MAX_REDIRECTS + 1):
        try:
            target = await addresses.check(
                url,
                private_allowed=settings.webhooks_reach_private,
                timeout=settings.webhook_timeout_seconds,
            )
        except AppError as refused:
            return Outcome(False, None, f"refused: {refused.params.get('why', '')}"[:200])
        answer = await http.post(
            _pinned(target),
            content=row.body,
            headers={**headers, "host": _host_header(target.url)},
            extensions={"sni_hostname": target.host},
        )
        location = answer.headers.get("location")
        if answer.status_code in KEPT_METHOD and location:
            url = urljoin(url, location)
            continue
        delivered = 200 <= answer.status_code < 300
        return Outcome(
            delivered, answer.status_code, None if delivered else f"HTTP {answer.status_code}"
        )
    return Outcome(False, None, "too many redirects")


def _pinned(target: addresses.Target) -> str:
    """The URL with its host replaced by the address that was checked."""
    parts = urlsplit(target.url)
    host = str(target.address)
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path or "/", parts.query, ""))


def _host_header(url: str) -> str:
    return urlsplit(url).netloc.rsplit("@", 1)[-1]


async def _settle(
    session: AsyncSession, row: Claimed, outcome: Outcome, now: datetime, tally: Tally
) -> None:
    delivery = await session.scalar(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.id == row.id,
            WebhookDelivery.status == WebhookStatus.queued,
            WebhookDelivery.attempts == row.attempts,
        )
        .with_for_update()
    )
    if delivery is None:  # pragma: no cover - only if a send outlasted its lease
        log.warning("webhook delivery %s: a send outlasted its lease; not settled", row.id)
        return
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    if outcome.delivered:
        delivery.status = WebhookStatus.delivered
        delivery.delivered_at = max(now, utcnow())
        delivery.next_attempt_at = None
        tally.delivered += 1
    elif row.attempts <= len(RETRY_WAITS):
        delivery.next_attempt_at = max(now, utcnow()) + RETRY_WAITS[row.attempts - 1]
        tally.retried += 1
    else:
        delivery.status = WebhookStatus.dead
        delivery.next_attempt_at = None
        tally.dead += 1
