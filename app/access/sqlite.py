"""The lock's question on SQLite: one hop to the writer thread, where reading,
deciding and writing run inside ``BEGIN IMMEDIATE`` (``app/core/sqlite.py``)."""

import sqlite3
from datetime import date, datetime
from typing import cast

from app.access import alerts
from app.access.alerts import KeypadAlert, Names
from app.access.codes import CodeBook
from app.access.doors import InvalidDeviceKey
from app.access.keypad import FAILURES, counting_since
from app.access.verify import Candidate, DoorSnapshot, Verdict, decide, key_matches
from app.core.sqlite import SqliteWorker, instant, stamp
from app.models import CODE_LIVE_STATUSES, sql_list
from app.webhooks import outbox as webhooks

FAILURE_VALUES = ", ".join(f"'{outcome.value}'" for outcome in FAILURES)

READ = """
SELECT d.space_id, d.device_key_hash, k.locked_until, coalesce(k.version, 0), k.cleared_at,
  k.lockout_day, coalesce(k.lockouts_that_day, 0)
FROM doors d LEFT JOIN keypads k ON k.space_id = d.space_id
WHERE d.id = :door AND d.is_active
"""
FAILURES_SINCE = f"""
SELECT count(*) FROM door_attempts a JOIN doors o ON o.id = a.door_id
WHERE o.space_id = :space AND a.method = 'code' AND a.outcome IN ({FAILURE_VALUES})
  AND a.at > :since
"""
CANDIDATES = f"""
SELECT r.id, c.valid_from, c.valid_until, r.status = 'checked_in'
FROM access_codes c JOIN reservations r ON r.id = c.reservation_id
WHERE c.space_id = :space AND c.lookup = :lookup AND c.revoked_at IS NULL
  AND r.status IN ({sql_list(CODE_LIVE_STATUSES)})
"""
LOG = """
INSERT INTO door_attempts (door_id, at, outcome, method, reservation_id)
VALUES (:door, :now, :outcome, 'code', :reservation)
"""
COUNT_FAILURE = """
INSERT INTO keypads (space_id, locked_until, version, lockout_day, lockouts_that_day)
VALUES (:space, :locked_until, 1, :lockout_day, :lockouts)
ON CONFLICT (space_id) DO UPDATE
  SET locked_until = coalesce(excluded.locked_until, keypads.locked_until),
      lockout_day = coalesce(excluded.lockout_day, keypads.lockout_day),
      lockouts_that_day = CASE WHEN excluded.lockout_day IS NULL
                               THEN keypads.lockouts_that_day
                               ELSE excluded.lockouts_that_day END,
      version = keypads.version + 1
"""
TELL_STAFF = alerts.tell_staff(fields=":told_fields")
HOOK = webhooks.enqueue_sql(data=":hook_data")
CHECK_IN = """
UPDATE reservations SET status = 'checked_in', checked_in_at = :now, updated_at = :now
WHERE id = :reservation AND status = 'confirmed'
"""
AUDIT_CHECK_IN = """
INSERT INTO audit_events (occurred_at, actor_kind, actor_id, entity, entity_id, action,
                          from_status, to_status, reason)
VALUES (:now, 'system', NULL, 'reservation', :reservation, 'check_in', 'confirmed',
        'checked_in', 'door unlocked') -- app/audit/reasons.py: DOOR_UNLOCKED
"""


class SqliteDoors:
    def __init__(self, writer: SqliteWorker, codes: CodeBook) -> None:
        self._writer = writer
        self._codes = codes

    async def verify(self, door_id: int, key_hash: str, code: str, now: datetime) -> Verdict:
        return await self._writer.transaction(
            lambda db: _verify(db, self._codes, door_id, key_hash, code, now)
        )


def _verify(
    db: sqlite3.Connection, codes: CodeBook, door_id: int, key_hash: str, code: str, now: datetime
) -> Verdict:
    snapshot = _read(db, codes, door_id, code, now)
    if not key_matches(snapshot, key_hash):
        raise InvalidDeviceKey()
    assert snapshot is not None
    verdict = decide(snapshot, now)
    values: dict[str, object] = {
        "door": door_id,
        "space": snapshot.space_id,
        "now": stamp(now),
        "outcome": verdict.outcome.value,
        "reservation": verdict.reservation_id,
    }
    if verdict.failure:
        _count_failure(db, verdict, values)
    elif verdict.check_in and db.execute(CHECK_IN, values).rowcount:
        db.execute(AUDIT_CHECK_IN, values)
    db.execute(LOG, values)
    return verdict


def _count_failure(db: sqlite3.Connection, verdict: Verdict, values: dict[str, object]) -> None:
    """Move the keypad on; the lockout that makes the day's more than three tells staff."""
    locked_until, day = verdict.locked_until, verdict.lockout_day
    db.execute(
        COUNT_FAILURE,
        {
            **values,
            "locked_until": stamp(locked_until) if locked_until else None,
            "lockout_day": day.isoformat() if day else None,
            "lockouts": verdict.lockouts_that_day,
        },
    )
    if day is None:  # no lockout starts
        return
    names = Names(*db.execute(alerts.NAMES, values).fetchone())
    door_id, space_id = cast(int, values["door"]), cast(int, values["space"])
    hooked = alerts.locked_out(names, door_id=door_id, space_id=space_id, locked_until=locked_until)
    db.execute(HOOK, values | hooked)
    if verdict.alerts_staff:
        alert = KeypadAlert.of(names, day, verdict.lockouts_that_day)
        db.execute(TELL_STAFF, values | alert.values())


def _read(
    db: sqlite3.Connection, codes: CodeBook, door_id: int, code: str, now: datetime
) -> DoorSnapshot | None:
    row = db.execute(READ, {"door": door_id}).fetchone()
    if row is None:
        return None
    space_id, key_hash, locked_until, version, cleared_at, lockout_day, lockouts = row
    since = counting_since(now, instant(cleared_at) if cleared_at else None)
    values = {"space": space_id, "since": stamp(since), "lookup": codes.lookup(space_id, code)}
    failures = db.execute(FAILURES_SINCE, values).fetchone()[0]
    candidates = tuple(
        Candidate(reservation, instant(start), instant(end), bool(checked_in))
        for reservation, start, end, checked_in in db.execute(CANDIDATES, values)
    )
    return DoorSnapshot(
        door_id=door_id,
        space_id=space_id,
        key_hash=key_hash,
        locked_until=instant(locked_until) if locked_until else None,
        keypad_version=version,
        failures=failures,
        candidates=candidates,
        lockout_day=date.fromisoformat(lockout_day) if lockout_day else None,
        lockouts_that_day=lockouts,
    )
