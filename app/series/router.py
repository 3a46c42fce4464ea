"""Recurring bookings: book a series, read it, cancel the rest, and (staff)
approve or reject it at once."""

from typing import Annotated

from fastapi import Body, Request, status
from fastapi.responses import Response

from app.access.dependencies import CodeBookDep
from app.core.clock import utcnow
from app.core.db import GuardDep, SessionDep
from app.core.errors import problem_responses
from app.core.routing import api_router
from app.core.schemas import ResourceId
from app.identity.dependencies import (
    CurrentActor,
    CurrentStaff,
    CurrentUser,
    CurrentUserId,
    LimiterDep,
)
from app.models import Reservation, ReservationSeries
from app.reservations import idempotency
from app.reservations.booking import KeyClaim, Replayed
from app.reservations.router import JSON, REPLAYED, IdempotencyKeyHeader
from app.series import service
from app.series.schemas import OccurrenceOut, SeriesCancel, SeriesCreate, SeriesOut, SeriesReject

router = api_router("/reservation-series", tags=["reservations"])


def _out(series: ReservationSeries, rows: list[Reservation]) -> SeriesOut:
    occurrences = [
        OccurrenceOut(
            start=row.starts_at,
            end=row.ends_at,
            reservation_id=row.id,
            status=row.status,
            problem=None,
        )
        for row in rows
    ]
    return SeriesOut(
        id=series.id,
        space_id=series.space_id,
        organization_id=series.organization_id,
        rrule=series.rrule,
        mode=series.mode,
        occurrences=occurrences,
    )


@router.post(
    "",
    response_model=SeriesOut,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409, 422, 429),
)
async def book_series(
    body: SeriesCreate,
    request: Request,
    user_id: CurrentUserId,
    limiter: LimiterDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Book every occurrence of an RRULE (`start`/`end` are the first). Each is an
    ordinary reservation, refused or booked by the same rules and the same
    write as a single booking, all in one transaction. `all_or_nothing`
    books all or none (`409 series_conflict`, with the same `occurrences`);
    `book_what_is_free` books the rest and says why each other was refused.

    With `Idempotency-Key`, as a booking: a retry gets the first 201 again
    (`Idempotent-Replayed: true`) for 24 hours; one sent while the first is
    still booking waits for it and replays it; the key with another body is
    `422 idempotency_key_reused`. A refused series leaves nothing behind: its
    key may be retried.

    The rule takes FREQ (DAILY, WEEKLY, MONTHLY), INTERVAL, BYDAY, BYMONTHDAY,
    COUNT and UNTIL; any other part is `422 unsupported_rrule`, naming it in
    `rrule_part`. Every request counts against a per-account limit
    (`429 rate_limited` with `Retry-After`)."""
    await limiter.hit(limiter.rules.series_per_user, str(user_id))
    key = None
    if idempotency_key is not None:
        request_hash = idempotency.fingerprint({"series": body.model_dump(mode="json")})
        key = KeyClaim(idempotency_key, request_hash)
    answer = await service.book(request.app.state.bookings, user_id, body, key, utcnow())
    headers = REPLAYED if isinstance(answer, Replayed) else None
    return Response(answer.body, status.HTTP_201_CREATED, media_type=JSON, headers=headers)


@router.get("/{series_id}", response_model=SeriesOut)
async def read_series(series_id: ResourceId, actor: CurrentActor, session: SessionDep) -> SeriesOut:
    """Yours, or (staff) one of a space in your scope, with each occurrence's state."""
    series, rows = await service.read(session, actor, series_id)
    return _out(series, list(rows))


@router.post("/{series_id}/cancel", response_model=SeriesOut)
async def cancel_series(
    series_id: ResourceId,
    user: CurrentUser,
    session: SessionDep,
    body: Annotated[SeriesCancel | None, Body()] = None,
) -> SeriesOut:
    """Cancel every occurrence ahead, or those from `from` on. One past its
    cancellation deadline stays, and `occurrences` carries the reason."""
    now = utcnow()
    since = body.from_ if body and body.from_ else now
    series, refused = await service.cancel(session, user, series_id, since, now)
    rows = await service.occurrences_of(session, series.id)
    out = _out(series, list(rows))
    for occurrence in out.occurrences:
        if occurrence.reservation_id in refused:
            occurrence.problem = service.problem_body(refused[occurrence.reservation_id])
    return out


@router.post("/{series_id}/approve", response_model=SeriesOut, tags=["admin"])
async def approve_series(
    series_id: ResourceId,
    staff: CurrentStaff,
    session: SessionDep,
    codes: CodeBookDep,
    guard: GuardDep,
) -> SeriesOut:
    """Approve every pending occurrence at once (one refusal approves none)."""
    series = await service.decide(session, codes, guard, staff, series_id, None)
    return _out(series, list(await service.occurrences_of(session, series.id)))


@router.post("/{series_id}/reject", response_model=SeriesOut, tags=["admin"])
async def reject_series(
    series_id: ResourceId,
    body: SeriesReject,
    staff: CurrentStaff,
    session: SessionDep,
    codes: CodeBookDep,
    guard: GuardDep,
) -> SeriesOut:
    """Reject every pending occurrence, with one reason told once."""
    series = await service.decide(session, codes, guard, staff, series_id, body.reason)
    return _out(series, list(await service.occurrences_of(session, series.id)))
