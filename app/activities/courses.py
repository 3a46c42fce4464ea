"""Courses (课程菜单): several sessions, one enrolment; creating, publishing,
cancelling and finding them (enrolling: ``app/activities/enrolments.py``).

Each session is an activity linked by ``course_id``, made by the activities'
own steps (``app/activities/service.py``): each venue is booked by the booking
rules in a transaction of its own, the sessions in order. If one is refused,
the venues already held are released and the refusal is answered with the
session's ``session_index`` (0 for the first): nothing remains. The course and
its sessions are then written in one transaction. A session's capacity is
the course's: its places are taken only by the course's enrolments.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.activities import places, service
from app.activities.course_schemas import CourseCreate, SessionIn
from app.activities.schemas import ActivityCreate
from app.core.clock import utcnow
from app.core.db import Database
from app.core.errors import (
    AppError,
    InvalidTransition,
    NotFound,
    OutOfScope,
    Text,
    UnprocessableInput,
)
from app.identity.principals import Actor, StaffPrincipal
from app.models import (
    Activity,
    ActivitySignup,
    ActivityStatus,
    Course,
    CourseEnrolment,
    NotificationKind,
    Reservation,
    ReservationStatus,
    SignupStatus,
)
from app.notifications import service as notifications
from app.reservations.store import BookingStore

COURSE = Text("课程", "course")
LIVE = (SignupStatus.confirmed, SignupStatus.waiting)
OPEN = (ActivityStatus.draft, ActivityStatus.published)
PUBLIC = (ActivityStatus.published, ActivityStatus.completed)
SESSION_IN_PAST = Text("课程的每一次课都须在将来", "Every session must start in the future")


# --- who manages a course ---------------------------------------------------------------


async def managed(
    session: AsyncSession, actor: Actor, course_id: int, *, for_update: bool = False
) -> Course:
    """The course, if ``actor`` manages it: staff out of scope get 403, anyone
    else 404 for a draft and 403 otherwise (as for an activity)."""
    query = select(Course).where(Course.id == course_id)
    course = await session.scalar(query.with_for_update() if for_update else query)
    if course is None:
        raise NotFound(COURSE)
    if await service.may_manage(session, actor, course):
        return course
    if isinstance(actor, StaffPrincipal):
        raise OutOfScope(what=COURSE)
    if course.status is ActivityStatus.draft:
        raise NotFound(COURSE)
    raise service.OrganiserOnly()


async def sessions_of(
    session: AsyncSession, course_id: int, *, live_only: bool = False
) -> list[Activity]:
    """The course's sessions in order of time (without the cancelled, if asked)."""
    query = select(Activity).where(Activity.course_id == course_id)
    if live_only:
        query = query.where(Activity.status != ActivityStatus.cancelled)
    return list(await session.scalars(query.order_by(Activity.starts_at, Activity.id)))


# --- creating ---------------------------------------------------------------------------


def _session_data(data: CourseCreate, index: int, given: SessionIn) -> ActivityCreate:
    suffix = f"（第{index + 1}次）"
    return ActivityCreate(
        title=given.title or data.title[: 100 - len(suffix)] + suffix,
        description=data.description,
        category=data.category,
        center_id=data.center_id,
        space_id=given.space_id,
        place_text=given.place_text,
        start=given.start,
        end=given.end,
        capacity=data.capacity,
        audience=data.audience,
        requires_real_name=data.requires_real_name,
        organization_id=data.organization_id,
    )


async def create(
    database: Database, bookings: BookingStore, actor: Actor, data: CourseCreate
) -> int:
    """Check who organises, hold each session's venue in turn, then write the
    course and its sessions (published if asked and every venue is confirmed)."""
    items = [_session_data(data, index, given) for index, given in enumerate(data.sessions)]
    now = utcnow()
    async with database.writer.begin() as session:
        await service.check_organiser(session, actor, items[0])
        for index, item in enumerate(items):
            if item.start <= now:
                raise UnprocessableInput(SESSION_IN_PAST).with_extra(session_index=index)
            try:
                await service.venue_space(session, item)
            except AppError as exc:
                raise exc.with_extra(session_index=index) from None
    held: list[int | None] = []
    try:
        for index, item in enumerate(items):
            try:
                venue = None
                if item.space_id is not None:
                    venue = await service.hold_venue(database, bookings, actor, item)
            except AppError as exc:
                raise exc.with_extra(session_index=index) from None
            held.append(venue)
        async with database.writer.begin() as session:
            course = _new_course(actor, data)
            session.add(course)
            await session.flush()
            activities = [
                service.new_activity(actor, item, venue)
                for item, venue in zip(items, held, strict=True)
            ]
            for activity in activities:
                activity.course_id = course.id
            session.add_all(activities)
            await session.flush()
            # In a space that needs approval it stays a draft while a venue waits.
            if data.publish and not await _venue_waits(session, activities):
                await publish_sessions(session, actor, course, activities)
            return course.id
    except BaseException:
        for venue in held:
            if venue is not None:
                await service.release_held_venue(database, actor, venue, "课程未能创建")
        raise


