import enum
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    DDL,
    JSON,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    and_,
    event,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped, enum_column
from app.models.organization import Organization
from app.models.space import Space


class ReservationStatus(enum.StrEnum):
    pending = "pending"  # waiting for staff approval
    confirmed = "confirmed"
    checked_in = "checked_in"
    completed = "completed"
    rejected = "rejected"
    cancelled = "cancelled"
    no_show = "no_show"
    expired = "expired"  # a pending request nobody decided before its start
    # A freed place kept for the first in a waitlist until they accept or the
    # offer lapses (app/waitlist): it holds the time like a booking.
    held = "held"


class ReservationKind(enum.StrEnum):
    booking = "booking"  # a person's (or an organization's) booking
    # The center's own programme (党课, 议事会), held by staff: nobody's booking,
    # so its ``user_id`` is NULL and no quota, "my bookings" or notification
    # query can pick it up (docs/ARCHITECTURE.md, "Staff bookings and center events").
    center_event = "center_event"


class Meaning(NamedTuple):
    """What a reservation in one status means to each part of the system."""

    holds_time: bool  # occupies the space: the guard, the exclusion constraint, availability
    quota_ahead: bool  # counts toward a ``future_bookings`` quota
    quota_week: bool  # counts toward the weekly quotas (bookings and hours)
    reported: bool  # a booking made and kept, whatever became of it (reports' ``bookings``)
    booked_time: bool  # its time counts as booked (reports' ``booked_hours``)
    used: bool  # people came (reports' ``used_hours``)
    gets_code: bool  # has, or will have once confirmed, a door code where the space has doors
    code_live: bool  # its door code opens the door in its window
    changeable: bool  # its booker may still cancel or move it (until the deadline)


_ = False
Y = True
# The one table of reservation statuses (docs/ARCHITECTURE.md, "Reservation
# statuses"): every status list in Python and SQL is derived from it. A
# checked-in booking is a confirmed one whose guests arrived: it keeps holding
# the room. A place held for the waitlist holds the time but counts toward no
# quota until its offer is accepted. A cancelled booking was made (reported)
# but its time was given back; a no-show's time was booked and not used.
STATUS_MEANINGS: dict[ReservationStatus, Meaning] = {
    #                                holds ahead week  report booked used  gets  live  change
    ReservationStatus.pending:    Meaning(Y, Y,    Y,    _,     _,     _,    Y,    _,    Y),
    ReservationStatus.confirmed:  Meaning(Y, Y,    Y,    Y,     Y,     _,    Y,    Y,    Y),
    ReservationStatus.checked_in: Meaning(Y, Y,    Y,    Y,     Y,     Y,    Y,    Y,    _),
    ReservationStatus.held:       Meaning(Y, _,    _,    _,     _,     _,    _,    _,    _),
    ReservationStatus.completed:  Meaning(_, _,    Y,    Y,     Y,     Y,    _,    _,    _),
    ReservationStatus.no_show:    Meaning(_, _,    Y,    Y,     Y,     _,    _,    _,    _),
    ReservationStatus.cancelled:  Meaning(_, _,    _,    Y,     _,     _,    _,    _,    _),
    ReservationStatus.rejected:   Meaning(_, _,    _,    _,     _,     _,    _,    _,    _),
    ReservationStatus.expired:    Meaning(_, _,    _,    _,     _,     _,    _,    _,    _),
}  # fmt: skip
del _, Y


def statuses_that(means: Callable[[Meaning], bool]) -> tuple[ReservationStatus, ...]:
    """The statuses, in declaration order, whose meaning has ``means``."""
    return tuple(status for status in ReservationStatus if means(STATUS_MEANINGS[status]))


def sql_list(statuses: Iterable[enum.StrEnum]) -> str:
    """Statuses as a SQL list, for hand-written statements: ``'a', 'b'``."""
    return ", ".join(f"'{status.value}'" for status in statuses)


HOLDING_STATUSES = statuses_that(lambda meaning: meaning.holds_time)
QUOTA_AHEAD_STATUSES = statuses_that(lambda meaning: meaning.quota_ahead)
QUOTA_WEEK_STATUSES = statuses_that(lambda meaning: meaning.quota_week)
REPORTED_STATUSES = statuses_that(lambda meaning: meaning.reported)
BOOKED_TIME_STATUSES = statuses_that(lambda meaning: meaning.booked_time)
USED_STATUSES = statuses_that(lambda meaning: meaning.used)
CODE_STATUSES = statuses_that(lambda meaning: meaning.gets_code)
CODE_LIVE_STATUSES = statuses_that(lambda meaning: meaning.code_live)
CHANGEABLE_STATUSES = statuses_that(lambda meaning: meaning.changeable)
HOLDING_SQL = sql_list(HOLDING_STATUSES)

# No booking lasts longer than a day (a space's ``max_minutes`` is at most
# 1440), and the database refuses one that would. Overlap queries rely on it:
# "starts before the end and ends after the start" also "starts at most a day
# before the start", which bounds the index scan to a day of rows instead of a
# space's whole history.
LONGEST_BOOKING = timedelta(days=1)
LONGEST_BOOKING_MINUTES = 1440


