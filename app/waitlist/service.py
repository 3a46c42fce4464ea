"""The waitlist: join a full range, be offered a freed place, accept it.

An offer is a ``held`` reservation, written under the space's lock after the
holders were read under it, like a booking (docs/ARCHITECTURE.md, invariant
11): it counts as a holder for every booking, offer and acceptance after it,
so two places freed at once go to the first two in line, and a place held
for one person is nobody else's. Accepting applies every booking rule again
(with the hold itself left out of the holders) and turns the hold into the
booking with a compare-and-swap on ``held``; the offer's lapse (``offers.py``)
swaps the same status, so of an acceptance and a lapse exactly one wins.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.access.codes import CodeBook
from app.audit import reasons
from app.audit.service import actor_kind
from app.core.db import OverlapGuard
from app.core.errors import AppError, NotFound, Text
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
from app.reservations import rules, snapshots, store
from app.reservations.acts import Act, HoldAct
from app.reservations.booking import BookingRequest, told_kind
from app.reservations.errors import SlotTaken, SpaceFull
from app.reservations.rules import Wanted
from app.reservations.schemas import reservation_out_loads
from app.reservations.service import move, reloaded
from app.spaces.calendar import SPACE, Interval

ENTRY = Text("候补", "waitlist entry")
# What "full" means: the range could be booked but for the places taken.
FULL = (SpaceFull, SlotTaken)
# Entries one person may have waiting or offered at once.
MOST_ENTRIES = 5


class NotFull(AppError):
    status = 409
    code = "not_full"
    title = Text("仍有空位", "Not full")
    detail = Text("该时段仍可直接预约，无需候补", "This time can still be booked directly")


class AlreadyWaiting(AppError):
    status = 409
    code = "already_waiting"
    title = Text("已在候补中", "Already waiting")
    detail = Text("您已在该时段的候补名单中", "You are already on the waitlist for this time")


class TooManyEntries(AppError):
    status = 409
    code = "too_many_waitlist_entries"
    title = Text("候补过多", "Too many waitlist entries")
    detail = Text("每人最多同时候补 {most} 个时段", "You may wait for at most {most} times at once")


class OfferNotOpen(AppError):
    status = 409
    code = "offer_not_open"
    title = Text("没有可确认的空位", "No offer to accept")
    detail = Text(
        "该候补当前没有为您保留的空位（{status}）", "This entry holds no place for you ({status})"
    )

    def __init__(self, status: WaitlistStatus) -> None:
        super().__init__(status=ENTRY_STATUS_TEXT[status])
        self.with_extra(entry_status=status.value)


# Each status of an entry as a detail says it.
ENTRY_STATUS_TEXT: dict[WaitlistStatus, Text] = {
    WaitlistStatus.waiting: Text("候补中", "waiting"),
    WaitlistStatus.offered: Text("已为您保留空位", "a place is held"),
    WaitlistStatus.booked: Text("已转为预约", "booked"),
    WaitlistStatus.expired: Text("已过期", "expired"),
    WaitlistStatus.withdrawn: Text("已撤回", "withdrawn"),
}


async def join(
    session: AsyncSession, user: User, space_id: int, interval: Interval, now: datetime
) -> WaitlistEntry:
    """Queue for ``interval`` if, and only if, it is full: every other rule
    must allow the booking (it would be refused later anyway)."""
    space = await _space(session, space_id)
    await session.execute(select(User.id).where(User.id == user.id).with_for_update())
    snapshot = await snapshots.personal_snapshot(session, user, space, interval, now)
    try:
        rules.decide(snapshot, Wanted(space.id, interval, 1, None), now)
    except FULL:
        pass
    else:
        raise NotFull()
    active = WaitlistEntry.status.in_((WaitlistStatus.waiting, WaitlistStatus.offered))
    entries = await session.scalar(
        select(func.count())
        .select_from(WaitlistEntry)
        .where(WaitlistEntry.user_id == user.id, active)
    )
    if (entries or 0) >= MOST_ENTRIES:
        raise TooManyEntries(most=MOST_ENTRIES)
    waiting = await session.scalar(
        select(WaitlistEntry.id).where(
            WaitlistEntry.user_id == user.id,
            WaitlistEntry.space_id == space.id,
            WaitlistEntry.starts_at == interval.start,
            WaitlistEntry.ends_at == interval.end,
            active,
        )
    )
    if waiting is not None:
        raise AlreadyWaiting().with_extra(entry_id=waiting)
    entry = WaitlistEntry(
        space_id=space.id,
        user_id=user.id,
        starts_at=interval.start,
        ends_at=interval.end,
        status=WaitlistStatus.waiting,
    )
    session.add(entry)
    await session.flush()
    return entry


async def mine(session: AsyncSession, user: User) -> Sequence[WaitlistEntry]:
    rows = await session.scalars(
        select(WaitlistEntry)
        .where(WaitlistEntry.user_id == user.id)
        .order_by(WaitlistEntry.id.desc())
        .limit(100)
    )
    return rows.all()


async def withdraw(session: AsyncSession, user: User, entry_id: int) -> WaitlistEntry:
    """Leave the line; a place held for you is freed (for the next in line)."""
    entry = await _own_entry(session, user, entry_id)
    await _lock_space(session, entry.space_id)
    entry = await _own_entry(session, user, entry_id, lock=True)
    if entry.status not in (WaitlistStatus.waiting, WaitlistStatus.offered):
        raise OfferNotOpen(entry.status)
    if entry.status is WaitlistStatus.offered:
        await _release_hold(session, user, entry, reasons.WITHDRAWN)
    entry.status = WaitlistStatus.withdrawn
    await session.flush()
    return entry


async def accept(
    session: AsyncSession,
    codes: CodeBook,
    guard: OverlapGuard,
    user: User,
    entry_id: int,
    now: datetime,
) -> Reservation:
    """Turn the held place into a booking, every booking rule applied again."""
    entry = await _own_entry(session, user, entry_id)
    # The space, the person (whose quota use the guard counts under that lock,
    # migration 0007), then the entry: the order bookings and offers take them in.
    space = await _lock_space(session, entry.space_id)
    await session.execute(select(User.id).where(User.id == user.id).with_for_update())
    entry = await _own_entry(session, user, entry_id, lock=True)
    hold = await _hold_of(session, entry)
    if entry.status is not WaitlistStatus.offered or hold is None:
        raise OfferNotOpen(entry.status)
    if entry.offer_expires_at is not None and now >= entry.offer_expires_at:
        raise OfferNotOpen(WaitlistStatus.expired)
    interval = Interval(entry.starts_at, entry.ends_at)
    request = BookingRequest(user.id, Wanted(space.id, interval, 1, None), hold.purpose, None, now)
    kind, actor_id = actor_kind(user)
    act = HoldAct(Act.accept, request, hold.id, kind.value, actor_id)
    held = await store.hold(session, codes, act, guard)  # every booking rule, the hold left out
    entry.status = WaitlistStatus.booked
    hold = await reloaded(session, hold.id)
    told = told_kind(held.status)
    if told is NotificationKind.booking_confirmed:
        await notifications.tell_booker(session, told, hold, now=now)
    else:
        await notifications.tell_staff_covering(session, told, hold, now)
    await session.flush()
    return hold


async def _space(session: AsyncSession, space_id: int) -> Space:
    space = await session.scalar(select(Space).where(Space.id == space_id, Space.is_active))
    if space is None:
        raise NotFound(SPACE)
    return space


async def _lock_space(session: AsyncSession, space_id: int) -> Space:
    space = await session.scalar(
        select(Space)
        .where(Space.id == space_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if space is None:
        raise NotFound(SPACE)
    return space


async def _own_entry(
    session: AsyncSession, user: User, entry_id: int, *, lock: bool = False
) -> WaitlistEntry:
    query = select(WaitlistEntry).where(
        WaitlistEntry.id == entry_id, WaitlistEntry.user_id == user.id
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    entry = await session.scalar(query)
    if entry is None:  # someone else's is as unknown as a missing one
        raise NotFound(ENTRY)
    return entry


async def _hold_of(session: AsyncSession, entry: WaitlistEntry) -> Reservation | None:
    if entry.reservation_id is None:
        return None
    return await session.scalar(
        select(Reservation)
        .where(Reservation.id == entry.reservation_id, Reservation.status == ReservationStatus.held)
        .options(*reservation_out_loads())
        .with_for_update(of=Reservation)
        .execution_options(populate_existing=True)
    )


async def _release_hold(
    session: AsyncSession, actor: User | None, entry: WaitlistEntry, reason: str
) -> None:
    hold = await _hold_of(session, entry)
    if hold is not None:
        await move(session, actor, hold, ReservationStatus.expired, "release_offer", reason)
