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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson

from app.core.clock import SHANGHAI, local_day_bounds
from app.core.db import Database
from app.core.errors import NotFound
from app.core.sql import Statement
from app.core.sqlite import named, stamp
from app.holidays import sql as holidays
from app.holidays.days import DayPlan, plan_for
from app.holidays.sql import overrides
from app.models import HOLDERS_OVERLAPPING
from app.spaces import calendar
from app.spaces.calendar import SPACE, WeeklyWindow

Span = tuple[float, float]  # [start, end) in epoch seconds

HELD = "FROM reservations r WHERE " + HOLDERS_OVERLAPPING.format(space="s.id")
# The center's own events among them, with their titles where public.
EVENTS = HELD + " AND r.kind = 'center_event'"
_POSTGRES_DAY = Statement.of(
    f"""
SELECT s.slot_minutes, s.capacity, s.booking_mode = 'exclusive' AS exclusive, s.open_24h,
  s.advance_days, s.release_minute, s.requires_approval, s.requires_check_in,
  s.no_show_after_minutes,
  ARRAY(SELECT ARRAY[h.weekday, h.opens_minute, h.closes_minute]
        FROM opening_hours h WHERE h.space_id = s.id) AS hours,
  (SELECT json_agg(json_build_array(extract(epoch FROM c.starts_at)::float8,
                                    extract(epoch FROM c.ends_at)::float8, c.reason)
                   ORDER BY c.starts_at, c.id)
   FROM closures c WHERE c.space_id = s.id AND c.starts_at < :end AND c.ends_at > :start)::text
    AS closures,
  ARRAY(SELECT ARRAY[extract(epoch FROM r.starts_at), extract(epoch FROM r.ends_at),
                     r.attendees, r.user_id]::float8[] {HELD}) AS held,
  (SELECT json_agg(json_build_array(extract(epoch FROM r.starts_at)::float8,
                                    extract(epoch FROM r.ends_at)::float8,
                                    CASE WHEN r.public THEN r.title END)) {EVENTS})::text
    AS events,
  s.holiday_policy, c.district, c.id AS center_id,
  {holidays.POSTGRES} AS days,
  s.buffer_minutes
FROM spaces s JOIN centers c ON c.id = s.center_id WHERE s.id = :space AND s.is_active
"""
)
# One statement, so one read snapshot; times as epoch seconds computed by SQLite
# (bookings and closures are minute-aligned).
_SQLITE_DAY = (
    """
SELECT s.slot_minutes, s.capacity, s.booking_mode = 'exclusive' AS exclusive, s.open_24h,
  s.advance_days, s.release_minute, s.requires_approval, s.requires_check_in,
  s.no_show_after_minutes,
  (SELECT json_group_array(json_array(h.weekday, h.opens_minute, h.closes_minute))
   FROM opening_hours h WHERE h.space_id = s.id) AS hours,
  (SELECT json_group_array(json_array(CAST(strftime('%s', c.starts_at) AS INTEGER),
                                      CAST(strftime('%s', c.ends_at) AS INTEGER), c.reason))
   FROM closures c WHERE c.space_id = s.id AND c.starts_at < :end AND c.ends_at > :start)
    AS closures,
  (SELECT json_group_array(json_array(CAST(strftime('%s', r.starts_at) AS INTEGER),
                                      CAST(strftime('%s', r.ends_at) AS INTEGER), r.attendees,
                                      r.user_id))
   """
    + HELD
    + """) AS held,
  (SELECT json_group_array(json_array(CAST(strftime('%s', r.starts_at) AS INTEGER),
                                      CAST(strftime('%s', r.ends_at) AS INTEGER),
                                      CASE WHEN r.public THEN r.title END))
   """
    + EVENTS
    + """) AS events,
  s.holiday_policy, c.district, c.id AS center_id,
  """
    + holidays.SQLITE
    + """ AS days,
  s.buffer_minutes
FROM spaces s JOIN centers c ON c.id = s.center_id WHERE s.id = :space AND s.is_active
"""
)


