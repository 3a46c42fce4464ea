"""Moving a booking on SQLite (app/reservations/moves.py): one hop to the writer.

Read the booking, decide on the booking's snapshot of the new time with the
booking left out of holders and quota use (``sqlite._read``), and UPDATE the
same row, all inside ``BEGIN IMMEDIATE`` on the writer thread, as a booking
is (``sqlite.py``).
"""

import asyncio
import sqlite3
import time
from typing import Any

from app.access.codes import CodeBook
from app.core.db import OverlapGuard
from app.core.errors import ConcurrentUpdate
from app.core.sqlite import SqliteWorker, instant, named, stamp
from app.models import ReservationStatus, WebhookEvent
from app.reservations import booking, moves, rules
from app.reservations.booking import Answer, Booked, StoredAnswer
from app.reservations.moves import Current, MovePlan, MoveRequest
from app.reservations.sqlite import FORGET_KEY, HOOK, TELL_BOOKER, TELL_STAFF, _insert_code
from app.reservations.sqlite_read import snapshot as _read
from app.reservations.sqlite_read import stored_answer


async def move(
    writer: SqliteWorker, codes: CodeBook, request: MoveRequest, guard: OverlapGuard
) -> Answer:
    if guard.lock:
        return await writer.transaction(lambda db: _move(db, codes, request, guard))
    return await _unguarded(writer, codes, request, guard)


async def _unguarded(
    writer: SqliteWorker, codes: CodeBook, request: MoveRequest, guard: OverlapGuard
) -> Answer:
    """The tests' negative control: read and write in separate transactions,
    nothing re-checked in between (as ``SqliteBookings._unguarded``)."""
    planned = await writer.run(lambda db: _plan_move(db, codes, request))
    if isinstance(planned, StoredAnswer):
        assert request.key is not None
        return booking.replay(planned, request.key)
    await asyncio.sleep(guard.delay_seconds)
    return await writer.transaction(lambda db: _write_move(db, codes, planned))


MOVE_TARGET = """
SELECT r.id, r.status, r.user_id, r.organization_id, r.space_id, r.starts_at, r.ends_at,
  r.attendees, r.purpose, r.created_at, s.cancel_before_minutes, s.modify_before_minutes,
  EXISTS (SELECT 1 FROM access_codes a WHERE a.reservation_id = r.id AND a.revoked_at IS NULL)
    AS coded
FROM reservations r JOIN spaces s ON s.id = r.space_id
WHERE r.id = :id AND (
  r.user_id = :caller OR EXISTS (
    SELECT 1 FROM organization_members m
    WHERE m.organization_id = r.organization_id AND m.user_id = :caller))
"""
MOVE_RESERVATION = """
UPDATE reservations
SET space_id = :space, starts_at = :start, ends_at = :end, attendees = :attendees,
    purpose = :purpose, status = :status, status_reason = NULL, exclusive = :exclusive,
    updated_at = :now
WHERE id = :id AND status = :from_status
"""
MOVE_AUDIT = """
INSERT INTO audit_events (occurred_at, actor_kind, actor_id, entity, entity_id, action,
                          from_status, to_status, details)
VALUES (:now, 'user', :caller, 'reservation', :id, 'move', :from_status, :status, :details)
"""
REVOKE_CODES = """
UPDATE access_codes SET revoked_at = :now WHERE reservation_id = :id AND revoked_at IS NULL
"""
# The live code's window follows the booking, unless an equal live code of the
# space holds the new window (then the move draws a fresh code).
MOVE_CODE_WINDOW = """
UPDATE access_codes SET valid_from = :valid_from, valid_until = :valid_until
WHERE reservation_id = :id AND revoked_at IS NULL
  AND NOT EXISTS (
    SELECT 1 FROM access_codes o
    WHERE o.space_id = access_codes.space_id AND o.lookup = access_codes.lookup
      AND o.revoked_at IS NULL AND o.id <> access_codes.id
      AND o.valid_from < :valid_until AND o.valid_until > :valid_from)
"""
INSERT_MOVE_KEY = """
INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body,
                              created_at)
VALUES (:caller, :key, :request_hash, 200, :body, :now)
"""


