"""What the console shows of the centers' programme that no API endpoint reads
in one go: the activities of the staff member's centers, a week of them for
the board, and an activity's sign-ups with masked names. Reads only; every
change goes through the activities services.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.activities.attendance import CHECK_IN_OPENS_BEFORE
from app.activities.categories import AUDIENCE_LABELS, CATEGORY_LABELS
from app.core.clock import SHANGHAI, local_midnight
from app.identity.principals import StaffPrincipal
from app.identity.shown import masked
from app.models import (
    Activity,
    ActivitySignup,
    ActivityStatus,
    Center,
    Course,
    Organization,
    SignupStatus,
    Space,
    User,
)

STATUS_LABELS = {
    ActivityStatus.draft: "草稿",
    ActivityStatus.published: "已发布",
    ActivityStatus.completed: "已结束",
    ActivityStatus.cancelled: "已取消",
}
SIGNUP_LABELS = {
    SignupStatus.confirmed: "已报名",
    SignupStatus.waiting: "候补",
    SignupStatus.cancelled: "已取消",
}
# The list: what is coming (and under way), and what ended in the last weeks.
DAYS_BEHIND = 30
DAYS_AHEAD = 92
LISTED = 200
# Staff check people in from 30 minutes before the start (the sign-ups' own
# check-in window is the attendance service's).


@dataclass(frozen=True)
class ActivityRow:
    id: int
    title: str
    category: str  # its Chinese label
    center_name: str
    place: str
    start: datetime  # Shanghai time
    end: datetime
    status: ActivityStatus
    signed_up: int
    capacity: int
    attended: int | None
    course_id: int | None


def _place(activity: Activity, space_name: str | None) -> str:
    return space_name or activity.place_text or "—"


def _row(activity: Activity, center: Center, space_name: str | None) -> ActivityRow:
    return ActivityRow(
        id=activity.id,
        title=activity.title,
        category=CATEGORY_LABELS[activity.category],
        center_name=center.name,
        place=_place(activity, space_name),
        start=activity.starts_at.astimezone(SHANGHAI),
        end=activity.ends_at.astimezone(SHANGHAI),
        status=activity.status,
        signed_up=activity.confirmed_attendees,
        capacity=activity.capacity,
        attended=activity.attended,
        course_id=activity.course_id,
    )


async def _rows(
    session: AsyncSession,
    staff: StaffPrincipal,
    start: datetime,
    end: datetime,
    *,
    center_id: int | None = None,
    newest_first: bool = False,
    with_cancelled: bool = True,
) -> list[ActivityRow]:
    query = (
        select(Activity, Center, Space.name)
        .join(Center, Center.id == Activity.center_id)
        .outerjoin(Space, Space.id == Activity.space_id)
        .where(staff.center_clause(), Activity.starts_at < end, Activity.ends_at > start)
    )
    if center_id is not None:
        query = query.where(Activity.center_id == center_id)
    if not with_cancelled:
        query = query.where(Activity.status != ActivityStatus.cancelled)
    order = (
        (Activity.starts_at.desc(), Activity.id.desc())
        if newest_first
        else (
            Activity.starts_at,
            Activity.id,
        )
    )
    found = await session.execute(query.order_by(*order).limit(LISTED))
    return [_row(activity, center, space) for activity, center, space in found]


async def upcoming_and_recent(
    session: AsyncSession, staff: StaffPrincipal, now: datetime
) -> tuple[list[ActivityRow], list[ActivityRow]]:
    """What has not ended yet, soonest first; and what ended in the last
    ``DAYS_BEHIND`` days, the latest first."""
    upcoming = await _rows(session, staff, now, now + timedelta(days=DAYS_AHEAD))
    recent = await _rows(session, staff, now - timedelta(days=DAYS_BEHIND), now, newest_first=True)
    return upcoming, [row for row in recent if row.end <= now]


def week_of(day: date) -> tuple[date, date]:
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


async def week_by_center(
    session: AsyncSession, staff: StaffPrincipal, day: date
) -> dict[int, list[ActivityRow]]:
    """The activities (cancelled ones left out) of ``day``'s week, Monday to
    Sunday, by center: what the board shows under each center."""
    monday, sunday = week_of(day)
    query = (
        select(Activity, Center, Space.name)
        .join(Center, Center.id == Activity.center_id)
        .outerjoin(Space, Space.id == Activity.space_id)
        .where(
            staff.center_clause(),
            Activity.status != ActivityStatus.cancelled,
            Activity.starts_at < local_midnight(sunday + timedelta(days=1)),
            Activity.ends_at > local_midnight(monday),
        )
        .order_by(Activity.starts_at, Activity.id)
        .limit(LISTED)
    )
    week: dict[int, list[ActivityRow]] = {}
    for activity, center, space in await session.execute(query):
        week.setdefault(center.id, []).append(_row(activity, center, space))
    return week


@dataclass(frozen=True)
class ActivityPage:
    """One activity as its page shows it."""

    activity: Activity
    center: Center
    space_name: str | None
    organization_name: str | None
    course_title: str | None
    category: str
    audience: str

    @property
    def place(self) -> str:
        return _place(self.activity, self.space_name)


async def activity_page(session: AsyncSession, activity: Activity) -> ActivityPage:
    center = await session.get(Center, activity.center_id)
    assert center is not None
    space = await session.get(Space, activity.space_id) if activity.space_id else None
    organization = (
        await session.get(Organization, activity.organization_id)
        if activity.organization_id
        else None
    )
    course = await session.get(Course, activity.course_id) if activity.course_id else None
    return ActivityPage(
        activity=activity,
        center=center,
        space_name=space.name if space else None,
        organization_name=organization.name if organization else None,
        course_title=course.title if course else None,
        category=CATEGORY_LABELS[activity.category],
        audience=AUDIENCE_LABELS[activity.audience],
    )


@dataclass(frozen=True)
class SignupRow:
    id: int
    who: str  # masked
    attendees: int
    status: SignupStatus
    signed_up_at: datetime
    checked_in_at: datetime | None
    course: bool  # through an enrolment in the activity's course


async def signups(session: AsyncSession, activity_id: int) -> list[SignupRow]:
    """The activity's sign-ups: confirmed first (in the order they came), then
    the waiting line, then the cancelled."""
    order = case(
        (ActivitySignup.status == SignupStatus.confirmed, 0),
        (ActivitySignup.status == SignupStatus.waiting, 1),
        else_=2,
    )
    found = await session.execute(
        select(ActivitySignup, User)
        .join(User, User.id == ActivitySignup.user_id)
        .where(ActivitySignup.activity_id == activity_id)
        .order_by(order, ActivitySignup.id)
    )
    return [
        SignupRow(
            id=signup.id,
            who=masked(user),
            attendees=signup.attendees,
            status=signup.status,
            signed_up_at=signup.created_at.astimezone(SHANGHAI),
            checked_in_at=signup.checked_in_at and signup.checked_in_at.astimezone(SHANGHAI),
            course=signup.enrolment_id is not None,
        )
        for signup, user in found
    ]


def check_in_opens(activity: Activity) -> datetime:
    return activity.starts_at - CHECK_IN_OPENS_BEFORE


async def centers_in_scope(session: AsyncSession, staff: StaffPrincipal) -> list[Center]:
    query = select(Center).where(staff.center_clause()).order_by(Center.id)
    return list(await session.scalars(query))
