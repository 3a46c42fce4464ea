"""Finding courses, reading one with its sessions, and reading enrolments:
each with the sessions its person attended of the course's sessions."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.activities import finding
from app.activities.categories import CATEGORY_LABELS
from app.activities.course_schemas import CourseDetail, CourseOut, EnrolleeOut, EnrolmentOut
from app.activities.courses import COURSE, PUBLIC, managed, sessions_of
from app.activities.service import may_manage
from app.core.errors import NotFound, Text
from app.identity.principals import Actor, StaffPrincipal
from app.models import (
    Activity,
    ActivityCategory,
    ActivitySignup,
    ActivityStatus,
    Center,
    Course,
    CourseEnrolment,
    SignupStatus,
    User,
)

ENROLMENT = Text("报名", "enrolment")


def _spans() -> Select[int | None, datetime, datetime, int]:
    """Each course's first start, last end and number of sessions (not cancelled)."""
    return (
        select(
            Activity.course_id.label("course_id"),
            func.min(Activity.starts_at).label("first_start"),
            func.max(Activity.ends_at).label("last_end"),
            func.count().label("sessions"),
        )
        .where(Activity.course_id.is_not(None), Activity.status != ActivityStatus.cancelled)
        .group_by(Activity.course_id)
    )


async def search(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    *,
    center_id: int | None,
    category: ActivityCategory | None,
    limit: int,
    offset: int,
) -> tuple[list[CourseOut], int]:
    """Published courses with a session between ``start`` and ``end``, the
    soonest to begin first."""
    span = _spans().subquery()
    query = (
        select(Course)
        .join(span, span.c.course_id == Course.id)
        .where(
            Course.status.in_(PUBLIC),
            span.c.first_start < end,
            span.c.last_end > start,
        )
    )
    if center_id is not None:
        query = query.where(Course.center_id == center_id)
    if category is not None:
        query = query.where(Course.category == category)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    page = query.order_by(span.c.first_start, Course.id).limit(limit).offset(offset)
    return await outs(session, list(await session.scalars(page))), int(total or 0)


async def outs(session: AsyncSession, courses: Sequence[Course]) -> list[CourseOut]:
    ids = [course.id for course in courses]
    spans = {
        course_id: (first, last, count)
        for course_id, first, last, count in await session.execute(
            _spans().where(Activity.course_id.in_(ids))
        )
    }
    centers = {
        center.id: center
        for center in await session.scalars(
            select(Center).where(Center.id.in_({course.center_id for course in courses}))
        )
    }
    found = []
    for course in courses:
        first, last, count = spans.get(course.id, (None, None, 0))
        center = centers[course.center_id]
        found.append(
            CourseOut(
                id=course.id,
                title=course.title,
                description=course.description,
                category=course.category,
                category_label=CATEGORY_LABELS[course.category],
                center_id=center.id,
                center_name=center.name,
                district=center.district,
                street=center.street,
                organization_id=course.organization_id,
                audience=course.audience,
                requires_real_name=course.requires_real_name,
                capacity=course.capacity,
                enrolled=course.confirmed_attendees,
                remaining=max(course.capacity - course.confirmed_attendees, 0),
                status=course.status,
                status_reason=course.status_reason,
                sessions_count=count,
                first_start=first,
                last_end=last,
                enrolment_closes_at=first,
            )
        )
    return found


async def detail(session: AsyncSession, course: Course) -> CourseDetail:
    (out,) = await outs(session, [course])
    sessions = await finding.outs(session, await sessions_of(session, course.id))
    return CourseDetail(**out.model_dump(), sessions=sessions)


async def get_visible(session: AsyncSession, actor: Actor | None, course_id: int) -> CourseDetail:
    """A published course for anyone; a draft or a cancelled one only for those
    who manage it (and a cancelled one for its enrollees)."""
    course = await session.get(Course, course_id)
    if course is None:
        raise NotFound(COURSE)
    if course.status not in PUBLIC and not await _may_see(session, actor, course):
        raise NotFound(COURSE)
    return await detail(session, course)


