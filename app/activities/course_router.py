"""Courses (课程菜单): several sessions, one enrolment."""

from datetime import timedelta
from typing import Annotated

from fastapi import Query, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.activities import course_reading, courses, enrolments, finding
from app.activities.course_schemas import (
    CourseCreate,
    CourseDetail,
    CourseOut,
    EnrolleeOut,
    EnrolmentCreate,
    EnrolmentOut,
)
from app.activities.schemas import ActivityCancel
from app.core.clock import local_midnight, local_today
from app.core.db import DatabaseDep, SessionDep
from app.core.routing import api_router
from app.core.schemas import MAX_ID, Limit, LocalDate, Offset, Page, ResourceId
from app.identity.dependencies import (
    ActorReading,
    CurrentActor,
    CurrentUser,
    CurrentUserId,
    OptionalActor,
)
from app.identity.principals import Actor
from app.models import ActivityCategory, SignupStatus

router = api_router("/courses", tags=["activities"])


@router.post("", response_model=CourseDetail, status_code=status.HTTP_201_CREATED)
async def create_course(
    body: CourseCreate, actor: ActorReading, request: Request, database: DatabaseDep
) -> CourseDetail:
    """Staff of the center, or the owner of a verified organisation, publish a
    course of 2 to 52 sessions (a draft without `publish: true`). Each session is
    an activity; a session's `space_id` is booked by the booking rules. If a
    session's venue is refused, nothing is kept and the problem names it:
    `session_index`, 0 for the first."""
    course_id = await courses.create(database, request.app.state.bookings, actor, body)
    async with database.reader.begin() as session:
        return await _managed_detail(session, actor, course_id)


@router.get("", response_model=Page[CourseOut])
async def list_courses(
    session: SessionDep,
    first_day: Annotated[LocalDate | None, Query(alias="from")] = None,
    last_day: Annotated[LocalDate | None, Query(alias="to")] = None,
    center_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    category: ActivityCategory | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[CourseOut]:
    """Published courses with a session from `from` to `to` (Shanghai days,
    inclusive; from today and 30 days on by default, 92 at most), the soonest
    to begin first."""
    first, last = finding.list_range(first_day, last_day, local_today())
    items, total = await course_reading.search(
        session,
        local_midnight(first),
        local_midnight(last + timedelta(days=1)),
        center_id=center_id,
        category=category,
        limit=limit,
        offset=offset,
    )
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.get("/{course_id}", response_model=CourseDetail)
async def read_course(
    course_id: ResourceId, session: SessionDep, actor: OptionalActor
) -> CourseDetail:
    """A published course with its sessions, for anyone; a draft only for those
    who manage it."""
    return await course_reading.get_visible(session, actor, course_id)


@router.post("/{course_id}/publish", response_model=CourseDetail)
async def publish_course(
    course_id: ResourceId, actor: CurrentActor, session: SessionDep
) -> CourseDetail:
    """Publish a draft course and all its sessions, or none of them."""
    await courses.publish(session, actor, course_id)
    return await _managed_detail(session, actor, course_id)


@router.post("/{course_id}/cancel", response_model=CourseDetail)
async def cancel_course(
    course_id: ResourceId, body: ActivityCancel, actor: CurrentActor, session: SessionDep
) -> CourseDetail:
    """Cancel the course with a reason: every enrolment ends and each enrollee is
    told once; every session not yet begun is cancelled, its venue released."""
    await courses.cancel(session, actor, course_id, body.reason)
    return await _managed_detail(session, actor, course_id)


async def _managed_detail(session: AsyncSession, actor: Actor, course_id: int) -> CourseDetail:
    return await course_reading.detail(session, await courses.managed(session, actor, course_id))


@router.post(
    "/{course_id}/enrolments", response_model=EnrolmentOut, status_code=status.HTTP_201_CREATED
)
async def enrol(
    course_id: ResourceId, body: EnrolmentCreate, user_id: CurrentUserId, database: DatabaseDep
) -> EnrolmentOut:
    """Enrol in every session at once, for yourself and up to four more:
    `confirmed` while places last, then `waiting` with your `position` in line.
    One enrolment a person (`409 already_enrolled`); closed once the first
    session starts (`409 signup_closed`); a course for members or party members
    is `403 audience_only` to others, one that asks for a real name `403
    real_name_required` until you verify yours."""
    return await enrolments.enrol(database, user_id, course_id, body.attendees)


@router.get("/{course_id}/enrolments", response_model=Page[EnrolleeOut])
async def list_enrolments(
    course_id: ResourceId,
    actor: CurrentActor,
    session: SessionDep,
    status: SignupStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[EnrolleeOut]:
    """The course's enrolments, for those who manage it: each person masked,
    with the sessions they attended of the course's sessions."""
    items, total = await course_reading.enrollees(
        session, actor, course_id, status, limit=limit, offset=offset
    )
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.get("/{course_id}/enrolments/mine", response_model=EnrolmentOut)
async def my_enrolment(
    course_id: ResourceId, user: CurrentUser, session: SessionDep
) -> EnrolmentOut:
    """Your enrolment (the live one, else your latest), with the sessions you attended."""
    return await course_reading.mine(session, user, course_id)


@router.delete("/{course_id}/enrolments/mine", response_model=EnrolmentOut)
async def withdraw(course_id: ResourceId, user: CurrentUser, session: SessionDep) -> EnrolmentOut:
    """Withdraw: your places in the course and its sessions ahead are given back,
    and the oldest waiting enrolments that fit move up (until enrolment closes)."""
    return await enrolments.withdraw(session, user, course_id)
