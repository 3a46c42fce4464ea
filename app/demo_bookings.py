"""Demo bookings at Changfengwan, so the staff console has a day to show: two
weeks of use behind (some cancelled, some rated), today's bookings, a request
waiting for approval and a weekly series waiting as one. Seeded once, when
the center has no bookings.
"""

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import local_at, local_today
from app.core.clock import parse_wall_clock as minute
from app.core.crypto import PiiCipher
from app.demo_data import ORGANIZATIONS
from app.holidays.days import hours_weekday, official
from app.identity import phones
from app.models import (
    BookingMode,
    Feedback,
    OpeningHours,
    Organization,
    Reservation,
    ReservationKind,
    ReservationSeries,
    ReservationStatus,
    SeriesMode,
    SeriesOccurrence,
    Space,
    User,
    statuses_that,
)

NEIGHBORS = [f"dev-demo-neighbor-{n}" for n in range(1, 7)]
DAYS_BEHIND = 14
SUNDAY = 6
Status = ReservationStatus


async def seed(
    session: AsyncSession, center_id: int, now: datetime, cipher: PiiCipher | None = None
) -> int:
    spaces = {
        space.name: space
        for space in await session.scalars(select(Space).where(Space.center_id == center_id))
    }
    taken = await session.scalar(
        select(Reservation.id).where(Reservation.space_id.in_([s.id for s in spaces.values()]))
    )
    if taken is not None or not {"长风洽谈室", "苏河会议室", "长风议事厅"} <= set(spaces):
        return 0
    people = [await neighbor(session, number, cipher) for number in range(len(NEIGHBORS))]
    roadshow = await session.scalar(
        select(Organization).where(Organization.uscc == ORGANIZATIONS[1].uscc)
    )
    talks, river, hall = spaces["长风洽谈室"], spaces["苏河会议室"], spaces["长风议事厅"]
    today = local_today(now)
    added: list[Reservation] = []

    def add(
        space: Space, day_offset: int, start: str, end: str, status: Status, **extra: object
    ) -> None:
        day = today + timedelta(days=day_offset)
        reservation = Reservation(
            space_id=space.id,
            starts_at=local_at(day, minute(start)),
            ends_at=local_at(day, minute(end)),
            exclusive=True,
            status=status,
            **extra,
        )
        added.append(reservation)

    for back in range(DAYS_BEHIND, 0, -1):
        person = people[back % len(people)]
        used = Status.cancelled if back % 4 == 0 else Status.completed
        add(talks, -back, "10:00", "11:00", used, user_id=person.id, purpose="面试")
        if roadshow is not None and (today - timedelta(days=back)).weekday() < 5 and back % 2:
            add(
                river,
                -back,
                "14:00",
                "16:00",
                Status.completed,
                user_id=people[0].id,
                organization_id=roadshow.id,
                purpose="路演彩排",
            )
    add(talks, 0, "10:00", "11:00", Status.confirmed, user_id=people[1].id, purpose="小组讨论")
    add(talks, 0, "15:00", "16:30", Status.confirmed, user_id=people[2].id, purpose="面试")
    if today.weekday() != SUNDAY:  # 苏河会议室 is closed on Sundays
        add(river, 0, "14:00", "17:00", Status.confirmed, user_id=people[3].id, purpose="读书会")
    add(hall, 1, "14:00", "16:00", Status.pending, user_id=people[4].id, purpose="楼组议事会")
    session.add_all(added)
    await session.flush()
    added += await _weekly_branch_meeting(session, hall, people[5], today + timedelta(days=2), now)
    for number, reservation in enumerate(added):
        if reservation.status is Status.completed and number % 3 == 0:
            session.add(
                Feedback(
                    reservation_id=reservation.id,
                    space_id=reservation.space_id,
                    user_id=reservation.user_id,
                    rating=5 if number % 2 else 4,
                    comment="很方便" if number % 2 else None,
                    created_at=reservation.ends_at,
                )
            )
    await session.flush()
    return len(added)


BRANCH_MEETING_WEEKS = 4


