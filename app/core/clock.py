"""Time: stored in UTC, rules evaluated in Asia/Shanghai.

China has observed no daylight saving time since 1991, but every conversion
still goes through the zone database rather than a fixed +08:00 offset, so the
code stays correct if that ever changes and reads the same as any other zone.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Shanghai has kept UTC+8 without daylight saving since 1991 (tests/test_clock.py
# holds the zone database to it): statements that write local times in SQL
# add these hours and this suffix.
SHANGHAI_UTC_HOURS = 8
SHANGHAI_SUFFIX = "+08:00"


def utcnow() -> datetime:
    return datetime.now(UTC)


def local_today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(SHANGHAI).date()


def local_midnight(day: date) -> datetime:
    """The first instant of ``day`` in Shanghai, as a UTC datetime."""
    return datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(UTC)


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """``[start, end)`` of a Shanghai calendar day in UTC."""
    return local_midnight(day), local_midnight(day + timedelta(days=1))


def local_at(day: date, minute_of_day: int) -> datetime:
    """The UTC instant of the Shanghai wall-clock time ``minute_of_day`` on ``day``.

    1440 is accepted and means the following midnight.
    """
    day += timedelta(days=minute_of_day // 1440)
    hour, minute = divmod(minute_of_day % 1440, 60)
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI).astimezone(UTC)


def parse_wall_clock(value: str) -> int:
    """``"09:30"`` → minutes after midnight; ``"24:00"`` → 1440."""
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def format_wall_clock(minute_of_day: int) -> str:
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"