def _new_course(actor: Actor, data: CourseCreate) -> Course:
    staff = isinstance(actor, StaffPrincipal)
    return Course(
        center_id=data.center_id,
        organization_id=data.organization_id,
        title=data.title,
        description=data.description,
        category=data.category,
        audience=data.audience,
        requires_real_name=data.requires_real_name,
        capacity=data.capacity,
        status=ActivityStatus.draft,
        confirmed_attendees=0,
        created_by_staff_id=actor.id if staff else None,
        created_by_user_id=None if staff else actor.id,
    )


async def _venue_waits(session: AsyncSession, activities: Sequence[Activity]) -> bool:
    venues = [activity.reservation_id for activity in activities if activity.reservation_id]
    pending = await session.scalar(
        select(func.count())
        .select_from(Reservation)
        .where(Reservation.id.in_(venues), Reservation.status == ReservationStatus.pending)
    )
    return bool(pending)


# --- publishing and cancelling ---------------------------------------------------------


async def publish(session: AsyncSession, actor: Actor, course_id: int) -> None:
    """Publish a draft course and every session with it, or none (a session's
    venue still waiting for approval is ``409 venue_pending`` with its index)."""
    course = await managed(session, actor, course_id, for_update=True)
    if course.status is not ActivityStatus.draft:
        raise InvalidTransition(
            Text("只有草稿可以发布", "Only a draft can be published")
        ).with_extra(course_status=course.status.value)
    await publish_sessions(session, actor, course, await sessions_of(session, course.id))


async def publish_sessions(
    session: AsyncSession, actor: Actor, course: Course, activities: Sequence[Activity]
) -> None:
    for index, activity in enumerate(activities):
        if activity.status is ActivityStatus.draft:
            try:
                await service.publish(session, actor, activity.id)
            except AppError as exc:
                raise exc.with_extra(session_index=index) from None
    course.status = ActivityStatus.published
    course.updated_at = utcnow()


async def cancel(session: AsyncSession, actor: Actor, course_id: int, reason: str) -> None:
    """Cancel the course: every enrolment ends, every session not yet begun is
    cancelled as an activity is (its venue released, anyone else signed up
    told), and each enrollee is told once."""
    course = await managed(session, actor, course_id, for_update=True)
    if course.status not in OPEN:
        raise InvalidTransition(
            Text("该课程已结束或已取消", "The course is over or cancelled already")
        ).with_extra(course_status=course.status.value)
    now = utcnow()
    activities = await sessions_of(session, course.id)
    ahead = [a for a in activities if a.starts_at > now and a.status in OPEN]
    enrolments = list(
        await session.scalars(
            select(CourseEnrolment)
            .where(CourseEnrolment.course_id == course.id, CourseEnrolment.status.in_(LIVE))
            .order_by(CourseEnrolment.id)
            .with_for_update()
        )
    )
    for enrolment in enrolments:
        enrolment.status = SignupStatus.cancelled
        enrolment.cancelled_at = now
    # The enrollees' places in the sessions ahead end here, told once below,
    # not once a session by the activity's cancellation.
    await end_signups(session, [e.id for e in enrolments], [a.id for a in ahead], now)
    values = await course_values(session, course, ahead or activities)
    for activity in ahead:
        await service.cancel(session, actor, activity.id, reason)
    for user_id in dict.fromkeys(enrolment.user_id for enrolment in enrolments):
        notifications.tell_user(
            session,
            NotificationKind.activity_cancelled,
            user_id,
            {**values, "reason": reason},
            now,
            center_id=course.center_id,
            activity_id=int(values["activity_id"]),
        )
    course.confirmed_attendees = 0
    course.status = ActivityStatus.cancelled
    course.status_reason = reason
    course.updated_at = now


async def end_signups(
    session: AsyncSession, enrolment_ids: Sequence[int], activity_ids: Sequence[int], now: datetime
) -> None:
    """End the enrolments' sign-ups in those sessions, giving their places back."""
    if not enrolment_ids or not activity_ids:
        return
    signups = await session.scalars(
        select(ActivitySignup)
        .where(
            ActivitySignup.enrolment_id.in_(enrolment_ids),
            ActivitySignup.activity_id.in_(activity_ids),
            ActivitySignup.status.in_(LIVE),
        )
        .order_by(ActivitySignup.id)
        .with_for_update()
    )
    for signup in signups:
        if signup.status is SignupStatus.confirmed:
            await places.give_back(session, signup.activity_id, signup.attendees)
        signup.status = SignupStatus.cancelled
        signup.cancelled_at = now


async def course_values(
    session: AsyncSession, course: Course, activities: Sequence[Activity]
) -> dict[str, str]:
    """A message's placeholders for the course: its title, at its next session."""
    assert activities, "a course has sessions"
    values = await service.message_values(session, activities[0])
    return {**values, "activity_title": course.title}
