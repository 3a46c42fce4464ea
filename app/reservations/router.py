from datetime import UTC
from typing import Annotated

from fastapi import Body, Header, Query, Request, status
from fastapi.responses import Response
from pydantic import StringConstraints, TypeAdapter

from app.access.dependencies import CodeBookDep
from app.core.clock import utcnow
from app.core.db import GuardDep, SessionDep
from app.core.errors import problem_responses
from app.core.fastlane import Errors, HotRequest, HotRoutes, unknown_query, validated
from app.core.routing import api_router
from app.core.schemas import MAX_ID, Instant, Limit, Offset, Page, ResourceId
from app.identity.dependencies import (
    CipherDep,
    CurrentActor,
    CurrentStaff,
    CurrentUserId,
    resident_id,
)
from app.identity.phones import PhoneSearch
from app.models import ReservationStatus
from app.reservations import attendance, idempotency, service
from app.reservations.booking import BookingRequest, KeyClaim, Replayed
from app.reservations.moves import Change, MoveRequest
from app.reservations.rules import Wanted
from app.reservations.schemas import (
    CancelRequest,
    CheckInRequest,
    HistoryEntry,
    RejectRequest,
    ReservationCreate,
    ReservationMove,
    ReservationOut,
)
from app.reservations.store import BookingStore
from app.spaces.calendar import Interval

router = api_router("/reservations", tags=["reservations"])
JSON = "application/json"
REPLAYED = {"Idempotent-Replayed": "true"}

KEY_PATTERN = r"^[\x21-\x7e]+$"
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=KEY_PATTERN,
        description="Any unique string; retrying with it returns the first response",
    ),
]


_BOOKING = TypeAdapter(ReservationCreate)
_KEY: TypeAdapter[str] = TypeAdapter(
    Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=KEY_PATTERN)]
)


async def book_hot(request: HotRequest) -> Response:
    """``POST /reservations`` without FastAPI's dependencies: the same checks in
    the same order (query string, token, then header and body together)."""
    unknown_query(request, frozenset())
    user_id = resident_id(request.app.state.settings, request.bearer())
    errors = Errors()
    key: str | None = request.header("idempotency-key")
    if key is not None:
        raw = key
        key = errors.check(lambda: validated(_KEY, raw, ("header", "Idempotency-Key")))
    body = errors.check(lambda: request.json(_BOOKING))
    errors.raise_any()
    assert body is not None
    return await book(request.app.state.bookings, user_id, body, key)


HOT = HotRoutes(router)


