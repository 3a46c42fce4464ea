"""What the ORM reads to ask the booking rules a question that writes nothing:
the snapshot a personal booking would be decided on (``rules.decide``), for
the waitlist (is a range full, who in line could take a freed place), and
whether a space has doors. Every write that makes a reservation hold time
reads its own snapshot in the booking store (``store.py``)."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.holidays.days import DayPlan
from app.holidays.service import space_plan
from app.models import (
    HOLDING_STATUSES,
    Closure,
    Door,
    OpeningHours,
    QuotaRule,
    QuotaSubject,
    Reservation,
    Space,
    User,
    overlapping,
)
from app.quotas.rules import QuotaUse
from app.quotas.service import Subject, rules_for_space, usage
from app.reservations.rules import Booker, Holder, Snapshot, SpaceView
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
        check_in_opens_minutes=space.check_in_opens_minutes,
        requires_check_in=space.requires_check_in,
        no_show_after_minutes=space.no_show_after_minutes,
        buffer_minutes=space.buffer_minutes,
    )


async def holders(session: AsyncSession, space_id: int, interval: Interval) -> list[Holder]:
    rows = await session.execute(
        select(
            Reservation.starts_at, Reservation.ends_at, Reservation.attendees, Reservation.user_id
        ).where(
            Reservation.space_id == space_id,
            Reservation.status.in_(HOLDING_STATUSES),
            overlapping(interval.start, interval.end),
        )
    )
    return [Holder(start, end, seats, user_id) for start, end, seats, user_id in rows]


async def personal_snapshot(
    session: AsyncSession, user: User, space: Space, interval: Interval, now: datetime
) -> Snapshot:
    """Everything ``rules.decide`` needs for a personal booking of ``interval``,
    read through the ORM: for the waitlist's questions (is it full? who in line
    could take a freed place?), which write nothing. Quota use counts what this
    transaction has written so far."""
    booker = Booker(
        user.id,
        user.is_active,
        user.real_name_verified,
        await suspended_until(session, user.id, space.center_id, now),
    )
    subject = Subject(QuotaSubject.user, user.id)
    quotas = []
    for rule in (await session.scalars(rules_for_space(space).order_by(QuotaRule.id))).all():
        if rule.subject is QuotaSubject.user:
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
        holders=tuple(await holders(session, space.id, interval)),
        organization=None,
        quotas=tuple(quotas),
    )
