"""The demo's programme at Changfengwan (长风湾): a month of activities around
the demo's today, so the console's activities, the board's week and the
residents' list have something to show.

- a 党课 course of four weekly sessions in 长风议事厅, the center's own events;
- the weekly meetings of 长风湾读书会, a community team (社团, no USCC), in
  苏河会议室, booked on the team's account;
- an 开放日 (open day) in 长风议事厅.

Each venue is held as the demo books rooms (``demo_bookings.hold_for_activity``:
open hours, holidays, nothing else in the way). Neighbours have signed up;
what has ended is completed, with who was checked in and who walked in.
Seeded once, when the center has no activities.
"""

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import demo_bookings
from app.core.clock import local_today
from app.core.crypto import PiiCipher
from app.demo_bookings import NEIGHBORS
from app.models import (
    Activity,
    ActivityAudience,
    ActivityCategory,
    ActivitySignup,
    ActivityStatus,
    Course,
    CourseEnrolment,
    MemberRole,
    Membership,
    Organization,
    OrganizationKind,
    OrganizationStatus,
    Reservation,
    SignupStatus,
    Space,
    User,
    new_check_in_token,
)

HALL, RIVER = "长风议事厅", "苏河会议室"
COURSE = "党课：学习贯彻党的二十届三中全会精神"
COURSE_SESSIONS = (
    "第一讲：进一步全面深化改革的总目标",
    "第二讲：健全推动经济高质量发展体制机制",
    "第三讲：完善全过程人民民主制度体系",
    "第四讲：深化党的建设制度改革",
)
READING_CLUB = "长风湾读书会"
MEETINGS = "长风湾读书会·每周共读"
OPEN_DAY = "长风湾党群服务中心开放日"
# A course's session (or the open day) the hall cannot take is moved on by up
# to this many days, past the longest holiday (National Day's eight); a weekly
# meeting that week is left out (as booking what is free would).
MOVE_AT_MOST = 9
ATTENDEES = (1, 1, 2, 1, 3, 1)  # each neighbour, with family for the open day


async def seed(
    session: AsyncSession, center_id: int, now: datetime, cipher: PiiCipher | None = None
) -> int:
    """The programme; the number of activities added (0 if there already is one)."""
    if not center_id or await session.scalar(
        select(Activity.id).where(Activity.center_id == center_id).limit(1)
    ):
        return 0
    spaces = {
        space.name: space
        for space in await session.scalars(select(Space).where(Space.center_id == center_id))
    }
    if not {HALL, RIVER} <= set(spaces):
        return 0
    people = [
        await demo_bookings.neighbor(session, number, cipher) for number in range(len(NEIGHBORS))
    ]
    today = local_today(now)
    added = await _course(session, center_id, spaces[HALL], people, today, now)
    added += await _reading_club(session, center_id, spaces[RIVER], people, today, now)
    added += await _open_day(session, center_id, spaces[HALL], people, today, now)
    return added


def _activity(
    center_id: int,
    space: Space,
    venue: Reservation,
    title: str,
    category: ActivityCategory,
    capacity: int,
    now: datetime,
    **extra: object,
) -> Activity:
    published = min(now, venue.starts_at - timedelta(days=10))
    return Activity(
        center_id=center_id,
        space_id=space.id,
        reservation_id=venue.id,
        title=title,
        category=category,
        audience=ActivityAudience.public,
        starts_at=venue.starts_at,
        ends_at=venue.ends_at,
        capacity=capacity,
        status=ActivityStatus.published,
        published_at=published,
        confirmed_attendees=0,
        walk_ins=0,
        check_in_token=new_check_in_token(),
        created_at=published,
        **extra,
    )


async def _signed_up(
    session: AsyncSession,
    activity: Activity,
    people: Sequence[tuple[User, int]],
    now: datetime,
    *,
    walk_ins: int,
    absent: int | None = None,
    enrolments: dict[int, int] | None = None,
) -> None:
    """Their sign-ups, confirmed; once the activity has ended, everyone checked
    in but the ``absent``-th, ``walk_ins`` more at the door, and the activity
    completed with its attendance (checked-in attendees + walk-ins)."""
    session.add(activity)
    await session.flush()
    ended = activity.ends_at <= now
    signed = min(now, activity.starts_at - timedelta(days=3))
    checked_in = 0
    for number, (person, attendees) in enumerate(people):
        came = ended and number != absent
        checked_in += attendees if came else 0
        session.add(
            ActivitySignup(
                activity_id=activity.id,
                user_id=person.id,
                enrolment_id=(enrolments or {}).get(person.id),
                attendees=attendees,
                status=SignupStatus.confirmed,
                created_at=signed,
                confirmed_at=signed,
                checked_in_at=activity.starts_at + timedelta(minutes=number) if came else None,
            )
        )
    activity.confirmed_attendees = sum(attendees for _, attendees in people)
    if ended:
        activity.status = ActivityStatus.completed
        activity.completed_at = activity.ends_at
        activity.walk_ins = walk_ins
        activity.attended = checked_in + walk_ins
    await session.flush()


