"""What changes made through the ORM read before they decide: the space's
rules, its closures, the holders of a time, and the whole snapshot a booking
is decided on (``rules.decide``), as the booking pipeline's stores read it
with their own statements."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.holidays.days import DayPlan
from app.holidays.service import space_plan
from app.models import (
    HOLDING_STATUSES,
    Closure,
    Door,
    Membership,
    OpeningHours,
    Organization,
    OrganizationStatus,
    QuotaRule,
    QuotaSubject,
    Reservation,
    Space,
    User,
    overlapping,
)
from app.quotas.rules import QuotaUse
from app.quotas.service import Subject, rules_for_space, usage
from app.reservations.rules import Booker, Holder, OrganizationView, Snapshot, SpaceView
from app.spaces.calendar import Interval, WeeklyWindow
from app.standing.service import suspended_until


async def closure(session: AsyncSession, space_id: int, interval: Interval) -> str | None:
    return await session.scalar(
        select(Closure.reason)
        .where(
            Closure.space_id == space_id,
            Closure.starts_at < interval.end,
            Closure.ends_at > interval.start,
        )
        .limit(1)
    )


async def has_doors(session: AsyncSession, space_id: int) -> bool:
    found = await session.scalar(
        select(Door.id).where(Door.space_id == space_id, Door.is_active.is_(True)).limit(1)
    )
    return found is not None


async def space_view(session: AsyncSession, space: Space, plan: DayPlan | None = None) -> SpaceView:
    hours = await session.execute(
        select(OpeningHours.weekday, OpeningHours.opens_minute, OpeningHours.closes_minute).where(
            OpeningHours.space_id == space.id
        )
    )
    return SpaceView(
        id=space.id,
        center_id=space.center_id,
        name=space.name,
        exclusive=space.booking_mode.value == "exclusive",
        capacity=space.capacity,
        slot_minutes=space.slot_minutes,
        min_minutes=space.min_minutes,
        max_minutes=space.max_minutes,
        advance_days=space.advance_days,
        open_24h=space.open_24h,
        windows=tuple(WeeklyWindow(*row) for row in hours),
        requires_approval=space.requires_approval,
        requires_real_name=space.requires_real_name,
        requires_organization=space.requires_organization,
        has_doors=await has_doors(session, space.id),
        release_minute=space.release_minute,
        plan=plan,
    )


async def holders(
    session: AsyncSession, space_id: int, interval: Interval, *, excluding: int
) -> list[Holder]:
    rows = await session.execute(
        select(
            Reservation.starts_at, Reservation.ends_at, Reservation.attendees, Reservation.user_id
        ).where(
            Reservation.space_id == space_id,
            Reservation.status.in_(HOLDING_STATUSES),
            overlapping(interval.start, interval.end),
            Reservation.id != excluding,
        )
    )
    return [Holder(start, end, seats, user_id) for start, end, seats, user_id in rows]


async def personal_snapshot(
    session: AsyncSession,
    user: User,
    space: Space,
    interval: Interval,
    now: datetime,
    *,
    excluding: int | None = None,
) -> Snapshot:
    """Everything ``rules.decide`` needs for a personal booking of ``interval``,
    read through the ORM (leaving out the reservation ``excluding``)."""
    return await booking_snapshot(session, user, space, interval, now, excluding=excluding)


async def booking_snapshot(
    session: AsyncSession,
    user: User,
    space: Space,
    interval: Interval,
    now: datetime,
    *,
    organization_id: int | None = None,
    excluding: int | None = None,
) -> Snapshot:
    """Everything ``rules.decide`` needs for a booking of ``interval``, personal
    or on an organization's account, read through the ORM (leaving out the
    reservation ``excluding``). Quota use counts what this transaction has
    written so far, so a series counts its own occurrences."""
    booker = Booker(
        user.id,
        user.is_active,
        user.real_name_verified,
        await suspended_until(session, user.id, space.center_id, now),
    )
    kind = QuotaSubject.user if organization_id is None else QuotaSubject.organization
    subject = Subject(kind, user.id if organization_id is None else organization_id)
    quotas = []
    for rule in (await session.scalars(rules_for_space(space).order_by(QuotaRule.id))).all():
        if rule.subject is kind:
            used = await usage(session, rule, subject, interval.start, now)
            quotas.append(
                QuotaUse(rule.metric, rule.space_id, rule.center_id, rule.max_value, used)
            )
    return Snapshot(
        booker=booker,
        space=(
            await space_view(
                session, space, await space_plan(session, space, interval.start, interval.end)
            )
            if space.is_active
            else None
        ),
        closure=await closure(session, space.id, interval),
        holders=tuple(await holders(session, space.id, interval, excluding=excluding or 0)),
        organization=await _organization(session, organization_id, user.id),
        quotas=tuple(quotas),
    )


async def _organization(
    session: AsyncSession, organization_id: int | None, user_id: int
) -> OrganizationView | None:
    if organization_id is None:
        return None
    organization = await session.get(Organization, organization_id)
    if organization is None:
        return None
    member = await session.scalar(
        select(Membership.user_id).where(
            Membership.organization_id == organization_id, Membership.user_id == user_id
        )
    )
    return OrganizationView(
        organization.id,
        organization.name,
        organization.status is OrganizationStatus.verified,
        member is not None,
    )
