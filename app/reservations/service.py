"""Reservations: booking rules, the no-overlap guarantee, and state transitions.

How a booking can never double-book
-----------------------------------
Every booking transaction first locks its space row (``SELECT ... FOR
UPDATE``), so bookings of one space run one after another while other spaces
proceed in parallel; under that lock it checks the rules and the current
holders, then inserts. On SQLite, where ``FOR UPDATE`` is a plain SELECT, the
same serialization comes from ``BEGIN IMMEDIATE`` (see ``app.core.db``). On
PostgreSQL an exclusion constraint backs the lock up: should two overlapping
holding bookings of an exclusive space ever reach the table, the second
insert fails with 23P01, answered as 409 ``slot_taken``.

State changes (approve, reject, cancel) lock the space, then the reservation
row, and re-check its state before changing it: a compare-and-swap, so two
staff acting at once cannot both win. Every change is written to the audit
trail in the same transaction.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.access.service import CodeBook, revoke_codes
from app.audit import service as audit
from app.core.clock import SHANGHAI, utcnow
from app.core.db import sqlstate
from app.core.errors import AppError, Forbidden, NotFound, Text
from app.identity.principals import Actor, StaffPrincipal
from app.models import (
    HOLDING_STATUSES,
    AuditEvent,
    BookingMode,
    Center,
    Closure,
    Door,
    MemberRole,
    Membership,
    Organization,
    OrganizationStatus,
    QuotaRule,
    Reservation,
    ReservationStatus,
    Space,
    User,
    overlapping,
)
from app.reservations import quotas
from app.reservations.schemas import ReservationCreate, reservation_out_loads
from app.spaces import calendar
from app.spaces.calendar import Interval, WeeklyWindow
from app.spaces.service import SPACE, weekly_windows

RESERVATION = Text("预约", "reservation")
ENTITY = "reservation"
EXCLUSION_VIOLATION = "23P01"

Status = ReservationStatus


# --- failures -----------------------------------------------------------------


class BookingRuleError(AppError):
    status = 422


class NotAligned(BookingRuleError):
    code = "not_aligned"
    title = Text("时间未对齐时段", "Not aligned to slots")
    detail = Text(
        "开始和结束时间须落在 {slot} 分钟的时段边界上",
        "Start and end must fall on the {slot}-minute slot grid",
    )


class InvalidDuration(BookingRuleError):
    code = "invalid_duration"
    title = Text("时长不符合规定", "Duration not allowed")
    detail = Text(
        "预约时长须在 {min} 到 {max} 分钟之间", "Bookings last between {min} and {max} minutes"
    )


class InvalidInterval(BookingRuleError):
    code = "invalid_interval"
    title = Text("时间区间无效", "Invalid interval")
    detail = Text("结束时间须晚于开始时间", "end must be after start")


class InThePast(BookingRuleError):
    code = "in_the_past"
    title = Text("不能预约过去的时间", "Start is in the past")
    detail = Text("开始时间已过", "The start time has already passed")


class OutsideBookingWindow(BookingRuleError):
    code = "outside_booking_window"
    title = Text("超出可预约范围", "Outside the booking window")
    detail = Text(
        "该空间只能提前 {days} 天预约（截至 {until}）",
        "This space can be booked {days} days ahead (until {until})",
    )


class OutsideOpeningHours(BookingRuleError):
    code = "outside_opening_hours"
    title = Text("不在开放时间内", "Outside opening hours")
    detail = Text("预约时段须完全在开放时间内", "The whole booking must fall inside opening hours")


class SpaceClosed(BookingRuleError):
    code = "space_closed"
    title = Text("该时段闭馆", "Closed at that time")
    detail = Text("该时段空间暂停开放：{reason}", "The space is closed then: {reason}")


class TooManyAttendees(BookingRuleError):
    code = "too_many_attendees"
    title = Text("人数超出容量", "Too many attendees")
    detail = Text("该空间最多容纳 {capacity} 人", "This space holds at most {capacity} people")


class RealNameRequired(AppError):
    status = 403
    code = "real_name_required"
    title = Text("需要实名认证", "Real-name verification required")
    detail = Text("预约该空间须先完成实名认证", "Verify your real name to book this space")


class OrganizationRequired(AppError):
    status = 403
    code = "organization_required"
    title = Text("需以认证企业身份预约", "A verified organization is required")
    detail = Text(
        "该空间只接受已认证组织的预约，请以所属组织的名义预约",
        "This space takes bookings on a verified organization's account only",
    )


class NotOrganizationMember(Forbidden):
    code = "not_a_member"
    title = Text("不是该组织成员", "Not a member")
    detail = Text("只有组织成员可以代表组织预约", "Only members may book for an organization")


class SlotTaken(AppError):
    status = 409
    code = "slot_taken"
    title = Text("时段已被预约", "Slot taken")
    detail = Text(
        "{start} 至 {end} 已被其他预约占用", "{start} to {end} is held by another booking"
    )


class SpaceFull(AppError):
    status = 409
    code = "space_full"
    title = Text("座位已满", "Space full")
    detail = Text("该时段剩余座位不足", "Not enough seats are left at that time")


class AlreadyBooked(AppError):
    status = 409
    code = "already_booked"
    title = Text("您已预约该时段", "You already hold this time")
    detail = Text(
        "您在该空间已有与此时段重叠的预约", "You already hold an overlapping booking here"
    )


class InvalidTransition(AppError):
    status = 409
    code = "invalid_transition"
    title = Text("预约状态不允许该操作", "Not allowed in this state")
    detail = Text(
        "预约当前为 {status}，不能{action}", "The reservation is {status}; cannot {action}"
    )


class CancellationClosed(AppError):
    status = 409
    code = "cancellation_closed"
    title = Text("已过取消截止时间", "Too late to cancel")
    detail = Text("须在开始前 {minutes} 分钟取消", "Cancel at least {minutes} minutes before start")


class ReasonRequired(AppError):
    status = 422
    code = "reason_required"
    title = Text("请填写原因", "Reason required")
    detail = Text("工作人员取消预约须填写原因", "Staff must give a reason to cancel")


# --- the test-only seam --------------------------------------------------------


@dataclass
class OverlapGuard:
    """The two layers that keep bookings from overlapping, and a test-only pause.

    Always fully on in production. Tests turn layers off to show that each
    race they run really double-books without them, so the tests can fail.
    """

    lock_space: bool = True  # serialize same-space writers
    exclusion_constraint: bool = True  # let PostgreSQL refuse overlaps as a backstop
    delay_seconds: float = 0.0  # pause between the check and the insert


GUARD = OverlapGuard()


# --- booking -------------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    interval: Interval
    attendees: int
    user_id: int


async def create_reservation(
    session: AsyncSession, codes: CodeBook, user: User, request: ReservationCreate
) -> Reservation:
    now = utcnow()
    wanted = Interval(request.start.astimezone(UTC), request.end.astimezone(UTC))
    loaded = await _load_space(session, request.space_id, lock=GUARD.lock_space)
    space = loaded.space
    check_booking_rules(BookingRules.of(space), wanted, request.attendees, now)
    if space.requires_real_name and not user.real_name_verified:
        raise RealNameRequired()
    organization = await _booking_organization(session, space, user, request.organization_id)
    if loaded.has_quota_rules:
        await quotas.enforce(session, space, user, request.organization_id, wanted, now)
    await _refuse_closures(session, space.id, wanted)
    holders = await _holders(session, space.id, wanted)
    refuse_conflicts(
        is_exclusive(space), space.capacity, user.id, wanted, request.attendees, holders
    )
    if GUARD.delay_seconds:
        await asyncio.sleep(GUARD.delay_seconds)
    status = Status.pending if space.requires_approval else Status.confirmed
    reservation = Reservation(
        space_id=space.id,
        user_id=user.id,
        organization_id=request.organization_id,
        starts_at=wanted.start,
        ends_at=wanted.end,
        exclusive=is_exclusive(space) and GUARD.exclusion_constraint,
        status=status,
        purpose=request.purpose,
        attendees=request.attendees,
    )
    reservation.space = space
    reservation.organization = organization
    session.add(reservation)
    await _flush_booking(session, wanted)
    audit.record(
        session,
        user,
        entity=ENTITY,
        entity_id=reservation.id,
        action="create",
        from_status=None,
        to_status=status.value,
    )
    if status is Status.confirmed and loaded.has_doors:
        await codes.issue(session, reservation)
    return reservation


async def _booking_organization(
    session: AsyncSession, space: Space, user: User, organization_id: int | None
) -> Organization | None:
    """The organization a booking is made for: only its members may book for it, and
    a space that requires an organization takes only verified ones."""
    if organization_id is None:
        if space.requires_organization:
            raise OrganizationRequired()
        return None
    organization = await session.get(Organization, organization_id)
    if organization is None or await _role_in(session, organization_id, user.id) is None:
        raise NotOrganizationMember()
    if space.requires_organization and organization.status is not OrganizationStatus.verified:
        raise OrganizationRequired()
    return organization


async def _role_in(session: AsyncSession, organization_id: int, user_id: int) -> MemberRole | None:
    return await session.scalar(
        select(Membership.role).where(
            Membership.organization_id == organization_id, Membership.user_id == user_id
        )
    )


@dataclass(frozen=True)
class BookingRules:
    """The calendar rules a booking of one space is checked against."""

    slot_minutes: int
    min_minutes: int
    max_minutes: int
    advance_days: int
    open_24h: bool
    capacity: int
    windows: Sequence[WeeklyWindow]

    @classmethod
    def of(cls, space: Space) -> "BookingRules":
        return cls(
            slot_minutes=space.slot_minutes,
            min_minutes=space.min_minutes,
            max_minutes=space.max_minutes,
            advance_days=space.advance_days,
            open_24h=space.open_24h,
            capacity=space.capacity,
            windows=weekly_windows(space),
        )


def check_booking_rules(
    rules: BookingRules, wanted: Interval, attendees: int, now: datetime
) -> None:
    """The calendar rules of invariant 3, cheapest first."""
    if wanted.end <= wanted.start:
        raise InvalidInterval()
    slot = rules.slot_minutes
    if not (calendar.is_aligned(wanted.start, slot) and calendar.is_aligned(wanted.end, slot)):
        raise NotAligned(slot=slot)
    minutes = (wanted.end - wanted.start) / timedelta(minutes=1)
    if not rules.min_minutes <= minutes <= rules.max_minutes:
        raise InvalidDuration(min=rules.min_minutes, max=rules.max_minutes)
    if wanted.start < now:
        raise InThePast()
    window_end = calendar.booking_window_end(rules.advance_days, now)
    if wanted.start >= window_end:
        raise OutsideBookingWindow(days=rules.advance_days, until=_local_text(window_end))
    if not calendar.within_opening_hours(rules.open_24h, rules.windows, wanted):
        raise OutsideOpeningHours()
    if attendees > rules.capacity:
        raise TooManyAttendees(capacity=rules.capacity)


def refuse_conflicts(
    exclusive: bool,
    capacity: int,
    user_id: int,
    wanted: Interval,
    attendees: int,
    holders: Sequence[Holder],
) -> None:
    """Invariants 1, 2 and 5, against the holders read for this booking."""
    if exclusive:
        if holders:
            first = min(holders, key=lambda holder: holder.interval.start).interval
            raise SlotTaken(start=_local_text(first.start), end=_local_text(first.end)).with_extra(
                conflict={"start": _local_iso(first.start), "end": _local_iso(first.end)}
            )
        return
    if any(holder.user_id == user_id for holder in holders):
        raise AlreadyBooked()
    seats = [(holder.interval, holder.attendees) for holder in holders]
    peak = calendar.peak_load(seats, wanted)
    if peak + attendees > capacity:
        raise SpaceFull().with_extra(capacity=capacity, remaining=capacity - peak)


def is_exclusive(space: Space) -> bool:
    return space.booking_mode is BookingMode.exclusive


@dataclass(frozen=True)
class BookingSpace:
    space: Space
    has_doors: bool
    has_quota_rules: bool


async def _load_space(session: AsyncSession, space_id: int, *, lock: bool) -> BookingSpace:
    """The space (locked), and whether it has doors or quotas, in one statement:
    a booking is the hot write path, and most spaces have neither."""
    doors = select(Door.id).where(Door.space_id == Space.id, Door.is_active.is_(True))
    rules = select(QuotaRule.id).where(
        or_(QuotaRule.space_id == Space.id, QuotaRule.center_id == Space.center_id)
    )
    query = (
        select(Space, doors.exists(), rules.exists())
        .where(Space.id == space_id, Space.is_active.is_(True))
        .options(selectinload(Space.opening_hours))
    )
    if lock:
        query = query.with_for_update(of=Space)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound(SPACE)
    space, has_doors, has_quota_rules = row
    return BookingSpace(space, bool(has_doors), bool(has_quota_rules))


async def _refuse_closures(session: AsyncSession, space_id: int, wanted: Interval) -> None:
    reason = await session.scalar(
        select(Closure.reason)
        .where(
            Closure.space_id == space_id,
            Closure.starts_at < wanted.end,
            Closure.ends_at > wanted.start,
        )
        .limit(1)
    )
    if reason is not None:
        raise SpaceClosed(reason=reason)


async def _holders(
    session: AsyncSession, space_id: int, wanted: Interval, *, excluding: int | None = None
) -> list[Holder]:
    query = select(
        Reservation.starts_at, Reservation.ends_at, Reservation.attendees, Reservation.user_id
    ).where(
        Reservation.space_id == space_id,
        Reservation.status.in_(HOLDING_STATUSES),
        overlapping(wanted.start, wanted.end),
    )
    if excluding is not None:
        query = query.where(Reservation.id != excluding)
    rows = await session.execute(query)
    return [Holder(Interval(start, end), seats, user_id) for start, end, seats, user_id in rows]


async def _flush_booking(session: AsyncSession, wanted: Interval) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        if sqlstate(exc) == EXCLUSION_VIOLATION:  # the constraint caught what the lock did not
            raise slot_taken(wanted) from None
        raise


def slot_taken(wanted: Interval) -> SlotTaken:
    return SlotTaken(start=_local_text(wanted.start), end=_local_text(wanted.end))


def _local_text(instant: datetime) -> str:
    return instant.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _local_iso(instant: datetime) -> str:
    return instant.astimezone(SHANGHAI).isoformat()


# --- reading -------------------------------------------------------------------


@dataclass(frozen=True)
class ReservationFilter:
    space_id: int | None = None
    organization_id: int | None = None
    status: ReservationStatus | None = None
    starts_from: datetime | None = None  # reservations ending after this instant
    starts_before: datetime | None = None  # reservations starting before this instant


def _visible_to(actor: Actor) -> Select[Reservation]:
    """Staff see their centers' reservations; a resident sees their own and those of
    the organizations they belong to."""
    query = select(Reservation).options(*reservation_out_loads())
    if isinstance(actor, StaffPrincipal):
        in_scope = select(Space.id).join(Center, Space.center_id == Center.id)
        return query.where(Reservation.space_id.in_(in_scope.where(actor.center_clause())))
    my_organizations = select(Membership.organization_id).where(Membership.user_id == actor.id)
    return query.where(
        or_(Reservation.user_id == actor.id, Reservation.organization_id.in_(my_organizations))
    )


async def list_reservations(
    session: AsyncSession, actor: Actor, filters: ReservationFilter, *, limit: int, offset: int
) -> tuple[Sequence[Reservation], int]:
    query = _visible_to(actor)
    if filters.space_id is not None:
        query = query.where(Reservation.space_id == filters.space_id)
    if filters.organization_id is not None:
        query = query.where(Reservation.organization_id == filters.organization_id)
    if filters.status is not None:
        query = query.where(Reservation.status == filters.status)
    if filters.starts_from is not None:
        query = query.where(Reservation.ends_at > filters.starts_from)
    if filters.starts_before is not None:
        query = query.where(Reservation.starts_at < filters.starts_before)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    page = query.order_by(Reservation.starts_at, Reservation.id).limit(limit).offset(offset)
    return (await session.scalars(page)).all(), int(total or 0)


async def get_reservation(session: AsyncSession, actor: Actor, reservation_id: int) -> Reservation:
    """The reservation if ``actor`` may see it; otherwise 404, as if it did not exist."""
    reservation = await session.scalar(_visible_to(actor).where(Reservation.id == reservation_id))
    if reservation is None:
        raise NotFound(RESERVATION)
    return reservation


async def reservation_history(
    session: AsyncSession, actor: Actor, reservation_id: int
) -> Sequence[AuditEvent]:
    reservation = await get_reservation(session, actor, reservation_id)
    return await audit.history(session, ENTITY, reservation.id)


# --- transitions ------------------------------------------------------------------


async def _lock_for_change(
    session: AsyncSession, actor: Actor, reservation_id: int, *, lock_space: bool
) -> Reservation:
    """Lock (space, then) reservation in a fixed order and return it fresh."""
    reservation = await get_reservation(session, actor, reservation_id)
    if lock_space:
        await session.execute(
            select(Space.id).where(Space.id == reservation.space_id).with_for_update()
        )
    locked = await session.scalar(
        select(Reservation)
        .where(Reservation.id == reservation_id)
        .options(*reservation_out_loads())
        .with_for_update(of=Reservation)
        .execution_options(populate_existing=True)
    )
    assert locked is not None
    return locked


def _transition(
    session: AsyncSession,
    actor: Actor | None,
    reservation: Reservation,
    to: ReservationStatus,
    action: str,
    reason: str | None = None,
) -> None:
    before = reservation.status
    reservation.status = to
    reservation.status_reason = reason
    audit.record(
        session,
        actor,
        entity=ENTITY,
        entity_id=reservation.id,
        action=action,
        from_status=before.value,
        to_status=to.value,
        reason=reason,
    )


def can_cancel(
    reservation: Reservation, actor: Actor, now: datetime, *, owns_organization: bool
) -> AppError | None:
    if not isinstance(actor, StaffPrincipal):
        if reservation.user_id != actor.id and not owns_organization:
            return Forbidden(
                Text("只有预约人或组织负责人可以取消", "Only the booker or the owner may cancel")
            )
    if reservation.status not in (Status.pending, Status.confirmed):
        return InvalidTransition(status=reservation.status.value, action=CANCEL)
    if isinstance(actor, StaffPrincipal):
        if now >= reservation.ends_at:
            return InvalidTransition(status=reservation.status.value, action=CANCEL)
        return None
    deadline = reservation.starts_at - timedelta(minutes=reservation.space.cancel_before_minutes)
    if now >= deadline:
        return CancellationClosed(minutes=reservation.space.cancel_before_minutes)
    return None


async def cancel(
    session: AsyncSession, actor: Actor, reservation_id: int, reason: str | None
) -> Reservation:
    if isinstance(actor, StaffPrincipal) and not reason:
        raise ReasonRequired()
    reservation = await _lock_for_change(session, actor, reservation_id, lock_space=False)
    owns_organization = (
        not isinstance(actor, StaffPrincipal)
        and reservation.organization_id is not None
        and await _role_in(session, reservation.organization_id, actor.id) is MemberRole.owner
    )
    if problem := can_cancel(reservation, actor, utcnow(), owns_organization=owns_organization):
        raise problem
    _transition(session, actor, reservation, Status.cancelled, "cancel", reason)
    await revoke_codes(session, reservation.id)
    await session.flush()
    return reservation


async def cancel_live_bookings(
    session: AsyncSession,
    actor: Actor | None,
    *,
    user_id: int,
    reason: str,
    organization_id: int | None = None,
    real_name_spaces_only: bool = False,
) -> list[int]:
    """Cancel what ``user_id`` still holds (pending, confirmed or checked in, not
    over yet) and revoke its door codes: for a member who left an organization
    (its bookings only), a user staff deactivated, or an account that lost its
    real name (bookings of spaces that require one). Returns the ids."""
    query = select(Reservation).where(
        Reservation.user_id == user_id,
        Reservation.status.in_(HOLDING_STATUSES),
        Reservation.ends_at > utcnow(),
    )
    if organization_id is not None:
        query = query.where(Reservation.organization_id == organization_id)
    if real_name_spaces_only:
        needing = select(Space.id).where(Space.requires_real_name.is_(True))
        query = query.where(Reservation.space_id.in_(needing))
    rows = (await session.scalars(query.order_by(Reservation.id).with_for_update())).all()
    for reservation in rows:
        _transition(session, actor, reservation, Status.cancelled, "cancel", reason)
        await revoke_codes(session, reservation.id)
    await session.flush()
    return [reservation.id for reservation in rows]


def can_approve(reservation: Reservation, now: datetime) -> AppError | None:
    if reservation.status is not Status.pending:
        return InvalidTransition(status=reservation.status.value, action=APPROVE)
    if now >= reservation.starts_at:
        return InvalidTransition(status="expired", action=APPROVE)
    return None


async def approve(
    session: AsyncSession, codes: CodeBook, staff: StaffPrincipal, reservation_id: int
) -> Reservation:
    reservation = await _lock_for_change(session, staff, reservation_id, lock_space=True)
    if problem := can_approve(reservation, utcnow()):
        raise problem
    # Re-check under the space lock: a closure may have been added since the
    # request, and nothing else may hold the time now.
    wanted = Interval(reservation.starts_at, reservation.ends_at)
    await _refuse_closures(session, reservation.space_id, wanted)
    holders = await _holders(session, reservation.space_id, wanted, excluding=reservation.id)
    space = reservation.space
    refuse_conflicts(
        is_exclusive(space),
        space.capacity,
        reservation.user_id,
        wanted,
        reservation.attendees,
        holders,
    )
    _transition(session, staff, reservation, Status.confirmed, "approve")
    await session.flush()
    await codes.issue(session, reservation)
    return reservation


async def reject(
    session: AsyncSession, staff: StaffPrincipal, reservation_id: int, reason: str
) -> Reservation:
    reservation = await _lock_for_change(session, staff, reservation_id, lock_space=False)
    if reservation.status is not Status.pending:
        raise InvalidTransition(status=reservation.status.value, action=REJECT)
    _transition(session, staff, reservation, Status.rejected, "reject", reason)
    await session.flush()
    return reservation


CANCEL = Text("取消", "cancel")
APPROVE = Text("批准", "approve")
REJECT = Text("拒绝", "reject")
