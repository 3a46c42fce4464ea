"""A recurring booking's occurrences, from its first one and an RFC 5545 RRULE,
in Shanghai wall-clock time.

Only the parts a booking series needs are read (README: Recurring bookings):
``FREQ`` (DAILY, WEEKLY, MONTHLY), ``INTERVAL``, ``BYDAY``, ``BYMONTHDAY``,
``COUNT`` and ``UNTIL``, each at most once; any other part is
``422 unsupported_rrule`` naming it, and a bad value ``422 invalid_rrule``.

The expansion is bounded by construction: it looks at the days from the first
one on, one at a time, for at most ``HORIZON_DAYS`` days, so a rule that
never matches costs the same few hundred checks as one that matches every day
(a fraction of a millisecond: ``python -m bench.series``). A general RRULE
library walks on until it finds a match, up to the year 9999, which took
seconds of the event loop's time per request. Nothing past the horizon could
be booked anyway: no space takes bookings more than 365 days ahead. The
occurrences are those python-dateutil's ``rrule`` gives for the same rule
(tests/test_series_expansion.py checks them against it).
"""

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from app.core.clock import SHANGHAI
from app.core.errors import AppError, Text
from app.spaces.calendar import Interval

MAX_OCCURRENCES = 52
# The first day and the 365 after it: the longest booking window a space can
# have (advance_days ≤ 365) ends on the 365th day after today.
HORIZON_DAYS = 366
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
SUPPORTED_PARTS = ("FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "COUNT", "UNTIL")
# "The 2nd Tuesday", "the last Friday": a month has at most five of a weekday.
MAX_NTH_WEEKDAY = 5

_NAME = re.compile(r"[A-Z][A-Z0-9-]{0,39}")
_NUMBER = re.compile(r"[0-9]{1,3}")
_WEEKDAY = re.compile(r"([+-]?[0-9])?(MO|TU|WE|TH|FR|SA|SU)")
_MONTH_DAY = re.compile(r"[+-]?[0-9]{1,2}")
_UNTIL = re.compile(r"([0-9]{8})(T[0-9]{6}(Z?))?")


class Frequency(StrEnum):
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"


# At most a year between two occurrences.
MAX_INTERVAL = {Frequency.DAILY: 365, Frequency.WEEKLY: 52, Frequency.MONTHLY: 12}


class InvalidRecurrence(AppError):
    status = 422
    code = "invalid_rrule"
    title = Text("重复规则无效", "Invalid recurrence rule")
    detail = Text(
        "{problem}（支持 DAILY、WEEKLY、MONTHLY，须有 COUNT 或 UNTIL，最多 {most} 次）",
        "{problem} (DAILY, WEEKLY or MONTHLY, with COUNT or UNTIL, at most {most} times)",
    )

    def __init__(self, problem: Text, part: str | None = None) -> None:
        super().__init__(problem=problem, most=MAX_OCCURRENCES)
        if part is not None:
            self.with_extra(rrule_part=part)


class UnsupportedRecurrence(AppError):
    """A part (or a FREQ) outside what a booking series needs; ``rrule_part`` names it."""

    status = 422
    code = "unsupported_rrule"
    title = Text("不支持的重复规则", "Unsupported recurrence rule")
    detail = Text(
        "{problem}：重复预约只接受 FREQ（DAILY、WEEKLY、MONTHLY）、INTERVAL、BYDAY、"
        "BYMONTHDAY、COUNT 和 UNTIL，每项至多一次",
        "{problem}: a series takes only FREQ (DAILY, WEEKLY or MONTHLY), INTERVAL, BYDAY,"
        " BYMONTHDAY, COUNT and UNTIL, each at most once",
    )

    def __init__(self, part: str, problem: Text) -> None:
        super().__init__(problem=problem)
        self.with_extra(rrule_part=part)


@dataclass(frozen=True)
class Recurrence:
    """A parsed rule. ``weekdays`` are plain BYDAY days (0 = Monday);
    ``nth_weekdays`` (MONTHLY only) are ``(n, weekday)`` with n in ±1..5;
    ``month_days`` are BYMONTHDAY values, negative ones counting from the end."""

    frequency: Frequency
    interval: int = 1
    weekdays: frozenset[int] = frozenset()
    nth_weekdays: frozenset[tuple[int, int]] = frozenset()
    month_days: frozenset[int] = frozenset()
    count: int | None = None
    until: datetime | None = None

    def defaulted(self, first: date) -> "Recurrence":
        """RFC 5545's defaults from the first day: a weekly rule without BYDAY
        keeps the first day's weekday, a monthly one without BYDAY or
        BYMONTHDAY the first day's date."""
        if self.frequency is Frequency.WEEKLY and not self.weekdays:
            return replace(self, weekdays=frozenset({first.weekday()}))
        if self.frequency is Frequency.MONTHLY and not (
            self.weekdays or self.nth_weekdays or self.month_days
        ):
            return replace(self, month_days=frozenset({first.day}))
        return self

    def in_period(self, day: date, first: date) -> bool:
        """Whether ``day`` lies in a day, week (from Monday) or month the
        interval keeps, counting from the first one's."""
        if self.frequency is Frequency.DAILY:
            apart = day.toordinal() - first.toordinal()
        elif self.frequency is Frequency.WEEKLY:
            mondays = (day.toordinal() - day.weekday()) - (first.toordinal() - first.weekday())
            apart = mondays // 7
        else:
            apart = (day.year - first.year) * 12 + day.month - first.month
        return apart % self.interval == 0

    def on_day(self, day: date) -> bool:
        """Whether ``day`` has the weekday and the date the rule asks for."""
        weekday = day.weekday()
        if self.weekdays and weekday not in self.weekdays:
            return False
        if self.month_days and day.day not in self.month_days:
            if day.day - _month_length(day) - 1 not in self.month_days:
                return False
        if self.nth_weekdays:
            nth = (day.day - 1) // 7 + 1  # the nth such weekday of its month
            nth_from_end = -((_month_length(day) - day.day) // 7 + 1)
            wanted = self.nth_weekdays
            return (nth, weekday) in wanted or (nth_from_end, weekday) in wanted
        return True


def _month_length(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def parse(rule: str, start: datetime) -> Recurrence:
    """The rule's parts, each checked; ``start`` (the first occurrence) places a
    floating or date-only UNTIL in Shanghai time and bounds it."""
    text = rule.strip().upper().removeprefix("RRULE:")
    parts = _parts(text)
    if "FREQ" not in parts:
        raise InvalidRecurrence(Text("须有 FREQ", "FREQ is missing"), "FREQ")
    frequency = _frequency(parts["FREQ"])
    if ("COUNT" in parts) == ("UNTIL" in parts):
        raise InvalidRecurrence(Text("须有 COUNT 或 UNTIL 之一", "give COUNT or UNTIL, not both"))
    weekdays, nth_weekdays = _weekdays(parts.get("BYDAY"), frequency)
    return Recurrence(
        frequency=frequency,
        interval=_interval(parts.get("INTERVAL"), frequency),
        weekdays=weekdays,
        nth_weekdays=nth_weekdays,
        month_days=_month_days(parts.get("BYMONTHDAY"), frequency),
        count=_count(parts["COUNT"]) if "COUNT" in parts else None,
        until=_until(parts["UNTIL"], start) if "UNTIL" in parts else None,
    )


def _parts(text: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for part in text.split(";"):
        name, equals, value = part.partition("=")
        if not equals or not value or not _NAME.fullmatch(name):
            shown = part[:40]
            raise InvalidRecurrence(Text(f"无法解析“{shown}”", f"cannot read {shown!r}"))
        if name not in SUPPORTED_PARTS:
            raise UnsupportedRecurrence(name, Text(f"不支持 {name}", f"{name} is not supported"))
        if name in parts:
            raise UnsupportedRecurrence(
                name, Text(f"{name} 出现了不止一次", f"{name} appears more than once")
            )
        parts[name] = value
    return parts


def _frequency(value: str) -> Frequency:
    if value in Frequency.__members__:
        return Frequency(value)
    shown = f"FREQ={value}" if re.fullmatch(r"[A-Z]{1,10}", value) else "this FREQ"
    raise UnsupportedRecurrence("FREQ", Text(f"不支持 {shown}", f"{shown} is not supported"))


def _number(value: str, part: str, least: int, most: int) -> int:
    if not _NUMBER.fullmatch(value) or not least <= int(value) <= most:
        raise InvalidRecurrence(
            Text(f"{part} 须为 {least} 到 {most} 的整数", f"{part} must be {least} to {most}"),
            part,
        )
    return int(value)


def _interval(value: str | None, frequency: Frequency) -> int:
    return 1 if value is None else _number(value, "INTERVAL", 1, MAX_INTERVAL[frequency])


def _count(value: str) -> int:
    return _number(value, "COUNT", 1, MAX_OCCURRENCES)


def _weekdays(
    value: str | None, frequency: Frequency
) -> tuple[frozenset[int], frozenset[tuple[int, int]]]:
    if value is None:
        return frozenset(), frozenset()
    plain: set[int] = set()
    nth: set[tuple[int, int]] = set()
    for item in value.split(","):
        match = _WEEKDAY.fullmatch(item)
        if match is None or (match[1] is not None and not 1 <= abs(int(match[1])) <= 5):
            raise InvalidRecurrence(
                Text(
                    "BYDAY 须为 MO 到 SU，月度规则可加序数 1 到 5 或 -1 到 -5（如 2TU、-1FR）",
                    "BYDAY takes MO to SU, in a MONTHLY rule with an ordinal 1 to 5 or -1 to -5"
                    " (2TU, -1FR)",
                ),
                "BYDAY",
            )
        weekday = WEEKDAYS.index(match[2])
        if match[1] is None:
            plain.add(weekday)
        else:
            nth.add((int(match[1]), weekday))
    if nth and frequency is not Frequency.MONTHLY:
        raise InvalidRecurrence(
            Text("BYDAY 的序数只用于 MONTHLY", "an ordinal BYDAY needs FREQ=MONTHLY"), "BYDAY"
        )
    if nth and plain:  # RFC 5545 reads MO,1FR as a union, python-dateutil as an intersection
        raise InvalidRecurrence(
            Text(
                "BYDAY 不能混用带序数和不带序数的星期",
                "BYDAY cannot mix weekdays with and without an ordinal",
            ),
            "BYDAY",
        )
    return frozenset(plain), frozenset(nth)


def _month_days(value: str | None, frequency: Frequency) -> frozenset[int]:
    if value is None:
        return frozenset()
    if frequency is Frequency.WEEKLY:  # RFC 5545: not with FREQ=WEEKLY
        raise InvalidRecurrence(
            Text("BYMONTHDAY 不能用于 WEEKLY", "BYMONTHDAY cannot be used with FREQ=WEEKLY"),
            "BYMONTHDAY",
        )
    days: set[int] = set()
    for item in value.split(","):
        if not _MONTH_DAY.fullmatch(item) or not 1 <= abs(int(item)) <= 31:
            raise InvalidRecurrence(
                Text(
                    "BYMONTHDAY 须为 1 到 31 或 -1 到 -31",
                    "BYMONTHDAY takes 1 to 31 or -1 to -31",
                ),
                "BYMONTHDAY",
            )
        days.add(int(item))
    return frozenset(days)


def _until(value: str, start: datetime) -> datetime:
    """UNTIL as an instant: with Z in UTC; a floating time in Shanghai time; a
    date, the end of that Shanghai day. It must come before the horizon."""
    match = _UNTIL.fullmatch(value)
    try:
        if match is None:
            raise ValueError(value)
        if match[2] is None:
            moment = datetime.strptime(match[1], "%Y%m%d").replace(hour=23, minute=59, second=59)
        else:
            moment = datetime.strptime(match[1] + match[2], "%Y%m%dT%H%M%S" + match[3])
    except ValueError:
        raise InvalidRecurrence(
            Text(
                "UNTIL 须为 YYYYMMDD、YYYYMMDDTHHMMSS 或 YYYYMMDDTHHMMSSZ",
                "UNTIL must be YYYYMMDD, YYYYMMDDTHHMMSS or YYYYMMDDTHHMMSSZ",
            ),
            "UNTIL",
        ) from None
    until = moment.replace(tzinfo=UTC if match[3] else SHANGHAI)
    if until >= start + timedelta(days=HORIZON_DAYS):
        raise InvalidRecurrence(
            Text(
                f"UNTIL 须在第一次开始后 {HORIZON_DAYS} 天内（空间最多提前 365 天预约）",
                f"UNTIL must lie within {HORIZON_DAYS} days of the first start"
                " (no space is booked more than 365 days ahead)",
            ),
            "UNTIL",
        )
    return until


def candidate_days(first: date) -> Iterator[date]:
    """Every day a rule starting on ``first`` may book: ``HORIZON_DAYS`` of them."""
    for offset in range(HORIZON_DAYS):
        yield first + timedelta(days=offset)


def starts(recurrence: Recurrence, start: datetime) -> list[datetime]:
    """The starts the rule gives from ``start`` on (Shanghai time), at most
    one more than ``MAX_OCCURRENCES``, looking no further than the horizon."""
    local = start.astimezone(SHANGHAI)
    first = local.date()
    rule = recurrence.defaulted(first)
    most = rule.count if rule.count is not None else MAX_OCCURRENCES + 1
    found: list[datetime] = []
    for day in candidate_days(first):
        if not (rule.in_period(day, first) and rule.on_day(day)):
            continue
        moment = datetime.combine(day, local.timetz())
        if rule.until is not None and moment > rule.until:
            break
        found.append(moment)
        if len(found) == most:
            break
    return found


def occurrences(rule: str, start: datetime, end: datetime) -> list[Interval]:
    """Each occurrence of ``[start, end)`` the rule makes, from the first on."""
    recurrence = parse(rule, start)
    found = starts(recurrence, start)
    if not found:
        raise InvalidRecurrence(
            Text(
                f"第一次开始后 {HORIZON_DAYS} 天内没有任何一次",
                f"no occurrence within {HORIZON_DAYS} days of the first start",
            )
        )
    if len(found) > MAX_OCCURRENCES:
        raise InvalidRecurrence(
            Text(f"超过 {MAX_OCCURRENCES} 次", f"more than {MAX_OCCURRENCES} occurrences")
        )
    if recurrence.count is not None and len(found) < recurrence.count:
        raise InvalidRecurrence(
            Text(
                f"第一次开始后 {HORIZON_DAYS} 天内只有 {len(found)} 次，"
                f"不足 COUNT={recurrence.count}",
                f"only {len(found)} of the COUNT={recurrence.count} occurrences lie within"
                f" {HORIZON_DAYS} days of the first start",
            ),
            "COUNT",
        )
    length = end - start
    return [Interval(first.astimezone(UTC), (first + length).astimezone(UTC)) for first in found]
