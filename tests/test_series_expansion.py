"""A recurring booking's expansion, apart from HTTP: whatever the rule, it looks
at a year of days at most, and it gives the occurrences python-dateutil gives
for the same rule (which, as the oracle here, walks on to the year 9999 when a
rule never matches again: the exhaustion these tests guard against)."""

import contextlib
import datetime as datetime_module
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from typing import Any

import pytest
from dateutil import rrule as dateutil_rrule
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.clock import SHANGHAI
from app.series import rrules
from app.series.rrules import HORIZON_DAYS, MAX_INTERVAL, MAX_OCCURRENCES, Frequency, Recurrence

# --- the expansion's bound ---------------------------------------------------------

# 1 April 2030: a Monday, in a month of 30 days.
MONDAY_IN_APRIL = datetime(2030, 4, 1, 14, 0, tzinfo=SHANGHAI)
ADVERSARIAL = [
    "FREQ=DAILY;INTERVAL=7;BYDAY=TU;COUNT=1",  # only Mondays come up: never
    "FREQ=MONTHLY;BYDAY=1MO;BYMONTHDAY=15;COUNT=1",  # a first Monday is never the 15th
    "FREQ=MONTHLY;INTERVAL=12;BYMONTHDAY=31;COUNT=1",  # every April: never a 31st
    "FREQ=MONTHLY;INTERVAL=12;BYDAY=5SU;COUNT=52",
    "FREQ=MONTHLY;BYDAY=5MO,5TU,5WE,5TH,5FR,5SA,5SU,-5MO;BYMONTHDAY=31,30,-31;COUNT=52",
    "FREQ=DAILY;BYMONTHDAY=31;BYDAY=SU;COUNT=52",
    "FREQ=WEEKLY;INTERVAL=52;BYDAY=MO,TU,WE,TH,FR,SA,SU;COUNT=52",
    "FREQ=DAILY;UNTIL=20310331T235959",  # every day for a year: more than 52
    "FREQ=DAILY;COUNT=52",
]


@contextlib.contextmanager
def days_examined() -> Iterator[list[date]]:
    """Every day the expansion looks at, however it is reached."""
    examined: list[date] = []
    real = Recurrence.in_period

    def counted(self: Recurrence, day: date, first: date) -> bool:
        examined.append(day)
        return real(self, day, first)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Recurrence, "in_period", counted)
        yield examined


@pytest.mark.parametrize("rule", ADVERSARIAL)
def test_any_rule_looks_at_a_year_of_days_at_most(rule: str) -> None:
    start = MONDAY_IN_APRIL
    with days_examined() as examined:
        used = time.process_time()
        with contextlib.suppress(rrules.InvalidRecurrence):
            rrules.occurrences(rule, start, start + timedelta(hours=1))
        cpu = time.process_time() - used
    assert len(examined) <= HORIZON_DAYS
    assert examined == sorted(set(examined))  # each day once, in order
    assert all(start.date() <= day < start.date() + timedelta(HORIZON_DAYS) for day in examined)
    assert cpu < 0.1, cpu  # generous: seconds before; the figure is in bench/series.py


def test_a_rule_with_an_unsupported_part_is_refused_before_any_expansion() -> None:
    start = MONDAY_IN_APRIL
    with days_examined() as examined, pytest.raises(rrules.UnsupportedRecurrence):
        rrules.occurrences("FREQ=DAILY;BYSETPOS=2;COUNT=1", start, start + timedelta(hours=1))
    assert examined == []


# --- the same occurrences as python-dateutil -----------------------------------------


