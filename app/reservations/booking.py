"""The one booking pipeline: every act that makes a reservation hold time, on
both engines — a booking, each occurrence of a series, a waitlist offer, its
acceptance, an approval.

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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import orjson

from app.access.codes import CodeBook, DrawnCode
from app.core.errors import AppError, ConcurrentUpdate, InvalidToken, NotFound
from app.identity.service import AccountDeactivated
from app.models import (
    ActorKind,
    NotificationKind,
    ReservationKind,
    ReservationStatus,
    SeriesMode,
    WebhookEvent,
)
from app.notifications.texts import booking_values, render
from app.quotas.rules import quota_amount, quota_exceeded
from app.reservations import rules
from app.reservations.errors import AlreadyBooked
from app.reservations.idempotency import KEY_LIFETIME, KeyReused
from app.reservations.rules import Decision, Wanted
from app.reservations.schemas import Timeline, code_valid_from, reservation_body
from app.spaces.calendar import SPACE, Interval, check_in_opens
from app.webhooks import outbox as webhooks


@dataclass(frozen=True)
class KeyClaim:
    key: str
    request_hash: str


@dataclass(frozen=True)
class AuditActor:
    """Who the booking's audit event names when it is not the booker: the staff
    member who booked for someone or for the center, with their reason."""

    kind: ActorKind
    id: int
    reason: str | None = None


@dataclass(frozen=True)
class CenterEvent:
    """A reservation that is the center's own programme, not anyone's booking
    (docs/ARCHITECTURE.md, "Staff bookings and center events")."""

    title: str
    public: bool


@dataclass(frozen=True)
class BookingRequest:
    # None only for a center event: it is nobody's booking.
    user_id: int | None
    wanted: Wanted
    purpose: str
    key: KeyClaim | None
    now: datetime
    actor: AuditActor | None = None  # None: the booker
    event: CenterEvent | None = None

    @property
    def audit(self) -> dict[str, object]:
        """The audit event's actor and reason, as the writes' parameters."""
        if self.actor is None:
            return {"actor_kind": ActorKind.user.value, "actor_id": self.user_id, "reason": None}
        actor = self.actor
        return {"actor_kind": actor.kind.value, "actor_id": actor.id, "reason": actor.reason}

    @property
    def kind(self) -> dict[str, object]:
        """The reservation's kind columns, as the writes' parameters."""
        event = self.event
        if event is None:
            return {"kind": ReservationKind.booking.value, "title": None, "public": None}
        return {"kind": ReservationKind.center_event.value, "title": event.title,
                "public": event.public}  # fmt: skip


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


# --- a series: many bookings in one transaction ---------------------------------------


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of a series: booked (its id and status) or refused (why)."""

    interval: Interval
    reservation_id: int | None = None
    status: ReservationStatus | None = None
    problem: AppError | None = None


@dataclass(frozen=True)
class SeriesRequest:
    """A recurring booking: one booking per interval, all in one transaction
    (``BookingStore.book_many``). ``answer`` renders the 201's body from the
    series' id and its occurrences; it is also the key's stored answer."""

    user_id: int
    space_id: int
    organization_id: int | None
    attendees: int
    purpose: str
    rrule: str
    mode: SeriesMode
    intervals: tuple[Interval, ...]
    key: KeyClaim | None
    now: datetime
    answer: Callable[[int, Sequence[Occurrence]], bytes]

    def booking(self, interval: Interval) -> BookingRequest:
        """The single booking an occurrence is (its key is the series')."""
        wanted = Wanted(self.space_id, interval, self.attendees, self.organization_id)
        return BookingRequest(self.user_id, wanted, self.purpose, None, self.now)

    def values(self) -> dict[str, object]:
        """The series row's values, for ``INSERT_SERIES``."""
        first = self.intervals[0]
        return {
            "user": self.user_id,
            "space": self.space_id,
            "organization": self.organization_id,
            "rrule": self.rrule,
            "mode": self.mode.value,
            "first_start": first.start,
            "first_end": first.end,
            "attendees": self.attendees,
            "purpose": self.purpose,
            "now": self.now,
        }


@dataclass(frozen=True)
class SeriesRefused:
    """Nothing of the series was kept: each occurrence with its problem, if any."""

    occurrences: tuple[Occurrence, ...]


SeriesAnswer = Booked | Replayed | SeriesRefused


# Problems of the request, not of an occurrence: ``decide`` raises them first.
WHOLE_SERIES = (InvalidToken, AccountDeactivated, NotFound, ConcurrentUpdate)


