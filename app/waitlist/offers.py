"""The ``offer-waitlist`` job: offers lapse, then freed places go to the line.

A run first lapses what is over — offers past ``offer_expires_at`` (their
held place freed with a compare-and-swap on ``held``, which an acceptance
racing it swaps too: one of the two wins) and entries whose time began
while they waited — then, space by space, under the space's lock, walks the
line oldest first and offers each entry whose range has room now, counting
the places it has just offered as holders. Whatever frees a place (a cancel,
a no-show release, a check-out, a rejection, an expiry, a lapsed offer) is
seen by the next run: it ticks every minute (``ZHENDI_JOBS_EVERY_SECONDS``
for faster), and a place is never offered before the change that freed it
committed.
"""

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import AppError
from app.core.jobs import Report
from app.models import (
    NotificationKind,
    Reservation,
    ReservationStatus,
    Space,
    User,
    WaitlistEntry,
    WaitlistStatus,
)
from app.notifications import service as notifications
from app.notifications.texts import local_time
from app.reservations import booking, snapshots
from app.reservations.rules import Holder, Wanted, decide
from app.spaces.calendar import Interval

HELD = ReservationStatus.held
PURPOSE = "候补"


@dataclass(frozen=True)
class Offer:
    entry_id: int
    user_id: int
    interval: Interval


async def offer_waitlist(database: Database, settings: Settings, now: datetime) -> Report:
    lapsed = await _lapse(database, now)
    async with database.reader.begin() as session:
        space_ids = (
            await session.scalars(
                select(WaitlistEntry.space_id)
                .where(WaitlistEntry.status == WaitlistStatus.waiting)
                .distinct()
            )
        ).all()
    offered = 0
    for space_id in sorted(space_ids):
        offered += await offer_in(database, settings, space_id, now)
    return Report(lapsed + offered, f"{offered} offered, {lapsed} lapsed")


async def offer_in(database: Database, settings: Settings, space_id: int, now: datetime) -> int:
    """Offer the space's freed places to its line. The tests' negative control
    (``booking.GUARD.lock`` off) reads in one transaction and writes in
    another, without the lock, as a racing run would."""
    if booking.GUARD.lock:
        async with database.writer.begin() as session:
            space = await session.scalar(
                select(Space).where(Space.id == space_id).with_for_update()
            )
            if space is None:
                return 0
            offers = await _choose(session, space, now)
            await _make(session, settings, space, offers, now)
        return len(offers)
    async with database.reader.begin() as session:
        space = await session.get(Space, space_id)
        assert space is not None
        offers = await _choose(session, space, now)
    await asyncio.sleep(booking.GUARD.delay_seconds)
    async with database.writer.begin() as session:
        space = await session.get(Space, space_id)
        assert space is not None
        await _make(session, settings, space, offers, now)
    return len(offers)


async def _choose(session: AsyncSession, space: Space, now: datetime) -> list[Offer]:
    """The entries, oldest first, that could book their range now, counting
    the places offered before them in this run as taken. Anyone who could
    not book it (full, or suspended, over a quota, deactivated …) stays in
    line and the next one is looked at."""
    if not space.is_active:
        return []
    line = (
        await session.execute(
            select(WaitlistEntry, User)
            .join(User, User.id == WaitlistEntry.user_id)
            .where(
                WaitlistEntry.space_id == space.id,
                WaitlistEntry.status == WaitlistStatus.waiting,
                WaitlistEntry.starts_at > now,
            )
            .order_by(WaitlistEntry.id)
        )
    ).all()
    offers: list[Offer] = []
    for entry, user in line:
        interval = Interval(entry.starts_at, entry.ends_at)
        snapshot = await snapshots.personal_snapshot(session, user, space, interval, now)
        offered = tuple(
            Holder(offer.interval.start, offer.interval.end, 1, offer.user_id)
            for offer in offers
            if offer.interval.overlaps(interval)
        )
        snapshot = replace(snapshot, holders=snapshot.holders + offered)
        try:
            decide(snapshot, Wanted(space.id, interval, 1, None), now)
        except AppError:
            continue
        offers.append(Offer(entry.id, entry.user_id, interval))
    return offers


async def _make(
    session: AsyncSession, settings: Settings, space: Space, offers: list[Offer], now: datetime
) -> None:
    hold_for = timedelta(minutes=settings.offer_hold_minutes)
    for offer in offers:
        hold = Reservation(
            space_id=space.id,
            user_id=offer.user_id,
            starts_at=offer.interval.start,
            ends_at=offer.interval.end,
            exclusive=space.booking_mode.value == "exclusive",
            status=HELD,
            purpose=PURPOSE,
            attendees=1,
        )
        session.add(hold)
        await session.flush()
        expires = min(now + hold_for, offer.interval.start)
        await session.execute(
            update(WaitlistEntry)
            .where(WaitlistEntry.id == offer.entry_id)
            .values(
                status=WaitlistStatus.offered,
                reservation_id=hold.id,
                offered_at=now,
                offer_expires_at=expires,
                updated_at=now,
            )
        )
        audit.record(
            session, None, entity="reservation", entity_id=hold.id, action="offer",
            from_status=None, to_status=HELD.value, reason=f"waitlist entry {offer.entry_id}",
        )  # fmt: skip
        await notifications.tell_booker(
            session, NotificationKind.waitlist_offer, hold, now=now,
            extra={"deadline": local_time(expires)},
        )  # fmt: skip
    await session.flush()


async def _lapse(database: Database, now: datetime) -> int:
    """Offers past their time free their place; entries whose time began
    while they waited end."""
    async with database.writer.begin() as session:
        lapsing = (
            await session.scalars(
                select(WaitlistEntry)
                .where(
                    WaitlistEntry.status == WaitlistStatus.offered,
                    WaitlistEntry.offer_expires_at <= now,
                )
                .order_by(WaitlistEntry.id)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for entry in lapsing:
            entry.status = WaitlistStatus.expired
            if entry.reservation_id is not None:
                await _free(session, entry.reservation_id, now)
        started = await session.execute(
            update(WaitlistEntry)
            .where(WaitlistEntry.status == WaitlistStatus.waiting, WaitlistEntry.starts_at <= now)
            .values(status=WaitlistStatus.expired, updated_at=now)
        )
    return len(lapsing) + int(getattr(started, "rowcount", 0) or 0)


async def _free(session: AsyncSession, reservation_id: int, now: datetime) -> None:
    freed = await session.scalar(
        update(Reservation)
        .where(Reservation.id == reservation_id, Reservation.status == HELD)
        .values(status=ReservationStatus.expired, status_reason="offer lapsed", updated_at=now)
        .returning(Reservation.id)
    )
    if freed is not None:
        audit.record(
            session, None, entity="reservation", entity_id=freed, action="offer_lapsed",
            from_status=HELD.value, to_status=ReservationStatus.expired.value,
        )  # fmt: skip
