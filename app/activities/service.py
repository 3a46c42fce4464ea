"""Creating, publishing, cancelling and finding activities.

An activity with a ``space_id`` holds its venue through the booking store
(``app/reservations/store.py``) like any booking, so it never holds a room
the rules would refuse: created by staff, the venue is the center's own event
(``app/admin/events.py``: no quota, window or real name; refused over holding
bookings); created by an organisation's owner, it is the organisation's
booking, decided by every rule (approval, quotas, real name, the window).
The venue's booking and the activity row are two transactions: the booking
first; if the activity cannot be written after it, the booking is cancelled
again (docs/ARCHITECTURE.md, "Activities").

An activity is published only once its venue is confirmed: in a space that
needs approval it waits, a draft, as its booking waits for staff.
"""

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, timedelta

import orjson
from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.activities.categories import CATEGORY_LABELS
from app.activities.schemas import ActivityCreate, ActivityOut, Venue
from app.admin import events
from app.centers.service import CENTER, GeoPoint, distance_m, get_center_in_scope, near_box
from app.core.clock import local_midnight, utcnow
from app.core.db import Database
from app.core.errors import AppError, Forbidden, InvalidTransition, NotFound, Text
from app.identity.principals import Actor, StaffPrincipal
from app.models import (
    Activity,
    ActivityCategory,
    ActivitySignup,
    ActivityStatus,
    Center,
    MemberRole,
    Membership,
    NotificationKind,
    Organization,
    OrganizationStatus,
    Reservation,
    ReservationStatus,
    SignupStatus,
    Space,
    User,
    new_check_in_token,
)
from app.notifications import service as notifications
from app.notifications.texts import activity_values
from app.reservations.booking import BookingRequest
from app.reservations.rules import Wanted
from app.reservations.service import cancel_holding
from app.reservations.store import BookingStore
from app.spaces.calendar import SPACE, Interval

ACTIVITY = Text("活动", "activity")
ORGANIZATION = Text("组织", "organization")
# Live sign-ups: those that hold a place or wait for one.
LIVE_SIGNUPS = (SignupStatus.confirmed, SignupStatus.waiting)
# What a list of activities may span at most, and spans without `to`.
MAX_LIST_DAYS = 92
DEFAULT_LIST_DAYS = 30


class OrganiserOnly(AppError):
    status = 403
    code = "organiser_only"
    title = Text("无权组织活动", "Not an organiser")
    detail = Text(
        "活动由中心工作人员或已认证组织的负责人发起",
        "Staff of the center, or the owner of a verified organisation, create activities",
    )


class OrganizationNotVerified(AppError):
    status = 409
    code = "organization_not_verified"
    title = Text("组织尚未认证", "Organisation not verified")
    detail = Text("组织通过中心认证后才能发起活动", "A verified organisation may organise")


class SpaceNotInCenter(AppError):
    status = 422
    code = "space_not_in_center"
    title = Text("场地不属于该中心", "Space not in that center")
    detail = Text("活动场地须是该中心的空间", "The venue must be a space of the center")


class VenuePending(AppError):
    status = 409
    code = "venue_pending"
    title = Text("场地预约待审批", "Venue awaiting approval")
    detail = Text(
        "活动场地的预约尚待工作人员审批，批准后方可发布",
        "The venue's booking waits for staff approval; publish once it is approved",
    )


class VenueLost(AppError):
    status = 409
    code = "venue_lost"
    title = Text("场地预约已失效", "Venue booking no longer holds")
    detail = Text(
        "活动场地的预约已被拒绝或取消，请取消活动或重新发起",
        "The venue's booking was rejected or cancelled: cancel the activity or create it anew",
    )


class InvalidListRange(AppError):
    status = 422
    code = "invalid_range"
    title = Text("查询范围无效", "Invalid range")
    detail = Text(
        "结束日期须不早于开始日期，且最多查询 {days} 天",
        "`to` must not be before `from`, and a list spans at most {days} days",
    )


# --- who may organise -------------------------------------------------------------------


