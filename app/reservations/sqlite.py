"""The booking pipeline's statements on SQLite: one hop to the writer thread.

Read, decide and write run together inside ``BEGIN IMMEDIATE`` on the thread
that owns the database's write lock (``app/core/sqlite.py``), so the decision
is taken on what no other writer can change before it is written.
"""

import asyncio
import sqlite3
import time
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.access.codes import DRAWS, CodeBook
from app.audit import reasons
from app.core.db import Database, OverlapGuard
from app.core.errors import AppError, ConcurrentUpdate
from app.core.sqlite import SqliteWorker, stamp
from app.notifications import outbox
from app.reservations import acts, booking, rules
from app.reservations import sqlite_read as read
from app.reservations.acts import Held, HoldAct
from app.reservations.booking import (
    Answer,
    Booked,
    BookingRequest,
    Occurrence,
    Plan,
    SeriesAnswer,
    SeriesRequest,
)
from app.reservations.moves import MoveRequest
from app.spaces.calendar import Interval
from app.webhooks import outbox as webhooks

FORGET_KEY = "DELETE FROM idempotency_keys WHERE user_id = :user AND key = :key"
INSERT_RESERVATION = """
INSERT INTO reservations (space_id, user_id, organization_id, starts_at, ends_at, exclusive,
                          status, purpose, attendees, created_at, updated_at, kind, title, public)
VALUES (:space, :user, :organization, :start, :end, :exclusive, :status, :purpose, :attendees,
        :now, :now, :kind, :title, :public)
RETURNING id
"""
INSERT_AUDIT = """
INSERT INTO audit_events (occurred_at, actor_kind, actor_id, entity, entity_id, action, to_status,
                          reason)
VALUES (:now, :actor_kind, :actor_id, 'reservation', :id, 'create', :status, :reason)
"""
LINK_OCCURRENCE = """
INSERT INTO reservation_series_occurrences (reservation_id, series_id) VALUES (:id, :series)
"""
# Inserted only if it clashes with no live code of the space.
INSERT_CODE = """
INSERT INTO access_codes (reservation_id, space_id, lookup, code_sealed, key_version,
                          valid_from, valid_until, issued_at)
SELECT :id, :space, :lookup, :sealed, :key_version, :valid_from, :valid_until, :now
WHERE NOT EXISTS (
  SELECT 1 FROM access_codes
  WHERE space_id = :space AND lookup = :lookup AND revoked_at IS NULL
    AND valid_from < :valid_until AND valid_until > :valid_from)
"""
TELL_BOOKER = outbox.tell_booker(reservation_id=":id", fields=":told_fields")
TELL_STAFF = outbox.tell_staff(reservation_id=":id", fields=":told_fields")
HOOK = webhooks.enqueue_sql(data=":hook_data")
INSERT_KEY = """
INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body,
                              created_at)
VALUES (:user, :key, :request_hash, 201, :body, :now)
"""


