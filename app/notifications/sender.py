"""The ``send-notifications`` job: the outbox to WeChat.

A run claims what is due (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two
workers never take the same row; SQLite's write transaction serializes
runs), decides per row in that same transaction — no template for the kind:
inbox only; no credit: inbox only; else the credit is spent now — and pushes
each claimed row's next attempt past a lease, so a worker that dies mid-send
leaves it to be tried again later rather than lost. It sends outside any
transaction, then settles each row with a compare-and-swap on the attempt it
claimed. A message WeChat could not take for a passing reason is retried with
doubling waits, then becomes a dead letter staff see; its credit is given
back, since WeChat did not use it.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import utcnow
from app.core.config import Settings
from app.core.crypto import PiiCipher
from app.core.db import Database
from app.core.jobs import Report
from app.models import Delivery, Notification, SubscriptionCredit, User
from app.notifications import templates
from app.notifications.templates import Message
from app.notifications.wechat import Outcome, Sent, WechatMessenger

# Rows claimed at once, all sent at once: a claim is settled within one send's
# time (a token fetch, the send, a refresh and the send again, each at most
# ZHENDI_WECHAT_TIMEOUT_SECONDS), well inside its lease.
log = logging.getLogger("zhendi.notifications")
BATCH = 8
# A claimed row is left alone this long from its claim, then tried again.
LEASE = timedelta(minutes=5)
# A message this late is not worth sending (a reminder after the start…).
TOO_OLD = timedelta(hours=6)


@dataclass(frozen=True)
class Claimed:
    id: int
    user_id: int
    attempts: int
    openid: str
    message: Message


@dataclass
class Tally:
    sent: int = 0
    inbox_only: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def changed(self) -> int:
        return self.sent + self.inbox_only + self.retried + self.failed


async def send_notifications(database: Database, settings: Settings, now: datetime) -> Report:
    tally = Tally()
    cipher = PiiCipher(settings.pii_key_bytes)
    async with httpx.AsyncClient(
        base_url=settings.wechat_api_base, timeout=settings.wechat_timeout_seconds
    ) as http:
        messenger = WechatMessenger(settings, database, cipher, http)
        while True:
            async with database.writer.begin() as session:
                picked, claimed = await _claim(session, settings, now, tally)
            await asyncio.gather(
                *(_deliver(database, settings, messenger, row, now, tally) for row in claimed)
            )
            if picked < BATCH:
                break
    summary = (
        f"{tally.sent} sent, {tally.inbox_only} inbox only, {tally.retried} to retry, "
        f"{tally.failed} failed"
    )
    return Report(tally.changed, summary)


async def _deliver(
    database: Database,
    settings: Settings,
    messenger: WechatMessenger,
    row: Claimed,
    now: datetime,
    tally: Tally,
) -> None:
    """Send one claimed row and settle it at once, whatever went wrong."""
    try:
        result = await messenger.send(row.openid, row.message)
    except Exception as exc:  # the row is retried, and the error shown to staff
        log.exception("sending notification %s failed", row.id)
        result = Sent(Outcome.retry, f"{type(exc).__name__}: {exc}"[:200])
    async with database.writer.begin() as session:
        await _settle(session, settings, row, result, now, tally)


async def _claim(
    session: AsyncSession, settings: Settings, now: datetime, tally: Tally
) -> tuple[int, list[Claimed]]:
    rows = (
        await session.execute(
            select(Notification, User.openid, User.erased_at)
            .join(User, User.id == Notification.user_id)
            .where(Notification.delivery == Delivery.queued, Notification.next_attempt_at <= now)
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(BATCH)
            .with_for_update(of=Notification, skip_locked=True)
        )
    ).all()
    claimed = []
    for notification, openid, erased_at in rows:
        message = templates.message(
            settings.wechat_templates, notification.kind, notification.fields
        )
        if message is None or erased_at is not None or not settings.wechat_configured:
            await _stop_trying(session, notification, None)
        elif notification.created_at < now - TOO_OLD:
            await _stop_trying(session, notification, "too late to send")
        elif notification.attempts == 0 and not await _spend_credit(
            session, notification.user_id, message.template_id
        ):
            _finish(notification, Delivery.no_credit, None)
        else:
            notification.template_id = message.template_id
            notification.attempts += 1
            # From the claim: a run that started long ago must not hand out a
            # lease that has already run out.
            notification.next_attempt_at = max(now, utcnow()) + LEASE
            assert notification.user_id is not None
            claimed.append(
                Claimed(
                    notification.id, notification.user_id, notification.attempts, openid, message
                )  # fmt: skip
            )
            continue
        tally.inbox_only += 1
    return len(rows), claimed


async def _stop_trying(
    session: AsyncSession, notification: Notification, error: str | None
) -> None:
    """Inbox only from now on; a credit spent on an earlier try goes back."""
    if notification.attempts > 0 and notification.template_id is not None:
        await _credit(session, notification.user_id, notification.template_id, +1)
    _finish(notification, Delivery.inbox, error)


async def _credit(
    session: AsyncSession, user_id: int | None, template_id: str, change: int
) -> None:
    await session.execute(
        update(SubscriptionCredit)
        .where(SubscriptionCredit.user_id == user_id, SubscriptionCredit.template_id == template_id)
        .values(credits=SubscriptionCredit.credits + change)
    )


def _finish(notification: Notification, delivery: Delivery, error: str | None) -> None:
    notification.delivery = delivery
    notification.next_attempt_at = None
    notification.last_error = error


async def _spend_credit(session: AsyncSession, user_id: int | None, template_id: str) -> bool:
    spent = await session.execute(
        update(SubscriptionCredit)
        .where(
            SubscriptionCredit.user_id == user_id,
            SubscriptionCredit.template_id == template_id,
            SubscriptionCredit.credits > 0,
        )
        .values(credits=SubscriptionCredit.credits - 1)
    )
    return bool(getattr(spent, "rowcount", 0))


async def _settle(
    session: AsyncSession,
    settings: Settings,
    row: Claimed,
    result: Sent,
    now: datetime,
    tally: Tally,
) -> None:
    notification = await session.scalar(
        select(Notification)
        .where(
            Notification.id == row.id,
            Notification.delivery == Delivery.queued,
            Notification.attempts == row.attempts,
        )
        .with_for_update()
    )
    if notification is None:  # pragma: no cover - only if a send outlasted its lease
        log.warning("notification %s: a send outlasted its lease; not settled", row.id)
        return
    match result.outcome:
        case Outcome.sent:
            _finish(notification, Delivery.sent, None)
            notification.sent_at = now
            tally.sent += 1
        case Outcome.refused:
            _finish(notification, Delivery.refused, result.detail)
            await _set_credits(session, row, 0)
            tally.failed += 1
        case Outcome.retry if row.attempts < settings.notification_max_attempts:
            wait = settings.notification_retry_seconds * 2 ** (row.attempts - 1)
            notification.next_attempt_at = max(now, utcnow()) + timedelta(seconds=wait)
            notification.last_error = result.detail
            tally.retried += 1
        case _:  # out of retries, or a message WeChat will never take
            _finish(notification, Delivery.failed, result.detail)
            await _give_back_credit(session, row)
            tally.failed += 1


async def _set_credits(session: AsyncSession, row: Claimed, credits: int) -> None:
    await session.execute(
        update(SubscriptionCredit)
        .where(
            SubscriptionCredit.user_id == row.user_id,
            SubscriptionCredit.template_id == row.message.template_id,
        )
        .values(credits=credits)
    )


async def _give_back_credit(session: AsyncSession, row: Claimed) -> None:
    await _credit(session, row.user_id, row.message.template_id, +1)
