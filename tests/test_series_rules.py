"""Recurring bookings' rules: only the parts a series needs, an expansion that
costs the same whatever the rule (no rule can hold up the server), and a
per-account limit on booking series.

A rule that never matched (``FREQ=DAILY;BYSETPOS=2;COUNT=1``) used to cost
seconds of the event loop's time, and ``BYHOUR`` booked hourly bookings."""

import asyncio
import calendar
import time
from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from app.core.config import Settings
from app.models import Reservation, ReservationSeries
from tests.conftest import make_settings, running
from tests.factories import Api, Headers, days_ahead, local
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

SERIES = "/api/v1/reservation-series"
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
HORIZON_DAYS = 366  # README: a rule reaches at most 365 days past its first day
BOOKABLE_90_DAYS_AHEAD: dict[str, Any] = {"advance_days": 90}


async def post_series(
    api: Api, who: Headers, space_id: int, first: date, rrule: str, clock: str = "14:00"
) -> Any:
    start = local(first, clock)
    body = {
        "space_id": space_id,
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        "rrule": rrule,
        "purpose": "支部例会",
        "mode": "book_what_is_free",
    }
    return await api.client.post(SERIES, json=body, headers=who)


async def nothing_was_booked(api: Api) -> None:
    async with api.database.reader() as session:
        for table in (Reservation, ReservationSeries):
            assert await session.scalar(select(func.count()).select_from(table)) == 0


UNSUPPORTED = [
    ("FREQ=DAILY;BYSETPOS=2;COUNT=1", "BYSETPOS"),
    ("FREQ=DAILY;BYHOUR=9,10;COUNT=4", "BYHOUR"),
    ("FREQ=DAILY;BYMINUTE=0,30;COUNT=4", "BYMINUTE"),
    ("FREQ=DAILY;BYSECOND=1;COUNT=4", "BYSECOND"),
    ("FREQ=WEEKLY;BYWEEKNO=20;COUNT=1", "BYWEEKNO"),
    ("FREQ=DAILY;BYYEARDAY=100;COUNT=1", "BYYEARDAY"),
    ("FREQ=MONTHLY;BYMONTH=6;COUNT=1", "BYMONTH"),
    ("FREQ=WEEKLY;WKST=SU;INTERVAL=2;COUNT=2", "WKST"),
    ("FREQ=WEEKLY;X-TRICK=1;COUNT=2", "X-TRICK"),
    ("FREQ=HOURLY;COUNT=49", "FREQ"),
    ("FREQ=MINUTELY;COUNT=2", "FREQ"),
    ("FREQ=SECONDLY;COUNT=2", "FREQ"),
    ("FREQ=YEARLY;COUNT=2", "FREQ"),
    ("FREQ=WEEKLY;COUNT=2;COUNT=3", "COUNT"),
    ("FREQ=WEEKLY;FREQ=DAILY;COUNT=2", "FREQ"),
]


async def test_parts_a_series_does_not_need_are_refused_naming_the_part(api: Api) -> None:
    space = await api.space(**BOOKABLE_90_DAYS_AHEAD)
    for rule, part in UNSUPPORTED:  # each by its own resident: the series limit counts them
        answer = await post_series(api, await api.resident(), space["id"], days_ahead(2), rule)
        problem = assert_problem(answer, 422, "unsupported_rrule")
        assert problem["rrule_part"] == part, rule
        assert part in str(problem["detail"]), problem
    in_english = {**await api.resident(), "Accept-Language": "en"}
    english = await post_series(api, in_english, space["id"], days_ahead(2), UNSUPPORTED[0][0])
    problem = assert_problem(english, 422, "unsupported_rrule")
    assert problem["title"] == "Unsupported recurrence rule"
    assert problem["detail"] == (
        "BYSETPOS is not supported: a series takes only FREQ (DAILY, WEEKLY or MONTHLY),"
        " INTERVAL, BYDAY, BYMONTHDAY, COUNT and UNTIL, each at most once"
    )
    await nothing_was_booked(api)


async def test_byhour_no_longer_books_a_booking_every_hour(api: Api) -> None:
    """One request booked 49 hourly bookings (7 a day for a week)."""
    space = await api.space(**BOOKABLE_90_DAYS_AHEAD)
    resident = await api.resident()
    hourly = "FREQ=DAILY;BYHOUR=9,10,11,12,13,14,15;COUNT=49"
    answer = await post_series(api, resident, space["id"], days_ahead(2), hourly, "09:00")
    problem = assert_problem(answer, 422, "unsupported_rrule")
    assert problem["rrule_part"] == "BYHOUR"
    await nothing_was_booked(api)


def in_horizon(first: date) -> str:
    return (first + timedelta(days=HORIZON_DAYS - 1)).strftime("%Y%m%d")


def past_horizon(first: date) -> str:
    return (first + timedelta(days=HORIZON_DAYS)).strftime("%Y%m%d")