async def _may_see(session: AsyncSession, actor: Actor | None, course: Course) -> bool:
    if actor is None:
        return False
    if await may_manage(session, actor, course):
        return True
    if course.status is not ActivityStatus.cancelled or isinstance(actor, StaffPrincipal):
        return False
    enrolled = await session.scalar(
        select(CourseEnrolment.id).where(
            CourseEnrolment.course_id == course.id, CourseEnrolment.user_id == actor.id
        )
    )
    return enrolled is not None


# --- enrolments -------------------------------------------------------------------------


async def mine(session: AsyncSession, user: User, course_id: int) -> EnrolmentOut:
    """The user's enrolment in the course: the live one, else the latest."""
    enrolment = await session.scalar(
        select(CourseEnrolment)
        .where(CourseEnrolment.course_id == course_id, CourseEnrolment.user_id == user.id)
        .order_by(CourseEnrolment.id.desc())
        .limit(1)
    )
    if enrolment is None:
        raise NotFound(ENROLMENT)
    return await enrolment_out(session, enrolment)


async def enrolment_out(session: AsyncSession, enrolment: CourseEnrolment) -> EnrolmentOut:
    positions = await _positions(session, enrolment.course_id)
    attended = await _attended(session, enrolment.course_id, [enrolment.user_id])
    return EnrolmentOut(
        id=enrolment.id,
        course_id=enrolment.course_id,
        status=enrolment.status,
        attendees=enrolment.attendees,
        position=positions.get(enrolment.id),
        created_at=enrolment.created_at,
        cancelled_at=enrolment.cancelled_at,
        attended=attended.get(enrolment.user_id, 0),
        total=await _total(session, enrolment.course_id),
    )


async def enrollees(
    session: AsyncSession,
    actor: Actor,
    course_id: int,
    status: SignupStatus | None,
    *,
    limit: int,
    offset: int,
) -> tuple[list[EnrolleeOut], int]:
    """The course's enrolments for those who manage it, in the order they came,
    each person masked, with the sessions they attended."""
    course = await managed(session, actor, course_id)
    query = (
        select(CourseEnrolment, User)
        .join(User, User.id == CourseEnrolment.user_id)
        .where(CourseEnrolment.course_id == course.id)
    )
    if status is not None:
        query = query.where(CourseEnrolment.status == status)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = list(
        await session.execute(query.order_by(CourseEnrolment.id).limit(limit).offset(offset))
    )
    positions = await _positions(session, course.id)
    attended = await _attended(session, course.id, [user.id for _, user in rows])
    sessions = await _total(session, course.id)
    found = [
        EnrolleeOut(
            id=enrolment.id,
            name_masked=user.name_masked,
            phone_masked=user.phone_masked,
            attendees=enrolment.attendees,
            status=enrolment.status,
            position=positions.get(enrolment.id),
            created_at=enrolment.created_at,
            attended=attended.get(user.id, 0),
            total=sessions,
        )
        for enrolment, user in rows
    ]
    return found, int(total or 0)


async def _positions(session: AsyncSession, course_id: int) -> dict[int, int]:
    """Each waiting enrolment's place in the line, 1 for the next."""
    line = await session.scalars(
        select(CourseEnrolment.id)
        .where(
            CourseEnrolment.course_id == course_id,
            CourseEnrolment.status == SignupStatus.waiting,
        )
        .order_by(CourseEnrolment.id)
    )
    return {enrolment_id: place for place, enrolment_id in enumerate(line, start=1)}


async def _attended(
    session: AsyncSession, course_id: int, user_ids: Sequence[int]
) -> dict[int, int]:
    """How many of the course's sessions each person checked in to."""
    rows = await session.execute(
        select(ActivitySignup.user_id, func.count(func.distinct(ActivitySignup.activity_id)))
        .join(Activity, Activity.id == ActivitySignup.activity_id)
        .where(
            Activity.course_id == course_id,
            Activity.status != ActivityStatus.cancelled,
            ActivitySignup.user_id.in_(user_ids),
            ActivitySignup.checked_in_at.is_not(None),
        )
        .group_by(ActivitySignup.user_id)
    )
    return {user_id: int(count) for user_id, count in rows}


async def _total(session: AsyncSession, course_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Activity)
            .where(Activity.course_id == course_id, Activity.status != ActivityStatus.cancelled)
        )
        or 0
    )
