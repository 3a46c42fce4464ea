"""Pure calendar rules: half-open intervals, opening hours across midnight."""

from dataclasses import astuple
from datetime import date, datetime, timedelta

import pytest

from app.core.clock import SHANGHAI, local_at, parse_wall_clock
from app.spaces.calendar import (
    Interval,
    WeeklyWindow,
    booking_window_end,
    day_slots,
    is_aligned,
    merge,
    peak_load,
    within_opening_hours,
)

MONDAY = date(2030, 1, 7)


def at(day: date, clock: str) -> datetime:
    return local_at(day, parse_wall_clock(clock))


def span(day: date, start: str, end: str, end_day: date | None = None) -> Interval:
    return Interval(at(day, start), at(end_day or day, end))


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        (("10:00", "11:00"), ("11:00", "12:00"), False),  # back to back
        (("10:00", "11:00"), ("09:00", "10:00"), False),
        (("10:00", "11:00"), ("10:59", "12:00"), True),
        (("10:00", "11:00"), ("09:00", "10:01"), True),
        (("10:00", "11:00"), ("10:00", "11:00"), True),
        (("10:00", "11:00"), ("10:15", "10:45"), True),  # inside
        (("10:15", "10:45"), ("10:00", "11:00"), True),  # around
    ],
)
def test_half_open_overlap(a: tuple[str, str], b: tuple[str, str], overlap: bool) -> None:
    assert span(MONDAY, *a).overlaps(span(MONDAY, *b)) is overlap
    assert span(MONDAY, *b).overlaps(span(MONDAY, *a)) is overlap


def test_merge_joins_touching_and_overlapping() -> None:
    merged = merge(
        [
            span(MONDAY, "13:00", "14:00"),
            span(MONDAY, "09:00", "10:00"),
            span(MONDAY, "10:00", "11:00"),
            span(MONDAY, "13:30", "15:00"),
        ]
    )
    assert merged == [span(MONDAY, "09:00", "11:00"), span(MONDAY, "13:00", "15:00")]


EVENINGS = [WeeklyWindow(weekday, 18 * 60, 1440) for weekday in range(7)] + [
    WeeklyWindow(weekday, 0, 2 * 60) for weekday in range(7)
]
OFFICE = [WeeklyWindow(weekday, 9 * 60, 17 * 60) for weekday in range(5)]
TUESDAY = MONDAY + timedelta(days=1)
SATURDAY = MONDAY + timedelta(days=5)


@pytest.mark.parametrize(
    ("windows", "interval", "inside"),
    [
        (OFFICE, span(MONDAY, "09:00", "17:00"), True),
        (OFFICE, span(MONDAY, "08:30", "10:00"), False),
        (OFFICE, span(MONDAY, "16:30", "17:30"), False),
        (OFFICE, span(SATURDAY, "10:00", "11:00"), False),
        (EVENINGS, span(MONDAY, "23:00", "01:00", TUESDAY), True),  # across midnight
        (EVENINGS, span(MONDAY, "23:00", "03:00", TUESDAY), False),
        (EVENINGS, span(MONDAY, "17:30", "19:00"), False),
        (
            [WeeklyWindow(0, 9 * 60, 12 * 60), WeeklyWindow(0, 12 * 60, 18 * 60)],
            span(MONDAY, "11:00", "13:00"),
            True,
        ),
        (
            [WeeklyWindow(0, 9 * 60, 12 * 60), WeeklyWindow(0, 13 * 60, 18 * 60)],
            span(MONDAY, "11:00", "14:00"),
            False,
        ),  # straddles the lunch closure
    ],
)
def test_within_opening_hours(
    windows: list[WeeklyWindow], interval: Interval, inside: bool
) -> None:
    assert within_opening_hours(False, windows, interval) is inside


def test_open_24h_contains_anything() -> None:
    week = Interval(at(MONDAY, "00:00"), at(MONDAY + timedelta(days=7), "00:00"))
    assert within_opening_hours(True, [], week)


@pytest.mark.parametrize("slot_minutes", [5, 15, 30, 60, 90, 120, 1440])
def test_day_slots_tile_the_day(slot_minutes: int) -> None:
    slots = day_slots(MONDAY, slot_minutes)
    assert len(slots) == 1440 // slot_minutes
    assert slots[0].start == datetime(2030, 1, 7, tzinfo=SHANGHAI)
    assert slots[-1].end == datetime(2030, 1, 8, tzinfo=SHANGHAI)
    assert all(a.end == b.start for a, b in zip(slots, slots[1:], strict=False))


@pytest.mark.parametrize(
    ("clock", "slot", "aligned"),
    [("10:00", 30, True), ("10:30", 60, False), ("10:15", 15, True), ("00:00", 90, True)],
)
def test_alignment(clock: str, slot: int, aligned: bool) -> None:
    assert is_aligned(at(MONDAY, clock), slot) is aligned
    assert not is_aligned(at(MONDAY, clock) + timedelta(seconds=1), slot)


def test_booking_window_ends_at_a_shanghai_midnight() -> None:
    late_evening = datetime(2030, 1, 7, 23, 30, tzinfo=SHANGHAI)
    assert booking_window_end(0, late_evening) == datetime(2030, 1, 8, tzinfo=SHANGHAI)
    assert booking_window_end(7, late_evening) == datetime(2030, 1, 15, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("bookings", "window", "peak"),
    [
        ([], ("10:00", "11:00"), 0),
        ([(("10:00", "11:00"), 1), (("11:00", "12:00"), 1)], ("10:00", "12:00"), 1),
        ([(("10:00", "11:00"), 1), (("10:30", "12:00"), 1)], ("10:00", "12:00"), 2),
        ([(("10:00", "11:00"), 3), (("10:30", "12:00"), 2)], ("11:00", "12:00"), 2),
        ([(("09:00", "10:00"), 5)], ("10:00", "11:00"), 0),
        (
            [(("09:00", "12:00"), 1), (("09:00", "10:00"), 1), (("11:00", "12:00"), 1)],
            ("09:00", "12:00"),
            2,
        ),
    ],
)
def test_peak_load_is_the_busiest_instant(
    bookings: list[tuple[tuple[str, str], int]], window: tuple[str, str], peak: int
) -> None:
    held = [(*astuple(span(MONDAY, *times)), amount) for times, amount in bookings]
    whole = span(MONDAY, *window)
    assert peak_load(held, whole.start, whole.end) == peak
    seconds = [(start.timestamp(), end.timestamp(), amount) for start, end, amount in held]
    assert peak_load(seconds, whole.start.timestamp(), whole.end.timestamp()) == peak