async def owned_verified_organization(
    session: AsyncSession, user: User, organization_id: int | None
) -> Organization:
    """The verified organisation ``user`` owns, for organising in its name."""
    if organization_id is None:
        raise OrganiserOnly()
    organization = await session.get(Organization, organization_id)
    role = await session.scalar(
        select(Membership.role).where(
            Membership.organization_id == organization_id, Membership.user_id == user.id
        )
    )
    if organization is None or role is None:
        raise NotFound(ORGANIZATION)
    if role is not MemberRole.owner:
        raise OrganiserOnly()
    if organization.status is not OrganizationStatus.verified:
        raise OrganizationNotVerified()
    return organization


async def may_manage(session: AsyncSession, actor: Actor, activity: Activity) -> bool:
    """Staff covering the activity's center, or the organising organisation's owner."""
    if isinstance(actor, StaffPrincipal):
        center = await session.get(Center, activity.center_id)
        return center is not None and actor.covers_center(center)
    if activity.organization_id is None:
        return False
    role = await session.scalar(
        select(Membership.role).where(
            Membership.organization_id == activity.organization_id,
            Membership.user_id == actor.id,
        )
    )
    return role is MemberRole.owner


async def managed(
    session: AsyncSession, actor: Actor, activity_id: int, *, for_update: bool = False
) -> Activity:
    """The activity, if ``actor`` may manage it; staff out of scope get 403,
    anyone else 404 (as if it did not exist, when it is not public)."""
    query = select(Activity).where(Activity.id == activity_id)
    if for_update:
        query = query.with_for_update()
    activity = await session.scalar(query)
    if activity is None:
        raise NotFound(ACTIVITY)
    if await may_manage(session, actor, activity):
        return activity
    if isinstance(actor, StaffPrincipal):
        raise Forbidden()
    if activity.status is ActivityStatus.draft:
        raise NotFound(ACTIVITY)
    raise OrganiserOnly()


# --- creating ---------------------------------------------------------------------------


async def create(
    database: Database, bookings: BookingStore, actor: Actor, data: ActivityCreate
) -> Activity:
    """Check who organises, hold the venue through the booking store, then
    write the activity (a draft, or published if asked and the venue is confirmed)."""
    async with database.writer.begin() as session:
        await _check_organiser(session, actor, data)
        space = await _venue_space(session, data)
    reservation_id = None
    if space is not None:
        reservation_id = await _hold_venue(database, bookings, actor, data)
    try:
        async with database.writer.begin() as session:
            activity = _new_activity(actor, data, reservation_id)
            session.add(activity)
            await session.flush()
            if data.publish:
                # In a space that needs approval it stays a draft while its venue waits.
                with suppress(VenuePending):
                    await _publish(session, activity)
            return activity
    except BaseException:
        if reservation_id is not None:
            await _release_venue(database, actor, reservation_id, "活动未能创建")
        raise


async def _check_organiser(session: AsyncSession, actor: Actor, data: ActivityCreate) -> None:
    if isinstance(actor, StaffPrincipal):
        await get_center_in_scope(session, actor, data.center_id)
        if data.organization_id is not None and not await session.get(
            Organization, data.organization_id
        ):
            raise NotFound(ORGANIZATION)
        return
    if await session.get(Center, data.center_id) is None:
        raise NotFound(CENTER)
    await owned_verified_organization(session, actor, data.organization_id)


async def _venue_space(session: AsyncSession, data: ActivityCreate) -> Space | None:
    if data.space_id is None:
        return None
    space = await session.get(Space, data.space_id)
    if space is None or not space.is_active:
        raise NotFound(SPACE)
    if space.center_id != data.center_id:
        raise SpaceNotInCenter()
    return space