@HOT.route(
    "POST",
    "",
    fast=book_hot,
    status_code=status.HTTP_201_CREATED,
    response_model=ReservationOut,
    responses=problem_responses(503),
)
async def create_reservation(
    body: ReservationCreate,
    user_id: CurrentUserId,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Book a space: 201 `confirmed`, or `pending` where staff approve bookings.

    Answered by ``book_hot`` (app/core/fastlane.py); this declaration is the
    contract, and does the same if it is ever reached."""
    return await book(request.app.state.bookings, user_id, body, idempotency_key)


async def book(
    bookings: BookingStore, user_id: int, body: ReservationCreate, idempotency_key: str | None
) -> Response:
    key = None
    if idempotency_key is not None:
        key = KeyClaim(idempotency_key, idempotency.fingerprint(body.model_dump(mode="json")))
    wanted = Wanted(
        space_id=body.space_id,
        interval=Interval(body.start.astimezone(UTC), body.end.astimezone(UTC)),
        attendees=body.attendees,
        organization_id=body.organization_id,
    )
    answer = await bookings.book(BookingRequest(user_id, wanted, body.purpose, key, utcnow()))
    headers = REPLAYED if isinstance(answer, Replayed) else None
    return Response(answer.body, status.HTTP_201_CREATED, media_type=JSON, headers=headers)


@router.get("", response_model=Page[ReservationOut])
async def list_reservations(
    actor: CurrentActor,
    session: SessionDep,
    cipher: CipherDep,
    space_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    organization_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: ReservationStatus | None = None,
    starts_from: Annotated[Instant | None, Query(alias="from")] = None,
    starts_before: Annotated[Instant | None, Query(alias="to")] = None,
    phone: Annotated[
        str | None,
        Query(
            pattern=r"^(\d{4}|\d{11})$",
            description="The booker's phone: its last four digits, or the whole number",
            examples=["5678"],
        ),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ReservationOut]:
    """Yours as a resident; those of your centers as staff. `from`/`to` select by overlap."""
    filters = service.ReservationFilter(
        space_id=space_id,
        organization_id=organization_id,
        status=status,
        starts_from=starts_from,
        starts_before=starts_before,
        phone=PhoneSearch.of(cipher, phone) if phone else None,
    )
    rows, total = await service.list_reservations(
        session, actor, filters, limit=limit, offset=offset
    )
    items = [ReservationOut.of(reservation) for reservation in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.get("/{reservation_id}", response_model=ReservationOut)
async def read_reservation(
    reservation_id: ResourceId, actor: CurrentActor, session: SessionDep
) -> ReservationOut:
    return ReservationOut.of(await service.get_reservation(session, actor, reservation_id))


@router.get("/{reservation_id}/history", response_model=Page[HistoryEntry])
async def read_history(
    reservation_id: ResourceId,
    actor: CurrentActor,
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[HistoryEntry]:
    """The audit trail of this reservation: who changed it, when, from what to what."""
    events = await service.reservation_history(session, actor, reservation_id)
    return Page.of([HistoryEntry.of(event) for event in events], limit, offset)


_MOVE = TypeAdapter(ReservationMove)
_RESERVATION_ID: TypeAdapter[int] = TypeAdapter(ResourceId)


async def move_hot(request: HotRequest) -> Response:
    """``PATCH /reservations/{id}`` without FastAPI's dependencies: the same checks
    in the same order (query string, token, then path, header and body together)."""
    unknown_query(request, frozenset())
    user_id = resident_id(request.app.state.settings, request.bearer())
    errors = Errors()
    reservation_id = errors.check(lambda: request.path("reservation_id", _RESERVATION_ID))
    key: str | None = request.header("idempotency-key")
    if key is not None:
        raw = key
        key = errors.check(lambda: validated(_KEY, raw, ("header", "Idempotency-Key")))
    body = errors.check(lambda: request.json(_MOVE))
    errors.raise_any()
    assert reservation_id is not None
    assert body is not None
    return await move_booking(request.app.state.bookings, user_id, reservation_id, body, key)


async def move_booking(
    bookings: BookingStore,
    user_id: int,
    reservation_id: int,
    body: ReservationMove,
    idempotency_key: str | None,
) -> Response:
    key = None
    if idempotency_key is not None:
        payload = {"move": reservation_id, **body.model_dump(mode="json", exclude_none=True)}
        key = KeyClaim(idempotency_key, idempotency.fingerprint(payload))
    change = Change(
        start=body.start,
        end=body.end,
        space_id=body.space_id,
        attendees=body.attendees,
        purpose=body.purpose,
    )
    answer = await bookings.move(MoveRequest(reservation_id, user_id, change, key, utcnow()))
    headers = REPLAYED if isinstance(answer, Replayed) else None
    return Response(answer.body, status.HTTP_200_OK, media_type=JSON, headers=headers)


@HOT.route(
    "PATCH",
    "/{reservation_id}",
    fast=move_hot,
    response_model=ReservationOut,
    responses=problem_responses(503),
)
async def move_reservation(
    reservation_id: ResourceId,
    body: ReservationMove,
    user_id: CurrentUserId,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Move a booking: another time, space, number of attendees or purpose, by
    its booker (or a member of its organization) until the space's
    `modify_before_minutes` (default: the cancel deadline). Held and released in
    one transaction, or refused with the rule's own problem and left as it was.
    Where staff approve bookings, a move into the space or a longer booking
    goes back to `pending`. Staff do not move bookings (403): they cancel, and
    book anew for the resident. `Idempotency-Key` as for booking.

    Answered by ``move_hot`` (app/core/fastlane.py), as booking is by
    ``book_hot``; this declaration is the contract."""
    bookings = request.app.state.bookings
    return await move_booking(bookings, user_id, reservation_id, body, idempotency_key)


@router.post("/{reservation_id}/cancel", response_model=ReservationOut)
async def cancel_reservation(
    reservation_id: ResourceId,
    actor: CurrentActor,
    session: SessionDep,
    body: Annotated[CancelRequest | None, Body()] = None,
) -> ReservationOut:
    """Cancel: the owner before the space's deadline, or staff (with a reason) before the end."""
    reason = body.reason if body else None
    return ReservationOut.of(await service.cancel(session, actor, reservation_id, reason))


@router.post("/{reservation_id}/check-in", response_model=ReservationOut)
async def check_in(
    reservation_id: ResourceId,
    actor: CurrentActor,
    session: SessionDep,
    body: Annotated[CheckInRequest | None, Body()] = None,
) -> ReservationOut:
    """签到: the owner with the token of the space's QR code, or staff in scope
    without one; from `check_in_opens_minutes` before the start until the
    no-show deadline (or the end, where the space does not require check-in)."""
    token = body.token if body else None
    return ReservationOut.of(await attendance.check_in(session, actor, reservation_id, token))


@router.post("/{reservation_id}/check-out", response_model=ReservationOut)
async def check_out(
    reservation_id: ResourceId, actor: CurrentActor, session: SessionDep
) -> ReservationOut:
    """签退: the owner or staff end the booking at the next slot boundary (at
    least one slot after the start); the rest is free at once, the code stops."""
    return ReservationOut.of(await attendance.check_out(session, actor, reservation_id))


@router.post("/{reservation_id}/approve", response_model=ReservationOut)
async def approve_reservation(
    reservation_id: ResourceId,
    staff: CurrentStaff,
    session: SessionDep,
    codes: CodeBookDep,
    guard: GuardDep,
) -> ReservationOut:
    return ReservationOut.of(await service.approve(session, codes, guard, staff, reservation_id))


@router.post("/{reservation_id}/reject", response_model=ReservationOut)
async def reject_reservation(
    reservation_id: ResourceId, body: RejectRequest, staff: CurrentStaff, session: SessionDep
) -> ReservationOut:
    return ReservationOut.of(await service.reject(session, staff, reservation_id, body.reason))


@router.post("/{reservation_id}/access/reissue", response_model=ReservationOut, tags=["access"])
async def reissue_code(
    reservation_id: ResourceId, staff: CurrentStaff, session: SessionDep, codes: CodeBookDep
) -> ReservationOut:
    """Staff: revoke the door code and issue a new one (the owner reads it as before)."""
    return ReservationOut.of(await service.reissue_code(session, codes, staff, reservation_id))
