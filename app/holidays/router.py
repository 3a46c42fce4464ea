"""The calendar: each day's kind (official, or as staff set it), and staff's
overrides (set with ``PUT /admin/calendar/days/{day}`` in ``app/admin/router.py``,
which settles the bookings a new day affects)."""

from typing import Annotated

from fastapi import Path, Query, Response, status

from app.core.db import SessionDep
from app.core.errors import AppError, Text
from app.core.routing import api_router
from app.core.schemas import MAX_ID, LocalDate
from app.holidays import service
from app.holidays.days import DayInfo, Source, official
from app.holidays.schemas import CalendarDayOut, CalendarOut, DayOverview, DaySetOut
from app.identity.dependencies import CurrentStaff

router = api_router(tags=["calendar"])
MAX_DAYS = 366
Day = Annotated[LocalDate, Path(description="A Shanghai date, YYYY-MM-DD")]
District = Annotated[str | None, Query(min_length=1, max_length=20)]
CenterId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


class InvalidCalendarRange(AppError):
    status = 422
    code = "invalid_calendar_range"
    title = Text("日期范围无效", "Invalid date range")
    detail = Text(
        "结束日期不能早于开始日期，且范围最多 {days} 天",
        "to must not be before from, and a range covers at most {days} days",
    )


def _day_out(info: DayInfo) -> CalendarDayOut:
    return CalendarDayOut(
        date=info.day,
        weekday=info.day.weekday(),
        type=info.type,
        name=info.name,
        source=info.source,
    )


@router.get("/calendar", response_model=CalendarOut)
async def read_calendar(
    session: SessionDep,
    from_: Annotated[LocalDate, Query(alias="from")],
    to: LocalDate,
    district: District = None,
    center_id: CenterId = None,
) -> CalendarOut:
    """Holidays, moved workdays and ordinary days, for everywhere or as they hold
    in a district or at a center."""
    if to < from_ or (to - from_).days >= MAX_DAYS or from_.year < 2000 or to.year > 2099:
        raise InvalidCalendarRange(days=MAX_DAYS)
    days = await service.days_between(session, from_, to, district=district, center_id=center_id)
    provisional = sorted(
        {info.day.year for info in days if official(info.day).source is Source.provisional}
    )
    return CalendarOut(days=[_day_out(info) for info in days], provisional_years=provisional)


@router.get("/admin/calendar/days/{day}", response_model=DayOverview, tags=["admin"])
async def read_day(day: Day, staff: CurrentStaff, session: SessionDep) -> DayOverview:
    """The official day and every override of it you can see."""
    rows = await service.set_days_of(session, staff, day)
    return DayOverview(
        official=_day_out(official(day)), set=[DaySetOut.model_validate(row) for row in rows]
    )


@router.delete("/admin/calendar/days/{day}", status_code=status.HTTP_204_NO_CONTENT, tags=["admin"])
async def clear_day(
    day: Day,
    staff: CurrentStaff,
    session: SessionDep,
    district: District = None,
    center_id: CenterId = None,
) -> Response:
    """Remove one scope's override of ``day``."""
    await service.clear_day(session, staff, day, district=district, center_id=center_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
