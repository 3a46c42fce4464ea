"""What kind of day a date is, and which weekday's hours a space keeps on it.

The official calendar is the State Council's (from the chinese-calendar
package): statutory holidays, and the weekend days moved to work (调休上班).
Staff override it for everywhere, a district or one center, the narrowest
scope winning, because the schedule is announced late and centers add local
days. A year the package has no data for yet (the schedule is published
each November or December) is provisional: its statutory days off, by date
or by the lunar calendar, count as holidays (from the holidays package,
which computes them for any year), without the moved workdays nobody knows
yet. The API says which days and years are provisional; /readyz and the
console warn. Pure functions: the callers read the overrides.
"""

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

import chinese_calendar
import holidays
from chinese_calendar.constants import Holiday

from app.core.clock import SHANGHAI, local_today
from app.models import DayKind, HolidayPolicy

MONDAY, SUNDAY = 0, 6


class DayType(enum.StrEnum):
    weekday = "weekday"
    weekend = "weekend"
    holiday = "holiday"  # a day off: statutory, or staff's
    workday = "workday"  # a weekend day of work (调休上班), or staff's


class Source(enum.StrEnum):
    official = "official"
    everywhere = "everywhere"
    district = "district"
    at_center = "center"
    # No official schedule for the year yet: a statutory day off by law, or an
    # ordinary day (a weekend day may still be moved to work when it comes).
    provisional = "provisional"


@dataclass(frozen=True)
class DayInfo:
    day: date
    type: DayType
    name: str | None
    source: Source


@dataclass(frozen=True)
class Override:
    scope: str
    kind: DayKind
    name: str


def scope_of(district: str | None, center_id: int | None) -> str:
    if center_id is not None:
        return f"c:{center_id}"
    if district is not None:
        return f"d:{district}"
    return ""


_CHINESE = {holiday.value: holiday.chinese for holiday in Holiday}


def _ordinary(day: date) -> DayType:
    return DayType.weekend if day.weekday() >= 5 else DayType.weekday


@lru_cache(maxsize=4096)
def official(day: date) -> DayInfo:
    try:
        off, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        name = statutory_days_off(day.year).get(day)
        if name is not None:
            return DayInfo(day, DayType.holiday, name, Source.provisional)
        return DayInfo(day, _ordinary(day), None, Source.provisional)
    if name is None:
        return DayInfo(day, _ordinary(day), None, Source.official)
    chinese = _CHINESE.get(name, name)
    if off:
        return DayInfo(day, DayType.holiday, chinese, Source.official)
    if day.weekday() >= 5:  # a weekend day moved to work
        return DayInfo(day, DayType.workday, f"{chinese}调休上班", Source.official)
    return DayInfo(day, DayType.weekday, None, Source.official)


# The holidays package's names, as the official calendar names the same days
# (New Year's Eve is the first day off of the Spring Festival).
_STATUTORY_NAMES = {
    "农历除夕": "春节",
    "清明节": "清明",
    "端午节": "端午",
    "中秋节": "中秋",
}


@lru_cache(maxsize=16)
def statutory_days_off(year: int) -> dict[date, str]:
    """The days off the law gives in ``year`` (元旦, 春节 from New Year's Eve,
    清明, 劳动节, 端午, 中秋, 国庆), without the State Council's yearly
    rearrangement: no bridging days, no weekend days moved to work."""
    days = holidays.country_holidays("CN", years=year, language="zh_CN", observed=False)
    return {day: _chinese_name(name) for day, name in sorted(days.items()) if day.year == year}


def _chinese_name(names: str) -> str:
    """One name, or two where festivals meet (中秋 on 3 October 2028)."""
    parts = (_STATUTORY_NAMES.get(part.strip(), part.strip()) for part in names.split(";"))
    return "、".join(dict.fromkeys(parts))


def has_data(year: int) -> bool:
    return official(date(year, 7, 1)).source is not Source.provisional


def provisional_years_ahead() -> list[int]:
    """This year and the next (bookings open up to a year ahead) when the
    official calendar does not cover them yet."""
    this_year = local_today().year
    return [year for year in (this_year, this_year + 1) if not has_data(year)]


def resolve(
    day: date, overrides: Iterable[Override], district: str | None, center_id: int | None
) -> DayInfo:
    """The day at a center: its own override, else its district's, else one for
    everywhere, else the official calendar."""
    ranks = {"": (2, Source.everywhere)}
    if district is not None:
        ranks[scope_of(district, None)] = (1, Source.district)
    if center_id is not None:
        ranks[scope_of(None, center_id)] = (0, Source.at_center)
    chosen = min(
        (override for override in overrides if override.scope in ranks),
        key=lambda override: ranks[override.scope][0],
        default=None,
    )
    if chosen is None:
        return official(day)
    kind = DayType.holiday if chosen.kind is DayKind.holiday else DayType.workday
    return DayInfo(day, kind, chosen.name, ranks[chosen.scope][1])


def hours_weekday(info: DayInfo, policy: HolidayPolicy) -> int | None:
    """Whose weekly hours a space keeps on the day, or None: closed all day.

    A day off keeps the policy (closed, the weekday's own hours, or Sunday's);
    a day of work keeps Monday's hours, whatever weekday it falls on."""
    match info.type:
        case DayType.holiday:
            if policy is HolidayPolicy.closed:
                return None
            return SUNDAY if policy is HolidayPolicy.weekend_hours else info.day.weekday()
        case DayType.workday:
            return info.day.weekday() if info.day.weekday() < 5 else MONDAY
        case _:
            return info.day.weekday()


@dataclass(frozen=True)
class DayPlan:
    """Whose hours each listed day keeps (None: closed), and the name of a day
    off that closes the space, for the refusal to say."""

    hours: dict[date, int | None]
    closed_by: str | None

    def hours_of(self, day: date) -> int | None:
        return self.hours[day] if day in self.hours else day.weekday()


def plan_days(
    first_day: date,
    last_day: date,
    overrides: Mapping[date, Iterable[Override]],
    district: str | None,
    center_id: int | None,
    policy: HolidayPolicy,
) -> DayPlan | None:
    """The plan for ``first_day..last_day``, or None when every day keeps its
    own weekday's hours (the common case, which costs nothing more)."""
    hours: dict[date, int | None] = {}
    closed_by = None
    day = first_day
    while day <= last_day:
        info = resolve(day, overrides.get(day, ()), district, center_id)
        weekday = hours_weekday(info, policy)
        if weekday != day.weekday():
            hours[day] = weekday
            if weekday is None and closed_by is None:
                closed_by = info.name or "休息日"
        day += timedelta(days=1)
    return DayPlan(hours, closed_by) if hours else None


def plan_for(
    start: datetime,
    end: datetime,
    overrides: Mapping[date, Iterable[Override]],
    district: str | None,
    center_id: int | None,
    policy: str,
) -> DayPlan | None:
    """``plan_days`` for the Shanghai days ``[start, end)`` touches."""
    first_day = start.astimezone(SHANGHAI).date()
    last_day = (end - timedelta(microseconds=1)).astimezone(SHANGHAI).date()
    return plan_days(first_day, last_day, overrides, district, center_id, HolidayPolicy(policy))
