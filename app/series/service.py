"""Recurring bookings: every occurrence booked by the same rules as a single
booking, under the same locks, in one transaction.

The space's row is locked first, then the booker's and the organization's (the
order the booking guard takes them in, migration 0007), so a single booking of
the same space waits for the series or the series sees it: with
``all_or_nothing`` a racing booking either wins its slot and the series books
nothing, or the series wins and the single booking is refused. Each occurrence
is decided against what the transaction wrote before it, so quotas count the
series' own occurrences. One notification tells of the series, not one per
occurrence.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import codes as door_codes
from app.access.codes import CodeBook
from app.audit import service as audit
from app.core.clock import SHANGHAI
from app.core.errors import AppError, InvalidTransition, NotFound, Text
from app.identity.principals import StaffPrincipal
from app.models import (
    HOLDING_STATUSES,
    BookingMode,
    NotificationKind,
    Organization,
    Reservation,
    ReservationSeries,
    ReservationStatus,
    SeriesMode,
    SeriesOccurrence,
    Space,
    User,
)
from app.notifications import service as notifications
from app.reservations import booking, rules, snapshots
from app.reservations import service as reservations
from app.reservations.rules import Wanted
from app.series.rrules import occurrences
from app.series.schemas import SeriesCreate
from app.spaces.calendar import Interval, InvalidInterval
from app.spaces.service import get_space_in_scope

SERIES = Text("重复预约", "reservation series")
SPACE = Text("空间", "space")
NO_PENDING = Text("该系列没有待审批的预约", "The series has no pending occurrence")


class SeriesConflict(AppError):
    status = 409
    code = "series_conflict"
    title = Text("重复预约未能预订", "The series could not be booked")
    detail = Text(
        "有 {refused} 次无法预订，整个系列未预订（见 occurrences）",
        "{refused} occurrences could not be booked, so none was (see occurrences)",
    )


@dataclass(frozen=True)
class Occurrence:
    interval: Interval
    reservation_id: int | None
    status: ReservationStatus | None
    problem: AppError | None


async def book(
    session: AsyncSession, codes: CodeBook, user: User, data: SeriesCreate, now: datetime
) -> tuple[ReservationSeries, list[Occurrence]]:
    start, end = data.start.astimezone(UTC), data.end.astimezone(UTC)
    if end <= start:
        raise InvalidInterval()
    intervals = occurrences(data.rrule, start, end)
    space = await _lock_rows(session, data.space_id, user.id, data.organization_id)
    series = ReservationSeries(
        user_id=user.id,
        space_id=space.id,
        organization_id=data.organization_id,
        rrule=data.rrule.strip().removeprefix("RRULE:"),
        mode=data.mode,
        first_starts_at=start,
        first_ends_at=end,
        attendees=data.attendees,
        purpose=data.purpose,
        created_at=now,
    )
    session.add(series)
    await session.flush()
    results = [
        await _book_one(session, codes, user, space, series, interval, now)
        for interval in intervals
    ]
    booked = [result for result in results if result.reservation_id is not None]
    refused = len(results) - len(booked)
    if not booked or (refused and data.mode is SeriesMode.all_or_nothing):
        # Raised, so the transaction rolls back: nothing of the series stays.
        nothing = [Occurrence(result.interval, None, None, result.problem) for result in results]
        body = [occurrence_body(result) for result in nothing]
        raise SeriesConflict(refused=refused).with_extra(id=None, occurrences=body)
    await _tell(session, booked[0], now)
    return series, results


def problem_body(error: AppError) -> dict[str, object]:
    """An occurrence's refusal, shaped like the problem a single booking gets."""
    body: dict[str, object] = {
        "status": error.status,
        "code": error.code,
        "title": error.title.render("zh"),
    }
    if error.detail_text is not None:
        body["detail"] = error.detail_text.render("zh", error.params)
    return {**body, **error.extra}


def occurrence_body(occurrence: Occurrence) -> dict[str, object]:
    return {
        "start": occurrence.interval.start.astimezone(SHANGHAI).isoformat(),
        "end": occurrence.interval.end.astimezone(SHANGHAI).isoformat(),
        "reservation_id": occurrence.reservation_id,
        "status": occurrence.status.value if occurrence.status else None,
        "problem": problem_body(occurrence.problem) if occurrence.problem else None,
    }


async def _lock_rows(
    session: AsyncSession, space_id: int, user_id: int, organization_id: int | None
) -> Space:
    """Lock the space, the booker and the organization. Only the tests' negative
    control (``booking.GUARD.lock`` off) takes none of the locks, to show that
    a racing single booking then over-books the space."""
    query = select(Space).where(Space.id == space_id, Space.is_active.is_(True))
    if booking.GUARD.lock:
        query = query.with_for_update()
    space = await session.scalar(query.execution_options(populate_existing=True))
    if space is None:
        raise NotFound(SPACE)
    if not booking.GUARD.lock:
        return space
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())
    if organization_id is not None:
        await session.execute(
            select(Organization.id).where(Organization.id == organization_id).with_for_update()
        )
    return space