@contextlib.contextmanager
def years_ending(year: int) -> Iterator[None]:
    """python-dateutil walks on to ``datetime.MAXYEAR`` when a rule never matches
    again (the bug this file is about): as an oracle, it stops at ``year``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datetime_module, "MAXYEAR", year)
        yield


FREQUENCIES = {
    Frequency.DAILY: dateutil_rrule.DAILY,
    Frequency.WEEKLY: dateutil_rrule.WEEKLY,
    Frequency.MONTHLY: dateutil_rrule.MONTHLY,
}
DATEUTIL_WEEKDAYS = (
    dateutil_rrule.MO,
    dateutil_rrule.TU,
    dateutil_rrule.WE,
    dateutil_rrule.TH,
    dateutil_rrule.FR,
    dateutil_rrule.SA,
    dateutil_rrule.SU,
)


@st.composite
def rules(draw: st.DrawFn) -> tuple[str, datetime, dict[str, Any]]:
    """A rule in the accepted parts, its first start, and the same rule as
    python-dateutil's keyword arguments."""
    start = draw(
        st.datetimes(datetime(2024, 1, 1), datetime(2098, 12, 31)).map(
            lambda moment: moment.replace(second=0, microsecond=0, tzinfo=SHANGHAI)
        )
    )
    frequency = draw(st.sampled_from(list(Frequency)))
    parts = [f"FREQ={frequency}"]
    arguments: dict[str, Any] = {"freq": FREQUENCIES[frequency], "dtstart": start}
    interval = draw(st.none() | st.integers(1, MAX_INTERVAL[frequency]))
    if interval is not None:
        parts.append(f"INTERVAL={interval}")
        arguments["interval"] = interval
    weekdays = st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True)
    ordinals = st.integers(-5, 5).filter(bool)
    kinds = ["none", "plain", "nth"] if frequency is Frequency.MONTHLY else ["none", "plain"]
    kind = draw(st.sampled_from(kinds))
    if kind == "plain":
        days = draw(weekdays)
        parts.append("BYDAY=" + ",".join(rrules.WEEKDAYS[day] for day in days))
        arguments["byweekday"] = [DATEUTIL_WEEKDAYS[day] for day in days]
    elif kind == "nth":
        nth = draw(st.lists(st.tuples(ordinals, st.integers(0, 6)), min_size=1, max_size=4))
        parts.append("BYDAY=" + ",".join(f"{n}{rrules.WEEKDAYS[day]}" for n, day in nth))
        arguments["byweekday"] = [DATEUTIL_WEEKDAYS[day](n) for n, day in nth]
    if frequency is not Frequency.WEEKLY and draw(st.booleans()):
        month_days = draw(
            st.lists(st.integers(-31, 31).filter(bool), min_size=1, max_size=4, unique=True)
        )
        parts.append("BYMONTHDAY=" + ",".join(str(day) for day in month_days))
        arguments["bymonthday"] = month_days
    if draw(st.booleans()):
        count = draw(st.integers(1, MAX_OCCURRENCES))
        parts.append(f"COUNT={count}")
        arguments["count"] = count
    else:
        form = draw(st.sampled_from(["date", "floating", "utc"]))
        if form == "date":
            until_day = start.date() + timedelta(days=draw(st.integers(-3, HORIZON_DAYS - 1)))
            parts.append(f"UNTIL={until_day:%Y%m%d}")
            until = datetime.combine(until_day, time_of_day(23, 59, 59), SHANGHAI)
        else:
            seconds = draw(st.integers(-3 * 86400, HORIZON_DAYS * 86400 - 1))
            until = start + timedelta(seconds=seconds)
            zone = UTC if form == "utc" else SHANGHAI
            written = f"{until.astimezone(zone).replace(tzinfo=None):%Y%m%dT%H%M%S}"
            parts.append(f"UNTIL={written}{'Z' if form == 'utc' else ''}")
        arguments["until"] = until
    order = draw(st.permutations(parts))
    return ";".join(order), start, arguments


def by_dateutil(arguments: dict[str, Any]) -> list[datetime]:
    """The rule's starts before the horizon, at most 53 (or COUNT)."""
    start: datetime = arguments["dtstart"]
    horizon = start + timedelta(days=HORIZON_DAYS)
    most = arguments.get("count", MAX_OCCURRENCES + 1)
    found: list[datetime] = []
    with years_ending(horizon.year + 1):
        for moment in dateutil_rrule.rrule(wkst=dateutil_rrule.MO, **arguments):
            if moment >= horizon or len(found) == most:
                break
            found.append(moment)
    return found


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(rules())
def test_the_occurrences_are_python_dateutils(case: tuple[str, datetime, dict[str, Any]]) -> None:
    rule, start, arguments = case
    recurrence = rrules.parse(rule, start)
    with days_examined() as examined:
        mine = rrules.starts(recurrence, start)
    assert len(examined) <= HORIZON_DAYS
    assert mine == by_dateutil(arguments)
