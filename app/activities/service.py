"""Creating, publishing, cancelling and finding activities.

An activity with a ``space_id`` holds its venue through the booking store
(``app/reservations/store.py``) like any booking, so it never holds a room
the rules would refuse: created by staff, the venue is the center's own event
(``app/reservations/events.py``: no quota, window or real name; refused over holding
bookings); created by an organisation's owner, it is the organisation's
booking, decided by every rule (approval, quotas, real name, the window).
The venue's booking and the activity row are two transactions: the booking
first; if the activity cannot be written after it, the booking is cancelled
again (docs/ARCHITECTURE.md, "Activities").

An activity is published only once its venue is confirmed: in a space that
needs approval it waits, a draft, as its booking waits for staff.
"""

from contextlib import suppress
from datetime import UTC

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.activities.schemas import ActivityCreate
from app.centers.service import CENTER, get_center_in_scope
from app.core.clock import utcnow
from app.core.db import Database
from app.core.errors import AppError, InvalidTransition, NotFound, OutOfScope, Text
from app.identity.principals import Actor, StaffPrincipal
from app.models import (
    Activity,
    ActivitySignup,
    ActivityStatus,
    Center,
    Course,
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
    WebhookEvent,
    new_check_in_token,
)
from app.notifications import service as notifications
from app.notifications.texts import activity_values
from app.reservations import events
from app.reservations.booking import BookingRequest
from app.reservations.errors import OrganizationNotVerified
from app.reservations.rules import Wanted
from app.reservations.service import cancel_holding
from app.reservations.store import BookingStore
from app.spaces.calendar import SPACE, Interval
from app.webhooks import outbox as webhooks

ACTIVITY = Text("活动", "activity")
ORGANIZATION = Text("组织", "organization")
ORGANISES_ONCE_VERIFIED = Text(
    "组织通过中心认证后才能发起活动", "An organisation organises activities once staff verify it"
)
# Live sign-ups: those that hold a place or wait for one.
LIVE_SIGNUPS = (SignupStatus.confirmed, SignupStatus.waiting)


class OrganiserOnly(AppError):
    status = 403
    code = "organiser_only"
    title = Text("无权组织活动", "Not an organiser")
    detail = Text(
        "活动由中心工作人员或已认证组织的负责人发起",
        "Staff of the center, or the owner of a verified organisation, create activities",
    )


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
        raise OrganizationNotVerified(ORGANISES_ONCE_VERIFIED)
    return organization


async def may_manage(session: AsyncSession, actor: Actor, activity: Activity | Course) -> bool:
    """Staff covering the activity's (or course's) center, or the organising
    organisation's owner."""
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
        raise OutOfScope(what=ACTIVITY)
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
        await check_organiser(session, actor, data)
        space = await venue_space(session, data)
    reservation_id = None
    if space is not None:
        reservation_id = await hold_venue(database, bookings, actor, data)
    try:
        async with database.writer.begin() as session:
            activity = new_activity(actor, data, reservation_id)
            session.add(activity)
            await session.flush()
            if data.publish:
                # In a space that needs approval it stays a draft while its venue waits.
                with suppress(VenuePending):
                    await _publish(session, activity)
            return activity
    except BaseException:
        if reservation_id is not None:
            await release_held_venue(database, actor, reservation_id, "活动未能创建")
        raise


# The steps of creating, shared with a course's sessions (app/activities/courses.py).


async def check_organiser(session: AsyncSession, actor: Actor, data: ActivityCreate) -> None:
    """Staff covering the center, or the owner of the verified organising organisation."""
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


async def venue_space(session: AsyncSession, data: ActivityCreate) -> Space | None:
    if data.space_id is None:
        return None
    space = await session.get(Space, data.space_id)
    if space is None or not space.is_active:
        raise NotFound(SPACE)
    if space.center_id != data.center_id:
        raise SpaceNotInCenter()
    return space


async def hold_venue(
    database: Database, bookings: BookingStore, actor: Actor, data: ActivityCreate
) -> int:
    """Book the venue in a transaction of its own; the booking's id, or its refusal raised."""
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


def new_activity(actor: Actor, data: ActivityCreate, reservation_id: int | None) -> Activity:
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


async def release_held_venue(
    database: Database, actor: Actor, reservation_id: int, why: str
) -> None:
    """Release a venue held by ``hold_venue``, in a transaction of its own."""
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
    await webhooks.enqueue(
        session,
        WebhookEvent.activity_published,
        center_id=activity.center_id,
        data=webhooks.activity_data(activity),
        now=now,
    )


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
    await webhooks.enqueue(
        session,
        WebhookEvent.activity_cancelled,
        center_id=activity.center_id,
        data=webhooks.activity_data(activity),
        now=now,
    )
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