async def _book_one(
    session: AsyncSession,
    codes: CodeBook,
    user: User,
    space: Space,
    series: ReservationSeries,
    interval: Interval,
    now: datetime,
) -> Occurrence:
    wanted = Wanted(space.id, interval, series.attendees, series.organization_id)
    try:
        snapshot = await snapshots.booking_snapshot(
            session, user, space, interval, now, organization_id=series.organization_id
        )
        decision = rules.decide(snapshot, wanted, now)
    except AppError as refusal:
        return Occurrence(interval, None, None, refusal)
    if booking.GUARD.delay_seconds:  # tests: a slow decision, to widen a race
        await asyncio.sleep(booking.GUARD.delay_seconds)
    reservation = Reservation(
        space_id=space.id,
        user_id=user.id,
        organization_id=series.organization_id,
        starts_at=interval.start,
        ends_at=interval.end,
        exclusive=space.booking_mode is BookingMode.exclusive,
        status=decision.status,
        purpose=series.purpose,
        attendees=series.attendees,
    )
    session.add(reservation)
    await session.flush()
    session.add(SeriesOccurrence(reservation_id=reservation.id, series_id=series.id))
    audit.record(
        session,
        user,
        entity="reservation",
        entity_id=reservation.id,
        action="create",
        from_status=None,
        to_status=decision.status.value,
        reason=f"series {series.id}",
    )
    if decision.needs_code:
        await door_codes.issue(session, codes, reservation.id, space.id, interval)
    await session.flush()
    return Occurrence(interval, reservation.id, decision.status, None)


async def _tell(session: AsyncSession, first: Occurrence, now: datetime) -> None:
    reservation = await session.get(Reservation, first.reservation_id)
    assert reservation is not None
    if first.status is ReservationStatus.pending:
        kind = NotificationKind.approval_requested
        await notifications.tell_staff_covering(session, kind, reservation, now)
    else:
        await notifications.tell_booker(
            session, NotificationKind.booking_confirmed, reservation, now=now
        )


# --- reading and changing a series ----------------------------------------------------


async def _series(session: AsyncSession, series_id: int) -> ReservationSeries:
    series = await session.get(ReservationSeries, series_id)
    if series is None:
        raise NotFound(SERIES)
    return series


async def read(
    session: AsyncSession, actor: User | StaffPrincipal, series_id: int
) -> tuple[ReservationSeries, Sequence[Reservation]]:
    """The booker's series, or one of a space in a staff member's scope."""
    series = await _series(session, series_id)
    if isinstance(actor, StaffPrincipal):
        await get_space_in_scope(session, actor, series.space_id)
    elif series.user_id != actor.id:
        raise NotFound(SERIES)  # someone else's is as unknown as a missing one
    return series, await occurrences_of(session, series.id)


async def occurrences_of(session: AsyncSession, series_id: int) -> Sequence[Reservation]:
    rows = await session.scalars(
        select(Reservation)
        .join(SeriesOccurrence, SeriesOccurrence.reservation_id == Reservation.id)
        .where(SeriesOccurrence.series_id == series_id)
        .order_by(Reservation.starts_at)
    )
    return rows.all()


async def series_of(session: AsyncSession, reservation_ids: Sequence[int]) -> dict[int, int]:
    """The series each of these reservations belongs to, if any."""
    if not reservation_ids:
        return {}
    rows = await session.execute(
        select(SeriesOccurrence.reservation_id, SeriesOccurrence.series_id).where(
            SeriesOccurrence.reservation_id.in_(reservation_ids)
        )
    )
    return dict(rows.all())


async def cancel(
    session: AsyncSession, user: User, series_id: int, since: datetime, now: datetime
) -> tuple[ReservationSeries, dict[int, AppError]]:
    """Cancel the occurrences starting from ``since`` that still hold their time;
    each by the rules of a single cancellation (those past their deadline stay,
    with the reason)."""
    series, rows = await read(session, user, series_id)
    refused: dict[int, AppError] = {}
    for row in rows:
        if row.starts_at < since or row.status not in HOLDING_STATUSES:
            continue
        try:  # a refusal comes before any write: the others go on
            await reservations.cancel(session, user, row.id, None)
        except AppError as refusal:
            refused[row.id] = refusal
    return series, refused


async def decide(
    session: AsyncSession,
    codes: CodeBook,
    staff: StaffPrincipal,
    series_id: int,
    reason: str | None,
) -> ReservationSeries:
    """Approve (``reason`` None) or reject every pending occurrence at once: one
    refusal undoes all, and the booker is told once."""
    series, rows = await read(session, staff, series_id)
    pending = [row for row in rows if row.status is ReservationStatus.pending]
    if not pending:
        raise InvalidTransition(NO_PENDING)
    for number, row in enumerate(pending):
        if reason is None:
            await reservations.approve(session, codes, staff, row.id, tell=number == 0)
        else:
            await reservations.reject(session, staff, row.id, reason, tell=number == 0)
    return series
