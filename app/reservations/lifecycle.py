"""What the clock does to bookings, as the periodic jobs of ``app/jobs``:

- ``release_no_shows``: a confirmed booking of a space that requires check-in,
  not checked in by start + ``no_show_after_minutes``, becomes ``no_show``;
  its time is free at once, its door code revoked, a violation recorded.
- ``complete_finished``: an ended booking that was checked in (or confirmed,
  where the space does not require check-in) becomes ``completed``, and its
  booker is invited to rate it (``feedback_requested``).
- ``expire_pending``: a request nobody decided before its start becomes
  ``expired``.

Each takes the instant it runs as of, and is idempotent: it picks its rows
with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite's write transaction
serializes runs anyway) and moves each with a compare-and-swap on the status
it read, so two runs at once, or one after the other, change every row once.
A door unlock racing the release moves the same row from ``confirmed`` with
its own compare-and-swap: exactly one of them wins (docs/ARCHITECTURE.md,
invariant 9).
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVarTuple

from sqlalchemy import ColumnElement, Row, Select, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import codes as door_codes
from app.audit import service as audit
from app.core.config import Settings
from app.core.db import Database
from app.core.jobs import Report
from app.models import (
    HOLDING_SQL,
    NotificationKind,
    Reservation,
    ReservationKind,
    ReservationStatus,
    Space,
)
from app.notifications import service as notifications
from app.reservations.hooks import tell_hooks
from app.standing.service import NoShow, record_no_show

Status = ReservationStatus
Kind = NotificationKind
Columns = TypeVarTuple("Columns")
# Rows per transaction: locks stay short, and a backlog is worked through in turns.
# The words of the partial index of open bookings (app/models/reservation.py):
# SQLite takes a partial index only for a query that states its predicate,
# which "status = 'confirmed'" implies but does not state.
STILL_OPEN = text(f"reservations.status IN ({HOLDING_SQL})")
BATCH = 200
ENTITY = "reservation"


async def release_no_shows(database: Database, settings: Settings, now: datetime) -> Report:
    released: list[int] = []
    violations = suspensions = 0
    async with database.reader.begin() as session:
        # Spaces differ in their deadline; each deadline is one indexable range.
        deadlines = (
            await session.scalars(
                select(Space.no_show_after_minutes)
                .where(Space.requires_check_in.is_(True))
                .distinct()
            )
        ).all()
    for minutes in sorted(deadlines):
        while True:
            async with database.writer.begin() as session:
                batch = await _release_batch(session, settings, minutes, now)
            released += batch.reservation_ids
            violations += batch.violations
            suspensions += batch.suspensions
            if batch.picked < BATCH:
                break
    summary = (
        f"{len(released)} no-shows released{_ids(released)}, "
        f"{violations} violations recorded, {suspensions} suspensions"
    )
    return Report(len(released), summary)


@dataclass(frozen=True)
class _Released:
    picked: int
    reservation_ids: list[int]
    violations: int
    suspensions: int


async def _release_batch(
    session: AsyncSession, settings: Settings, minutes: int, now: datetime
) -> _Released:
    deadline = timedelta(minutes=minutes)
    rows = await _pick(
        session,
        select(Reservation.id, Reservation.user_id, Reservation.starts_at, Space.center_id)
        .join(Space, Space.id == Reservation.space_id)
        .where(
            Reservation.status == Status.confirmed,
            Reservation.kind == ReservationKind.booking,  # a center event is nobody's no-show
            Space.requires_check_in.is_(True),
            Space.no_show_after_minutes == minutes,
            Reservation.starts_at <= now - deadline,
        ),
    )
    moved = set(
        await _move(session, [row.id for row in rows], Status.confirmed, Status.no_show, now)
    )
    await door_codes.revoke(session, *sorted(moved), at=now)
    suspensions = 0
    # By resident, so that two runs lock residents in the same order.
    for row in sorted((row for row in rows if row.id in moved), key=lambda r: (r.user_id, r.id)):
        no_show = NoShow(row.id, row.user_id, row.center_id, row.starts_at + deadline)
        suspension = await record_no_show(session, settings, no_show, now)
        reservation = await session.get(Reservation, row.id, populate_existing=True)
        assert reservation is not None
        await notifications.tell_booker(session, Kind.no_show_recorded, reservation, now=now)
        if suspension is not None:
            await notifications.tell_suspended(session, suspension, now)
            suspensions += 1
    return _Released(len(rows), sorted(moved), len(moved), suspensions)


async def complete_finished(database: Database, _settings: Settings, now: datetime) -> Report:
    no_check_in = select(Space.id).where(Space.requires_check_in.is_(False))
    finished = or_(
        Reservation.status == Status.checked_in,
        (Reservation.status == Status.confirmed) & Reservation.space_id.in_(no_check_in),
        (Reservation.status == Status.confirmed)
        & (Reservation.kind == ReservationKind.center_event),
    )
    completed = await _sweep(
        database,
        _ended(now) & finished,
        (Status.checked_in, Status.confirmed),
        Status.completed,
        now,
        then=_ask_for_feedback,
    )
    return Report(len(completed), f"{len(completed)} bookings completed{_ids(completed)}")


async def expire_pending(database: Database, _settings: Settings, now: datetime) -> Report:
    started = (Reservation.status == Status.pending) & (Reservation.starts_at <= now)
    expired = await _sweep(database, started, (Status.pending,), Status.expired, now)
    return Report(len(expired), f"{len(expired)} pending requests expired{_ids(expired)}")


def _ended(now: datetime) -> ColumnElement[bool]:
    # The start bound lets the index of open bookings by start serve the query.
    return (Reservation.starts_at < now) & (Reservation.ends_at <= now)


async def _ask_for_feedback(session: AsyncSession, ids: list[int], now: datetime) -> None:
    """Invite each booker of a just completed booking to rate it: once, as the
    compare-and-swap to ``completed`` moves each booking once."""
    for reservation in await _reservations(session, ids):
        if reservation.kind is ReservationKind.booking:  # a center event has no booker
            await notifications.tell_booker(session, Kind.feedback_requested, reservation, now=now)


async def _reservations(session: AsyncSession, ids: list[int]) -> Sequence[Reservation]:
    if not ids:
        return []
    query = (
        select(Reservation)
        .where(Reservation.id.in_(ids))
        .order_by(Reservation.id)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(query)).all()


After = Callable[[AsyncSession, list[int], datetime], Awaitable[None]]


async def _sweep(
    database: Database,
    where: ColumnElement[bool],
    from_statuses: tuple[ReservationStatus, ...],
    to: ReservationStatus,
    now: datetime,
    *,
    then: After | None = None,
) -> list[int]:
    """Move what ``where`` picks, a batch per transaction; ``then`` runs in each
    batch's transaction with the ids that moved."""
    changed: list[int] = []
    while True:
        async with database.writer.begin() as session:
            rows = await _pick(session, select(Reservation.id).where(where))
            moved: list[int] = []
            for status in from_statuses:
                moved += await _move(session, [row.id for row in rows], status, to, now)
            if then is not None:
                await then(session, moved, now)
            changed += moved
        if len(rows) < BATCH:
            return sorted(changed)