async def _hold_venue(
    database: Database, bookings: BookingStore, actor: Actor, data: ActivityCreate
) -> int:
    assert data.space_id is not None
    if isinstance(actor, StaffPrincipal):
        event = events.EventCreate(title=data.title, start=data.start, end=data.end, public=True)
        reservation, _ = await events.hold(database, bookings, actor, data.space_id, event)
        return reservation.id
    wanted = Wanted(
        space_id=data.space_id,
        interval=Interval(data.start.astimezone(UTC), data.end.astimezone(UTC)),
        attendees=data.capacity,
        organization_id=data.organization_id,
    )
    answer = await bookings.book(BookingRequest(actor.id, wanted, data.title, None, utcnow()))
    return int(orjson.loads(answer.body)["id"])


def _new_activity(actor: Actor, data: ActivityCreate, reservation_id: int | None) -> Activity:
    staff = isinstance(actor, StaffPrincipal)
    return Activity(
        center_id=data.center_id,
        space_id=data.space_id,
        place_text=data.place_text,
        reservation_id=reservation_id,
        organization_id=data.organization_id,
        title=data.title,
        description=data.description,
        category=data.category,
        audience=data.audience,
        requires_real_name=data.requires_real_name,
        starts_at=data.start.astimezone(UTC),
        ends_at=data.end.astimezone(UTC),
        capacity=data.capacity,
        signup_opens_at=data.signup_opens_at and data.signup_opens_at.astimezone(UTC),
        signup_closes_at=data.signup_closes_at and data.signup_closes_at.astimezone(UTC),
        status=ActivityStatus.draft,
        confirmed_attendees=0,
        walk_ins=0,
        check_in_token=new_check_in_token(),
        created_by_staff_id=actor.id if staff else None,
        created_by_user_id=None if staff else actor.id,
    )


async def _release_venue(database: Database, actor: Actor, reservation_id: int, why: str) -> None:
    async with database.writer.begin() as session:
        await release_venue(session, actor, reservation_id, why)


async def release_venue(
    session: AsyncSession, actor: Actor | None, reservation_id: int | None, why: str
) -> None:
    """Cancel the venue's booking if it still holds the time."""
    if reservation_id is None:
        return
    reservation = await session.scalar(
        select(Reservation).where(Reservation.id == reservation_id).with_for_update()
    )
    holding = (ReservationStatus.pending, ReservationStatus.confirmed, ReservationStatus.held)
    if reservation is not None and reservation.status in holding:
        await cancel_holding(session, actor, reservation, why)


# --- publishing and cancelling ---------------------------------------------------------


async def publish(session: AsyncSession, actor: Actor, activity_id: int) -> Activity:
    activity = await managed(session, actor, activity_id, for_update=True)
    if activity.status is not ActivityStatus.draft:
        raise InvalidTransition(
            Text("只有草稿可以发布", "Only a draft can be published")
        ).with_extra(activity_status=activity.status.value)
    await _publish(session, activity)
    return activity


async def _publish(session: AsyncSession, activity: Activity) -> None:
    if activity.reservation_id is not None:
        status = await session.scalar(
            select(Reservation.status).where(Reservation.id == activity.reservation_id)
        )
        if status is ReservationStatus.pending:
            raise VenuePending()
        if status not in (ReservationStatus.confirmed, ReservationStatus.checked_in):
            raise VenueLost()
    now = utcnow()
    activity.status = ActivityStatus.published
    activity.published_at = now
    activity.updated_at = now


async def cancel(session: AsyncSession, actor: Actor, activity_id: int, reason: str) -> Activity:
    """Cancel a draft or published activity: every participant told, every
    sign-up ended, the venue released."""
    activity = await managed(session, actor, activity_id, for_update=True)
    if activity.status not in (ActivityStatus.draft, ActivityStatus.published):
        raise InvalidTransition(
            Text("该活动已结束或已取消", "The activity is over or cancelled already")
        ).with_extra(activity_status=activity.status.value)
    now = utcnow()
    signups = (
        await session.scalars(
            select(ActivitySignup)
            .where(
                ActivitySignup.activity_id == activity.id,
                ActivitySignup.status.in_(LIVE_SIGNUPS),
            )
            .with_for_update()
        )
    ).all()
    values = await message_values(session, activity)
    for signup in signups:
        signup.status = SignupStatus.cancelled
        signup.cancelled_at = now
        notifications.tell_user(
            session,
            NotificationKind.activity_cancelled,
            signup.user_id,
            {**values, "reason": reason},
            now,
            center_id=activity.center_id,
            activity_id=activity.id,
        )
    activity.confirmed_attendees = 0
    activity.status = ActivityStatus.cancelled
    activity.status_reason = reason
    activity.updated_at = now
    await release_venue(session, actor, activity.reservation_id, f"活动取消：{reason}"[:200])
    return activity


