"""Finding spaces: by center, kind and size, by the center's district, street
or distance from a point, free for a whole interval, or open now."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.centers.service import GeoPoint, metres_from, near_box
from app.core.errors import Text
from app.holidays import service as holidays
from app.holidays.days import Override, plan_for
from app.models import (
    HOLDING_STATUSES,
    BookingMode,
    Center,
    Closure,
    Reservation,
    Space,
    SpaceKind,
    overlapping,
)
from app.spaces import calendar
from app.spaces.calendar import Interval, InvalidInterval
from app.spaces.service import weekly_windows, with_details

MAX_FREE_SEARCH_DAYS = 7


@dataclass(frozen=True)
class SpaceSearch:
    center_id: int | None = None
    kind: SpaceKind | None = None
    min_capacity: int | None = None
    available_from: datetime | None = None
    available_to: datetime | None = None
    district: str | None = None  # the center's
    street: str | None = None  # the center's
    near: GeoPoint | None = None  # within radius_m of here, nearest first
    radius_m: float = 3000.0
    open_now: datetime | None = None  # open (hours, holidays, closures) at this instant


@dataclass(frozen=True)
class SpaceHit:
    space: Space
    distance_m: int | None  # from ``near``, in whole metres


async def _page(
    session: AsyncSession, query: Select[Space], *, limit: int, offset: int
) -> tuple[Sequence[Space], int]:
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    ordered = with_details(query).order_by(Space.id).limit(limit).offset(offset)
    return (await session.scalars(ordered)).all(), int(total or 0)


async def search_spaces(
    session: AsyncSession, search: SpaceSearch, *, limit: int, offset: int
) -> tuple[Sequence[SpaceHit], int]:
    query = select(Space).where(Space.is_active.is_(True))
    if search.center_id is not None:
        query = query.where(Space.center_id == search.center_id)
    if search.kind is not None:
        query = query.where(Space.kind == search.kind)
    if search.min_capacity is not None:
        query = query.where(Space.capacity >= search.min_capacity)
    centers = select(Center.id)
    if search.district:
        centers = centers.where(Center.district == search.district)
    if search.street:
        centers = centers.where(Center.street == search.street)
    if search.near is not None:
        centers = centers.where(near_box(search.near, search.radius_m))
    if search.district or search.street or search.near is not None:
        query = query.where(Space.center_id.in_(centers))
    wanted = _free_interval(search)
    if wanted is None and search.near is None and search.open_now is None:
        spaces, total = await _page(session, query, limit=limit, offset=offset)
        return [SpaceHit(space, None) for space in spaces], total
    # What SQL cannot decide (the distance, the hours of the day) is decided here.
    candidates = (await session.scalars(with_details(query).order_by(Space.id))).all()
    if wanted is not None:
        free = await _free_space_ids(session, candidates, wanted)
        candidates = [space for space in candidates if space.id in free]
    if search.open_now is not None:
        now = Interval(search.open_now, search.open_now + timedelta(minutes=1))
        open_ids = await open_space_ids(session, candidates, now)
        candidates = [space for space in candidates if space.id in open_ids]
    hits = [SpaceHit(space, None) for space in candidates]
    if search.near is not None:
        origin = search.near
        hits = sorted(
            (
                hit
                for space in candidates
                if (hit := SpaceHit(space, metres_from(origin, space.center))).distance_m
                is not None
                and hit.distance_m <= search.radius_m
            ),
            key=lambda hit: (hit.distance_m, hit.space.id),
        )
    return hits[offset : offset + limit], len(hits)


async def open_space_ids(
    session: AsyncSession, spaces: Sequence[Space], wanted: Interval
) -> set[int]:
    """Which of ``spaces`` are open for all of ``wanted``: within their hours
    (holidays considered) and not closed."""
    if not spaces:
        return set()
    closed = await _closed_space_ids(session, [space.id for space in spaces], wanted)
    first_day, last_day = calendar.days_of(wanted)
    scopes = {scope for space in spaces for scope in _scopes(space)}
    days = await holidays.overrides(session, first_day, last_day, sorted(scopes))
    return {
        space.id
        for space in spaces
        if space.id not in closed
        and calendar.within_opening_hours(
            space.open_24h, weekly_windows(space), wanted, _hours_of(space, wanted, days)
        )
    }


def _free_interval(search: SpaceSearch) -> Interval | None:
    if search.available_from is None and search.available_to is None:
        return None
    if search.available_from is None or search.available_to is None:
        raise InvalidInterval(
            Text(
                "available_from 与 available_to 须同时提供",
                "Give both available_from and available_to",
            )
        )
    wanted = Interval(search.available_from.astimezone(UTC), search.available_to.astimezone(UTC))
    if wanted.end <= wanted.start:
        raise InvalidInterval(
            Text("available_to 须晚于 available_from", "available_to must be after available_from")
        )
    if wanted.end - wanted.start > timedelta(days=MAX_FREE_SEARCH_DAYS):
        raise InvalidInterval(
            Text("查询区间不能超过 {days} 天", "Search at most {days} days at once"),
            days=MAX_FREE_SEARCH_DAYS,
        )
    return wanted


async def _free_space_ids(
    session: AsyncSession, spaces: Sequence[Space], wanted: Interval
) -> set[int]:
    """Which of ``spaces`` are open, not closed, and could take one more booking
    for the whole of ``wanted``."""
    if not spaces:
        return set()
    ids = [space.id for space in spaces]
    closed = await _closed_space_ids(session, ids, wanted)
    held = await held_seats(session, ids, wanted)
    first_day, last_day = calendar.days_of(wanted)
    scopes = {scope for space in spaces for scope in _scopes(space)}
    days = await holidays.overrides(session, first_day, last_day, sorted(scopes))
    return {
        space.id
        for space in spaces
        if space.id not in closed
        and calendar.within_opening_hours(
            space.open_24h, weekly_windows(space), wanted, _hours_of(space, wanted, days)
        )
        and remaining(space, held.get(space.id, []), wanted) > 0
    }


def _scopes(space: Space) -> list[str]:
    return holidays.scopes_of(space.center.district, space.center_id)


def _hours_of(
    space: Space, wanted: Interval, days: Mapping[date, Sequence[Override]]
) -> calendar.HoursOf | None:
    plan = plan_for(
        wanted.start,
        wanted.end,
        days,
        space.center.district,
        space.center_id,
        space.holiday_policy,
    )
    return plan.hours_of if plan else None


def remaining(space: Space, held: Sequence[tuple[Interval, int]], slot: Interval) -> int:
    """Seats left in ``slot`` for a shared space; 1 or 0 rooms for an exclusive one."""
    if space.booking_mode is BookingMode.exclusive:
        return 0 if any(interval.overlaps(slot) for interval, _ in held) else 1
    seats = ((interval.start, interval.end, taken) for interval, taken in held)
    return max(space.capacity - calendar.peak_load(seats, slot.start, slot.end), 0)


async def held_seats(
    session: AsyncSession, space_ids: Sequence[int], span: Interval
) -> dict[int, list[tuple[Interval, int]]]:
    """The holding reservations of each space overlapping ``span``, with their seats."""
    rows = await session.execute(
        select(
            Reservation.space_id,
            Reservation.starts_at,
            Reservation.ends_at,
            Reservation.attendees,
        ).where(
            Reservation.space_id.in_(space_ids),
            Reservation.status.in_(HOLDING_STATUSES),
            overlapping(span.start, span.end),
        )
    )
    held: dict[int, list[tuple[Interval, int]]] = {}
    for space_id, start, end, seats in rows:
        held.setdefault(space_id, []).append((Interval(start, end), seats))
    return held


async def _closed_space_ids(
    session: AsyncSession, space_ids: Sequence[int], span: Interval
) -> set[int]:
    rows = await session.scalars(
        select(Closure.space_id).where(
            Closure.space_id.in_(space_ids),
            Closure.starts_at < span.end,
            Closure.ends_at > span.start,
        )
    )
    return set(rows.all())