class RolledBack(Exception):
    """Raised inside a series' transaction to undo it; carries what to answer."""

    def __init__(self, occurrences: Sequence[Occurrence]) -> None:
        super().__init__()
        self.refused = SeriesRefused(
            tuple(Occurrence(item.interval, problem=item.problem) for item in occurrences)
        )


def settle(request: SeriesRequest, occurrences: Sequence[Occurrence]) -> None:
    """Keep the series, or raise ``RolledBack``: nothing booked, or (all or
    nothing) anything refused."""
    booked = [item for item in occurrences if item.reservation_id is not None]
    refused = len(occurrences) - len(booked)
    if not booked or (refused and request.mode is SeriesMode.all_or_nothing):
        raise RolledBack(occurrences)


def refusal(error: AppError) -> AppError:
    """An occurrence's refusal, or re-raised: what is no answer about one
    occurrence ends the whole series — an unknown caller or space (as a single
    booking's), a lost connection or a deadlock (503/409)."""
    if isinstance(error, WHOLE_SERIES) or error.status >= 500:
        raise error
    return error


INSERT_SERIES = """
INSERT INTO reservation_series (user_id, space_id, organization_id, rrule, mode,
                                first_starts_at, first_ends_at, attendees, purpose, created_at)
VALUES (:user, :space, :organization, :rrule, :mode, :first_start, :first_end, :attendees,
        :purpose, :now)
RETURNING id
"""


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
    series_id: int | None = None  # an occurrence of this series (linked, audited so)

    @property
    def wanted(self) -> Wanted:
        return self.request.wanted

    def body(self, reservation_id: int) -> bytes:
        """The answer, known before the write: it is also the key's stored answer."""
        request, space = self.request, self.decision.space
        start = request.wanted.interval.start
        opens = check_in_opens(start, space.check_in_opens_minutes)
        return orjson.dumps(
            reservation_body(
                id=reservation_id,
                space_id=space.id,
                space_name=space.name,
                center_id=space.center_id,
                center_name=space.center_name,
                center_address=space.center_address,
                door_names=space.door_names,
                timeline=Timeline.of(
                    request.wanted.interval.start,
                    cancel_before_minutes=space.cancel_before_minutes,
                    requires_check_in=space.requires_check_in,
                    no_show_after_minutes=space.no_show_after_minutes,
                ),
                user_id=request.user_id,
                organization_id=request.wanted.organization_id,
                organization_name=self.decision.organization_name,
                start=request.wanted.interval.start,
                end=request.wanted.interval.end,
                status=self.decision.status,
                purpose=request.purpose,
                attendees=request.wanted.attendees,
                status_reason=None,
                check_in_opens_at=opens,
                code_valid_from=code_valid_from(self.decision.status, opens, space.has_doors),
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

    def hooked(
        self, reservation_id: int, event: WebhookEvent = WebhookEvent.reservation_created
    ) -> dict[str, object]:
        """The message's parameters (app/webhooks/outbox.py): a booking's
        ``reservation.created``, or a move's ``reservation.moved``."""
        space, interval = self.decision.space, self.wanted.interval
        data = webhooks.reservation_data(
            reservation_id=reservation_id,
            space_id=space.id,
            center_id=space.center_id,
            status=self.decision.status,
            kind=str(self.request.kind["kind"]),
            starts_at=interval.start,
            ends_at=interval.end,
        )
        return {
            "center": space.center_id,
            "district": space.center_district,
            "hook_event": event.value,
            "hook_data": webhooks.as_json(data),
        }

    def with_fresh_code(self, codes: CodeBook) -> "Plan":
        """Another draw, for a code that clashed with a live one of the space."""
        return replace(self, code=draw_code(codes, self.decision, self.wanted))


def told_kind(status: ReservationStatus) -> NotificationKind:
    """Who a new booking tells: its booker it is confirmed, or staff a request waits."""
    if status is ReservationStatus.pending:
        return NotificationKind.approval_requested
    return NotificationKind.booking_confirmed


def plan(request: BookingRequest, decision: Decision, codes: CodeBook) -> Plan:
    if request.event is not None:  # staff open the door for the center's own events
        return Plan(request, decision, None)
    return Plan(request, decision, draw_code(codes, decision, request.wanted))


def draw_code(codes: CodeBook, decision: Decision, wanted: Wanted) -> DrawnCode | None:
    if not decision.needs_code:
        return None
    space, interval = decision.space, wanted.interval
    return codes.draw(space.id, interval.start, interval.end, space.check_in_opens_minutes)


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
