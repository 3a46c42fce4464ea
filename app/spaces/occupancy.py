"""Live occupancy: who is in a space now, and whether a place is free.

``checked_in`` counts the people of the bookings checked in now (a check-out
completes a booking, so it leaves the count). ``free_now`` is what
availability calls ``remaining`` for this instant: seats no booking holds
(a shared space) or 1/0 rooms (an exclusive one), and 0 while the space is
closed (its hours as the holiday calendar sets them, a closure). With none
free, ``next_free_at`` is the start of the next slot availability shows as
``free``, today or tomorrow (null beyond).
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import local_today, utcnow
from app.core.db import Database
from app.models import Reservation, ReservationStatus, Space
from app.spaces import availability, search
from app.spaces.calendar import Interval
from app.spaces.schemas import OccupancyOut
from app.spaces.service import get_active_space

# The instant asked: [now, now + 1 µs).
INSTANT = timedelta(microseconds=1)


async def free_now(session: AsyncSession, spaces: Sequence[Space], now: datetime) -> dict[int, int]:
    """Each space's places free at ``now`` (the list's and this module's)."""
    moment = Interval(now, now + INSTANT)
    open_ids = await search.open_space_ids(session, spaces, moment)
    held = await search.held_seats(session, sorted(open_ids), moment)
    return {
        space.id: search.remaining(space, held.get(space.id, []), moment)
        if space.id in open_ids
        else 0
        for space in spaces
    }


async def _checked_in(session: AsyncSession, space_id: int, now: datetime) -> int:
    people = await session.scalar(
        select(func.coalesce(func.sum(Reservation.attendees), 0)).where(
            Reservation.space_id == space_id,
            Reservation.status == ReservationStatus.checked_in,
            Reservation.starts_at <= now,
            Reservation.ends_at > now,
        )
    )
    return int(people or 0)


async def _next_free_at(database: Database, space_id: int, now: datetime) -> datetime | None:
    today = local_today(now)
    for day in (today, today + timedelta(days=1)):
        space = await availability.load_day(database, space_id, day)
        for slot, status, _, _ in availability.slot_statuses(space, day, now):
            if status == "free" and slot.start >= now.timestamp():
                return datetime.fromisoformat(slot.start_text)
    return None


async def occupancy(database: Database, space_id: int, now: datetime | None = None) -> OccupancyOut:
    now = now or utcnow()
    async with database.reader.begin() as session:
        space = await get_active_space(session, space_id)
        free = (await free_now(session, [space], now))[space.id]
        checked_in = await _checked_in(session, space.id, now)
    return OccupancyOut(
        space_id=space.id,
        checked_in=checked_in,
        capacity=space.capacity,
        free_now=free,
        next_free_at=None if free else await _next_free_at(database, space.id, now),
    )
