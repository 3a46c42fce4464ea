"""Enrolling in a course: once for every session.

An enrolment takes places of the course by one conditional UPDATE of its
counter (``places.take_in_course``, the CHECK behind it), under the course's
row lock (PostgreSQL; SQLite's one writer): of many enrolments at once,
exactly as many as fit are confirmed, the rest wait in line, oldest first. A
confirmed enrolment is also a confirmed sign-up (``enrolment_id`` set) in each
session ahead, taking that session's places (``places.take``); the sessions'
capacity is the course's. Enrolment closes when the first session starts,
and the line moves only until then: withdrawing gives the course's places
and the sessions' back, and moves up, oldest first, every waiting enrolment
that fits, telling each (``activity_signup_confirmed``).
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.activities import audience, places
from app.activities.course_reading import ENROLMENT, enrolment_out
from app.activities.course_schemas import EnrolmentOut
from app.activities.courses import COURSE, LIVE, course_values, end_signups, sessions_of
from app.activities.signups import SignupClosed
from app.core.clock import utcnow
from app.core.db import Database, flush_unique
from app.core.errors import AppError, NotFound, Text
from app.identity.service import get_user
from app.models import (
    Activity,
    ActivitySignup,
    ActivityStatus,
    Course,
    CourseEnrolment,
    NotificationKind,
    SignupStatus,
    User,
)
from app.notifications import service as notifications

ENROLMENT_CLOSED = Text(
    "第一次课开始后不再接受报名", "Enrolment closes when the first session starts"
)
# Takes ``attendees`` places of a course if they fit: ``places.take_in_course``.
Take = Callable[[AsyncSession, int, int], Awaitable[bool]]


class AlreadyEnrolled(AppError):
    status = 409
    code = "already_enrolled"
    title = Text("已报名该课程", "Already enrolled")
    detail = Text("您已报名该课程（或在候补中）", "You are enrolled in this course, or waiting")


# --- enrolling --------------------------------------------------------------------------


async def enrol(database: Database, user_id: int, course_id: int, attendees: int) -> EnrolmentOut:
    """Enrol ``user_id`` for ``attendees`` places: confirmed if they fit, else in line."""
    guard = database.guard
    take: Take = places.take_in_course
    if not guard.lock:
        take = await _decided_apart(database, course_id, guard.delay_seconds)
    async with database.writer.begin() as session:
        enrolment = await _enrol(session, user_id, course_id, attendees, take, lock=guard.lock)
        return await enrolment_out(session, enrolment)


async def _decided_apart(database: Database, course_id: int, delay: float) -> Take:
    """The tests' negative control (``database.guard`` without its lock): the
    places counted in one transaction and written in another, without the
    lock or the conditional UPDATE, as a check-then-write would."""
    async with database.reader.begin() as session:
        seen = (
            await session.execute(
                select(Course.confirmed_attendees, Course.capacity).where(Course.id == course_id)
            )
        ).first()
    await asyncio.sleep(delay)

    async def take(session: AsyncSession, course_id: int, attendees: int) -> bool:
        if seen is None or seen.confirmed_attendees + attendees > seen.capacity:
            return False
        await session.execute(
            update(Course)
            .where(Course.id == course_id)
            .values(confirmed_attendees=seen.confirmed_attendees + attendees)
        )
        return True

    return take


async def _enrol(
    session: AsyncSession, user_id: int, course_id: int, attendees: int, take: Take, *, lock: bool
) -> CourseEnrolment:
    now = utcnow()
    user = await get_user(session, user_id)
    query = select(Course).where(Course.id == course_id)
    course = await session.scalar(query.with_for_update() if lock else query)
    if course is None or course.status is ActivityStatus.draft:
        raise NotFound(COURSE)
    sessions = await sessions_of(session, course.id, live_only=True)
    if not _open(course, sessions, now):
        raise SignupClosed(ENROLMENT_CLOSED)
    await audience.check(
        session, user, course.audience, course.organization_id, course.requires_real_name
    )
    if await _live_enrolment(session, course.id, user.id) is not None:
        raise AlreadyEnrolled()
    confirmed = await take(session, course.id, attendees)
    enrolment = CourseEnrolment(
        course_id=course.id,
        user_id=user.id,
        attendees=attendees,
        status=SignupStatus.confirmed if confirmed else SignupStatus.waiting,
        created_at=now,
    )
    session.add(enrolment)
    await flush_unique(session, AlreadyEnrolled())
    if confirmed:
        await _sign_up_for_sessions(session, course, enrolment, sessions, now)
    return enrolment


def _open(course: Course, sessions: Sequence[Activity], now: datetime) -> bool:
    """Enrolment is open while the course is published and no session has begun."""
    published = course.status is ActivityStatus.published
    return published and bool(sessions) and sessions[0].starts_at > now


async def _live_enrolment(session: AsyncSession, course_id: int, user_id: int) -> int | None:
    return await session.scalar(
        select(CourseEnrolment.id).where(
            CourseEnrolment.course_id == course_id,
            CourseEnrolment.user_id == user_id,
            CourseEnrolment.status.in_(LIVE),
        )
    )


async def _sign_up_for_sessions(
    session: AsyncSession,
    course: Course,
    enrolment: CourseEnrolment,
    sessions: Sequence[Activity],
    now: datetime,
) -> None:
    """A confirmed sign-up in each session ahead, taking its places, and the
    enrollee told. A session where they hold a sign-up of their own already
    keeps it; one whose places are gone (taken outside the course) puts them
    in its line."""
    ahead = [activity for activity in sessions if activity.starts_at > now]
    if not ahead:  # enrolment is closed by then: nothing to sign up for
        return
    own = set(
        await session.scalars(
            select(ActivitySignup.activity_id).where(
                ActivitySignup.user_id == enrolment.user_id,
                ActivitySignup.activity_id.in_([activity.id for activity in ahead]),
                ActivitySignup.status.in_(LIVE),
            )
        )
    )
    for activity in ahead:
        if activity.id in own:
            continue
        taken = await places.take(session, activity.id, enrolment.attendees)
        session.add(
            ActivitySignup(
                activity_id=activity.id,
                user_id=enrolment.user_id,
                enrolment_id=enrolment.id,
                attendees=enrolment.attendees,
                status=SignupStatus.confirmed if taken else SignupStatus.waiting,
                created_at=now,
                confirmed_at=now if taken else None,
            )
        )
    values = await course_values(session, course, ahead)
    notifications.tell_user(
        session,
        NotificationKind.activity_signup_confirmed,
        enrolment.user_id,
        {**values, "attendees": str(enrolment.attendees)},
        now,
        center_id=course.center_id,
        activity_id=ahead[0].id,
    )


# --- withdrawing ------------------------------------------------------------------------


async def withdraw(session: AsyncSession, user: User, course_id: int) -> EnrolmentOut:
    """End the user's enrolment: their places in the course and in the sessions
    ahead are given back, and the line moves up while enrolment is open."""
    now = utcnow()
    course = await session.scalar(select(Course).where(Course.id == course_id).with_for_update())
    if course is None:
        raise NotFound(COURSE)
    enrolment = await session.scalar(
        select(CourseEnrolment)
        .where(
            CourseEnrolment.course_id == course.id,
            CourseEnrolment.user_id == user.id,
            CourseEnrolment.status.in_(LIVE),
        )
        .with_for_update()
    )
    if enrolment is None:
        raise NotFound(ENROLMENT)
    was = enrolment.status
    enrolment.status = SignupStatus.cancelled
    enrolment.cancelled_at = now
    sessions = await sessions_of(session, course.id, live_only=True)
    ahead = [activity.id for activity in sessions if activity.starts_at > now]
    await end_signups(session, [enrolment.id], ahead, now)
    if was is SignupStatus.confirmed:
        await places.give_back_in_course(session, course.id, enrolment.attendees)
        if _open(course, sessions, now):
            await _move_up(session, course, sessions, now)
    await session.flush()
    return await enrolment_out(session, enrolment)


async def _move_up(
    session: AsyncSession, course: Course, sessions: Sequence[Activity], now: datetime
) -> None:
    """Confirm, oldest first, every waiting enrolment that fits the free places."""
    capacity, confirmed = (
        await session.execute(
            select(Course.capacity, Course.confirmed_attendees).where(Course.id == course.id)
        )
    ).one()
    free = capacity - confirmed
    line = await session.scalars(
        select(CourseEnrolment)
        .where(
            CourseEnrolment.course_id == course.id,
            CourseEnrolment.status == SignupStatus.waiting,
        )
        .order_by(CourseEnrolment.id)
        .with_for_update()
    )
    for waiting in line:
        if free <= 0:
            break
        if waiting.attendees > free or not await places.take_in_course(
            session, course.id, waiting.attendees
        ):
            continue
        free -= waiting.attendees
        waiting.status = SignupStatus.confirmed
        await _sign_up_for_sessions(session, course, waiting, sessions, now)
