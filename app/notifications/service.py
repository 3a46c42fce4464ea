"""Notifications: written in the transaction of the change they tell of, read
from the inbox, sent to WeChat by the sender (``sender.py``).

A change calls ``tell_booker`` / ``tell_staff_covering`` / ``tell_organization``
/ ``tell_staff_of_organization`` / ``tell_user`` with the session it changes
things in: the rows commit with the change or not at all (docs/ARCHITECTURE.md,
invariant 10). A user's notification is queued for WeChat at once; whether a
message goes out is the sender's decision (is there a template for the kind,
a credit for the template), so the services that change things need no
settings.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import utcnow
from app.core.errors import NotFound, Text
from app.identity.principals import StaffPrincipal
from app.models import (
    Center,
    Delivery,
    MemberRole,
    Membership,
    Notification,
    NotificationKind,
    Organization,
    Reservation,
    Space,
    Staff,
    StaffRole,
    StaffScope,
    Suspension,
    ancestor_ids,
    staff_centers,
)
from app.notifications.texts import booking_values, local_time, render

NOTIFICATION = Text("通知", "notification")


async def tell_booker(
    session: AsyncSession,
    kind: NotificationKind,
    reservation: Reservation,
    *,
    reason: str | None = None,
    now: datetime | None = None,
    extra: dict[str, str] | None = None,
) -> Notification:
    """Tell the person who booked ``reservation`` (as it is now) about it."""
    center_id, values = await _booking_values(session, reservation, reason)
    values |= extra or {}
    return _add(
        session,
        kind,
        values,
        now or utcnow(),
        user_id=reservation.user_id,
        reservation_id=reservation.id,
        center_id=center_id,
    )


async def tell_staff_covering(
    session: AsyncSession, kind: NotificationKind, reservation: Reservation, now: datetime
) -> list[Notification]:
    """Tell every active staff member whose scope covers the booking's center."""
    center_id, values = await _booking_values(session, reservation, None)
    staff_ids = (await session.scalars(select(Staff.id).where(_covers(center_id)))).all()
    return [
        _add(
            session,
            kind,
            dict(values),
            now,
            staff_id=staff_id,
            reservation_id=reservation.id,
            center_id=center_id,
        )
        for staff_id in staff_ids
    ]


async def tell_organization(
    session: AsyncSession,
    kind: NotificationKind,
    organization: Organization,
    *,
    reason: str | None = None,
    now: datetime | None = None,
) -> list[Notification]:
    """Tell the organization's owners (who registered it, or took it over)."""
    owners = (
        await session.scalars(
            select(Membership.user_id).where(
                Membership.organization_id == organization.id,
                Membership.role == MemberRole.owner,
            )
        )
    ).all()
    values = {"organization_name": organization.name, "reason": reason or ""}
    at = now or utcnow()
    return [
        _add(session, kind, dict(values), at, user_id=user_id, organization_id=organization.id)
        for user_id in owners
    ]


async def tell_staff_of_organization(
    session: AsyncSession,
    kind: NotificationKind,
    organization: Organization,
    *,
    reason: str | None = None,
    now: datetime | None = None,
) -> list[Notification]:
    """Tell the active staff who decide on the organization: those covering
    its home center, and super admins (the only ones when it names none)."""
    center_id = organization.center_id
    if center_id is None:
        covering = and_(Staff.is_active.is_(True), Staff.role == StaffRole.super_admin)
    else:
        covering = _covers(center_id)
    staff_ids = (await session.scalars(select(Staff.id).where(covering).order_by(Staff.id))).all()
    values = {"organization_name": organization.name, "reason": reason or ""}
    at = now or utcnow()
    return [
        _add(
            session,
            kind,
            dict(values),
            at,
            staff_id=staff_id,
            organization_id=organization.id,
            center_id=center_id,
        )
        for staff_id in staff_ids
    ]


def tell_user(
    session: AsyncSession,
    kind: NotificationKind,
    user_id: int,
    values: dict[str, str],
    now: datetime,
    *,
    center_id: int | None = None,
    reservation_id: int | None = None,
    organization_id: int | None = None,
    activity_id: int | None = None,
) -> Notification:
    """Tell a user something whose values the caller already has."""
    return _add(
        session,
        kind,
        values,
        now,
        user_id=user_id,
        center_id=center_id,
        reservation_id=reservation_id,
        organization_id=organization_id,
        activity_id=activity_id,
    )


async def tell_suspended(session: AsyncSession, suspension: Suspension, now: datetime) -> None:
    center = await session.get(Center, suspension.center_id)
    assert center is not None
    values = {
        "center_name": center.name,
        "center_address": center.address,
        "start": local_time(suspension.starts_at),
        "end": local_time(suspension.until),
    }
    tell_user(
        session,
        NotificationKind.booking_suspended,
        suspension.user_id,
        values,
        now,
        center_id=center.id,
    )


def tell_real_name_rebound(
    session: AsyncSession, user_id: int, center: Center, now: datetime
) -> None:
    """The account that lost its ID number to its true holder hears at which
    counter (not to whom)."""
    values = {"center_name": center.name, "center_address": center.address}
    tell_user(
        session, NotificationKind.real_name_rebound, user_id, values, now, center_id=center.id
    )


