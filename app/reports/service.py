"""Usage reports: how the spaces in a staff member's scope were used over a
range of Shanghai days, grouped by space, by day or by weekday and hour, or
rolled up the network: by center, by street (district + street) or by
district; ``ancestor_id`` keeps the spaces of a center and every center below
it (a recursive CTE, each center once however deep the tree).

The booking figures come from one grouped query (``usage_sql``) that the
database answers over the (space_id, starts_at) index: each booking is cut
into the buckets it touches (a whole range, a day or an hour), so a booking
across midnight counts its hours on both days. A booking is *counted*
(bookings, cancellations, no-shows, users, ratings) in the bucket where it
starts, and only if it starts within the range; its *hours* count wherever
they fall in the range. The center's own events (app/reservations/events.py) are
no bookings: their hours count apart, as ``center_event_hours``.

The opening figures come from the spaces' weekly hours and closures, walked
day by day in Python: that loop is over days and opening windows, never over
bookings.
"""

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.centers.service import get_center_in_scope
from app.core.clock import SHANGHAI, local_midnight
from app.core.errors import AppError, Text
from app.holidays import service as holidays
from app.holidays.days import plan_days
from app.identity.principals import StaffPrincipal
from app.models import BookingMode, Center, Closure, Space, subtree_ids
from app.reports.groups import DAY, HOUR, REPORTED, WHOLE_RANGE, GroupBy
from app.reports.sql import usage_sql
from app.spaces.calendar import Interval, merge, opening_intervals
from app.spaces.service import get_space_in_scope, weekly_windows

MAX_DAYS = 366
# Reports cover days the service can have seen: a year 9999 is a typo.
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)


class InvalidReportRange(AppError):
    status = 422
    code = "invalid_report_range"
    title = Text("报表日期范围无效", "Invalid report range")
    detail = Text(
        "结束日期不能早于开始日期，范围最多 {max_days} 天，且在 2000–2099 年之间",
        "to must not be before from, a report covers at most {max_days} days,"
        " within the years 2000–2099",
    )


@dataclasses.dataclass
class Row:
    """One group of a report; the keys not grouped by are None."""

    space_id: int | None = None
    space_name: str | None = None
    date: dt.date | None = None
    weekday: int | None = None  # 0 = Monday
    hour: int | None = None
    center_id: int | None = None
    center_name: str | None = None
    district: str | None = None
    street: str | None = None
    open_hours: float = 0.0
    available_hours: float = 0.0  # open hours × places (seats of a shared space, else 1)
    booked_hours: float = 0.0
    checked_in_hours: float = 0.0
    center_event_hours: float = 0.0  # the center's own events, apart from bookings
    bookings: int = 0
    cancellations: int = 0
    no_shows: int = 0
    unique_users: int = 0
    organizations: int = 0
    utilization: float | None = None  # booked_hours / available_hours
    no_show_rate: float | None = None  # no_shows / (bookings - cancellations)
    average_rating: float | None = None


@dataclasses.dataclass(frozen=True)
class Report:
    group_by: GroupBy
    first_day: date
    last_day: date
    rows: list[Row]


Key = tuple[int | str, ...]


async def utilization(
    session: AsyncSession,
    staff: StaffPrincipal,
    *,
    center_id: int | None,
    space_id: int | None,
    first_day: date,
    last_day: date,
    group_by: GroupBy,
    ancestor_id: int | None = None,
) -> Report:
    if (
        last_day < first_day
        or (last_day - first_day).days >= MAX_DAYS
        or first_day < EARLIEST
        or last_day > LATEST
    ):
        raise InvalidReportRange(max_days=MAX_DAYS)
    spaces = await _spaces(
        session, staff, center_id=center_id, space_id=space_id, ancestor_id=ancestor_id
    )
    start, end = local_midnight(first_day), local_midnight(last_day + timedelta(days=1))
    rows: dict[Key, Row] = {}
    for space, opening in await _opening(session, spaces, start, end):
        _add_opening(rows, group_by, space, opening)
    if spaces:
        await _add_usage(session, rows, group_by, [space.id for space in spaces], start, end)
    for row in rows.values():
        _finish(row)
    names: dict[int | str, str] = {space.id: space.name for space in spaces}
    if group_by is GroupBy.by_center:
        names = {space.center_id: space.center.name for space in spaces}
    for key, row in rows.items():
        _label(row, group_by, key, names)
    return Report(group_by, first_day, last_day, [rows[key] for key in sorted(rows)])


