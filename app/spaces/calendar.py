"""Calendar rules of a space, as pure functions on half-open UTC intervals.

Weekly opening hours are Shanghai wall-clock minutes; everything else is an
instant. Intervals are ``[start, end)``: a booking ending at 11:00 and another
starting at 11:00 do not overlap.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from app.core.clock import SHANGHAI, local_at, local_midnight, local_today
from app.core.errors import AppError, Text

MINUTES_PER_DAY = 1440
SPACE = Text("空间", "space")


class InvalidInterval(AppError):
    status = 422
    code = "invalid_interval"
    title = Text("时间区间无效", "Invalid interval")
    detail = Text("结束时间须晚于开始时间", "end must be after start")


@dataclass(frozen=True, order=True)
class Interval:
    start: datetime
    end: datetime

    def overlaps(self, other: "Interval") -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: "Interval") -> bool:
        return self.start <= other.start and other.end <= self.end


@dataclass(frozen=True)
class WeeklyWindow:
    weekday: int  # 0 = Monday
    opens_minute: int
    closes_minute: int  # up to 1440


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sort and join overlapping or touching intervals."""
    merged: list[Interval] = []
    for interval in sorted(intervals):
        if merged and interval.start <= merged[-1].end:
            if interval.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, interval.end)
        else:
            merged.append(interval)
    return merged


# Whose weekly hours a day keeps (a weekday, 0 = Monday), or None: closed all
# day. Holidays and moved workdays change it (app/holidays/days.py).
HoursOf = Callable[[date], int | None]


def opening_intervals(
    open_24h: bool,
    windows: Sequence[WeeklyWindow],
    first_day: date,
    last_day: date,
    hours_of: HoursOf | None = None,
) -> list[Interval]:
    """The space's opening intervals on Shanghai days ``first_day..last_day``, merged.

    Merging joins a window to 24:00 with the next day's window from 00:00, so a
    booking across midnight is inside opening hours when both days are open.
    """
    if open_24h and hours_of is None:
        return [Interval(local_midnight(first_day), local_midnight(last_day + timedelta(days=1)))]
    intervals: list[Interval] = []
    day = first_day
    while day <= last_day:
        weekday = day.weekday() if hours_of is None else hours_of(day)
        if weekday is not None and open_24h:
            intervals.append(Interval(local_midnight(day), local_midnight(day + timedelta(days=1))))
        elif weekday is not None:
            intervals.extend(
                Interval(local_at(day, window.opens_minute), local_at(day, window.closes_minute))
                for window in windows
                if window.weekday == weekday
            )
        day += timedelta(days=1)
    return merge(intervals)


def days_of(interval: Interval) -> tuple[date, date]:
    """The first and last Shanghai days ``interval`` touches."""
    first_day = interval.start.astimezone(SHANGHAI).date()
    last_day = (interval.end - timedelta(microseconds=1)).astimezone(SHANGHAI).date()
    return first_day, last_day


def within_opening_hours(
    open_24h: bool,
    windows: Sequence[WeeklyWindow],
    interval: Interval,
    hours_of: HoursOf | None = None,
) -> bool:
    first_day, last_day = days_of(interval)
    opening = opening_intervals(open_24h, windows, first_day, last_day, hours_of)
    return any(open_interval.contains(interval) for open_interval in opening)


def booking_window_end(
    advance_days: int, now: datetime, release_minute: int | None = None
) -> datetime:
    """Bookings may start until the end of the Shanghai day ``advance_days`` from
    today. With a release time, that last day opens at ``release_minute`` of
    today (Shanghai) instead of at midnight: before then, the window ends a day
    earlier."""
    last_day = local_today(now) + timedelta(days=advance_days)
    if next_release(now, release_minute) is not None:
        last_day -= timedelta(days=1)
    return local_midnight(last_day + timedelta(days=1))


def next_release(now: datetime, release_minute: int | None) -> datetime | None:
    """When today's release opens the next day for booking, if it has not yet."""
    if release_minute is None:
        return None
    release = local_at(local_today(now), release_minute)
    return release if now < release else None


def check_in_opens(start: datetime, check_in_opens_minutes: int) -> datetime:
    """When a booking's one window at the door opens: check-in by any means,
    and its door code, from ``check_in_opens_minutes`` before the start."""
    return start - timedelta(minutes=check_in_opens_minutes)


def walk_in_open(
    late: timedelta,
    slot_minutes: int,
    *,
    requires_approval: bool,
    requires_check_in: bool,
    no_show_after_minutes: int,
) -> bool:
    """Whether a slot that started ``late`` ago still takes a walk-in: while at
    least half of it remains (at 12:30:26 a 30-minute slot from 12:30 is
    bookable until 12:45:00), and, where check-in is required, before the
    no-show deadline (or it would be released at once). Not where staff
    approve first: a request whose start has passed lapses undecided."""
    if requires_approval or late > timedelta(minutes=slot_minutes) / 2:
        return False
    return not requires_check_in or late < timedelta(minutes=no_show_after_minutes)


def day_slots(day: date, slot_minutes: int) -> list[Interval]:
    """The slot grid of a Shanghai day, aligned to its midnight."""
    return [
        Interval(local_at(day, minute), local_at(day, minute + slot_minutes))
        for minute in range(0, MINUTES_PER_DAY, slot_minutes)
    ]


def is_aligned(instant: datetime, slot_minutes: int) -> bool:
    """Does ``instant`` fall on the slot grid of its Shanghai day?"""
    local = instant.astimezone(SHANGHAI)
    if local.second or local.microsecond:
        return False
    return (local.hour * 60 + local.minute) % slot_minutes == 0


Instant = TypeVar("Instant", datetime, float)


def peak_load(
    bookings: Iterable[tuple[Instant, Instant, int]], start: Instant, end: Instant
) -> int:
    """The most seats held at any single instant of ``[start, end)``, for bookings
    given as ``(start, end, seats)`` (datetimes, or epoch seconds on the hot reads).

    A sweep over start/end events; at the same instant a release is counted
    before a take, because ``[10:00, 11:00)`` and ``[11:00, 12:00)`` never
    hold a seat at the same time.
    """
    events: list[tuple[Instant, int]] = []
    for taken, released, seats in bookings:
        first, last = max(taken, start), min(released, end)
        if first < last:
            events.append((first, seats))
            events.append((last, -seats))
    events.sort()
    load = peak = 0
    for _, delta in events:
        load += delta
        peak = max(peak, load)
    return peak


def bookable_from(day: date, advance_days: int, release_minute: int | None = None) -> datetime:
    """When the slots of Shanghai day ``day`` enter the booking window: the day
    ``advance_days`` before, at midnight or at the release time
    (``booking_window_end`` read the other way round)."""
    return local_at(day - timedelta(days=advance_days), release_minute or 0)