INVALID = [
    ("FREQ=WEEKLY;COUNT=53", "COUNT"),
    ("FREQ=WEEKLY;COUNT=0", "COUNT"),
    ("FREQ=WEEKLY;COUNT=abc", "COUNT"),
    ("FREQ=DAILY;INTERVAL=0;COUNT=2", "INTERVAL"),
    ("FREQ=MONTHLY;INTERVAL=13;COUNT=2", "INTERVAL"),
    ("FREQ=WEEKLY;INTERVAL=53;COUNT=2", "INTERVAL"),
    ("FREQ=DAILY;INTERVAL=366;COUNT=2", "INTERVAL"),
    ("FREQ=WEEKLY;BYDAY=XX;COUNT=2", "BYDAY"),
    ("FREQ=WEEKLY;BYDAY=1MO;COUNT=2", "BYDAY"),
    ("FREQ=MONTHLY;BYDAY=6MO;COUNT=2", "BYDAY"),
    ("FREQ=MONTHLY;BYDAY=0MO;COUNT=2", "BYDAY"),
    ("FREQ=MONTHLY;BYDAY=MO,1FR;COUNT=2", "BYDAY"),
    ("FREQ=MONTHLY;BYMONTHDAY=32;COUNT=2", "BYMONTHDAY"),
    ("FREQ=MONTHLY;BYMONTHDAY=0;COUNT=2", "BYMONTHDAY"),
    ("FREQ=WEEKLY;BYMONTHDAY=1;COUNT=2", "BYMONTHDAY"),
    ("FREQ=WEEKLY;UNTIL=tomorrow", "UNTIL"),
    ("FREQ=WEEKLY;UNTIL=20270230", "UNTIL"),
    ("FREQ=MONTHLY;UNTIL={past_horizon}", "UNTIL"),
    ("FREQ=MONTHLY;INTERVAL=12;UNTIL=20991231", "UNTIL"),
    ("FREQ=MONTHLY;COUNT=14", "COUNT"),  # the 14th is more than a year after the first
    ("COUNT=2", "FREQ"),
]


async def test_bad_values_are_refused_naming_the_part(api: Api) -> None:
    space = await api.space(**BOOKABLE_90_DAYS_AHEAD)
    first = days_ahead(2)
    for template, part in INVALID:  # each by its own resident: the series limit counts them
        rule = template.format(past_horizon=past_horizon(first))
        answer = await post_series(api, await api.resident(), space["id"], first, rule)
        problem = assert_problem(answer, 422, "invalid_rrule")
        assert problem["rrule_part"] == part, rule
    await nothing_was_booked(api)


def last_fridays(first: date, how_many: int) -> list[date]:
    found: list[date] = []
    day = first
    while len(found) < how_many:
        if day.weekday() == 4 and day.day + 7 > calendar.monthrange(day.year, day.month)[1]:
            found.append(day)
        day += timedelta(days=1)
    return found


async def test_an_ordinal_weekday_books_the_last_friday_of_each_month(api: Api) -> None:
    space = await api.space(**BOOKABLE_90_DAYS_AHEAD)
    resident = await api.resident()
    first = days_ahead(2)
    answer = await post_series(api, resident, space["id"], first, "freq=monthly;byday=-1FR;count=2")
    assert answer.status_code == 201, answer.text
    occurrences = answer.json()["occurrences"]
    assert [item["start"] for item in occurrences] == [
        local(day, "14:00").isoformat() for day in last_fridays(first, 2)
    ]
    assert all(item["reservation_id"] for item in occurrences)


async def test_rules_that_never_match_hold_up_no_other_request(api: Api) -> None:
    """Rules inside the accepted parts that never match: a daily rule every 7
    days on another weekday, and "the first Monday that is the 15th". Each took
    over a second of CPU on the event loop, so four of them stalled everything
    else; now each looks at a year of days at most."""
    space = await api.space(**BOOKABLE_90_DAYS_AHEAD)
    first = days_ahead(2)
    other_weekday = WEEKDAYS[(first.weekday() + 1) % 7]
    never = [
        f"FREQ=DAILY;INTERVAL=7;BYDAY={other_weekday};COUNT=1",
        "FREQ=MONTHLY;BYDAY=1MO;BYMONTHDAY=15;COUNT=1",
    ] * 2
    residents = [await api.resident() for _ in never]
    started = time.monotonic()
    *refused, health = await asyncio.gather(
        *(
            post_series(api, who, space["id"], first, rule)
            for who, rule in zip(residents, never, strict=True)
        ),
        api.client.get("/healthz"),
    )
    elapsed = time.monotonic() - started
    for answer in refused:
        assert_problem(answer, 422, "invalid_rrule")
    assert health.status_code == 200
    assert elapsed < 2, elapsed  # generous: the bench has the figure (python -m bench.series)


async def test_booking_series_is_rate_limited_per_account(database_url: str) -> None:
    settings = make_settings(database_url, rate_limit_series_per_user="2 per hour")
    async with running(settings) as api:
        space = await api.space(**BOOKABLE_90_DAYS_AHEAD)
        resident = await api.resident()
        first = days_ahead(2)
        booked = await post_series(api, resident, space["id"], first, "FREQ=WEEKLY;COUNT=2")
        assert booked.status_code == 201, booked.text
        refused = await post_series(api, resident, space["id"], first, "FREQ=DAILY;BYSETPOS=2")
        assert_problem(refused, 422, "unsupported_rrule")  # a refused try counts too
        limited = await post_series(api, resident, space["id"], first, "FREQ=DAILY;COUNT=1")
        assert_problem(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["retry-after"]) <= 3600
        someone_else = await api.resident()
        other = await post_series(
            api, someone_else, space["id"], first, "FREQ=DAILY;COUNT=1", "16:00"
        )
        assert other.status_code == 201, other.text


@pytest.mark.parametrize("limit", ["often", "3 per fortnight"])
def test_the_series_limit_must_parse(limit: str) -> None:
    with pytest.raises(ValidationError, match="not a rate limit"):
        Settings(rate_limit_series_per_user=limit)
