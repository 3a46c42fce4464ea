"""Spaces: their booking rules, opening hours, closures and daily availability."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.audit import service as audit
from app.centers.service import get_center_in_scope
from app.core.clock import local_today, parse_wall_clock, utcnow
from app.core.db import Database, flush_unique
from app.core.errors import AlreadyExists, AppError, NotFound, OutOfScope, Text
from app.identity.principals import StaffPrincipal
from app.models import (
    Space,
    default_holiday_policy,
    new_check_in_token,
)
from app.spaces import availability, calendar
from app.spaces.affected import (
    AffectedBooking,
    newly_outside,
    outside_time,
    refuse_unless_told,
)
from app.spaces.calendar import SPACE, WeeklyWindow
from app.spaces.hours import InvalidOpeningHours, check_windows, opening_row, parse_windows
from app.spaces.schemas import (
    SpaceCreate,
    SpaceUpdate,
)

NO_HOURS_WHEN_24H = Text(
    "全天开放的空间不应再设置开放时间", "A 24-hour space takes no opening hours"
)
DEFAULT_MAX_MINUTES = 240
AVAILABILITY_HORIZON_DAYS = 366


class InvalidSpaceRules(AppError):
    status = 422
    code = "invalid_space_rules"
    title = Text("预约规则无效", "Invalid booking rules")


class DateOutOfRange(AppError):
    status = 422
    code = "date_out_of_range"
    title = Text("日期超出范围", "Date out of range")
    detail = Text(
        "只能查询前后 {days} 天内的日期", "Only dates within {days} days of today can be shown"
    )


@dataclass(frozen=True)
class DayAvailability:
    space: availability.SpaceDay
    day: date
    bookable_until: datetime
    slots: list[tuple[availability.GridSlot, str, int, availability.SlotNote]]


def with_details(query: Select[Space]) -> Select[Space]:
    return query.options(
        selectinload(Space.center), selectinload(Space.opening_hours), selectinload(Space.doors)
    )


def weekly_windows(space: Space) -> list[WeeklyWindow]:
    return [
        WeeklyWindow(row.weekday, row.opens_minute, row.closes_minute)
        for row in space.opening_hours
    ]


# --- public reads -----------------------------------------------------------


async def get_active_space(session: AsyncSession, space_id: int) -> Space:
    query = with_details(select(Space).where(Space.id == space_id, Space.is_active.is_(True)))
    space = await session.scalar(query)
    if space is None:
        raise NotFound(SPACE)
    return space


async def day_availability(
    database: Database,
    space_id: int,
    day: date,
    now: datetime | None = None,
    viewer_id: int | None = None,
) -> DayAvailability:
    now = now or utcnow()
    if abs((day - local_today(now)).days) > AVAILABILITY_HORIZON_DAYS:
        raise DateOutOfRange(days=AVAILABILITY_HORIZON_DAYS)
    space = await availability.load_day(database, space_id, day)
    return DayAvailability(
        space=space,
        day=day,
        bookable_until=calendar.booking_window_end(space.advance_days, now, space.release_minute),
        slots=availability.slot_statuses(space, day, now, viewer_id),
    )


# --- staff ------------------------------------------------------------------


async def get_space_in_scope(
    session: AsyncSession, staff: StaffPrincipal, space_id: int, *, for_update: bool = False
) -> Space:
    query = with_details(select(Space).where(Space.id == space_id))
    if for_update:
        query = query.with_for_update(of=Space)
    space = await session.scalar(query)
    if space is None:
        raise NotFound(SPACE)
    if not staff.covers_center(space.center):
        raise OutOfScope(what=SPACE)
    return space


async def list_spaces_in_scope(
    session: AsyncSession,
    staff: StaffPrincipal,
    *,
    center_id: int | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Space], int]:
    query = select(Space).join(Space.center).where(staff.center_clause())
    if center_id is not None:
        query = query.where(Space.center_id == center_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(with_details(query).order_by(Space.id).limit(limit).offset(offset))
    return rows.all(), int(total or 0)


async def create_space(session: AsyncSession, staff: StaffPrincipal, data: SpaceCreate) -> Space:
    center = await get_center_in_scope(session, staff, data.center_id)
    min_minutes = data.min_minutes or data.slot_minutes
    max_minutes = data.max_minutes or _default_max_minutes(data.slot_minutes, min_minutes)
    _check_durations(data.slot_minutes, min_minutes, max_minutes)
    if data.open_24h and data.opening_hours:
        raise InvalidOpeningHours(NO_HOURS_WHEN_24H)
    windows = check_windows(parse_windows(data.opening_hours), data.slot_minutes)
    space = Space(
        center_id=center.id,
        name=data.name,
        kind=data.kind,
        booking_mode=data.booking_mode,
        capacity=data.capacity,
        slot_minutes=data.slot_minutes,
        min_minutes=min_minutes,
        max_minutes=max_minutes,
        advance_days=data.advance_days,
        cancel_before_minutes=data.cancel_before_minutes,
        modify_before_minutes=data.modify_before_minutes,
        buffer_minutes=data.buffer_minutes,
        open_24h=data.open_24h,
        requires_approval=data.requires_approval,
        requires_real_name=data.requires_real_name,
        requires_organization=data.requires_organization,
        requires_check_in=data.requires_check_in,
        check_in_opens_minutes=data.check_in_opens_minutes,
        no_show_after_minutes=data.no_show_after_minutes,
        release_minute=_release_minute(data.release_time),
        facilities=list(data.facilities),
        description=data.description,
        opening_hours=[opening_row(window) for window in windows],
        holiday_policy=data.holiday_policy or default_holiday_policy(data.open_24h),
        doors=[],  # a new space has no doors yet
    )
    space.center = center
    session.add(space)
    await flush_unique(session, AlreadyExists(what=SPACE))
    return space


HOURS_FIELDS = frozenset({"opening_hours", "open_24h", "holiday_policy"})


async def change_space(
    session: AsyncSession, staff: StaffPrincipal, space_id: int, data: SpaceUpdate
) -> tuple[Space, list[AffectedBooking]]:
    """Apply ``data``. A change of hours that leaves holding bookings outside
    them is refused (409) unless ``data.affected`` says what to do with them;
    they are returned."""
    space = await get_space_in_scope(session, staff, space_id, for_update=True)
    changes = data.changes()
    affected_action = changes.pop("affected", None)
    changed = sorted(changes)
    hours_change = not HOURS_FIELDS.isdisjoint(changes)
    now = utcnow()
    before = await outside_time(session, [space.id], None, now) if hours_change else {}
    changes.pop("opening_hours", None)
    if "release_time" in changes:
        changes["release_minute"] = _release_minute(changes.pop("release_time"))
    for field, value in changes.items():
        setattr(space, field, value)
    if space.requires_check_in and space.check_in_token is None:
        space.check_in_token = new_check_in_token()
    _check_durations(space.slot_minutes, space.min_minutes, space.max_minutes)
    new_hours = parse_windows(data.opening_hours) if data.opening_hours is not None else None
    if space.open_24h:
        if new_hours:
            raise InvalidOpeningHours(NO_HOURS_WHEN_24H)
        space.opening_hours = []
    else:
        windows = check_windows(
            new_hours if new_hours is not None else weekly_windows(space), space.slot_minutes
        )
        if new_hours is not None:
            space.opening_hours = [opening_row(window) for window in windows]
    await flush_unique(session, AlreadyExists(what=SPACE))
    affected: list[AffectedBooking] = []
    if hours_change:
        affected = newly_outside(before, await outside_time(session, [space.id], None, now))
        refuse_unless_told(affected, affected_action)
    audit.record(
        session,
        staff,
        entity="space",
        entity_id=space.id,
        action="update",
        from_status=None,
        to_status=None,
        reason=", ".join(changed)[:200] or None,
    )
    return space, affected


def _release_minute(release_time: str | None) -> int | None:
    return parse_wall_clock(release_time) if release_time is not None else None


def _default_max_minutes(slot_minutes: int, min_minutes: int) -> int:
    whole_slots = -(-DEFAULT_MAX_MINUTES // slot_minutes)
    return max(min_minutes, min(whole_slots * slot_minutes, calendar.MINUTES_PER_DAY))


def _check_durations(slot_minutes: int, min_minutes: int, max_minutes: int) -> None:
    if calendar.MINUTES_PER_DAY % slot_minutes:
        raise InvalidSpaceRules(
            Text("时段长度须能整除一天（如 15、30、60 分钟）", "slot_minutes must divide a day")
        )
    if min_minutes % slot_minutes or max_minutes % slot_minutes:
        raise InvalidSpaceRules(
            Text(
                "最短与最长时长须为时段长度的整数倍",
                "min_minutes and max_minutes must be whole slots",
            )
        )
    if max_minutes < min_minutes:
        raise InvalidSpaceRules(
            Text("最长时长不能小于最短时长", "max_minutes must not be below min_minutes")
        )
