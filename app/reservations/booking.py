"""The one booking pipeline: every kind of booking, on both engines.

    read a snapshot  →  decide (pure)  →  write the plan under a guard

A store (``app/reservations/store.py``) reads in as few round trips as its
engine allows what the decision needs (``rules.Snapshot``); ``rules.decide``
applies every rule to it without I/O; the store writes what was decided —
reservation, audit event, door code and Idempotency-Key claim together —
after re-checking, under a lock, what the lock protects: the holders of the
time and the quota use. What this module adds is what both stores share: the
plan of rows to write, the answer's body, and the meaning of a guard's
verdict.

Idempotency (docs/ARCHITECTURE.md, invariant 7), the same on both engines: a
key's stored answer is replayed (``Idempotent-Replayed: true``) for 24 hours;
the same key with another body is ``422 idempotency_key_reused``; a
duplicate that arrives while the first is being written waits for that
write and then replays its answer. The key is claimed in the booking's own
write, so it exists exactly when the booking does.
"""

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import orjson

from app.access.codes import CodeBook, DrawnCode
from app.core.errors import NotFound
from app.models import NotificationKind, ReservationStatus
from app.notifications.texts import booking_values, render
from app.quotas.rules import quota_amount, quota_exceeded
from app.reservations import rules
from app.reservations.errors import AlreadyBooked
from app.reservations.idempotency import KEY_LIFETIME, KeyReused
from app.reservations.rules import Decision, Wanted
from app.reservations.schemas import reservation_body
from app.spaces.calendar import SPACE


@dataclass(frozen=True)
class KeyClaim:
    key: str
    request_hash: str


@dataclass(frozen=True)
class BookingRequest:
    user_id: int
    wanted: Wanted
    purpose: str
    key: KeyClaim | None
    now: datetime


@dataclass(frozen=True)
class StoredAnswer:
    request_hash: str
    status: int
    body: bytes
    created_at: datetime

    def expired(self, now: datetime) -> bool:
        return self.created_at < now - KEY_LIFETIME


@dataclass(frozen=True)
class Booked:
    body: bytes


@dataclass(frozen=True)
class Replayed:
    body: bytes


Answer = Booked | Replayed


def replay(stored: StoredAnswer, claim: KeyClaim) -> Replayed:
    """The first answer to this key, if the request is the same one."""
    if stored.request_hash != claim.request_hash:
        raise KeyReused()
    return Replayed(stored.body)


@dataclass(frozen=True)
class Told:
    """The notification a booking writes with itself: a confirmed booking tells
    its booker; a request tells the staff whose scope covers the space."""

    kind: NotificationKind
    title: str
    body: str
    fields: str  # JSON

    @property
    def to_staff(self) -> bool:
        return self.kind is NotificationKind.approval_requested


@dataclass(frozen=True)
class Plan:
    """What a store writes for one booking."""

    request: BookingRequest
    decision: Decision
    code: DrawnCode | None

    @property
    def wanted(self) -> Wanted:
        return self.request.wanted

    def body(self, reservation_id: int) -> bytes:
        """The answer, known before the write: it is also the key's stored answer."""
        request, space = self.request, self.decision.space
        return orjson.dumps(
            reservation_body(
                id=reservation_id,
                space_id=space.id,
                space_name=space.name,
                center_id=space.center_id,
                user_id=request.user_id,
                organization_id=request.wanted.organization_id,
                organization_name=self.decision.organization_name,
                start=request.wanted.interval.start,
                end=request.wanted.interval.end,
                status=self.decision.status,
                purpose=request.purpose,
                attendees=request.wanted.attendees,
                status_reason=None,
                created_at=request.now,
                updated_at=request.now,
            )
        )

    def told(self, reservation_id: int) -> Told:
        space, interval = self.decision.space, self.wanted.interval
        values = booking_values(
            space_name=space.name,
            center_name=space.center_name,
            center_address=space.center_address,
            start=interval.start,
            end=interval.end,
            status=self.decision.status,
            reservation_id=reservation_id,
            organization_name=self.decision.organization_name,
        )
        kind = told_kind(self.decision.status)
        title, body = render(kind, values)
        return Told(kind, title, body, orjson.dumps(values).decode())

    def with_fresh_code(self, codes: CodeBook) -> "Plan":
        """Another draw, for a code that clashed with a live one of the space."""
        return replace(self, code=draw_code(codes, self.decision, self.wanted))


def told_kind(status: ReservationStatus) -> NotificationKind:
    """Who a new booking tells: its booker it is confirmed, or staff a request waits."""
    if status is ReservationStatus.pending:
        return NotificationKind.approval_requested
    return NotificationKind.booking_confirmed


def plan(request: BookingRequest, decision: Decision, codes: CodeBook) -> Plan:
    return Plan(request, decision, draw_code(codes, decision, request.wanted))


def draw_code(codes: CodeBook, decision: Decision, wanted: Wanted) -> DrawnCode | None:
    if not decision.needs_code:
        return None
    return codes.draw(decision.space.id, wanted.interval.start, wanted.interval.end)


# --- the guard ------------------------------------------------------------------------


@dataclass
class OverlapGuard:
    """The layers that keep bookings apart (see ``store.py``). Always fully on
    in production; the tests' negative controls switch them off to show that
    each race really double-books without them."""

    lock: bool = True  # the guard function (PostgreSQL); one BEGIN IMMEDIATE (SQLite)
    exclusion_constraint: bool = True  # PostgreSQL's backstop for exclusive spaces
    delay_seconds: float = 0.0  # a pause between the read and the write


GUARD = OverlapGuard()


def refused(plan: Plan, verdict: str, detail: str | None) -> Exception:
    """The problem for a booking the guard refused under its lock: the same as
    ``decide`` raises for that rule, with what the guard saw."""
    space, wanted = plan.decision.space, plan.wanted
    numbers = [float(part) for part in (detail or "").split()] + [0.0, 0.0]
    a, b = numbers[0], numbers[1]
    match verdict:
        case "slot_taken":
            return rules.slot_taken(_epoch(a), _epoch(b))
        case "already_booked":
            return AlreadyBooked()
        case "space_full":
            return rules.space_full(space.capacity, int(a))
        case "quota_exceeded":
            use = replace(plan.decision.quotas[int(a)], used=b)
            amount = quota_amount(use.metric, wanted.interval)
            return quota_exceeded(use, wanted.subject, amount)
        case "gone":
            return NotFound(SPACE)
    raise AssertionError(f"unknown guard verdict {verdict!r}")


def _epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
