"""Closures: periods a space is shut (holidays, maintenance), set by staff."""

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.core.clock import utcnow
from app.core.errors import NotFound, Text
from app.identity.principals import StaffPrincipal
from app.models import Closure
from app.spaces.affected import AffectedBooking, newly_outside, outside_time, refuse_unless_told
from app.spaces.calendar import Interval, InvalidInterval
from app.spaces.schemas import ClosureCreate
from app.spaces.service import get_space_in_scope

CLOSURE = Text("闭馆安排", "closure")
MAX_CLOSURE_DAYS = 366


async def add_closure(
    session: AsyncSession, staff: StaffPrincipal, space_id: int, data: ClosureCreate
) -> tuple[Closure, list[AffectedBooking]]:
    """Close the space for ``[start, end)``. Holding bookings the closure takes
    time from are returned; without ``data.affected`` they refuse it (409)."""
    space = await get_space_in_scope(session, staff, space_id, for_update=True)
    if data.end <= data.start:
        raise InvalidInterval(Text("结束时间须晚于开始时间", "end must be after start"))
    if data.end - data.start > timedelta(days=MAX_CLOSURE_DAYS):
        raise InvalidInterval(
            Text("单次闭馆不能超过 {days} 天", "A closure may last at most {days} days"),
            days=MAX_CLOSURE_DAYS,
        )
    now = utcnow()
    span = Interval(data.start, data.end)
    before = await outside_time(session, [space.id], span, now)
    closure = Closure(
        space_id=space.id,
        starts_at=data.start,
        ends_at=data.end,
        reason=data.reason,
        created_by_staff_id=staff.id,
    )
    session.add(closure)
    await session.flush()
    affected = newly_outside(before, await outside_time(session, [space.id], span, now))
    refuse_unless_told(affected, data.affected)
    _audit(session, staff, space.id, "add_closure", data.reason)
    return closure, affected


async def list_closures(
    session: AsyncSession, staff: StaffPrincipal, space_id: int, *, include_past: bool
) -> Sequence[Closure]:
    space = await get_space_in_scope(session, staff, space_id)
    query = select(Closure).where(Closure.space_id == space.id)
    if not include_past:
        query = query.where(Closure.ends_at > utcnow())
    return (await session.scalars(query.order_by(Closure.starts_at, Closure.id))).all()


async def delete_closure(
    session: AsyncSession, staff: StaffPrincipal, space_id: int, closure_id: int
) -> None:
    space = await get_space_in_scope(session, staff, space_id, for_update=True)
    result = await session.execute(
        delete(Closure).where(Closure.id == closure_id, Closure.space_id == space.id)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(CLOSURE)
    _audit(session, staff, space.id, "delete_closure", f"closure {closure_id}")


def _audit(
    session: AsyncSession, staff: StaffPrincipal, space_id: int, action: str, reason: str
) -> None:
    audit.record(
        session,
        staff,
        entity="space",
        entity_id=space_id,
        action=action,
        from_status=None,
        to_status=None,
        reason=reason,
    )
