"""The lock's question on PostgreSQL: one statement to read, one to write, on a
bare asyncpg connection, without a transaction around them."""

from datetime import UTC, datetime

import asyncpg

from app.access import alerts
from app.access.alerts import KeypadAlert, Names
from app.access.codes import CodeBook
from app.access.doors import InvalidDeviceKey
from app.access.keypad import FAILURES, counting_since
from app.access.verify import ATTEMPTS, Candidate, DoorSnapshot, Verdict, decide, key_matches
from app.core.db import Database
from app.core.sql import Statement
from app.models import CODE_LIVE_STATUSES, AttemptOutcome, sql_list
from app.webhooks import outbox as webhooks

FAILURE_VALUES = ", ".join(f"'{outcome.value}'" for outcome in FAILURES)

DOOR = Statement.of("SELECT space_id FROM doors WHERE id = :door AND is_active")
# The codes are found by the btree on (space_id, lookup). OFFSET 0 keeps
# ``revoked_at IS NULL`` out of that scan: with it, the planner may take the
# partial GiST index of the exclusion constraint (costed alike, 60 times
# slower to search by a text key) once the statistics are fresh.
READ = Statement.of(
    f"""
SELECT d.device_key_hash, k.locked_until, coalesce(k.version, 0), k.lockout_day,
  coalesce(k.lockouts_that_day, 0),
  (SELECT count(*) FROM door_attempts a JOIN doors o ON o.id = a.door_id
   WHERE o.space_id = d.space_id AND a.method = 'code' AND a.outcome IN ({FAILURE_VALUES})
     AND a.at > greatest(:since, k.cleared_at)),
  ARRAY(SELECT ARRAY[r.id, extract(epoch FROM c.valid_from), extract(epoch FROM c.valid_until),
                     (r.status = 'checked_in')::int]::float8[]
        FROM (SELECT reservation_id, valid_from, valid_until, revoked_at FROM access_codes
              WHERE space_id = d.space_id AND lookup = :lookup OFFSET 0) c
        JOIN reservations r ON r.id = c.reservation_id
        WHERE c.revoked_at IS NULL AND r.status IN ({sql_list(CODE_LIVE_STATUSES)}))
FROM doors d LEFT JOIN keypads k ON k.space_id = d.space_id
WHERE d.id = :door AND d.is_active
"""
)
LOG = """
logged AS (
  INSERT INTO door_attempts (door_id, at, outcome, method, reservation_id)
  SELECT :door, :now, :outcome, 'code', :reservation {source}
)"""
# A wrong code: the keypad moves on only from the version the decision saw,
# counting the day's lockouts when it starts one.
PAD = """
WITH pad AS (
  INSERT INTO keypads (space_id, locked_until, version, lockout_day, lockouts_that_day)
  VALUES (:space, :locked_until, 1, :lockout_day, :lockouts)
  ON CONFLICT (space_id) DO UPDATE
    SET locked_until = coalesce(excluded.locked_until, keypads.locked_until),
        lockout_day = coalesce(excluded.lockout_day, keypads.lockout_day),
        lockouts_that_day = CASE WHEN excluded.lockout_day IS NULL
                                 THEN keypads.lockouts_that_day
                                 ELSE excluded.lockouts_that_day END,
        version = keypads.version + 1
    WHERE keypads.version = :version
  RETURNING 1
),"""
FAILED = Statement.of(PAD + LOG.format(source="FROM pad") + "\nSELECT count(*) FROM pad")
# … one that starts a lockout: the door.locked_out webhooks, only if the swap won …
HOOKED = (
    ", hooked AS ("
    + webhooks.enqueue_sql(data=":hook_data::json", source="pad CROSS JOIN ")
    + "\n)"
)
FAILED_LOCKING = Statement.of(
    PAD + LOG.format(source="FROM pad") + HOOKED + "\nSELECT count(*) FROM pad"
)
# … and the lockout that tells staff too: their notifications only if the swap won.
FAILED_TELLING_STAFF = Statement.of(
    PAD
    + LOG.format(source="FROM pad")
    + HOOKED
    + ", told AS ("
    + alerts.tell_staff(fields=":told_fields::json", source="pad CROSS JOIN ")
    + "\n)\nSELECT count(*) FROM pad"
)
NAMES = Statement.of(alerts.NAMES)
# A right code: the first unlock of a confirmed booking checks it in, if it is
# still confirmed (a no-show release may have come first).
CHECKED_IN = Statement.of(
    """
WITH moved AS (
  UPDATE reservations SET status = 'checked_in', checked_in_at = :now, updated_at = :now
  WHERE id = :reservation AND status = 'confirmed'
  RETURNING id
), audited AS (
  INSERT INTO audit_events (occurred_at, actor_kind, actor_id, entity, entity_id, action,
                            from_status, to_status, reason)
  SELECT :now, 'system', NULL, 'reservation', moved.id, 'check_in', 'confirmed', 'checked_in',
         'door unlocked' -- app/audit/reasons.py: DOOR_UNLOCKED
  FROM moved
),"""
    + LOG.format(source="FROM moved")
    + "\nSELECT count(*) FROM moved"
)
# Already checked in, or locked out: only the log.
LOGGED = Statement.of("WITH " + LOG.format(source="") + "\nSELECT 1")


