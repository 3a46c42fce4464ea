"""Bookings a change of a space's time would leave outside it.

A closure, new opening hours or a holiday declared for a day may take away
time that holding bookings (pending, confirmed, checked in, or a place held
for the waitlist) already have. Such a change names what to do with them
(``affected``): without it the change is refused with the list, and nothing
changes; ``keep`` leaves them, ``cancel`` cancels them (done by
``app/reservations/changes.py``, which owns cancelling).

Only the bookings the change itself puts outside count: the callers compare
what lies outside before and after the change, so a booking kept at an
earlier change is not listed again.
"""

import enum
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.core.clock import SHANGHAI
from app.core.errors import AppError, Text
from app.holidays import service as holidays
from app.models import (
    HOLDING_STATUSES,
    Closure,
    Reservation,
    ReservationKind,
    ReservationStatus,
    Space,
    overlapping,
)
from app.spaces import calendar
from app.spaces.calendar import Interval, WeeklyWindow


class AffectedAction(enum.StrEnum):
    cancel = "cancel"  # cancel them, tell their bookers
    keep = "keep"  # leave them as they are


class BookingsAffected(AppError):
    status = 409
    code = "bookings_affected"
    title = Text("有预约受影响", "Bookings affected")
    detail = Text(
        "此调整会使 {count} 条预约落在开放时间之外，请选择取消还是保留这些预约",
        "This change leaves {count} bookings outside the space's time: say with"
        " `affected` whether to cancel or keep them",
    )


@dataclass(frozen=True)
class AffectedBooking:
    reservation_id: int
    space_id: int
    start: datetime
    end: datetime
    status: ReservationStatus


async def outside_time(
    session: AsyncSession, space_ids: Sequence[int], span: Interval | None, now: datetime
) -> dict[int, AffectedBooking]:
    """The holding bookings of ``space_ids`` not over at ``now`` (and overlapping
    ``span``, when given) that lie outside their space's time as the session
    sees it now: its opening hours on each day (holidays and moved workdays
    applied) and its closures."""
    query = select(Reservation).where(
        Reservation.space_id.in_(space_ids),
        Reservation.status.in_(HOLDING_STATUSES),
        Reservation.ends_at > now,
    )
    if span is not None:
        query = query.where(overlapping(span.start, span.end))
    rows = (await session.scalars(query.order_by(Reservation.starts_at, Reservation.id))).all()
    by_space: dict[int, list[Reservation]] = defaultdict(list)
    for reservation in rows:
        by_space[reservation.space_id].append(reservation)
    found: dict[int, AffectedBooking] = {}
    for space_id, bookings in sorted(by_space.items()):
        space = await session.scalar(
            select(Space).where(Space.id == space_id).options(selectinload(Space.opening_hours))
        )
        assert space is not None
        for reservation in await _outside(session, space, bookings):
            found[reservation.id] = _affected(reservation)
    return found


async def _outside(
    session: AsyncSession, space: Space, bookings: Sequence[Reservation]
) -> list[Reservation]:
    first = min(booking.starts_at for booking in bookings)
    last = max(booking.ends_at for booking in bookings)
    plan = await holidays.space_plan(session, space, first, last)
    hours_of = plan.hours_of if plan else None
    windows = [
        WeeklyWindow(row.weekday, row.opens_minute, row.closes_minute)
        for row in space.opening_hours
    ]
    closures = [
        Interval(start, end)
        for start, end in await session.execute(
            select(Closure.starts_at, Closure.ends_at).where(
                Closure.space_id == space.id, Closure.starts_at < last, Closure.ends_at > first
            )
        )
    ]
    outside = []
    for booking in bookings:
        interval = Interval(booking.starts_at, booking.ends_at)
        if not calendar.within_opening_hours(space.open_24h, windows, interval, hours_of) or any(
            closure.overlaps(interval) for closure in closures
        ):
            outside.append(booking)
    return outside


def _affected(reservation: Reservation) -> AffectedBooking:
    return AffectedBooking(
        reservation.id,
        reservation.space_id,
        reservation.starts_at,
        reservation.ends_at,
        reservation.status,
    )


def newly_outside(
    before: dict[int, AffectedBooking], after: dict[int, AffectedBooking]
) -> list[AffectedBooking]:
    return sorted(
        (booking for booking in after.values() if booking.reservation_id not in before),
        key=lambda booking: (booking.start, booking.reservation_id),
    )


def refuse_unless_told(
    affected: Sequence[AffectedBooking], action: AffectedAction | None, detail: Text | None = None
) -> None:
    """Refuse (409, listing them) a change that affects bookings and does not
    say what to do with them; the caller's transaction then rolls back.
    ``detail``: the words of a change other than the space's time (a center
    event over the bookings)."""
    if affected and action is None:
        problem = BookingsAffected(detail, count=len(affected))
        raise problem.with_extra(affected=listing(affected))


async def holding_during(
    session: AsyncSession, space_id: int, span: Interval
) -> list[AffectedBooking]:
    """The holding bookings of the space that overlap ``span``: those a center
    event over it would take the time of (app/reservations/events.py)."""
    rows = await session.scalars(
        select(Reservation)
        .where(
            Reservation.space_id == space_id,
            Reservation.status.in_(HOLDING_STATUSES),
            Reservation.kind == ReservationKind.booking,
            overlapping(span.start, span.end),
        )
        .order_by(Reservation.starts_at, Reservation.id)
    )
    return [_affected(reservation) for reservation in rows]


def listing(affected: Iterable[AffectedBooking]) -> list[dict[str, object]]:
    """The problem's ``affected`` member, as the answers list them."""
    return [
        {
            "reservation_id": booking.reservation_id,
            "space_id": booking.space_id,
            "start": booking.start.astimezone(SHANGHAI).isoformat(),
            "end": booking.end.astimezone(SHANGHAI).isoformat(),
            "status": booking.status.value,
        }
        for booking in affected
    ]