def _move(
    db: sqlite3.Connection, codes: CodeBook, request: MoveRequest, guard: OverlapGuard
) -> Answer:
    move = _plan_move(db, codes, request)
    if isinstance(move, StoredAnswer):
        assert request.key is not None
        return booking.replay(move, request.key)
    if guard.delay_seconds:  # tests: a slow decision, still under the lock
        time.sleep(guard.delay_seconds)
    return _write_move(db, codes, move)


def _plan_move(
    db: sqlite3.Connection, codes: CodeBook, request: MoveRequest
) -> MovePlan | StoredAnswer:
    """The move decided, or the caller's stored answer for its key."""
    key = request.key
    if key is not None:
        stored = stored_answer(db, request.caller_id, key.key)
        if stored is not None:
            if not stored.expired(request.now):
                return stored
            db.execute(FORGET_KEY, {"user": request.caller_id, "key": key.key})
    target = {"id": request.reservation_id, "caller": request.caller_id}
    row = named(db.execute(MOVE_TARGET, target))
    current = moves.check_movable(_current(row), request.now)
    assert row is not None  # else not movable: NotFound
    inner = moves.booking_request(current, request.change, request.now)
    snapshot, _ = _read(db, inner, exclude=current.id)
    decision = rules.decide(snapshot, inner.wanted, request.now)
    return moves.plan(request, current, decision, codes, inner, has_code=bool(row["coded"]))


def _current(row: dict[str, Any] | None) -> Current | None:
    """``MOVE_TARGET``'s booking, if the caller may move it."""
    if row is None:
        return None
    return Current(
        id=row["id"],
        status=ReservationStatus(row["status"]),
        user_id=row["user_id"],
        organization_id=row["organization_id"],
        space_id=row["space_id"],
        start=instant(row["starts_at"]),
        end=instant(row["ends_at"]),
        attendees=row["attendees"],
        purpose=row["purpose"],
        created_at=instant(row["created_at"]),
        cancel_before_minutes=row["cancel_before_minutes"],
        modify_before_minutes=row["modify_before_minutes"],
    )


def _write_move(db: sqlite3.Connection, codes: CodeBook, move: MovePlan) -> Answer:
    plan, current, request = move.booking, move.current, move.request
    decision, wanted = plan.decision, plan.wanted
    values: dict[str, object] = {
        "id": current.id,
        "caller": request.caller_id,
        "space": wanted.space_id,
        "user": current.user_id,
        "start": stamp(wanted.interval.start),
        "end": stamp(wanted.interval.end),
        "attendees": wanted.attendees,
        "purpose": plan.request.purpose,
        "status": decision.status.value,
        "exclusive": decision.space.exclusive,
        "from_status": current.status.value,
        "details": move.details(),
        "now": stamp(request.now),
        "center": decision.space.center_id,
        "district": decision.space.center_district,
    }
    if db.execute(MOVE_RESERVATION, values).rowcount != 1:
        raise ConcurrentUpdate()  # only without the guard: changed since it was read
    db.execute(MOVE_AUDIT, values)
    move = _move_code(db, codes, move, values)
    for told, statement in ((move.told_booker(), TELL_BOOKER), (move.told_staff(), TELL_STAFF)):
        if told is not None:
            db.execute(
                statement,
                {
                    **values,
                    "told_kind": told.kind.value,
                    "told_title": told.title,
                    "told_body": told.body,
                    "told_fields": told.fields,
                },
            )
    db.execute(HOOK, values | plan.hooked(current.id, WebhookEvent.reservation_moved))
    body = move.body()
    if request.key is not None:
        key = {"key": request.key.key, "request_hash": request.key.request_hash}
        db.execute(INSERT_MOVE_KEY, {**values, **key, "body": body.decode()})
    return Booked(body)


def _move_code(
    db: sqlite3.Connection, codes: CodeBook, move: MovePlan, values: dict[str, object]
) -> MovePlan:
    """The door code follows the move: its window moved, a fresh one, or none."""
    code = move.booking.code
    if move.code_change == "window":
        assert code is not None
        window = {"valid_from": stamp(code.valid_from), "valid_until": stamp(code.valid_until)}
        if db.execute(MOVE_CODE_WINDOW, {**values, **window}).rowcount == 1:
            return move
        move = move.with_fresh_code(codes)
    db.execute(REVOKE_CODES, values)
    if move.code_change == "fresh":
        _insert_code(db, codes, move.booking, values)
    return move