class PostgresDoors:
    def __init__(self, database: Database, codes: CodeBook) -> None:
        self._database = database
        self._codes = codes
        self._spaces: dict[int, int] = {}  # door -> space: a door never moves

    async def verify(self, door_id: int, key_hash: str, code: str, now: datetime) -> Verdict:
        async with self._database.driver() as driver:
            space_id = await self._space_of(driver, door_id)
            if space_id is None:
                key_matches(None, key_hash)  # the same work as for a known door
                raise InvalidDeviceKey()
            lookup = self._codes.lookup(space_id, code)
            for _ in range(ATTEMPTS):
                snapshot = await _read(driver, door_id, space_id, lookup, now)
                if not key_matches(snapshot, key_hash):
                    raise InvalidDeviceKey()
                assert snapshot is not None
                verdict = decide(snapshot, now)
                if await _write(driver, snapshot, verdict, now):
                    return verdict
        return Verdict(AttemptOutcome.locked_out, locked_until=now)  # pragma: no cover

    async def _space_of(self, driver: asyncpg.Connection, door_id: int) -> int | None:
        space_id = self._spaces.get(door_id)
        if space_id is None:
            space_id = await driver.fetchval(DOOR.text, *DOOR.args({"door": door_id}))
            if space_id is not None:
                self._spaces[door_id] = space_id
        return space_id


async def _read(
    driver: asyncpg.Connection, door_id: int, space_id: int, lookup: str, now: datetime
) -> DoorSnapshot | None:
    values = {"door": door_id, "lookup": lookup, "since": counting_since(now, None)}
    row = await driver.fetchrow(READ.text, *READ.args(values))
    if row is None:
        return None
    key_hash, locked_until, version, lockout_day, lockouts, failures, candidates = row
    return DoorSnapshot(
        door_id=door_id,
        space_id=space_id,
        key_hash=key_hash,
        locked_until=locked_until,
        keypad_version=version,
        failures=failures,
        candidates=tuple(
            Candidate(int(reservation), _at(start), _at(end), bool(checked_in))
            for reservation, start, end, checked_in in candidates
        ),
        lockout_day=lockout_day,
        lockouts_that_day=lockouts,
    )


async def _write(
    driver: asyncpg.Connection, snapshot: DoorSnapshot, verdict: Verdict, now: datetime
) -> bool:
    """Log and apply the verdict; False if what it was decided on changed meanwhile."""
    values: dict[str, object] = {
        "door": snapshot.door_id,
        "now": now,
        "outcome": verdict.outcome.value,
        "reservation": verdict.reservation_id,
    }
    if verdict.failure:
        statement = FAILED
        values |= {
            "space": snapshot.space_id,
            "locked_until": verdict.locked_until,
            "lockout_day": verdict.lockout_day,
            "lockouts": verdict.lockouts_that_day,
            "version": snapshot.keypad_version,
        }
        if verdict.lockout_day is not None:  # this one starts a lockout
            names = await _names(driver, snapshot.door_id)
            statement = FAILED_LOCKING
            values |= alerts.locked_out(
                names,
                door_id=snapshot.door_id,
                space_id=snapshot.space_id,
                locked_until=verdict.locked_until,
            )
            if verdict.alerts_staff:
                statement = FAILED_TELLING_STAFF
                alert = KeypadAlert.of(names, verdict.lockout_day, verdict.lockouts_that_day)
                values |= alert.values()
    elif verdict.check_in:
        statement = CHECKED_IN
    else:
        statement = LOGGED
    return bool(await driver.fetchval(statement.text, *statement.args(values)))


async def _names(driver: asyncpg.Connection, door_id: int) -> Names:
    """What a lockout's webhook and staff's alert name (read only when a lockout starts)."""
    row = await driver.fetchrow(NAMES.text, *NAMES.args({"door": door_id}))
    assert row is not None
    return Names(*row)


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
