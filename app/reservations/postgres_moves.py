"""Moving a booking on PostgreSQL (app/reservations/moves.py): three statements.

The first reads the booking (if the caller may move it) and the caller's
stored answer for the key; the second is the booking's snapshot read
(``postgres.READ``) of the new time with the booking left out of the
holders; the third claims the key, runs ``zhendi_booking_guard`` with
``p_exclude`` = the booking (so neither holders nor quota use count it) and,
only if it agreed, UPDATEs the same row, records the move, moves or replaces
its door code and tells the booker (and staff, for a move back to pending).
A refusal raises inside the guard, so the statement writes nothing.
"""

import asyncio

import asyncpg

from app.access.codes import DRAWS, CodeBook
from app.core.db import OverlapGuard
from app.core.errors import RETRYABLE_SQLSTATES, ConcurrentUpdate
from app.core.sql import Statement
from app.models import ReservationStatus, WebhookEvent
from app.notifications import outbox
from app.quotas.rules import week_of
from app.reservations import booking, moves, rules
from app.reservations.booking import Answer, Booked
from app.reservations.moves import Current, MovePlan, MoveRequest
from app.reservations.postgres_read import (
    FORGET_EXPIRED_KEY,
    READ_EXCLUDING,
    STORED_ANSWER,
    read_values,
    stored_in,
)
from app.reservations.postgres_read import snapshot as _snapshot
from app.reservations.postgres_read import stored as _stored
from app.reservations.postgres_read import taken as _taken
from app.reservations.postgres_sql import (
    _CODE,
    CODES_UNIQUE_LIVE,
    GUARD_REFUSED,
    RESERVATIONS_NO_OVERLAP,
    code_values,
    guard_values,
)
from app.webhooks import outbox as webhooks

# The booking to move, if the caller may (its booker, or a member of its
# organization), and the caller's stored answer for the key.
MOVE_TARGET = Statement.of(
    """
SELECT r.id, r.status, r.user_id, r.organization_id, r.space_id, r.starts_at, r.ends_at,
  r.attendees, r.purpose, r.created_at, s.cancel_before_minutes, s.modify_before_minutes,
  EXISTS (SELECT FROM access_codes a WHERE a.reservation_id = r.id AND a.revoked_at IS NULL)
    AS coded,
  k.request_hash, k.response_status, k.response_body::text AS response_body,
  k.created_at AS answered_at
FROM (SELECT 1) one
LEFT JOIN reservations r ON r.id = :id AND (
  r.user_id = :caller OR EXISTS (
    SELECT FROM organization_members m
    WHERE m.organization_id = r.organization_id AND m.user_id = :caller))
LEFT JOIN spaces s ON s.id = r.space_id
LEFT JOIN idempotency_keys k ON k.user_id = :caller AND k.key = :key
"""
)
# The booking's snapshot of the new time, the moved booking left out of the holders.
MOVE_READ = READ_EXCLUDING

_MOVE_GUARDS = {
    "function": """{claim}guard AS (
  SELECT zhendi_booking_guard(
    :space, :start, :end, :attendees, :user, :id, :organization, :quota_metrics,
    :quota_spaces, :quota_centers, :quota_limits, :quota_amounts, :week_start, :week_end, :now)
  {from_claimed}
), """,
    "none": """{claim}guard AS (SELECT true {from_claimed}), """,
}
_MOVE_CLAIM = """claimed AS (
  INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body,
                                created_at)
  VALUES (:caller, :key, :request_hash, 200, :body::json, :now)
  ON CONFLICT (user_id, key) DO NOTHING
  RETURNING id
), """
# The same row, moved only if it is still what the move was decided on.
_MOVE = """
WITH {guard}moved AS (
  UPDATE reservations r
  SET space_id = :space, starts_at = :start, ends_at = :end, attendees = :attendees,
      purpose = :purpose, status = :status, status_reason = NULL, exclusive = :exclusive,
      updated_at = :now
  FROM guard
  WHERE r.id = :id AND r.status = :from_status AND r.space_id = :from_space
    AND r.starts_at = :from_start AND r.ends_at = :from_end
  RETURNING r.id
), logged AS (
  INSERT INTO audit_events (occurred_at, actor_kind, actor_id, entity, entity_id, action,
                            from_status, to_status, details)
  SELECT :now, 'user', :caller, 'reservation', moved.id, 'move', :from_status, :status,
         :details::json
  FROM moved
){code}, told AS ({told}
){staff_told}, hooked AS ({hooked}
)
SELECT count(*) FROM moved
"""
_REVOKE = """, revoked AS (
  UPDATE access_codes a SET revoked_at = :now
  FROM moved WHERE a.reservation_id = moved.id AND a.revoked_at IS NULL
)"""
_MOVE_CODES = {
    "window": """, windowed AS (
  UPDATE access_codes a SET valid_from = :valid_from, valid_until = :valid_until
  FROM moved WHERE a.reservation_id = moved.id AND a.revoked_at IS NULL
)""",
    "fresh": _REVOKE + _CODE.replace("booked", "moved"),
    "revoke": _REVOKE,
}


