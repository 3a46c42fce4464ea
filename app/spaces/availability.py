"""A space's day, slot by slot: the hottest read (every calendar a mini-program draws).

Written lean on purpose (see bench/RESULTS.md): one round trip and no ORM. On
PostgreSQL a single statement, sent on a bare driver connection outside any
transaction, returns the space's rules with its opening hours, the day's
closures and the holding bookings as arrays of epoch seconds; SQLite runs the
same reads through SQLAlchemy Core. The slot grid and its RFC 3339 strings are
computed once per (day, slot length), and the rules run on plain numbers.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.clock import SHANGHAI, local_day_bounds
from app.core.db import Database
from app.core.errors import NotFound, Text
from app.models import (
    HOLDING_SQL,
    HOLDING_STATUSES,
    Closure,
    OpeningHours,
    Reservation,
    Space,
    overlapping,
)
from app.spaces import calendar
from app.spaces.calendar import WeeklyWindow

Span = tuple[float, float]  # [start, end) in epoch seconds
SPACE = Text("空间", "space")

_POSTGRES_DAY = f"""
SELECT s.slot_minutes, s.capacity, s.booking_mode = 'exclusive', s.open_24h, s.advance_days,
  ARRAY(SELECT ARRAY[h.weekday, h.opens_minute, h.closes_minute]
        FROM opening_hours h WHERE h.space_id = s.id),
  ARRAY(SELECT ARRAY[extract(epoch FROM c.starts_at), extract(epoch FROM c.ends_at)]::float8[]
        FROM closures c WHERE c.space_id = s.id AND c.starts_at < $3 AND c.ends_at > $2),
  ARRAY(SELECT ARRAY[extract(epoch FROM r.starts_at), extract(epoch FROM r.ends_at),
                     r.attendees]::float8[]
        FROM reservations r
        WHERE r.space_id = s.id AND r.status IN ({HOLDING_SQL})
          AND r.starts_at < $3 AND r.ends_at > $2 AND r.starts_at > $2 - interval '1 day')
FROM spaces s WHERE s.id = $1 AND s.is_active
"""


@dataclass(frozen=True)
class SpaceDay:
    space_id: int
    slot_minutes: int
    capacity: int
    exclusive: bool
    open_24h: bool
    advance_days: int
    windows: list[WeeklyWindow]
    closures: list[Span]
    held: list[tuple[float, float, int]]


@dataclass(frozen=True)
class GridSlot:
    start: float
    end: float
    start_text: str
    end_text: str


@lru_cache(maxsize=4096)
def grid(day: date, slot_minutes: int) -> tuple[GridSlot, ...]:
    return tuple(
        GridSlot(
            slot.start.timestamp(),
            slot.end.timestamp(),
            slot.start.astimezone(SHANGHAI).isoformat(),
            slot.end.astimezone(SHANGHAI).isoformat(),
        )
        for slot in calendar.day_slots(day, slot_minutes)
    )


async def load_day(database: Database, space_id: int, day: date) -> SpaceDay:
    start, end = local_day_bounds(day)
    if database.driver_pool is None:
        async with database.autocommit.connect() as connection:
            return await _load_day_with_core(connection, space_id, start, end)
    async with database.driver() as driver:
        row = await driver.fetchrow(_POSTGRES_DAY, space_id, start, end)
    if row is None:
        raise NotFound(SPACE)
    slot, capacity, exclusive, open_24h, advance, hours, closures, held = row
    return SpaceDay(
        space_id,
        slot,
        capacity,
        exclusive,
        open_24h,
        advance,
        [WeeklyWindow(*window) for window in hours],
        [(closure[0], closure[1]) for closure in closures],
        [(booking[0], booking[1], int(booking[2])) for booking in held],
    )


async def _load_day_with_core(
    connection: AsyncConnection, space_id: int, start: datetime, end: datetime
) -> SpaceDay:
    space = (
        await connection.execute(
            select(
                Space.slot_minutes,
                Space.capacity,
                Space.booking_mode,
                Space.open_24h,
                Space.advance_days,
            ).where(Space.id == space_id, Space.is_active.is_(True))
        )
    ).first()
    if space is None:
        raise NotFound(SPACE)
    hours = await connection.execute(
        select(OpeningHours.weekday, OpeningHours.opens_minute, OpeningHours.closes_minute).where(
            OpeningHours.space_id == space_id
        )
    )
    closures = await connection.execute(
        select(Closure.starts_at, Closure.ends_at).where(
            Closure.space_id == space_id, Closure.starts_at < end, Closure.ends_at > start
        )
    )
    held = await connection.execute(
        select(Reservation.starts_at, Reservation.ends_at, Reservation.attendees).where(
            Reservation.space_id == space_id,
            Reservation.status.in_(HOLDING_STATUSES),
            overlapping(start, end),
        )
    )
    return SpaceDay(
        space_id,
        space.slot_minutes,
        space.capacity,
        space.booking_mode.value == "exclusive",
        space.open_24h,
        space.advance_days,
        [WeeklyWindow(*window) for window in hours],
        [(a.timestamp(), b.timestamp()) for a, b in closures],
        [(a.timestamp(), b.timestamp(), seats) for a, b, seats in held],
    )


def slot_statuses(space: SpaceDay, day: date, now: datetime) -> list[tuple[GridSlot, str, int]]:
    """Each slot with ``free`` / ``taken`` / ``closed`` / ``past`` and what remains."""
    opening = [
        (window.start.timestamp(), window.end.timestamp())
        for window in calendar.opening_intervals(space.open_24h, space.windows, day, day)
    ]
    slots = grid(day, space.slot_minutes)
    by_slot = _bookings_by_slot(space.held, slots)
    moment = now.timestamp()
    result = []
    for index, slot in enumerate(slots):
        start, end = slot.start, slot.end
        if not any(o_start <= start and end <= o_end for o_start, o_end in opening) or any(
            c_start < end and start < c_end for c_start, c_end in space.closures
        ):
            result.append((slot, "closed", 0))
        elif start < moment:
            result.append((slot, "past", 0))
        else:
            overlapping = by_slot[index]
            if space.exclusive:
                remaining = 0 if overlapping else 1
            else:
                remaining = max(space.capacity - _peak(overlapping, start, end), 0)
            result.append((slot, "free" if remaining else "taken", remaining))
    return result


def _bookings_by_slot(
    held: Sequence[tuple[float, float, int]], slots: Sequence[GridSlot]
) -> list[list[tuple[float, float, int]]]:
    """The bookings overlapping each slot, found by index arithmetic, not a scan
    per slot (the grid is regular within a day)."""
    buckets: list[list[tuple[float, float, int]]] = [[] for _ in slots]
    if not slots:
        return buckets
    first, width = slots[0].start, slots[0].end - slots[0].start
    for booking in held:
        low = max(0, int((booking[0] - first) // width))
        high = min(len(slots), int(-((first - booking[1]) // width)))
        for index in range(low, high):
            if booking[0] < slots[index].end and slots[index].start < booking[1]:
                buckets[index].append(booking)
    return buckets


def _peak(bookings: Sequence[tuple[float, float, int]], start: float, end: float) -> int:
    """The most seats held at one instant of [start, end); releases before takes."""
    events = sorted(
        event
        for a, b, seats in bookings
        for event in ((max(a, start), seats), (min(b, end), -seats))
    )
    load = peak = 0
    for _, delta in events:
        load += delta
        peak = max(peak, load)
    return peak