class Reservation(Timestamped, Base):
    """A booking of ``[starts_at, ends_at)`` in one space.

    ``exclusive`` copies the space's booking mode at booking time (a space's
    mode cannot change), so PostgreSQL can enforce "no two holding bookings of
    an exclusive space overlap" with one exclusion constraint. SQLite has no
    such constraint; there the booking transaction (BEGIN IMMEDIATE) checks
    and inserts while holding the database's write lock.
    """

    __tablename__ = "reservations"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("attendees >= 1", name="attendees_positive"),
        CheckConstraint("(kind = 'center_event') = (user_id IS NULL)", name="event_has_no_booker"),
        CheckConstraint(
            "ends_at - starts_at <= interval '1 day'", name="lasts_at_most_a_day"
        ).ddl_if(dialect="postgresql"),
        Index("ix_reservations_space_id_starts_at", "space_id", "starts_at"),
        Index("ix_reservations_user_id_starts_at", "user_id", "starts_at"),
        # Shaped like the quota queries (zhendi_quota_used): a subject's bookings by start.
        Index("ix_reservations_organization_id_starts_at", "organization_id", "starts_at"),
        # What the periodic jobs look for (app/reservations/lifecycle.py): bookings
        # still open, by start; they are few once the jobs keep up.
        Index(
            "ix_reservations_open_by_start",
            "starts_at",
            postgresql_where=text(f"status IN ({HOLDING_SQL})"),
            sqlite_where=text(f"status IN ({HOLDING_SQL})"),
        ),
        Index(
            "ix_reservations_personal",
            "user_id",
            "starts_at",
            postgresql_where=text("organization_id IS NULL"),
            sqlite_where=text("organization_id IS NULL"),
        ),
        ExcludeConstraint(
            (literal_column("space_id"), "="),
            (
                func.tstzrange(
                    literal_column("starts_at"), literal_column("ends_at"), literal_column("'[)'")
                ),
                "&&",
            ),
            where=text(f"exclusive AND status IN ({HOLDING_SQL})"),
            using="gist",
            name="reservations_no_overlap",
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="RESTRICT"))
    # NULL for a center event only (the CHECK above). Typed as the bookings'
    # int: the code that reads a booker's reservations never reaches an event.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), nullable=True)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    kind: Mapped[ReservationKind] = mapped_column(
        enum_column(ReservationKind, "reservation_kind"),
        default=ReservationKind.booking,
        server_default=ReservationKind.booking.value,
    )
    title: Mapped[str | None] = mapped_column(String(100))  # a center event's
    public: Mapped[bool | None]  # whether availability shows a center event's title
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    exclusive: Mapped[bool]
    status: Mapped[ReservationStatus] = mapped_column(
        enum_column(ReservationStatus, "reservation_status")
    )
    purpose: Mapped[str] = mapped_column(String(200), default="")
    attendees: Mapped[int] = mapped_column(SmallInteger, default=1)
    status_reason: Mapped[str | None] = mapped_column(String(200))
    checked_in_at: Mapped[datetime | None]

    space: Mapped[Space] = relationship(lazy="raise")
    organization: Mapped[Organization | None] = relationship(lazy="raise")


class IdempotencyKey(Base):
    """The first response to a ``POST`` with an ``Idempotency-Key``, per user.

    Written in the same transaction as the booking it answers, so a key is
    recorded if and only if its booking committed.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int] = mapped_column(SmallInteger)
    response_body: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(index=True)


class ActorKind(enum.StrEnum):
    user = "user"
    staff = "staff"
    system = "system"


class AuditEvent(Base):
    """Who changed what, when, from which state to which."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_entity", "entity", "entity_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime]
    actor_kind: Mapped[ActorKind] = mapped_column(enum_column(ActorKind, "actor_kind"))
    actor_id: Mapped[int | None]
    entity: Mapped[str] = mapped_column(String(30))
    entity_id: Mapped[int]
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(200))
    # What an act changed beyond the status, e.g. a move's times (``move``).
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# The holders of [:start, :end) in the space ``{space}`` (a column or a
# parameter), for the hot paths' hand-written SQL on either engine (``r`` is
# the reservations table). ``:day_before`` is :start minus a day: bookings last
# at most that long, which bounds the scan of the (space_id, starts_at) index.
# ``overlapping`` below says the same for the ORM's queries.
HOLDERS_OVERLAPPING = (
    "r.space_id = {space} AND r.status IN (" + HOLDING_SQL + ")"
    " AND r.starts_at < :end AND r.ends_at > :start AND r.starts_at > :day_before"
)


def overlapping(start: datetime, end: datetime) -> ColumnElement[bool]:
    """Reservations overlapping ``[start, end)``, said so that the (space_id,
    starts_at) index reads a day of rows, not the space's history."""
    return and_(
        Reservation.starts_at < end,
        Reservation.ends_at > start,
        Reservation.starts_at > start - LONGEST_BOOKING,
    )


def sqlite_duration_trigger(operation: str) -> str:
    """The "at most a day" rule on SQLite, which cannot add a CHECK to an existing
    table: a trigger refusing the row instead."""
    return f"""
CREATE TRIGGER reservations_lasts_at_most_a_day_{operation.lower()}
BEFORE {operation} ON reservations
WHEN julianday(NEW.ends_at) - julianday(NEW.starts_at) > 1
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: lasts_at_most_a_day'); END
"""


for _operation in ("INSERT", "UPDATE"):
    event.listen(
        Reservation.__table__,
        "after_create",
        DDL(sqlite_duration_trigger(_operation)).execute_if(dialect="sqlite"),  # type: ignore[no-untyped-call]
    )