async def _spaces(
    session: AsyncSession,
    staff: StaffPrincipal,
    *,
    center_id: int | None,
    space_id: int | None,
    ancestor_id: int | None,
) -> list[Space]:
    below: list[int] | None = None
    if ancestor_id is not None:
        await get_center_in_scope(session, staff, ancestor_id)
        subtree = subtree_ids([ancestor_id])
        below = list((await session.scalars(select(subtree.c.id))).all())
    if space_id is not None:
        space = await get_space_in_scope(session, staff, space_id)
        if center_id is not None and space.center_id != center_id:
            return []
        if below is not None and space.center_id not in below:
            return []
        return [space]
    if center_id is not None:
        await get_center_in_scope(session, staff, center_id)
    query = (
        select(Space)
        .join(Space.center)
        .where(staff.center_clause())
        .options(selectinload(Space.opening_hours), selectinload(Space.center))
        .order_by(Space.id)
    )
    if center_id is not None:
        query = query.where(Center.id == center_id)
    if below is not None:
        query = query.where(Center.id.in_(below))
    return list((await session.scalars(query)).all())


async def _opening(
    session: AsyncSession, spaces: Sequence[Space], start: datetime, end: datetime
) -> list[tuple[Space, list[Interval]]]:
    """Each active space's open time within ``[start, end)``, closures taken out."""
    active = [space for space in spaces if space.is_active]
    closures: dict[int, list[Interval]] = defaultdict(list)
    if active:
        found = await session.execute(
            select(Closure.space_id, Closure.starts_at, Closure.ends_at).where(
                Closure.space_id.in_([space.id for space in active]),
                Closure.starts_at < end,
                Closure.ends_at > start,
            )
        )
        for closed_space, closed_from, closed_to in found:
            closures[closed_space].append(Interval(closed_from, closed_to))
    first_day = start.astimezone(SHANGHAI).date()
    last_day = (end - timedelta(days=1)).astimezone(SHANGHAI).date()
    scopes = {
        scope
        for space in active
        for scope in holidays.scopes_of(space.center.district, space.center_id)
    }
    days = await holidays.overrides(session, first_day, last_day, sorted(scopes))
    result = []
    for space in active:
        plan = plan_days(
            first_day, last_day, days, space.center.district, space.center_id, space.holiday_policy
        )
        windows = opening_intervals(
            space.open_24h,
            weekly_windows(space),
            first_day,
            last_day,
            plan.hours_of if plan else None,
        )
        result.append((space, _subtract(windows, merge(closures[space.id]))))
    return result


def _subtract(opening: Iterable[Interval], closed: Sequence[Interval]) -> list[Interval]:
    remaining: list[Interval] = []
    for window in opening:
        pieces = [window]
        for closure in closed:
            pieces = [
                part
                for piece in pieces
                for part in (
                    Interval(piece.start, min(piece.end, closure.start)),
                    Interval(max(piece.start, closure.end), piece.end),
                )
                if part.start < part.end
            ]
        remaining.extend(pieces)
    return remaining


def _add_opening(
    rows: dict[Key, Row], group_by: GroupBy, space: Space, opening: Iterable[Interval]
) -> None:
    places = space.capacity if space.booking_mode is BookingMode.shared else 1
    for interval in opening:
        for key, seconds in _split(group_by, space, interval):
            row = rows.setdefault(key, Row())
            row.open_hours += seconds / HOUR
            row.available_hours += places * seconds / HOUR


def _place(group_by: GroupBy, space: Space) -> Key:
    """The key of a group by place: the space, its center, street or district."""
    match group_by:
        case GroupBy.by_center:
            return (space.center_id,)
        case GroupBy.street:
            return (space.center.district, space.center.street)
        case GroupBy.district:
            return (space.center.district,)
        case _:
            return (space.id,)