class SqliteBookings:
    def __init__(self, database: Database, codes: CodeBook) -> None:
        assert database.sqlite_writer is not None, "SQLite's store, after Database.open()"
        self._database = database
        self._writer: SqliteWorker = database.sqlite_writer
        self._codes = codes

    async def book(self, request: BookingRequest) -> Answer:
        guard = self._database.guard
        if guard.lock:
            return await self._writer.transaction(lambda db: _book(db, self._codes, request, guard))
        return await self._unguarded(request, guard)

    async def move(self, request: MoveRequest) -> Answer:
        # Imported here: the move's statements (sqlite_moves.py) build on this module's.
        from app.reservations.sqlite_moves import move

        return await move(self._writer, self._codes, request, self._database.guard)

    async def book_many(self, request: SeriesRequest) -> SeriesAnswer:
        guard = self._database.guard
        try:
            if guard.lock:
                return await self._writer.transaction(
                    lambda db: _book_many(db, self._codes, request)
                )
            return await self._unguarded_many(request, guard)
        except booking.RolledBack as rolled_back:
            return rolled_back.refused

    async def _unguarded_many(self, request: SeriesRequest, guard: OverlapGuard) -> SeriesAnswer:
        """The tests' negative control for a series: every occurrence decided in
        one transaction, written in another."""
        decided = await self._writer.run(lambda db: _decide_each(db, self._codes, request))
        await asyncio.sleep(guard.delay_seconds)
        return await self._writer.transaction(
            lambda db: _write_many(db, self._codes, request, decided)
        )

    async def _unguarded(self, request: BookingRequest, guard: OverlapGuard) -> Answer:
        """The tests' negative control: read and write in separate transactions,
        nothing re-checked in between."""
        snapshot, _ = await self._writer.run(lambda db: read.snapshot(db, request))
        plan = booking.plan(
            request, rules.decide(snapshot, request.wanted, request.now), self._codes
        )
        await asyncio.sleep(guard.delay_seconds)
        return await self._writer.transaction(lambda db: _write(db, self._codes, plan))


def _book(
    db: sqlite3.Connection, codes: CodeBook, request: BookingRequest, guard: OverlapGuard
) -> Answer:
    snapshot, stored = read.snapshot(db, request)
    key = request.key
    if key is not None and stored is not None:
        if not stored.expired(request.now):
            return booking.replay(stored, key)
        db.execute(FORGET_KEY, {"user": request.user_id, "key": key.key})
    plan = booking.plan(request, rules.decide(snapshot, request.wanted, request.now), codes)
    if guard.delay_seconds:  # tests: a slow decision, still under the lock
        time.sleep(guard.delay_seconds)
    return _write(db, codes, plan)


Decided = list[tuple[Interval, Plan | AppError]]


def _book_many(db: sqlite3.Connection, codes: CodeBook, request: SeriesRequest) -> SeriesAnswer:
    """The whole series on the writer, in one ``BEGIN IMMEDIATE``: each
    occurrence read, decided and written in its own savepoint, after the
    occurrences before it (so its quota use counts them)."""
    key = request.key
    if key is not None:
        stored = read.stored_answer(db, request.user_id, key.key)
        if stored is not None:
            if not stored.expired(request.now):
                return booking.replay(stored, key)
            db.execute(FORGET_KEY, {"user": request.user_id, "key": key.key})
    first = request.booking(request.intervals[0])
    try:  # an unknown caller or space is the request's problem, before any write
        rules.decide(read.snapshot(db, first)[0], first.wanted, first.now)
    except AppError as problem:
        booking.refusal(problem)
    series_id = _insert_series(db, request)
    occurrences: list[tuple[Occurrence, Plan | None]] = []
    for interval in request.intervals:
        one = request.booking(interval)
        db.execute("SAVEPOINT occurrence")
        try:
            snapshot, _ = read.snapshot(db, one)
            plan = booking.plan(one, rules.decide(snapshot, one.wanted, one.now), codes)
            reservation_id = _write_step(db, codes, replace(plan, series_id=series_id))
        except AppError as error:
            db.execute("ROLLBACK TO occurrence")
            occurrences.append((Occurrence(interval, problem=booking.refusal(error)), None))
        else:
            occurrences.append((Occurrence(interval, reservation_id, plan.decision.status), plan))
        finally:
            db.execute("RELEASE occurrence")
    return _settle(db, request, series_id, occurrences)


def _decide_each(db: sqlite3.Connection, codes: CodeBook, request: SeriesRequest) -> Decided:
    decided: Decided = []
    for interval in request.intervals:
        one = request.booking(interval)
        try:
            snapshot, _ = read.snapshot(db, one)
            decided.append(
                (interval, booking.plan(one, rules.decide(snapshot, one.wanted, one.now), codes))
            )
        except AppError as problem:
            decided.append((interval, booking.refusal(problem)))
    return decided


