"""Bookings follow the center's changes: a closure, new opening hours or a day
declared a holiday (or a workday) may leave holding bookings outside the
space's time (``app/spaces/affected.py`` finds them, and refuses the change
when it does not say what to do with them). Here the change is made and they
are settled: kept (each audited as kept), or cancelled by the staff member
with the change's reason, through the same path as every staff cancellation
(door code revoked, waitlist offer ended, audited), their bookers told
(``booking_cancelled_by_closure``).

Locks: the spaces first (the change locks them), then the bookings, the order
every booking takes them in.
"""

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.core.clock import local_midnight, utcnow
from app.holidays import service as holidays
from app.identity.principals import StaffPrincipal
from app.models import (
    HOLDING_STATUSES,
    CalendarDay,
    Center,
    Closure,
    DayKind,
    NotificationKind,
    Reservation,
    ReservationStatus,
    Space,
)
from app.notifications import service as notifications
from app.reservations.service import ENTITY, cancel_holding
from app.spaces import closures
from app.spaces import service as spaces
from app.spaces.affected import (
    AffectedAction,
    AffectedBooking,
    newly_outside,
    outside_time,
    refuse_unless_told,
)
from app.spaces.calendar import Interval
from app.spaces.schemas import ClosureCreate, OpeningWindow, SpaceUpdate

HOURS_CHANGED = "开放时间调整"


async def add_closure(
    session: AsyncSession, staff: StaffPrincipal, space_id: int, data: ClosureCreate
) -> tuple[Closure, list[AffectedBooking]]:
    closure, affected = await closures.add_closure(session, staff, space_id, data)
    return closure, await settle(session, staff, affected, data.affected, data.reason)


async def update_space(
    session: AsyncSession, staff: StaffPrincipal, space_id: int, data: SpaceUpdate
) -> tuple[Space, list[AffectedBooking]]:
    space, affected = await spaces.change_space(session, staff, space_id, data)
    return space, await settle(session, staff, affected, data.affected, HOURS_CHANGED)


async def replace_opening_hours(
    session: AsyncSession,
    staff: StaffPrincipal,
    space_id: int,
    hours: Sequence[OpeningWindow],
    action: AffectedAction | None,
    reason: str | None,
) -> tuple[Space, list[AffectedBooking]]:
    told = {"affected": action} if action is not None else {}
    data = SpaceUpdate(opening_hours=list(hours), **told)
    space, affected = await spaces.change_space(session, staff, space_id, data)
    return space, await settle(session, staff, affected, action, reason or HOURS_CHANGED)


async def set_day(
    session: AsyncSession,
    staff: StaffPrincipal,
    day: date,
    kind: DayKind,
    name: str,
    *,
    district: str | None,
    center_id: int | None,
    action: AffectedAction | None,
) -> tuple[CalendarDay, list[AffectedBooking]]:
    """Declare ``day`` a holiday or a workday in one scope; the bookings of the
    spaces it governs that the day's new hours leave out are settled."""
    governed = select(Space.id).join(Center, Center.id == Space.center_id)
    if center_id is not None:
        governed = governed.where(Center.id == center_id)
    elif district is not None:
        governed = governed.where(Center.district == district)
    space_ids = (await session.scalars(governed.order_by(Space.id).with_for_update(of=Space))).all()
    span = Interval(local_midnight(day), local_midnight(day + timedelta(days=1)))
    now = utcnow()
    before = await outside_time(session, space_ids, span, now)
    row = await holidays.set_day(
        session, staff, day, kind, name, district=district, center_id=center_id
    )
    affected = newly_outside(before, await outside_time(session, space_ids, span, now))
    refuse_unless_told(affected, action)
    return row, await settle(session, staff, affected, action, name)


async def settle(
    session: AsyncSession,
    staff: StaffPrincipal,
    affected: list[AffectedBooking],
    action: AffectedAction | None,
    reason: str,
) -> list[AffectedBooking]:
    """Keep or cancel ``affected`` as ``action`` says; they as they are now."""
    if not affected or action is None:
        return affected
    if action is AffectedAction.keep:
        for booking in affected:
            audit.record(
                session,
                staff,
                entity=ENTITY,
                entity_id=booking.reservation_id,
                action="keep_outside_hours",
                from_status=booking.status.value,
                to_status=booking.status.value,
                reason=reason,
            )
        await session.flush()
        return affected
    rows = await session.scalars(
        select(Reservation)
        .where(
            Reservation.id.in_([booking.reservation_id for booking in affected]),
            Reservation.status.in_(HOLDING_STATUSES),
        )
        .order_by(Reservation.id)
        .with_for_update(of=Reservation)
        .execution_options(populate_existing=True)
    )
    cancelled = set()
    for reservation in rows.all():
        await cancel_holding(session, staff, reservation, reason)
        await notifications.tell_booker(
            session, NotificationKind.booking_cancelled_by_closure, reservation, reason=reason
        )
        cancelled.add(reservation.id)
    return [
        replace(booking, status=ReservationStatus.cancelled)
        if booking.reservation_id in cancelled
        else booking
        for booking in affected
    ]