def _move_statement(keyed: bool, code: str, guard: str, to_staff: bool) -> Statement:
    staff = outbox.tell_staff(
        reservation_id="moved.id", fields=":staff_told_fields::json", source="moved CROSS JOIN "
    ).replace(":told_", ":staff_told_")
    return Statement.of(
        _MOVE.format(
            guard=_MOVE_GUARDS[guard].format(
                claim=_MOVE_CLAIM if keyed else "",
                from_claimed="FROM claimed" if keyed else "",
            ),
            code=_MOVE_CODES[code],
            told=outbox.tell_booker(
                reservation_id="moved.id", fields=":told_fields::json", source="FROM moved"
            ),
            staff_told=f", staff_told AS ({staff}\n)" if to_staff else "",
            hooked=webhooks.enqueue_sql(data=":hook_data::json", source="moved CROSS JOIN "),
        )
    )


# (keyed, code change, guard, told staff) -> statement
MOVES = {
    (keyed, code, guard, to_staff): _move_statement(keyed, code, guard, to_staff)
    for keyed in (True, False)
    for code in _MOVE_CODES
    for guard in _MOVE_GUARDS
    for to_staff in (True, False)
}


async def move(
    driver: asyncpg.Connection, codes: CodeBook, request: MoveRequest, guard: OverlapGuard
) -> Answer:
    key = request.key
    row = await driver.fetchrow(
        MOVE_TARGET.text,
        *MOVE_TARGET.args(
            {"id": request.reservation_id, "caller": request.caller_id, "key": key and key.key}
        ),
    )
    assert row is not None
    stored = stored_in(row)
    if key is not None and stored is not None:
        if not stored.expired(request.now):
            return booking.replay(stored, key)
        await driver.execute(FORGET_EXPIRED_KEY, request.caller_id, key.key, request.now)
    current = moves.check_movable(_current(row), request.now)
    inner = moves.booking_request(current, request.change, request.now)
    wanted = inner.wanted
    read = await driver.fetchrow(
        MOVE_READ.text,
        *MOVE_READ.args(read_values(wanted, inner.user_id, exclude=current.id)),
    )
    snapshot, _, _ = _snapshot(read, inner.user_id, wanted.interval.start, wanted.interval.end)
    decision = rules.decide(snapshot, wanted, request.now)
    move = moves.plan(request, current, decision, codes, inner, has_code=bool(row["coded"]))
    if guard.delay_seconds:
        await asyncio.sleep(guard.delay_seconds)
    for _ in range(DRAWS):
        try:
            return await _write_move(driver, move, guard)
        except asyncpg.ExclusionViolationError as exc:
            if exc.constraint_name != CODES_UNIQUE_LIVE:
                raise
            move = move.with_fresh_code(codes)  # the code clashed with a live one
    raise AssertionError("no door code without a clash in 20 draws")  # pragma: no cover


def _current(row: asyncpg.Record) -> Current | None:
    """``MOVE_TARGET``'s booking, if the caller may move it."""
    if row["id"] is None:
        return None
    return Current(
        id=row["id"],
        status=ReservationStatus(row["status"]),
        user_id=row["user_id"],
        organization_id=row["organization_id"],
        space_id=row["space_id"],
        start=row["starts_at"],
        end=row["ends_at"],
        attendees=row["attendees"],
        purpose=row["purpose"],
        created_at=row["created_at"],
        cancel_before_minutes=row["cancel_before_minutes"],
        modify_before_minutes=row["modify_before_minutes"],
    )


async def _write_move(driver: asyncpg.Connection, move: MovePlan, guard: OverlapGuard) -> Answer:
    plan, current, request = move.booking, move.current, move.request
    decision, wanted, key, code = plan.decision, plan.wanted, request.key, plan.code
    week = week_of(wanted.interval.start)
    body = move.body()
    told, staff = move.told_booker(), move.told_staff()
    values: dict[str, object] = {
        **guard_values(decision, wanted, week, request.now, guard),
        **code_values(code),
        "id": current.id,
        "caller": request.caller_id,
        "user": current.user_id,
        "purpose": plan.request.purpose,
        "from_status": current.status.value,
        "from_space": current.space_id,
        "from_start": current.start,
        "from_end": current.end,
        "details": move.details(),
        "center": decision.space.center_id,
        "district": decision.space.center_district,
        "told_kind": told.kind.value,
        "told_title": told.title,
        "told_body": told.body,
        "told_fields": told.fields,
        **plan.hooked(current.id, WebhookEvent.reservation_moved),
    }
    if staff is not None:
        values |= {
            "staff_told_kind": staff.kind.value,
            "staff_told_title": staff.title,
            "staff_told_body": staff.body,
            "staff_told_fields": staff.fields,
        }
    if key is not None:
        values |= {"key": key.key, "request_hash": key.request_hash, "body": body.decode()}
    guarded = "function" if guard.lock else "none"
    statement = MOVES[key is not None, move.code_change, guarded, staff is not None]
    try:
        written = await driver.fetchval(statement.text, *statement.args(values))
    except asyncpg.ExclusionViolationError as exc:
        if exc.constraint_name == RESERVATIONS_NO_OVERLAP:
            raise await _taken(driver, wanted) from None
        raise
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == GUARD_REFUSED:
            raise booking.refused(plan, exc.message, exc.detail) from None
        if exc.sqlstate in RETRYABLE_SQLSTATES:
            raise ConcurrentUpdate() from None
        raise
    if written:
        return Booked(body)
    stored = await driver.fetchrow(STORED_ANSWER, request.caller_id, key.key) if key else None
    if stored is None:  # the booking changed since it was read (moved, cancelled…)
        raise ConcurrentUpdate()
    assert key is not None  # nothing was moved: the key was claimed by a duplicate
    return booking.replay(_stored(stored), key)
