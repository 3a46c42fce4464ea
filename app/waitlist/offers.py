"""The ``offer-waitlist`` job: offers lapse, then freed places go to the line.

A run first lapses what is over — offers past ``offer_expires_at`` (each
re-checked under the locks an acceptance takes, in its order, so one of the
two wins; the held place freed with a compare-and-swap on ``held``, and the
one it was offered to told) and entries whose time began while they waited
— then, space by space, under the space's lock, walks the
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

from app.audit import reasons
from app.audit import service as audit
from app.core.config import Settings
from app.core.db import Database, OverlapGuard
from app.core.errors import AppError
from app.core.jobs import Report
from app.models import (
    ActorKind,
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
from app.reservations import snapshots, store
from app.reservations.acts import Act, HoldAct
from app.reservations.booking import BookingRequest
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
    (``database.guard`` without its lock) reads in one transaction and writes
    in another, without the lock, as a racing run would."""
    guard = database.guard
    if guard.lock:
        async with database.writer.begin() as session:
            space = await session.scalar(
                select(Space).where(Space.id == space_id).with_for_update()
            )
            if space is None:
                return 0
            offers = await _choose(session, space, now)
            return await _make(session, settings, space, offers, now, guard)
    async with database.reader.begin() as session:
        space = await session.get(Space, space_id)
        assert space is not None
        offers = await _choose(session, space, now)
    await asyncio.sleep(guard.delay_seconds)
    async with database.writer.begin() as session:
        space = await session.get(Space, space_id)
        assert space is not None
        return await _make(session, settings, space, offers, now, guard)


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
    session: AsyncSession,
    settings: Settings,
    space: Space,
    offers: list[Offer],
    now: datetime,
    guard: OverlapGuard,
) -> int:
    """Hold each chosen place through the booking store's write (``store.hold``:
    decided again and guarded there, the run's earlier offers counted as
    holders), and tell whom it is offered to. Returns how many were made."""
    hold_for = timedelta(minutes=settings.offer_hold_minutes)
    made = 0
    for offer in offers:
        wanted = Wanted(space.id, offer.interval, 1, None)
        request = BookingRequest(offer.user_id, wanted, PURPOSE, None, now)
        reason = reasons.waitlist_entry(offer.entry_id)
        act = HoldAct(Act.offer, request, None, ActorKind.system.value, None, reason)
        try:
            held = await store.hold(session, None, act, guard)
        except AppError:
            continue  # no longer theirs to take: they stay in line
        made += 1
        expires = min(now + hold_for, offer.interval.start)
        await session.execute(
            update(WaitlistEntry)
            .where(WaitlistEntry.id == offer.entry_id)
            .values(
                status=WaitlistStatus.offered,
                reservation_id=held.reservation_id,
                offered_at=now,
                offer_expires_at=expires,
                updated_at=now,
            )
        )
        hold = await session.get(Reservation, held.reservation_id)
        assert hold is not None
        await notifications.tell_booker(
            session, NotificationKind.waitlist_offer, hold, now=now,
            extra={"deadline": local_time(expires)},
        )  # fmt: skip
    await session.flush()
    return made


async def _lapse(database: Database, now: datetime) -> int:
    """Offers past their time free their place; entries whose time began
    while they waited end."""
    async with database.reader.begin() as session:
        due = (
            await session.execute(
                select(WaitlistEntry.id, WaitlistEntry.space_id, WaitlistEntry.user_id)
                .where(
                    WaitlistEntry.status == WaitlistStatus.offered,
                    WaitlistEntry.offer_expires_at <= now,
                )
                .order_by(WaitlistEntry.id)
            )
        ).all()
    lapsed = 0
    for entry_id, space_id, user_id in due:
        async with database.writer.begin() as session:
            lapsed += await _lapse_one(session, entry_id, space_id, user_id, now)
    async with database.writer.begin() as session:
        started = await session.execute(
            update(WaitlistEntry)
            .where(WaitlistEntry.status == WaitlistStatus.waiting, WaitlistEntry.starts_at <= now)
            .values(status=WaitlistStatus.expired, updated_at=now)
        )
    return lapsed + int(getattr(started, "rowcount", 0) or 0)


async def _lapse_one(
    session: AsyncSession, entry_id: int, space_id: int, user_id: int, now: datetime
) -> int:
    """Lapse one offer, re-checked under the locks an acceptance takes, in its
    order (the space, the person, the entry): of an acceptance and a lapse one
    waits for the other, and the one that comes second finds it decided. The
    person's lock is taken here too because telling them writes a row that
    refers to them, which an acceptance holding their lock would block."""
    await session.execute(select(Space.id).where(Space.id == space_id).with_for_update())
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())
    entry = await session.scalar(
        select(WaitlistEntry)
        .where(
            WaitlistEntry.id == entry_id,
            WaitlistEntry.status == WaitlistStatus.offered,
            WaitlistEntry.offer_expires_at <= now,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if entry is None:
        return 0  # accepted, withdrawn or lapsed by another run a moment ago
    entry.status = WaitlistStatus.expired
    entry.updated_at = now
    if entry.reservation_id is not None:
        await _free(session, entry.reservation_id, now)
    await session.flush()
    return 1


async def _free(session: AsyncSession, reservation_id: int, now: datetime) -> None:
    """Free a lapsed offer's held place, and tell whom it was offered to."""
    freed = await session.scalar(
        update(Reservation)
        .where(Reservation.id == reservation_id, Reservation.status == HELD)
        .values(
            status=ReservationStatus.expired, status_reason=reasons.OFFER_LAPSED, updated_at=now
        )
        .returning(Reservation.id)
    )
    if freed is None:
        return  # accepted, or released, a moment before
    audit.record(
        session, None, entity="reservation", entity_id=freed, action="offer_lapsed",
        from_status=HELD.value, to_status=ReservationStatus.expired.value,
    )  # fmt: skip
    hold = await session.get(Reservation, freed, populate_existing=True)
    assert hold is not None
    await notifications.tell_booker(session, NotificationKind.waitlist_offer_lapsed, hold, now=now)
