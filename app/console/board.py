"""What the console shows that no API endpoint does in one read: a day's board
of every space in scope, doors with their last attempts, and the masked name
of whoever booked. Reads only; every change goes through the domain services.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.access.doors import keypad_lockouts
from app.core.clock import SHANGHAI, local_day_bounds, utcnow
from app.identity.principals import StaffPrincipal
from app.identity.shown import masked
from app.models import (
    HOLDING_STATUSES,
    BookingMode,
    Center,
    Door,
    DoorAttempt,
    Organization,
    Reservation,
    ReservationStatus,
    Space,
    User,
    statuses_that,
)

# What holds the day's time, and what came of the day's bookings.
ON_THE_BOARD = statuses_that(lambda meaning: meaning.holds_time or meaning.booked_time)
ATTEMPTS_SHOWN = 10
# The timeline's hour labels, every three hours, and its colours' legend.
HOUR_LABELS = tuple(f"{hour:02d}:00" for hour in range(0, 25, 3))
LEGEND = ON_THE_BOARD


@dataclass(frozen=True)
class BoardBooking:
    id: int
    start: datetime  # Shanghai time
    end: datetime
    status: ReservationStatus
    who: str  # masked
    checked_in: bool
    started: bool
    left: float  # position on the day's timeline, in percent
    width: float
    attendees: int
    holds_now: bool  # holds its seats (or the room) at this moment


@dataclass
class BoardSpace:
    id: int
    name: str
    doors: int
    locked_until: datetime | None
    seats: int | None  # a shared space's (a study room's); none for a room booked whole
    bookings: list[BoardBooking] = field(default_factory=list)

    @property
    def seats_in_use(self) -> int:
        """The seats that bookings hold now (checked in or about to be)."""
        return sum(booking.attendees for booking in self.bookings if booking.holds_now)


@dataclass
class BoardCenter:
    id: int
    name: str
    spaces: list[BoardSpace] = field(default_factory=list)


@dataclass
class ApprovalRequest:
    """One thing to decide on the approvals page: a booking, or every pending
    occurrence of a series (``series_id``), decided at once."""

    first: Reservation
    series_id: int | None
    occurrences: list[Reservation]


def group_by_series(
    pending: Sequence[Reservation], in_series: dict[int, int]
) -> list[ApprovalRequest]:
    """The pending bookings in their order, a series' occurrences under its first."""
    requests: list[ApprovalRequest] = []
    by_series: dict[int, ApprovalRequest] = {}
    for row in pending:
        series_id = in_series.get(row.id)
        if series_id is None:
            requests.append(ApprovalRequest(row, None, [row]))
        elif series_id in by_series:
            by_series[series_id].occurrences.append(row)
        else:
            by_series[series_id] = ApprovalRequest(row, series_id, [row])
            requests.append(by_series[series_id])
    return requests


async def who_booked(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, str]:
    ids = set(user_ids)
    if not ids:
        return {}
    users = await session.scalars(select(User).where(User.id.in_(ids)))
    return {user.id: masked(user) for user in users}


async def spaces_in_scope(
    session: AsyncSession, staff: StaffPrincipal, *, active_only: bool = True
) -> Sequence[tuple[Space, Center]]:
    query = select(Space, Center).join(Center, Space.center_id == Center.id)
    query = query.where(staff.center_clause()).order_by(Center.id, Space.id)
    if active_only:
        query = query.where(Space.is_active.is_(True))
    return [(space, center) for space, center in (await session.execute(query)).all()]


async def day_board(session: AsyncSession, staff: StaffPrincipal, day: date) -> list[BoardCenter]:
    start, end = local_day_bounds(day)
    spaces = await spaces_in_scope(session, staff)
    space_ids = [space.id for space, _ in spaces]
    centers: dict[int, BoardCenter] = {}
    by_space: dict[int, BoardSpace] = {}
    doors = await _door_counts(session, space_ids)
    lockouts = await keypad_lockouts(session, space_ids)
    now = utcnow()
    for space, center in spaces:
        board = centers.setdefault(center.id, BoardCenter(center.id, center.name))
        locked = lockouts.get(space.id)
        by_space[space.id] = BoardSpace(
            space.id,
            space.name,
            doors.get(space.id, 0),
            locked.astimezone(SHANGHAI) if locked and locked > now else None,
            space.capacity if space.booking_mode is BookingMode.shared else None,
        )
        board.spaces.append(by_space[space.id])
    if not space_ids:
        return []
    rows = await session.execute(
        select(Reservation, User, Organization.name)
        .join(User, Reservation.user_id == User.id)
        .outerjoin(Organization, Reservation.organization_id == Organization.id)
        .where(
            Reservation.space_id.in_(space_ids),
            Reservation.status.in_(ON_THE_BOARD),
            Reservation.starts_at < end,
            Reservation.ends_at > start,
        )
        .order_by(Reservation.starts_at, Reservation.id)
    )
    day_seconds = (end - start).total_seconds()
    for reservation, user, organization in rows:
        shown_from, shown_to = max(reservation.starts_at, start), min(reservation.ends_at, end)
        by_space[reservation.space_id].bookings.append(
            BoardBooking(
                id=reservation.id,
                start=reservation.starts_at.astimezone(SHANGHAI),
                end=reservation.ends_at.astimezone(SHANGHAI),
                status=reservation.status,
                who=masked(user, organization),
                checked_in=reservation.checked_in_at is not None,
                started=reservation.starts_at <= now,
                left=round(100 * (shown_from - start).total_seconds() / day_seconds, 2),
                width=round(100 * (shown_to - shown_from).total_seconds() / day_seconds, 2),
                attendees=reservation.attendees,
                holds_now=reservation.status in HOLDING_STATUSES
                and reservation.starts_at <= now < reservation.ends_at,
            )
        )
    return list(centers.values())


def now_on_timeline(day: date) -> float | None:
    """Where the current time falls on ``day``'s timeline, in percent (none on other days)."""
    start, end = local_day_bounds(day)
    now = utcnow()
    if not start <= now < end:
        return None
    return round(100 * (now - start).total_seconds() / (end - start).total_seconds(), 2)


async def _door_counts(session: AsyncSession, space_ids: Sequence[int]) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for space_id in await session.scalars(
        select(Door.space_id).where(Door.space_id.in_(space_ids))
    ):
        counts[space_id] += 1
    return counts


@dataclass
class DoorActivity:
    door: Door
    space_name: str
    center_name: str
    locked_until: datetime | None
    attempts: list[DoorAttempt]


async def door_activity(session: AsyncSession, staff: StaffPrincipal) -> list[DoorActivity]:
    """Each door in scope, its keypad's lockout and its last attempts (outcomes only:
    no code is ever stored)."""
    spaces = {space.id: (space, center) for space, center in await spaces_in_scope(session, staff)}
    doors = (
        await session.scalars(
            select(Door).where(Door.space_id.in_(list(spaces))).order_by(Door.space_id, Door.id)
        )
    ).all()
    lockouts = await keypad_lockouts(session, list(spaces))
    now = utcnow()
    found = []
    for door in doors:
        attempts = await session.scalars(
            select(DoorAttempt)
            .where(DoorAttempt.door_id == door.id)
            .order_by(DoorAttempt.at.desc(), DoorAttempt.id.desc())
            .limit(ATTEMPTS_SHOWN)
        )
        space, center = spaces[door.space_id]
        locked = lockouts.get(door.space_id)
        found.append(
            DoorActivity(
                door,
                space.name,
                center.name,
                locked.astimezone(SHANGHAI) if locked and locked > now else None,
                list(attempts),
            )
        )
    return found
