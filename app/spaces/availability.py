"""A space's day, slot by slot: the hottest read (every calendar a mini-program draws).

Written lean on purpose (see bench/RESULTS.md): one round trip and no ORM. On
PostgreSQL a single statement, sent on a bare driver connection outside any
transaction, returns the space's rules with its opening hours, the day's
closures and the holding bookings as arrays of epoch seconds; on SQLite the
same reads run as one call on the reader thread (``app/core/sqlite.py``).
The slot grid and its RFC 3339 strings are computed once per (day, slot
length), and the rules run on plain numbers.
"""

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

import orjson

from app.core.clock import SHANGHAI, local_day_bounds
from app.core.db import Database
from app.core.errors import NotFound
from app.core.sql import Statement
from app.core.sqlite import stamp
from app.holidays import sql as holidays
from app.holidays.days import DayPlan, plan_for
from app.holidays.sql import overrides
from app.models import HOLDERS_OVERLAPPING
from app.spaces import calendar
from app.spaces.calendar import SPACE, WeeklyWindow

Span = tuple[float, float]  # [start, end) in epoch seconds

HELD = "FROM reservations r WHERE " + HOLDERS_OVERLAPPING.format(space="s.id")
_POSTGRES_DAY = Statement.of(
    f"""
SELECT s.slot_minutes, s.capacity, s.booking_mode = 'exclusive', s.open_24h, s.advance_days,
  s.release_minute,
  ARRAY(SELECT ARRAY[h.weekday, h.opens_minute, h.closes_minute]
        FROM opening_hours h WHERE h.space_id = s.id),
  ARRAY(SELECT ARRAY[extract(epoch FROM c.starts_at), extract(epoch FROM c.ends_at)]::float8[]
        FROM closures c WHERE c.space_id = s.id AND c.starts_at < :end AND c.ends_at > :start),
  ARRAY(SELECT ARRAY[extract(epoch FROM r.starts_at), extract(epoch FROM r.ends_at),
                     r.attendees]::float8[] {HELD}),
  s.holiday_policy, c.district, c.id,
  {holidays.POSTGRES}
FROM spaces s JOIN centers c ON c.id = s.center_id WHERE s.id = :space AND s.is_active
"""
)
# One statement, so one read snapshot; times as epoch seconds computed by SQLite
# (bookings and closures are minute-aligned).
_SQLITE_DAY = (
    """
SELECT s.slot_minutes, s.capacity, s.booking_mode = 'exclusive', s.open_24h, s.advance_days,
  s.release_minute,
  (SELECT json_group_array(json_array(h.weekday, h.opens_minute, h.closes_minute))
   FROM opening_hours h WHERE h.space_id = s.id),
  (SELECT json_group_array(json_array(CAST(strftime('%s', c.starts_at) AS INTEGER),
                                      CAST(strftime('%s', c.ends_at) AS INTEGER)))
   FROM closures c WHERE c.space_id = s.id AND c.starts_at < :end AND c.ends_at > :start),
  (SELECT json_group_array(json_array(CAST(strftime('%s', r.starts_at) AS INTEGER),
                                      CAST(strftime('%s', r.ends_at) AS INTEGER), r.attendees))
   """
    + HELD
    + """),
  s.holiday_policy, c.district, c.id,
  """
    + holidays.SQLITE
    + """
FROM spaces s JOIN centers c ON c.id = s.center_id WHERE s.id = :space AND s.is_active
"""
)


@dataclass(frozen=True)
class SpaceDay:
    space_id: int
    slot_minutes: int
    capacity: int
    exclusive: bool
    open_24h: bool
    advance_days: int
    release_minute: int | None
    windows: list[WeeklyWindow]
    closures: list[Span]
    held: list[tuple[float, float, int]]
    plan: DayPlan | None = None  # the day's holiday or moved workday, if any


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
    if database.sqlite_reader is not None:
        return await database.sqlite_reader.run(lambda db: _load_sqlite(db, space_id, start, end))
    values = {
        "space": space_id,
        "start": start,
        "end": end,
        "day_before": start - timedelta(days=1),
    }
    async with database.driver() as driver:
        row = await driver.fetchrow(_POSTGRES_DAY.text, *_POSTGRES_DAY.args(values))
    if row is None:
        raise NotFound(SPACE)
    (slot, capacity, exclusive, open_24h, advance, release, hours, closures, held, policy,
     district, center_id, days) = row  # fmt: skip
    return SpaceDay(
        space_id,
        slot,
        capacity,
        exclusive,
        open_24h,
        advance,
        release,
        [WeeklyWindow(*window) for window in hours],
        [(closure[0], closure[1]) for closure in closures],
        [(booking[0], booking[1], int(booking[2])) for booking in held],
        plan_for(start, end, overrides(days), district, center_id, policy),
    )


def _load_sqlite(db: sqlite3.Connection, space_id: int, start: datetime, end: datetime) -> SpaceDay:
    values = {
        "space": space_id,
        "start": stamp(start),
        "end": stamp(end),
        "day_before": stamp(start - timedelta(days=1)),
    }
    row = db.execute(_SQLITE_DAY, values).fetchone()
    if row is None:
        raise NotFound(SPACE)
    (slot, capacity, exclusive, open_24h, advance, release, hours, closures, held, policy,
     district, center_id, days) = row  # fmt: skip
    return SpaceDay(
        space_id,
        slot,
        capacity,
        bool(exclusive),
        bool(open_24h),
        advance,
        release,
        [WeeklyWindow(*window) for window in orjson.loads(hours)],
        [(a, b) for a, b in orjson.loads(closures)],
        [(a, b, seats) for a, b, seats in orjson.loads(held)],
        plan_for(start, end, overrides(days), district, center_id, policy),
    )


def slot_statuses(space: SpaceDay, day: date, now: datetime) -> list[tuple[GridSlot, str, int]]:
    """Each slot with ``free`` / ``taken`` / ``closed`` / ``past`` and what remains."""
    opening = [
        (window.start.timestamp(), window.end.timestamp())
        for window in calendar.opening_intervals(
            space.open_24h, space.windows, day, day, space.plan.hours_of if space.plan else None
        )
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
                remaining = max(space.capacity - calendar.peak_load(overlapping, start, end), 0)
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
