"""Staff's overrides of the official calendar, and the calendar as the API
shows it: each day's kind at a center, in a district or everywhere."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.centers.service import get_center_in_scope
from app.core.errors import Forbidden, NotFound, Text
from app.holidays.days import DayInfo, DayPlan, Override, plan_for, resolve, scope_of
from app.identity.principals import StaffPrincipal
from app.models import CalendarDay, Center, DayKind, Space

CALENDAR_DAY = Text("日历设置", "calendar day")
EVERYWHERE_ONLY_SUPER = Text(
    "只有超级管理员可以设置全市通用的日子", "Only super admins set days for everywhere"
)
OTHER_DISTRICT = Text("不能设置其他区的日子", "You cannot set days for another district")


async def overrides(
    session: AsyncSession, first_day: date, last_day: date, scopes: Sequence[str]
) -> dict[date, list[Override]]:
    rows = await session.execute(
        select(CalendarDay.day, CalendarDay.scope, CalendarDay.kind, CalendarDay.name).where(
            CalendarDay.day.between(first_day, last_day), CalendarDay.scope.in_(scopes)
        )
    )
    found: dict[date, list[Override]] = defaultdict(list)
    for day, scope, kind, name in rows:
        found[day].append(Override(scope, kind, name))
    return found


def scopes_of(district: str | None, center_id: int | None) -> list[str]:
    scopes = [""]
    if district is not None:
        scopes.append(scope_of(district, None))
    if center_id is not None:
        scopes.append(scope_of(None, center_id))
    return scopes


async def space_plan(
    session: AsyncSession, space: Space, start: datetime, end: datetime
) -> DayPlan | None:
    """The holidays and moved workdays the space keeps within ``[start, end)``."""
    district = await session.scalar(select(Center.district).where(Center.id == space.center_id))
    first_day, last_day = (start - timedelta(days=1)).date(), (end + timedelta(days=1)).date()
    found = await overrides(session, first_day, last_day, scopes_of(district, space.center_id))
    return plan_for(start, end, found, district, space.center_id, space.holiday_policy)


async def days_between(
    session: AsyncSession,
    first_day: date,
    last_day: date,
    *,
    district: str | None = None,
    center_id: int | None = None,
) -> list[DayInfo]:
    """Each day from ``first_day`` to ``last_day`` as it holds at the center (or
    in the district, or everywhere)."""
    found = await overrides(session, first_day, last_day, scopes_of(district, center_id))
    days = []
    day = first_day
    while day <= last_day:
        days.append(resolve(day, found.get(day, ()), district, center_id))
        day += timedelta(days=1)
    return days


async def _check_scope(
    session: AsyncSession, staff: StaffPrincipal, district: str | None, center_id: int | None
) -> tuple[str | None, int | None]:
    if center_id is not None:
        center = await get_center_in_scope(session, staff, center_id)
        return None, center.id
    if district is not None:
        if not staff.covers_district(district):
            raise Forbidden(OTHER_DISTRICT)
        return district, None
    if not staff.is_super_admin:
        raise Forbidden(EVERYWHERE_ONLY_SUPER)
    return None, None


async def set_day(
    session: AsyncSession,
    staff: StaffPrincipal,
    day: date,
    kind: DayKind,
    name: str,
    *,
    district: str | None,
    center_id: int | None,
) -> CalendarDay:
    """Declare ``day`` a holiday or a workday in one scope (replacing what was set)."""
    district, center_id = await _check_scope(session, staff, district, center_id)
    scope = scope_of(district, center_id)
    row = await session.scalar(
        select(CalendarDay)
        .where(CalendarDay.day == day, CalendarDay.scope == scope)
        .with_for_update()
    )
    before = row.kind.value if row else None
    if row is None:
        row = CalendarDay(day=day, scope=scope, district=district, center_id=center_id)
        session.add(row)
    row.kind, row.name, row.set_by_staff_id = kind, name, staff.id
    await session.flush()
    _audit(session, staff, row, "set_day", before, kind.value)
    return row


async def clear_day(
    session: AsyncSession,
    staff: StaffPrincipal,
    day: date,
    *,
    district: str | None,
    center_id: int | None,
) -> None:
    """Drop one scope's word on ``day``: the wider one (or the official) holds again."""
    district, center_id = await _check_scope(session, staff, district, center_id)
    row = await session.scalar(
        select(CalendarDay).where(
            CalendarDay.day == day, CalendarDay.scope == scope_of(district, center_id)
        )
    )
    if row is None:
        raise NotFound(CALENDAR_DAY)
    _audit(session, staff, row, "clear_day", row.kind.value, None)
    await session.delete(row)
    await session.flush()


async def set_days_of(
    session: AsyncSession, staff: StaffPrincipal, day: date
) -> Sequence[CalendarDay]:
    """Every override of ``day`` the staff member may see."""
    covered = select(Center.id).where(staff.center_clause())
    districts = select(Center.district).where(staff.center_clause())
    query = select(CalendarDay).where(CalendarDay.day == day)
    if not staff.is_super_admin:
        query = query.where(
            or_(
                CalendarDay.scope == "",
                CalendarDay.district.in_(districts),
                CalendarDay.center_id.in_(covered),
            )
        )
    return (await session.scalars(query.order_by(CalendarDay.scope))).all()


def _audit(
    session: AsyncSession,
    staff: StaffPrincipal,
    row: CalendarDay,
    action: str,
    before: str | None,
    after: str | None,
) -> None:
    audit.record(
        session,
        staff,
        entity="calendar_day",
        entity_id=row.id,
        action=action,
        from_status=before,
        to_status=after,
        reason=f"{row.day.isoformat()} {row.scope or 'everywhere'} {row.name}"[:200],
    )