async def _course(
    session: AsyncSession,
    center_id: int,
    hall: Space,
    people: Sequence[User],
    today: date,
    now: datetime,
) -> int:
    """Four weekly sessions, two behind and two ahead, one enrolment each."""
    enrolled = list(people[:5])
    course = Course(
        center_id=center_id,
        title=COURSE,
        description="社区党校课程菜单：四次课，报名一次，四讲都留有座位。",
        category=ActivityCategory.party_lecture,
        audience=ActivityAudience.public,
        capacity=30,
        status=ActivityStatus.published,
        confirmed_attendees=len(enrolled),
        created_at=now - timedelta(days=20),
    )
    session.add(course)
    await session.flush()
    enrolments = {}
    for person in enrolled:
        enrolment = CourseEnrolment(
            course_id=course.id,
            user_id=person.id,
            attendees=1,
            status=SignupStatus.confirmed,
            created_at=course.created_at,
        )
        session.add(enrolment)
        await session.flush()
        enrolments[person.id] = enrolment.id
    first = today - timedelta(days=13)
    added = 0
    for week, title in enumerate(COURSE_SESSIONS):
        wanted = first + timedelta(weeks=week)
        for moved in range(MOVE_AT_MOST + 1):
            venue = await demo_bookings.hold_for_activity(
                session, hall, wanted + timedelta(days=moved), "09:30", "11:00", now, title=title
            )
            if venue is not None:
                break
        if venue is None:
            continue
        session_row = _activity(
            center_id,
            hall,
            venue,
            f"{COURSE}（{title}）"[:100],
            ActivityCategory.party_lecture,
            course.capacity,
            now,
            course_id=course.id,
            description="支部书记、社区党校讲师主讲。",
        )
        attendance = [(person, 1) for person in enrolled]
        await _signed_up(
            session,
            session_row,
            attendance,
            now,
            walk_ins=3 - week % 2,
            absent=week % 5,
            enrolments=enrolments,
        )
        added += 1
    return added


async def _reading_club(
    session: AsyncSession,
    center_id: int,
    river: Space,
    people: Sequence[User],
    today: date,
    now: datetime,
) -> int:
    """The team's evening meeting, weekly from two weeks behind to two ahead,
    on tomorrow's weekday (the day after if that is a Sunday, when the room
    is closed): never today, whose board the demo's walkthrough counts."""
    club = await _team(session, center_id, people[4], people[:4], now)
    first = today + timedelta(days=1)
    if first.weekday() == demo_bookings.SUNDAY:
        first += timedelta(days=1)
    added = 0
    for week in range(-2, 3):
        venue = await demo_bookings.hold_for_activity(
            session,
            river,
            first + timedelta(weeks=week),
            "19:00",
            "20:30",
            now,
            title=MEETINGS,
            booker=people[4],
            organization_id=club.id,
            attendees=12,
        )
        if venue is None:  # the room is closed that week (a statutory holiday)
            continue
        meeting = _activity(
            center_id,
            river,
            venue,
            MEETINGS,
            ActivityCategory.culture_sports,
            12,
            now,
            organization_id=club.id,
            created_by_user_id=people[4].id,
            description="每周共读一本书，欢迎邻居们带上自己的书来交流。",
        )
        members = [(person, 2 if n == 1 else 1) for n, person in enumerate(people[1:])]
        await _signed_up(session, meeting, members, now, walk_ins=1 + week % 2, absent=0)
        added += 1
    return added


async def _team(
    session: AsyncSession,
    center_id: int,
    owner: User,
    members: Sequence[User],
    now: datetime,
) -> Organization:
    """长风湾读书会: a community team, verified by the center, owned by a neighbour."""
    team = await session.scalar(
        select(Organization).where(
            Organization.name == READING_CLUB, Organization.kind == OrganizationKind.community_team
        )
    )
    if team is not None:
        return team
    team = Organization(
        kind=OrganizationKind.community_team,
        name=READING_CLUB,
        uscc=None,
        contact_name="周老师",
        contact_phone="021-52562020",
        center_id=center_id,
        status=OrganizationStatus.verified,
        decided_at=now,
    )
    session.add(team)
    await session.flush()
    for person, role in [(owner, MemberRole.owner), *((m, MemberRole.member) for m in members)]:
        session.add(
            Membership(organization_id=team.id, user_id=person.id, role=role, joined_at=now)
        )
    await session.flush()
    return team


async def _open_day(
    session: AsyncSession,
    center_id: int,
    hall: Space,
    people: Sequence[User],
    today: date,
    now: datetime,
) -> int:
    """A Saturday morning at least five days ahead, families signed up."""
    day = today + timedelta(days=5)
    day += timedelta(days=(5 - day.weekday()) % 7)
    for moved in range(MOVE_AT_MOST + 1):
        venue = await demo_bookings.hold_for_activity(
            session, hall, day + timedelta(days=moved), "09:30", "11:30", now, title=OPEN_DAY
        )
        if venue is not None:
            break
    if venue is None:
        return 0
    open_day = _activity(
        center_id,
        hall,
        venue,
        OPEN_DAY,
        ActivityCategory.open_day,
        30,
        now,
        description="参观中心各功能空间，了解预约、课程与志愿服务；亲子手工体验。",
    )
    families = list(zip(people, ATTENDEES, strict=True))
    await _signed_up(session, open_day, families, now, walk_ins=0)
    return 1