async def _weekly_branch_meeting(
    session: AsyncSession, hall: Space, booker: User, first: date, now: datetime
) -> list[Reservation]:
    """A Party branch's evening meeting, weekly for a month, waiting for
    approval as one series. A week the hall is closed (a statutory holiday)
    is left out, as booking what is free would leave it."""
    series = ReservationSeries(
        user_id=booker.id,
        space_id=hall.id,
        rrule=f"FREQ=WEEKLY;COUNT={BRANCH_MEETING_WEEKS}",
        mode=SeriesMode.book_what_is_free,
        first_starts_at=local_at(first, minute("19:00")),
        first_ends_at=local_at(first, minute("20:30")),
        attendees=12,
        purpose="党支部组织生活会",
        created_at=now,
    )
    session.add(series)
    await session.flush()
    meetings = []
    for week in range(BRANCH_MEETING_WEEKS):
        day = first + timedelta(weeks=week)
        if hours_weekday(official(day), hall.holiday_policy) is None:
            continue
        meeting = Reservation(
            space_id=hall.id,
            user_id=booker.id,
            starts_at=local_at(day, minute("19:00")),
            ends_at=local_at(day, minute("20:30")),
            exclusive=True,
            status=Status.pending,
            purpose=series.purpose,
            attendees=series.attendees,
        )
        session.add(meeting)
        await session.flush()
        session.add(SeriesOccurrence(reservation_id=meeting.id, series_id=series.id))
        meetings.append(meeting)
    await session.flush()
    return meetings


async def neighbor(session: AsyncSession, number: int, cipher: PiiCipher | None) -> User:
    """The demo's ``number``th neighbour, who books and signs up for activities."""
    openid = NEIGHBORS[number]
    user = await session.scalar(select(User).where(User.openid == openid))
    if user is None:
        user = User(openid=openid)
        if cipher is not None:
            phones.bind(cipher, user, f"1390021{number:04d}")
        session.add(user)
        await session.flush()
    return user


# What takes a room's time: what holds it now, and what was booked and used.
OCCUPYING = statuses_that(lambda meaning: meaning.holds_time or meaning.booked_time)


async def hold_for_activity(
    session: AsyncSession,
    space: Space,
    day: date,
    start: str,
    end: str,
    now: datetime,
    *,
    title: str,
    booker: User | None = None,
    organization_id: int | None = None,
    attendees: int = 1,
) -> Reservation | None:
    """Hold ``space`` for an activity from ``start`` to ``end`` on ``day``, as the
    demo books its rooms: only if the room is open then (its weekly hours, as
    the official holiday calendar changes them) and nothing else has taken the
    time (its buffer included); else None. Without a ``booker`` it is the
    center's own event (nobody's booking, the whole room, its title public);
    with one, the organisation's booking. A time gone by is completed, as the
    lifecycle jobs would have left it."""
    first, last = minute(start), minute(end)
    weekday = hours_weekday(official(day), space.holiday_policy)
    if weekday is None:
        return None
    windows = await session.scalars(
        select(OpeningHours).where(
            OpeningHours.space_id == space.id, OpeningHours.weekday == weekday
        )
    )
    if not space.open_24h and not any(
        window.opens_minute <= first and last <= window.closes_minute for window in windows
    ):
        return None
    starts_at, ends_at = local_at(day, first), local_at(day, last)
    buffer = timedelta(minutes=space.buffer_minutes)
    taken = await session.scalar(
        select(Reservation.id)
        .where(
            Reservation.space_id == space.id,
            Reservation.status.in_(OCCUPYING),
            Reservation.starts_at < ends_at + buffer,
            Reservation.ends_at > starts_at - buffer,
        )
        .limit(1)
    )
    if taken is not None:
        return None
    event = booker is None
    reservation = Reservation(
        space_id=space.id,
        user_id=None if booker is None else booker.id,
        organization_id=organization_id,
        kind=ReservationKind.center_event if event else ReservationKind.booking,
        title=title if event else None,
        public=True if event else None,
        starts_at=starts_at,
        ends_at=ends_at,
        exclusive=space.booking_mode is BookingMode.exclusive,
        status=Status.completed if ends_at <= now else Status.confirmed,
        purpose=title[:200],
        attendees=space.capacity if event else min(attendees, space.capacity),
    )
    session.add(reservation)
    await session.flush()
    return reservation
