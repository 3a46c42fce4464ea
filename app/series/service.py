"""Recurring bookings: every occurrence booked by the booking store's own write
(``BookingStore.book_many``, docs/ARCHITECTURE.md "Booking"), in one
transaction.

Each occurrence goes through the write step a single booking takes, under the
same guard: on PostgreSQL the guard's locks (the space, then the quota
subject) last until the series commits, so a single booking of the same space
waits for the series or the series sees it; on SQLite the whole series runs
inside one ``BEGIN IMMEDIATE``. With ``all_or_nothing`` a racing booking
either wins its slot and the series books nothing, or the series wins and the
single booking is refused. Quotas count the series' own earlier occurrences.
One notification tells of the series, not one per occurrence, and the
``Idempotency-Key`` is claimed in the series' own transaction, as a booking's.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.access.codes import CodeBook
from app.core.clock import SHANGHAI
from app.core.db import OverlapGuard
from app.core.errors import AppError, InvalidTransition, NotFound, Text
from app.identity.principals import StaffPrincipal
from app.models import (
    HOLDING_STATUSES,
    Reservation,
    ReservationSeries,
    ReservationStatus,
    SeriesOccurrence,
    User,
)
from app.reservations import service as reservations
from app.reservations.booking import (
    Answer,
    KeyClaim,
    Occurrence,
    SeriesRefused,
    SeriesRequest,
)
from app.reservations.store import BookingStore
from app.series.rrules import occurrences
from app.series.schemas import OccurrenceOut, SeriesCreate, SeriesOut
from app.spaces.calendar import InvalidInterval
from app.spaces.service import get_space_in_scope

SERIES = Text("重复预约", "reservation series")
NO_PENDING = Text("该系列没有待审批的预约", "The series has no pending occurrence")


class SeriesConflict(AppError):
    status = 409
    code = "series_conflict"
    title = Text("重复预约未能预订", "The series could not be booked")
    detail = Text(
        "有 {refused} 次无法预订，整个系列未预订（见 occurrences）",
        "{refused} occurrences could not be booked, so none was (see occurrences)",
    )


async def book(
    bookings: BookingStore, user_id: int, data: SeriesCreate, key: KeyClaim | None, now: datetime
) -> Answer:
    """Book the series through the booking store (``book_many``), or raise
    ``SeriesConflict`` with why each occurrence was refused."""
    start, end = data.start.astimezone(UTC), data.end.astimezone(UTC)
    if end <= start:
        raise InvalidInterval()
    rrule = data.rrule.strip().removeprefix("RRULE:")

    def answer(series_id: int, booked: Sequence[Occurrence]) -> bytes:
        out = SeriesOut(
            id=series_id,
            space_id=data.space_id,
            organization_id=data.organization_id,
            rrule=rrule,
            mode=data.mode,
            occurrences=[OccurrenceOut(**occurrence_body(item)) for item in booked],
        )
        return orjson.dumps(out.model_dump(mode="json"))

    request = SeriesRequest(
        user_id=user_id,
        space_id=data.space_id,
        organization_id=data.organization_id,
        attendees=data.attendees,
        purpose=data.purpose,
        rrule=rrule,
        mode=data.mode,
        intervals=tuple(occurrences(data.rrule, start, end)),
        key=key,
        now=now,
        answer=answer,
    )
    booked = await bookings.book_many(request)
    if isinstance(booked, SeriesRefused):
        refused = sum(1 for item in booked.occurrences if item.problem is not None)
        body = [occurrence_body(item) for item in booked.occurrences]
        raise SeriesConflict(refused=refused).with_extra(id=None, occurrences=body)
    return booked


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
    guard: OverlapGuard,
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
            await reservations.approve(session, codes, guard, staff, row.id, tell=number == 0)
        else:
            await reservations.reject(session, staff, row.id, reason, tell=number == 0)
    return series