@dataclass(frozen=True)
class WalkIns:
    """What decides whether the slot running now still takes a booking."""

    requires_approval: bool
    requires_check_in: bool
    no_show_after_minutes: int

    def open(self, late_seconds: float, slot_minutes: int) -> bool:
        return calendar.walk_in_open(
            timedelta(seconds=late_seconds),
            slot_minutes,
            requires_approval=self.requires_approval,
            requires_check_in=self.requires_check_in,
            no_show_after_minutes=self.no_show_after_minutes,
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
    walk_ins: WalkIns
    windows: list[WeeklyWindow]
    closures: list[tuple[float, float, str]]  # [start, end) and the reason
    held: list[tuple[float, float, int]]  # [start, end) and the seats
    holders: list[int | None]  # who holds each of ``held`` (None: a center event)
    plan: DayPlan | None = None  # the day's holiday or moved workday, if any
    # The center's events: [start, end) and the title, if public.
    events: list[tuple[float, float, str | None]] = field(default_factory=list)
    # Seconds an exclusive space keeps free before and after each booking.
    buffer_seconds: float = 0

    @property
    def blocking(self) -> list[tuple[float, float, int]]:
        """The bookings as the time they keep from others: widened by the buffer."""
        margin = self.buffer_seconds
        if not margin:
            return self.held
        return [(start - margin, end + margin, seats) for start, end, seats in self.held]


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
    held, exclusive = row["held"], row["exclusive"]
    return SpaceDay(
        space_id=space_id,
        slot_minutes=row["slot_minutes"],
        capacity=row["capacity"],
        exclusive=exclusive,
        open_24h=row["open_24h"],
        advance_days=row["advance_days"],
        release_minute=row["release_minute"],
        walk_ins=WalkIns(
            requires_approval=row["requires_approval"],
            requires_check_in=row["requires_check_in"],
            no_show_after_minutes=row["no_show_after_minutes"],
        ),
        windows=[WeeklyWindow(*window) for window in row["hours"]],
        closures=[(a, b, reason) for a, b, reason in orjson.loads(row["closures"] or "[]")],
        held=[(booking[0], booking[1], int(booking[2])) for booking in held],
        holders=[None if booking[3] is None else int(booking[3]) for booking in held],
        plan=_plan(row, start, end),
        events=_events(row["events"]),
        buffer_seconds=row["buffer_minutes"] * 60 if exclusive else 0,
    )


def _load_sqlite(db: sqlite3.Connection, space_id: int, start: datetime, end: datetime) -> SpaceDay:
    values = {
        "space": space_id,
        "start": stamp(start),
        "end": stamp(end),
        "day_before": stamp(start - timedelta(days=1)),
    }
    row = named(db.execute(_SQLITE_DAY, values))
    if row is None:
        raise NotFound(SPACE)
    booked, exclusive = orjson.loads(row["held"]), bool(row["exclusive"])
    return SpaceDay(
        space_id=space_id,
        slot_minutes=row["slot_minutes"],
        capacity=row["capacity"],
        exclusive=exclusive,
        open_24h=bool(row["open_24h"]),
        advance_days=row["advance_days"],
        release_minute=row["release_minute"],
        walk_ins=WalkIns(
            requires_approval=bool(row["requires_approval"]),
            requires_check_in=bool(row["requires_check_in"]),
            no_show_after_minutes=row["no_show_after_minutes"],
        ),
        windows=[WeeklyWindow(*window) for window in orjson.loads(row["hours"])],
        closures=[(a, b, reason) for a, b, reason in orjson.loads(row["closures"])],
        held=[(a, b, seats) for a, b, seats, _ in booked],
        holders=[user for _, _, _, user in booked],
        plan=_plan(row, start, end),
        events=_events(row["events"]),
        buffer_seconds=row["buffer_minutes"] * 60 if exclusive else 0,
    )


def _plan(row: Mapping[str, Any], start: datetime, end: datetime) -> DayPlan | None:
    """The day's holidays and moved workdays, from the row's ``days``."""
    days, district = overrides(row["days"]), row["district"]
    return plan_for(start, end, days, district, row["center_id"], row["holiday_policy"])


def _events(found: str | None) -> list[tuple[float, float, str | None]]:
    return [(float(a), float(b), title) for a, b, title in orjson.loads(found or "[]")]


# What a slot says beyond its status: the reason it is closed, or when it opens.
SlotNote = dict[str, str] | None


def slot_statuses(
    space: SpaceDay, day: date, now: datetime, viewer_id: int | None = None
) -> list[tuple[GridSlot, str, int, SlotNote]]:
    """Each slot with ``free`` / ``taken`` / ``closed`` / ``past`` /
    ``not_yet_bookable`` / ``mine`` (the viewer holds it), what remains, and a
    note: a closed slot's reason (the closure's, or the holiday's), the instant
    a not-yet-bookable slot can be booked."""
    hours_of = space.plan.hours_of if space.plan else None
    opening = [
        (window.start.timestamp(), window.end.timestamp())
        for window in calendar.opening_intervals(space.open_24h, space.windows, day, day, hours_of)
    ]
    closed_all_day: SlotNote = None
    if space.plan is not None and space.plan.closed_by and hours_of and hours_of(day) is None:
        closed_all_day = {"reason": space.plan.closed_by}
    mine = [
        (booking[0], booking[1])
        for booking, holder in zip(space.held, space.holders, strict=True)
        if viewer_id is not None and holder == viewer_id
    ]
    window_end = calendar.booking_window_end(space.advance_days, now, space.release_minute)
    not_yet = {
        "opens_at": calendar.bookable_from(day, space.advance_days, space.release_minute)
        .astimezone(SHANGHAI)
        .isoformat()
    }
    slots = grid(day, space.slot_minutes)
    by_slot = _bookings_by_slot(space.blocking, slots)
    moment, until = now.timestamp(), window_end.timestamp()
    result: list[tuple[GridSlot, str, int, SlotNote]] = []
    for index, slot in enumerate(slots):
        start, end = slot.start, slot.end
        closure = next((c for c in space.closures if c[0] < end and start < c[1]), None)
        # A slot that has begun still takes a walk-in while half of it remains.
        ahead = start >= moment or space.walk_ins.open(moment - start, space.slot_minutes)
        if ahead and any(m_start < end and start < m_end for m_start, m_end in mine):
            result.append((slot, "mine", _remaining(space, by_slot[index], start, end), None))
        elif closure is not None:
            result.append((slot, "closed", 0, {"reason": closure[2]}))
        elif not any(o_start <= start and end <= o_end for o_start, o_end in opening):
            result.append((slot, "closed", 0, closed_all_day))
        elif not ahead:
            result.append((slot, "past", 0, None))
        else:
            remaining = _remaining(space, by_slot[index], start, end)
            event = next((e for e in space.events if e[0] < end and start < e[1]), None)
            if event is not None:  # the center's own: its title if public
                result.append((slot, "taken", 0, {"title": event[2]} if event[2] else None))
            elif start >= until:
                result.append((slot, "not_yet_bookable", remaining, not_yet))
            else:
                result.append((slot, "free" if remaining else "taken", remaining, None))
    return result


def _remaining(
    space: SpaceDay, overlapping: Sequence[tuple[float, float, int]], start: float, end: float
) -> int:
    """Seats left (shared), or 1/0 rooms (exclusive)."""
    if space.exclusive:
        return 0 if overlapping else 1
    return max(space.capacity - calendar.peak_load(overlapping, start, end), 0)


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