def _split(group_by: GroupBy, space: Space, interval: Interval) -> Iterable[tuple[Key, float]]:
    """``interval``'s seconds per group key: whole, per Shanghai day, or per hour."""
    if group_by in WHOLE_RANGE:
        yield _place(group_by, space), (interval.end - interval.start).total_seconds()
        return
    step = timedelta(days=1) if group_by is GroupBy.day else timedelta(hours=1)
    local = interval.start.astimezone(SHANGHAI)
    cursor = (
        local_midnight(local.date())
        if group_by is GroupBy.day
        else local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    )
    while cursor < interval.end:
        seconds = (min(cursor + step, interval.end) - max(cursor, interval.start)).total_seconds()
        here = cursor.astimezone(SHANGHAI)
        if group_by is GroupBy.day:
            yield (here.date().toordinal(),), seconds
        else:
            yield (here.weekday(), here.hour), seconds
        cursor += step


async def _add_usage(
    session: AsyncSession,
    rows: dict[Key, Row],
    group_by: GroupBy,
    space_ids: list[int],
    start: datetime,
    end: datetime,
) -> None:
    dialect = session.get_bind().dialect.name
    width = (
        int((end - start).total_seconds()) + DAY
        if group_by in WHOLE_RANGE
        else {GroupBy.day: DAY}.get(group_by, HOUR)
    )
    origin = start - timedelta(days=1)
    # Shanghai keeps one offset all year (no daylight saving since 1991), which
    # lets the database find days and hours with integer arithmetic.
    utc_offset = origin.astimezone(SHANGHAI).utcoffset()
    assert utc_offset is not None
    if dialect == "postgresql":
        # A staff report, not the hot path: room to aggregate in memory, and a
        # plan for this range's size (a generic one, kept after five runs,
        # would plan a year like a day).
        await session.execute(text("SET LOCAL work_mem = '64MB'"))
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        # Compiling the query costs more than the JIT saves at these sizes.
        await session.execute(text("SET LOCAL jit = off"))
    statement = text(usage_sql(dialect, group_by)).bindparams(
        bindparam("space_ids", expanding=True), bindparam("statuses", expanding=True)
    )
    result = await session.execute(
        statement,
        {
            "space_ids": space_ids,
            "statuses": [status.value for status in REPORTED],
            "from_at": start,
            "to_at": end,
            "day_before": start - timedelta(days=1),
            "range_start": int(start.timestamp()),
            "range_end": int(end.timestamp()),
            "origin": int(origin.timestamp()),
            "width": width,
            "utc_offset": int(utc_offset.total_seconds()),
        },
    )
    key_count = 2 if group_by in (GroupBy.weekday_hour, GroupBy.street) else 1
    for record in result:
        values = tuple(record)
        key: Key = tuple(
            part if isinstance(part, str) else int(part) for part in values[:key_count]
        )
        if group_by is GroupBy.day:
            key = (datetime.fromtimestamp(int(key[0]), SHANGHAI).date().toordinal(),)
        (booked, used, bookings, cancelled, no_shows, users, organizations, stars, ratings,
         events) = values[key_count:]  # fmt: skip
        row = rows.setdefault(key, Row())
        row.booked_hours = float(booked or 0) / HOUR
        row.checked_in_hours = float(used or 0) / HOUR
        row.center_event_hours = float(events or 0) / HOUR
        row.bookings, row.cancellations, row.no_shows = int(bookings), int(cancelled), int(no_shows)
        row.unique_users, row.organizations = int(users), int(organizations)
        row.average_rating = round(float(stars) / int(ratings), 2) if ratings else None


def _finish(row: Row) -> None:
    if row.available_hours:
        row.utilization = round(row.booked_hours / row.available_hours, 4)
    due = row.bookings - row.cancellations
    if due:
        row.no_show_rate = round(row.no_shows / due, 4)
    for name in (
        "open_hours",
        "available_hours",
        "booked_hours",
        "checked_in_hours",
        "center_event_hours",
    ):
        setattr(row, name, round(getattr(row, name), 2))


def _label(row: Row, group_by: GroupBy, key: Key, names: dict[int | str, str]) -> None:
    match group_by:
        case GroupBy.space:
            row.space_id, row.space_name = int(key[0]), names.get(key[0])
        case GroupBy.day:
            row.date = date.fromordinal(int(key[0]))
        case GroupBy.weekday_hour:
            row.weekday, row.hour = int(key[0]), int(key[1])
        case GroupBy.by_center:
            row.center_id, row.center_name = int(key[0]), names.get(key[0])
        case GroupBy.street:
            row.district, row.street = str(key[0]), str(key[1])
        case GroupBy.district:
            row.district = str(key[0])