def covering(center_id: int) -> ColumnElement[bool]:
    """The active staff whose scope covers the center (who may be given its work)."""
    return _covers(center_id)


def _covers(center_id: int) -> ColumnElement[bool]:
    """The active staff whose scope covers the center (as ``StaffPrincipal``
    decides, and ``outbox.STAFF_COVERING`` on the hot path)."""
    here = select(Center.district, Center.street).where(Center.id == center_id).subquery()
    in_street = exists().where(here.c.district == Staff.district, here.c.street == Staff.street)
    in_district = exists().where(here.c.district == Staff.district)
    upward = ancestor_ids(center_id)
    assigned = exists().where(
        staff_centers.c.staff_id == Staff.id,
        or_(
            staff_centers.c.center_id == center_id,
            and_(
                Staff.scope == StaffScope.subtree,
                staff_centers.c.center_id.in_(select(upward.c.id)),
            ),
        ),
    )
    return and_(
        Staff.is_active.is_(True),
        or_(
            Staff.role == StaffRole.super_admin,
            and_(Staff.role == StaffRole.district_admin, in_district),
            and_(Staff.role == StaffRole.street_admin, in_street),
            and_(Staff.role == StaffRole.center_admin, assigned),
        ),
    )


async def _booking_values(
    session: AsyncSession, reservation: Reservation, reason: str | None
) -> tuple[int, dict[str, str]]:
    found = (
        await session.execute(
            select(Space.name, Center.id, Center.name, Center.address, Organization.name)
            .join(Center, Center.id == Space.center_id)
            .outerjoin(Organization, Organization.id == reservation.organization_id)
            .where(Space.id == reservation.space_id)
        )
    ).one()
    space_name, center_id, center_name, address, organization_name = found
    values = booking_values(
        space_name=space_name,
        center_name=center_name,
        center_address=address,
        start=reservation.starts_at,
        end=reservation.ends_at,
        status=reservation.status,
        reservation_id=reservation.id,
        reason=reason,
        organization_name=organization_name,
    )
    return center_id, values


def _add(
    session: AsyncSession,
    kind: NotificationKind,
    values: dict[str, str],
    now: datetime,
    *,
    user_id: int | None = None,
    staff_id: int | None = None,
    reservation_id: int | None = None,
    organization_id: int | None = None,
    center_id: int | None = None,
    activity_id: int | None = None,
) -> Notification:
    title, body = render(kind, values)
    notification = Notification(
        user_id=user_id,
        staff_id=staff_id,
        kind=kind,
        title=title,
        body=body[:400],
        reservation_id=reservation_id,
        organization_id=organization_id,
        center_id=center_id,
        activity_id=activity_id,
        fields=values,
        created_at=now,
        delivery=Delivery.queued if user_id is not None else Delivery.inbox,
        attempts=0,
        next_attempt_at=now if user_id is not None else None,
    )
    session.add(notification)
    return notification


# --- the inbox ----------------------------------------------------------------------------


def _recipient(user_id: int | None, staff_id: int | None) -> ColumnElement[bool]:
    if user_id is not None:
        return Notification.user_id == user_id
    return Notification.staff_id == staff_id


async def inbox(
    session: AsyncSession,
    *,
    user_id: int | None = None,
    staff_id: int | None = None,
    unread: bool | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Notification], int, int]:
    """A page of the recipient's notifications, newest first, with the total
    and the number unread."""
    mine = _recipient(user_id, staff_id)
    query = select(Notification).where(mine)
    if unread is True:
        query = query.where(Notification.read_at.is_(None))
    elif unread is False:
        query = query.where(Notification.read_at.is_not(None))
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    unread_count = await session.scalar(
        select(func.count()).where(mine, Notification.read_at.is_(None))
    )
    rows = await session.scalars(query.order_by(Notification.id.desc()).limit(limit).offset(offset))
    return rows.all(), int(total or 0), int(unread_count or 0)


async def mark_read(
    session: AsyncSession,
    notification_id: int,
    *,
    user_id: int | None = None,
    staff_id: int | None = None,
) -> Notification:
    """Read stays read: a second call keeps the first time."""
    notification = await session.scalar(
        select(Notification).where(
            Notification.id == notification_id, _recipient(user_id, staff_id)
        )
    )
    if notification is None:  # someone else's is as unknown as a missing one
        raise NotFound(NOTIFICATION)
    if notification.read_at is None:
        notification.read_at = utcnow()
        await session.flush()
    return notification


async def mark_all_read(
    session: AsyncSession, *, user_id: int | None = None, staff_id: int | None = None
) -> int:
    result = await session.execute(
        update(Notification)
        .where(_recipient(user_id, staff_id), Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def dead_letters(
    session: AsyncSession, staff: StaffPrincipal, *, limit: int, offset: int
) -> tuple[Sequence[Notification], int]:
    """Failed sends about the staff member's centers (super admins: all)."""
    query = select(Notification).where(Notification.delivery == Delivery.failed)
    if not staff.is_super_admin:
        in_scope = select(Center.id).where(staff.center_clause())
        query = query.where(Notification.center_id.in_(in_scope))
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(query.order_by(Notification.id.desc()).limit(limit).offset(offset))
    return rows.all(), int(total or 0)