async def message_values(session: AsyncSession, activity: Activity) -> dict[str, str]:
    """The placeholders every message about ``activity`` fills."""
    center = await session.get(Center, activity.center_id)
    assert center is not None
    place = activity.place_text or center.address
    if activity.space_id is not None:
        space = await session.get(Space, activity.space_id)
        place = space.name if space is not None else place
    return activity_values(
        activity.id, activity.title, center.name, place, activity.starts_at, activity.ends_at
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


def _published(search: ActivitySearch) -> Select[Activity, Center]:
    query = (
        select(Activity, Center)
        .join(Center, Center.id == Activity.center_id)
        .where(
            Activity.status.in_((ActivityStatus.published, ActivityStatus.completed)),
            Activity.starts_at < local_midnight(search.last_day + timedelta(days=1)),
            Activity.ends_at > local_midnight(search.first_day),
        )
    )
    if search.center_id is not None:
        query = query.where(Activity.center_id == search.center_id)
    if search.district:
        query = query.where(Center.district == search.district)
    if search.street:
        query = query.where(Center.street == search.street)
    if search.category is not None:
        query = query.where(Activity.category == search.category)
    if search.near is not None:
        query = query.where(near_box(search.near, search.radius_m))
    if search.q:
        pattern = "%" + search.q.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        pattern += "%"
        query = query.where(
            or_(
                Activity.title.like(pattern, escape="\\"),
                Activity.description.like(pattern, escape="\\"),
            )
        )
    return query


async def search(
    session: AsyncSession, search: ActivitySearch, *, limit: int, offset: int
) -> tuple[list[ActivityOut], int]:
    """Published (and completed) activities in the days asked, soonest first;
    with ``near``, those whose center lies within ``radius_m``, nearest first."""
    query = _published(search)
    if search.near is None:
        total = await session.scalar(select(func.count()).select_from(query.subquery()))
        page = query.order_by(Activity.starts_at, Activity.id).limit(limit).offset(offset)
        rows = [(activity, center) for activity, center in await session.execute(page)]
        return await _outs(session, rows, search.near), int(total or 0)
    # The box is a square around the point; the circle is cut here, nearest first.
    found = [(activity, center) for activity, center in await session.execute(query)]
    origin = search.near
    within = [
        (activity, center)
        for activity, center in found
        if distance_m(origin, GeoPoint(center.lat, center.lng)) <= search.radius_m
    ]
    within.sort(
        key=lambda row: (
            distance_m(origin, GeoPoint(row[1].lat, row[1].lng)),
            row[0].starts_at,
            row[0].id,
        )
    )
    return await _outs(session, within[offset : offset + limit], origin), len(within)


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
    return (await _outs(session, [(activity, center)], None))[0]


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
    return (await _outs(session, [(activity, center)], None))[0]


async def outs(session: AsyncSession, activities: Sequence[Activity]) -> list[ActivityOut]:
    centers = {
        center.id: center
        for center in await session.scalars(
            select(Center).where(Center.id.in_({activity.center_id for activity in activities}))
        )
    }
    return await _outs(
        session, [(activity, centers[activity.center_id]) for activity in activities], None
    )


async def _outs(
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
    # .all(): a Result has keys(), and dict() would take it for a mapping.
    venue = select(Reservation.id, Reservation.status).where(Reservation.id.in_(reservation_ids))
    venue_status = dict((await session.execute(venue)).all())
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
        distance_m=None
        if origin is None
        else round(distance_m(origin, GeoPoint(center.lat, center.lng))),
    )
