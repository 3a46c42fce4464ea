"""Weekly opening hours as staff give them: parsed from wall-clock strings and
checked against the space's slot grid."""

from collections.abc import Sequence

from app.core.clock import parse_wall_clock
from app.core.errors import AppError, Text
from app.models import OpeningHours
from app.spaces.calendar import WeeklyWindow
from app.spaces.schemas import OpeningWindow


class InvalidOpeningHours(AppError):
    status = 422
    code = "invalid_opening_hours"
    title = Text("开放时间无效", "Invalid opening hours")


def parse_windows(windows: Sequence[OpeningWindow]) -> list[WeeklyWindow]:
    return [
        WeeklyWindow(
            window.weekday,
            parse_wall_clock(window.opens),
            parse_wall_clock(window.closes),
        )
        for window in windows
    ]


def check_windows(windows: Sequence[WeeklyWindow], slot_minutes: int) -> list[WeeklyWindow]:
    parsed = sorted(windows, key=lambda window: (window.weekday, window.opens_minute))
    for index, window in enumerate(parsed):
        if window.opens_minute >= window.closes_minute:
            raise InvalidOpeningHours(
                Text("结束时间须晚于开始时间", "Each window must close after it opens")
            )
        if window.opens_minute % slot_minutes or window.closes_minute % slot_minutes:
            raise InvalidOpeningHours(
                Text(
                    "开放时间须与 {slot} 分钟的时段对齐",
                    "Opening hours must fall on the {slot}-minute slot grid",
                ),
                slot=slot_minutes,
            )
        previous = parsed[index - 1] if index else None
        if (
            previous
            and previous.weekday == window.weekday
            and window.opens_minute < previous.closes_minute
        ):
            raise InvalidOpeningHours(
                Text("同一天的开放时间段不能重叠", "Windows on the same weekday overlap")
            )
    return parsed


def opening_row(window: WeeklyWindow) -> OpeningHours:
    return OpeningHours(
        weekday=window.weekday,
        opens_minute=window.opens_minute,
        closes_minute=window.closes_minute,
    )
