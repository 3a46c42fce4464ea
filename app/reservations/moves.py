"""Moving a booking: what both engines' stores share, pure.

A move (``PATCH /reservations/{id}``) is a booking of the new time decided by
``rules.decide`` on a snapshot that leaves the moved booking out (of the
holders and of quota use), then written as an UPDATE of the same row under
the same guard (docs/ARCHITECTURE.md, "Moving a booking"). This module says
who may move what until when, what the move becomes (``moved_status``),
which door-code change follows, and what it tells and records; the stores
(``postgres.py``, ``sqlite.py``) read and write.
"""

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

import orjson

from app.access.codes import CodeBook
from app.core.errors import InvalidTransition, NotFound
from app.models import CHANGEABLE_STATUSES, NotificationKind, ReservationStatus
from app.notifications.texts import booking_values, render
from app.reservations import booking
from app.reservations.booking import BookingRequest, KeyClaim, Plan, Told
from app.reservations.errors import (
    CANNOT,
    MOVE,
    RESERVATION,
    STATUS_TEXT,
    ModificationClosed,
)
from app.reservations.rules import Decision, Wanted, local_iso
from app.spaces.calendar import Interval

Status = ReservationStatus
ANSWER_STATUS = 200  # the status a move answers, and its key replays


@dataclass(frozen=True)
class Change:
    """What the body asks to change; None keeps what the booking has. A new
    start alone keeps the booking's length."""

    start: datetime | None = None
    end: datetime | None = None
    space_id: int | None = None
    attendees: int | None = None
    purpose: str | None = None


@dataclass(frozen=True)
class MoveRequest:
    reservation_id: int
    caller_id: int  # the booker, or a member of the booking's organization
    change: Change
    key: KeyClaim | None
    now: datetime


@dataclass(frozen=True)
class Current:
    """The booking as the store read it, before the move."""

    id: int
    status: ReservationStatus
    user_id: int
    organization_id: int | None
    space_id: int
    start: datetime
    end: datetime
    attendees: int
    purpose: str
    created_at: datetime
    cancel_before_minutes: int
    modify_before_minutes: int | None

    @property
    def length(self) -> timedelta:
        return self.end - self.start


CodeChange = Literal["window", "fresh", "revoke"]


@dataclass(frozen=True)
class MovePlan:
    """What a store writes for one move: the booking's plan of the new time
    (its decision carrying the move's status), and the door code's change."""

    request: MoveRequest
    current: Current
    booking: Plan
    code_change: CodeChange

    @property
    def wanted(self) -> Wanted:
        return self.booking.wanted

    @property
    def status(self) -> ReservationStatus:
        return self.booking.decision.status

    def body(self) -> bytes:
        """The answer (and the key's stored answer): the booking as it is moved."""
        answer = orjson.loads(self.booking.body(self.current.id))
        answer["created_at"] = local_iso(self.current.created_at)
        return orjson.dumps(answer)

    def told_booker(self) -> Told:
        return self._told(NotificationKind.booking_moved)

    def told_staff(self) -> Told | None:
        """Staff are told of a move back to ``pending`` as of a new request."""
        if self.status is not Status.pending:
            return None
        return self._told(NotificationKind.approval_requested)

    def _told(self, kind: NotificationKind) -> Told:
        decision, interval = self.booking.decision, self.wanted.interval
        space = decision.space
        values = booking_values(
            space_name=space.name,
            center_name=space.center_name,
            center_address=space.center_address,
            start=interval.start,
            end=interval.end,
            status=self.status,
            reservation_id=self.current.id,
            organization_name=decision.organization_name,
        )
        title, body = render(kind, values)
        return Told(kind, title, body, orjson.dumps(values).decode())

    def details(self) -> str:
        """The audit event's details: where and when the booking was, and is."""
        current, wanted = self.current, self.wanted
        return orjson.dumps(
            {
                "from": _place(current.space_id, current.start, current.end),
                "to": _place(wanted.space_id, wanted.interval.start, wanted.interval.end),
            }
        ).decode()

    def with_fresh_code(self, codes: CodeBook) -> "MovePlan":
        """Another code, replacing the old one: the window of the old one clashed
        with a live equal code of the space, or was never drawn for it."""
        return replace(self, booking=self.booking.with_fresh_code(codes), code_change="fresh")


def _place(space_id: int, start: datetime, end: datetime) -> dict[str, object]:
    return {"space_id": space_id, "start": local_iso(start), "end": local_iso(end)}


def check_movable(current: Current | None, now: datetime) -> Current:
    """The booking the caller may see, if it may move now: pending or confirmed,
    before the space's deadline for moves (default: its cancel deadline)."""
    if current is None:
        raise NotFound(RESERVATION)
    if current.status not in CHANGEABLE_STATUSES:
        raise InvalidTransition(CANNOT, status=STATUS_TEXT[current.status], action=MOVE)
    minutes = current.modify_before_minutes
    if minutes is None:
        minutes = current.cancel_before_minutes
    if now >= current.start - timedelta(minutes=minutes):
        raise ModificationClosed(minutes=minutes)
    return current


def booking_request(current: Current, change: Change, now: datetime) -> BookingRequest:
    """The booking of the new time, as its booker would ask for it."""
    start = (change.start or current.start).astimezone(UTC)
    if change.end is not None:
        end = change.end.astimezone(UTC)
    elif change.start is not None:
        end = start + current.length
    else:
        end = current.end
    wanted = Wanted(
        space_id=change.space_id or current.space_id,
        interval=Interval(start, end),
        attendees=change.attendees or current.attendees,
        organization_id=current.organization_id,
    )
    purpose = current.purpose if change.purpose is None else change.purpose
    return BookingRequest(current.user_id, wanted, purpose, None, now)


def moved_status(decision: Decision, current: Current, wanted: Wanted) -> ReservationStatus:
    """Where staff approve bookings, a move into the space, or a longer booking,
    asks them again; a confirmed booking moved within the space, no longer than
    it was, stays confirmed. Elsewhere the move is confirmed, as a booking is."""
    if decision.status is Status.confirmed:
        return Status.confirmed
    stays = decision.space.id == current.space_id and (
        wanted.interval.end - wanted.interval.start <= current.length
    )
    return current.status if stays else Status.pending


def plan(
    request: MoveRequest,
    current: Current,
    decided: Decision,
    codes: CodeBook,
    inner: BookingRequest,
    has_code: bool,
) -> MovePlan:
    """The move's plan: the booking's decision with the move's status, and the
    door code's change (its window follows the new time in the same space; a
    new code in another space or where there was none; revoked when the move
    holds no code)."""
    status = moved_status(decided, current, inner.wanted)
    decision = replace(
        decided,
        status=status,
        needs_code=status is Status.confirmed and decided.space.has_doors,
    )
    code_change: CodeChange = "revoke"
    if decision.needs_code:
        same_space = decision.space.id == current.space_id
        code_change = "window" if has_code and same_space else "fresh"
    return MovePlan(request, current, booking.plan(inner, decision, codes), code_change)