async def _pick(session: AsyncSession, query: Select[*Columns]) -> Sequence[Row[*Columns]]:
    return (await session.execute(batch_of(query))).all()


def batch_of(query: Select[*Columns]) -> Select[*Columns]:
    """The next batch, oldest first, skipping rows another run holds, read
    through the index of open bookings."""
    return (
        query.where(STILL_OPEN)
        .order_by(Reservation.starts_at, Reservation.id)
        .limit(BATCH)
        .with_for_update(of=Reservation, skip_locked=True)
    )


async def _move(
    session: AsyncSession,
    ids: list[int],
    from_status: ReservationStatus,
    to: ReservationStatus,
    now: datetime,
) -> list[int]:
    """Compare-and-swap ``ids`` from ``from_status`` to ``to``; the ids that moved,
    each with its audit event."""
    if not ids:
        return []
    moved = (
        await session.scalars(
            update(Reservation)
            .where(Reservation.id.in_(ids), Reservation.status == from_status)
            .values(status=to, updated_at=now)
            .returning(Reservation.id)
        )
    ).all()
    for reservation_id in moved:
        audit.record(
            session,
            None,
            entity=ENTITY,
            entity_id=reservation_id,
            action=to.value,
            from_status=from_status.value,
            to_status=to.value,
        )
    await session.flush()
    await tell_hooks(session, moved, to, now)
    return list(moved)


def _ids(ids: list[int]) -> str:
    if not ids:
        return ""
    shown = ", ".join(str(i) for i in ids[:20])
    return f" (reservations {shown}{', …' if len(ids) > 20 else ''})"
