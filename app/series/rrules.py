"""A recurring booking's occurrences, from its first one and an RFC 5545 RRULE
(read by python-dateutil), in Shanghai wall-clock time."""

from datetime import UTC, datetime
from itertools import islice

from dateutil.rrule import rrulestr

from app.core.clock import SHANGHAI
from app.core.errors import AppError, Text
from app.spaces.calendar import Interval

MAX_OCCURRENCES = 52
FREQUENCIES = frozenset({"DAILY", "WEEKLY", "MONTHLY"})


class InvalidRecurrence(AppError):
    status = 422
    code = "invalid_rrule"
    title = Text("重复规则无效", "Invalid recurrence rule")
    detail = Text(
        "{problem}（支持 DAILY、WEEKLY、MONTHLY，须有 COUNT 或 UNTIL，最多 {most} 次）",
        "{problem} (DAILY, WEEKLY or MONTHLY, with COUNT or UNTIL, at most {most} times)",
    )

    def __init__(self, problem: str) -> None:
        super().__init__(problem=problem, most=MAX_OCCURRENCES)


def _parts(rule: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for part in rule.split(";"):
        name, equals, value = part.partition("=")
        if not equals or not name or not value:
            raise InvalidRecurrence(f"无法解析 {part!r}")
        parts[name.upper()] = value
    return parts


def _until_in_utc(value: str) -> str:
    """UNTIL as a UTC instant, which dateutil requires with a zoned start; a
    date or a floating time is read as Shanghai time (a date: its whole day)."""
    if value.endswith("Z"):
        return value
    moment = datetime.strptime(value, "%Y%m%d" if len(value) == 8 else "%Y%m%dT%H%M%S")
    if len(value) == 8:
        moment = moment.replace(hour=23, minute=59, second=59)
    return moment.replace(tzinfo=SHANGHAI).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def occurrences(rule: str, start: datetime, end: datetime) -> list[Interval]:
    """Each occurrence of ``[start, end)`` the rule makes, the first included."""
    text = rule.strip().removeprefix("RRULE:")
    parts = _parts(text)
    if parts.get("FREQ") not in FREQUENCIES:
        raise InvalidRecurrence("FREQ 须为 DAILY、WEEKLY 或 MONTHLY")
    if ("COUNT" in parts) == ("UNTIL" in parts):
        raise InvalidRecurrence("须有 COUNT 或 UNTIL 之一")
    try:
        if "UNTIL" in parts:
            parts["UNTIL"] = _until_in_utc(parts["UNTIL"])
        normalised = ";".join(f"{name}={value}" for name, value in parts.items())
        recurrence = rrulestr(normalised, dtstart=start.astimezone(SHANGHAI))
        starts = list(islice(iter(recurrence), MAX_OCCURRENCES + 1))
    except (ValueError, TypeError) as error:
        raise InvalidRecurrence(f"无法解析：{error}") from None
    if len(starts) > MAX_OCCURRENCES:
        raise InvalidRecurrence(f"超过 {MAX_OCCURRENCES} 次")
    if not starts:
        raise InvalidRecurrence("没有任何一次")
    length = end - start
    return [Interval(first.astimezone(UTC), (first + length).astimezone(UTC)) for first in starts]