def _write_many(
    db: sqlite3.Connection, codes: CodeBook, request: SeriesRequest, decided: Decided
) -> SeriesAnswer:
    series_id = _insert_series(db, request)
    occurrences: list[tuple[Occurrence, Plan | None]] = []
    for interval, plan in decided:
        if isinstance(plan, AppError):
            occurrences.append((Occurrence(interval, problem=plan), None))
            continue
        reservation_id = _write_step(db, codes, replace(plan, series_id=series_id))
        occurrences.append((Occurrence(interval, reservation_id, plan.decision.status), plan))
    return _settle(db, request, series_id, occurrences)


def _insert_series(db: sqlite3.Connection, request: SeriesRequest) -> int:
    values = request.values()
    for name in ("first_start", "first_end", "now"):
        instant_value = values[name]
        assert isinstance(instant_value, datetime)
        values[name] = stamp(instant_value)
    series_id: int = db.execute(booking.INSERT_SERIES, values).fetchone()[0]
    return series_id


def _settle(
    db: sqlite3.Connection,
    request: SeriesRequest,
    series_id: int,
    written: list[tuple[Occurrence, Plan | None]],
) -> SeriesAnswer:
    """Keep the series (one notification, the key's answer) or undo it."""
    occurrences = [occurrence for occurrence, _ in written]
    booking.settle(request, occurrences)
    first, plan = next((item, plan) for item, plan in written if plan is not None)
    assert first.reservation_id is not None
    _tell(db, plan, _values(plan) | {"id": first.reservation_id})
    body = request.answer(series_id, occurrences)
    if request.key is not None:
        key = {"key": request.key.key, "request_hash": request.key.request_hash}
        values = {"user": request.user_id, "now": stamp(request.now)}
        db.execute(INSERT_KEY, {**values, **key, "body": body.decode()})
    return Booked(body)


def _write(db: sqlite3.Connection, codes: CodeBook, plan: Plan) -> Answer:
    """A single booking's write: the write step, its notification and its key."""
    request = plan.request
    reservation_id = _write_step(db, codes, plan)
    body = plan.body(reservation_id)
    values = _values(plan) | {"id": reservation_id}
    _tell(db, plan, values)
    if request.key is not None:
        key = {"key": request.key.key, "request_hash": request.key.request_hash}
        db.execute(INSERT_KEY, {**values, **key, "body": body.decode()})
    return Booked(body)


def _values(plan: Plan) -> dict[str, object]:
    request, decision, wanted = plan.request, plan.decision, plan.wanted
    return {
        "space": wanted.space_id,
        "user": request.user_id,
        "organization": wanted.organization_id,
        "start": stamp(wanted.interval.start),
        "end": stamp(wanted.interval.end),
        "exclusive": decision.space.exclusive,
        "status": decision.status.value,
        "purpose": request.purpose,
        "attendees": wanted.attendees,
        "now": stamp(request.now),
        **request.audit,
        **request.kind,
    }


def _write_step(db: sqlite3.Connection, codes: CodeBook, plan: Plan) -> int:
    """The write step every act shares: the reservation, its audit event (an
    occurrence's says its series, and links to it) and its door code."""
    values = _values(plan)
    series_id = plan.series_id
    if series_id is not None:
        values["reason"] = reasons.series(series_id)
    reservation_id: int = db.execute(INSERT_RESERVATION, values).fetchone()[0]
    values["id"] = reservation_id
    db.execute(INSERT_AUDIT, values)
    if series_id is not None:
        db.execute(LINK_OCCURRENCE, {"id": reservation_id, "series": series_id})
    if plan.code is not None:
        _insert_code(db, codes, plan, values)
    db.execute(HOOK, values | plan.hooked(reservation_id))
    return reservation_id


