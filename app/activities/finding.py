"""Finding activities: published ones for anyone, by days, place, category,
distance and words; one activity as its reader may see it."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.activities.categories import CATEGORY_LABELS
from app.activities.schemas import ActivityOut, Venue
from app.activities.service import ACTIVITY, managed, may_manage
from app.centers.service import GeoPoint, metres_from
from app.core.errors import AppError, NotFound, Text
from app.identity.principals import Actor, StaffPrincipal
from app.models import (
    Activity,
    ActivityCategory,
    ActivitySignup,
    ActivityStatus,
    Center,
    Reservation,
    ReservationStatus,
    Space,
)

# What a list of activities may span at most, and spans without `to`.
MAX_LIST_DAYS = 92
DEFAULT_LIST_DAYS = 30


class InvalidListRange(AppError):
    status = 422
    code = "invalid_range"
    title = Text("查询范围无效", "Invalid range")
    detail = Text(
        "结束日期须不早于开始日期，且最多查询 {days} 天",
        "`to` must not be before `from`, and a list spans at most {days} days",
    )


# --- reading ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivitySearch:
    first_day: date
    last_day: date
    center_id: int | None = None
    district: str | None = None
    street: str | None = None
    category: ActivityCategory | None = None
    near: GeoPoint | None = None
    radius_m: float = 3000.0
    q: str | None = None


def list_range(first: date | None, last: date | None, today: date) -> tuple[date, date]:
    """The days a list spans: from today and 30 days on unless told."""
    first = first or today
    last = last or first + timedelta(days=DEFAULT_LIST_DAYS - 1)
    if last < first or (last - first).days >= MAX_LIST_DAYS:
        raise InvalidListRange(days=MAX_LIST_DAYS)
    return first, last


async def get_visible(session: AsyncSession, actor: Actor | None, activity_id: int) -> ActivityOut:
    """A published or completed activity for anyone; a draft or a cancelled
    one only for those who manage it (and cancelled for its participants)."""
    row = (
        await session.execute(
            select(Activity, Center)
            .join(Center, Center.id == Activity.center_id)
            .where(Activity.id == activity_id)
        )
    ).first()
    if row is None:
        raise NotFound(ACTIVITY)
    activity, center = row
    public = activity.status in (ActivityStatus.published, ActivityStatus.completed)
    if not public and not await _may_see_unpublished(session, actor, activity):
        raise NotFound(ACTIVITY)
    return (await rows_out(session, [(activity, center)], None))[0]


async def _may_see_unpublished(
    session: AsyncSession, actor: Actor | None, activity: Activity
) -> bool:
    if actor is None:
        return False
    if await may_manage(session, actor, activity):
        return True
    if activity.status is not ActivityStatus.cancelled or isinstance(actor, StaffPrincipal):
        return False
    signed_up = await session.scalar(
        select(ActivitySignup.id).where(
            ActivitySignup.activity_id == activity.id, ActivitySignup.user_id == actor.id
        )
    )
    return signed_up is not None


async def managed_out(session: AsyncSession, actor: Actor, activity_id: int) -> ActivityOut:
    activity = await managed(session, actor, activity_id)
    center = await session.get(Center, activity.center_id)
    assert center is not None
    return (await rows_out(session, [(activity, center)], None))[0]


async def outs(session: AsyncSession, activities: Sequence[Activity]) -> list[ActivityOut]:
    centers = {
        center.id: center
        for center in await session.scalars(
            select(Center).where(Center.id.in_({activity.center_id for activity in activities}))
        )
    }
    return await rows_out(
        session, [(activity, centers[activity.center_id]) for activity in activities], None
    )


async def rows_out(
    session: AsyncSession,
    rows: Sequence[tuple[Activity, Center]],
    origin: GeoPoint | None,
) -> list[ActivityOut]:
    space_ids = {activity.space_id for activity, _ in rows if activity.space_id is not None}
    spaces = {
        space.id: space.name
        for space in await session.scalars(select(Space).where(Space.id.in_(space_ids)))
    }
    reservation_ids = {a.reservation_id for a, _ in rows if a.reservation_id is not None}
    statuses = select(Reservation.id, Reservation.status).where(Reservation.id.in_(reservation_ids))
    venue_status = {row.id: row.status for row in await session.execute(statuses)}
    return [_out(activity, center, spaces, venue_status, origin) for activity, center in rows]


def _out(
    activity: Activity,
    center: Center,
    spaces: dict[int, str],
    venue_status: dict[int, ReservationStatus],
    origin: GeoPoint | None,
) -> ActivityOut:
    space_name = spaces.get(activity.space_id) if activity.space_id is not None else None
    reservation_id = activity.reservation_id
    return ActivityOut(
        id=activity.id,
        title=activity.title,
        description=activity.description,
        category=activity.category,
        category_label=CATEGORY_LABELS[activity.category],
        center_id=center.id,
        center_name=center.name,
        district=center.district,
        street=center.street,
        venue=Venue(
            space_id=activity.space_id,
            name=space_name or activity.place_text,
            address=center.address,
            reservation_id=reservation_id,
            reservation_status=venue_status.get(reservation_id) if reservation_id else None,
        ),
        start=activity.starts_at,
        end=activity.ends_at,
        capacity=activity.capacity,
        signed_up=activity.confirmed_attendees,
        remaining=max(activity.capacity - activity.confirmed_attendees, 0),
        signup_opens_at=activity.signup_opens_at,
        signup_closes_at=activity.signup_closes_at,
        audience=activity.audience,
        requires_real_name=activity.requires_real_name,
        organization_id=activity.organization_id,
        course_id=activity.course_id,
        status=activity.status,
        status_reason=activity.status_reason,
        attended=activity.attended,
        walk_ins=activity.walk_ins,
        distance_m=None if origin is None else metres_from(origin, center),
    )