def _tell(db: sqlite3.Connection, plan: Plan, values: dict[str, object]) -> None:
    if plan.request.user_id is None:  # a center event tells nobody
        return
    reservation_id = values["id"]
    assert isinstance(reservation_id, int)
    told = plan.told(reservation_id)
    space = plan.decision.space
    db.execute(
        TELL_STAFF if told.to_staff else TELL_BOOKER,
        {
            **values,
            "center": space.center_id,
            "district": space.center_district,
            "told_kind": told.kind.value,
            "told_title": told.title,
            "told_body": told.body,
            "told_fields": told.fields,
        },
    )


def _insert_code(
    db: sqlite3.Connection, codes: CodeBook, plan: Plan, values: dict[str, object]
) -> None:
    """The writer is alone: a code that clashes with no live one now cannot be
    taken before it is written."""
    for _ in range(DRAWS):
        code = plan.code
        assert code is not None
        drawn = {
            "lookup": code.lookup,
            "sealed": code.sealed,
            "key_version": code.key_version,
            "valid_from": stamp(code.valid_from),
            "valid_until": stamp(code.valid_until),
        }
        if db.execute(INSERT_CODE, {**values, **drawn}).rowcount == 1:
            return
        plan = plan.with_fresh_code(codes)
    raise AssertionError("no door code without a clash in 20 draws")  # pragma: no cover


# --- acts that replace a hold, inside the caller's transaction ---------------------------

INSERT_ACT_AUDIT = """
INSERT INTO audit_events (occurred_at, actor_kind, actor_id, entity, entity_id, action,
                          from_status, to_status, reason)
VALUES (:now, :actor_kind, :actor_id, 'reservation', :id, :action, :from_status, :status,
        :reason)
"""
MOVE_RESERVATION = """
UPDATE reservations SET status = :status, status_reason = NULL, updated_at = :now
WHERE id = :id AND status = :from_status
"""


class _SessionConnection:
    """The ORM session's connection, run from ``AsyncSession.run_sync``, as the
    store's functions use ``sqlite3``'s: ``execute`` answers a cursor."""

    def __init__(self, dbapi: Any) -> None:
        self._dbapi = dbapi

    def execute(self, statement: str, parameters: Any = ()) -> Any:
        cursor = self._dbapi.cursor()
        cursor.execute(statement, parameters)
        return cursor


async def hold_in(
    session: AsyncSession, codes: CodeBook | None, act: HoldAct, guard: OverlapGuard
) -> Held:
    """``store.hold`` on SQLite: the act inside the session's transaction, which
    holds the database's write lock (``BEGIN IMMEDIATE``), so it is decided on
    what no other writer can change before it is written."""

    def work(sync_session: Session) -> Held:
        dbapi = sync_session.connection().connection.dbapi_connection
        return _hold(cast(sqlite3.Connection, _SessionConnection(dbapi)), codes, act, guard)

    return await session.run_sync(work)


def _hold(
    db: sqlite3.Connection, codes: CodeBook | None, act: HoldAct, guard: OverlapGuard
) -> Held:
    snapshot, _ = read.snapshot(db, act.request, exclude=act.replaces or 0)
    plan = acts.act_plan(act, snapshot, codes, guard)
    from_status = act.act.from_status
    values = _values(plan) | {
        "actor_kind": act.actor_kind,
        "actor_id": act.actor_id,
        "action": act.act.value,
        "from_status": from_status.value if from_status else None,
        "reason": act.reason,
    }
    if act.replaces is None:
        reservation_id: int = db.execute(INSERT_RESERVATION, values).fetchone()[0]
    else:
        reservation_id = act.replaces
        if db.execute(MOVE_RESERVATION, values | {"id": reservation_id}).rowcount != 1:
            raise ConcurrentUpdate()  # the status the act decided on changed
    values["id"] = reservation_id
    db.execute(INSERT_ACT_AUDIT, values)
    if plan.code is not None:
        assert codes is not None
        _insert_code(db, codes, plan, values)
    return Held(reservation_id, plan.decision.status, plan.code is not None)
