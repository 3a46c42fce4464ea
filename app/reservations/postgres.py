"""The booking pipeline's statements on PostgreSQL: one to read, one to write.

Both run on a bare asyncpg connection from ``Database.driver()``, with no
transaction around them. The read is a snapshot of everything ``decide``
needs; the write is one statement that runs the guard (migration 0007) and,
if it agreed, inserts the reservation, its audit event, its door code and the
Idempotency-Key's claim, which commit together or not at all.
"""

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson

from app.access.codes import DRAWS, CodeBook
from app.core.db import Database
from app.core.errors import RETRYABLE_SQLSTATES, ConcurrentUpdate, NotFound
from app.core.sql import Statement
from app.holidays import sql as holidays
from app.holidays.days import plan_for
from app.holidays.sql import overrides
from app.models import HOLDERS_OVERLAPPING, QuotaMetric
from app.notifications import outbox
from app.quotas.rules import QuotaUse, quota_amount, week_of
from app.reservations import booking, rules
from app.reservations.booking import Answer, Booked, BookingRequest, Plan, StoredAnswer
from app.reservations.rules import (
    Booker,
    Decision,
    Holder,
    OrganizationView,
    Snapshot,
    SpaceView,
    Wanted,
)
from app.spaces.calendar import SPACE, Interval, WeeklyWindow

GUARD_REFUSED = "ZH409"  # raised by zhendi_booking_guard (migration 0007)
RESERVATIONS_NO_OVERLAP = "reservations_no_overlap"
CODES_UNIQUE_LIVE = "access_codes_unique_live"

HOLDERS = "FROM reservations r WHERE " + HOLDERS_OVERLAPPING.format(space="s.id")

# From users, so that an unknown caller is told so before an unknown space.
READ = Statement.of(
    f"""
SELECT u.is_active, u.real_name_verified,
  (SELECT max(su.until) FROM suspensions su
   WHERE su.user_id = u.id AND su.center_id = s.center_id AND su.lifted_at IS NULL),
  s.id, s.center_id, s.name, s.booking_mode = 'exclusive', s.capacity, s.slot_minutes,
  s.min_minutes, s.max_minutes, s.advance_days, s.open_24h, s.requires_approval,
  s.requires_real_name, s.requires_organization, s.release_minute,
  ARRAY(SELECT ARRAY[h.weekday, h.opens_minute, h.closes_minute]
        FROM opening_hours h WHERE h.space_id = s.id),
  EXISTS (SELECT FROM doors d WHERE d.space_id = s.id AND d.is_active),
  (SELECT c.reason FROM closures c
   WHERE c.space_id = s.id AND c.starts_at < :end AND c.ends_at > :start LIMIT 1),
  ARRAY(SELECT ARRAY[extract(epoch FROM r.starts_at), extract(epoch FROM r.ends_at),
                     r.attendees, r.user_id]::float8[] {HOLDERS}),
  o.id, o.name, o.status = 'verified',
  EXISTS (SELECT FROM organization_members m WHERE m.organization_id = o.id AND m.user_id = u.id),
  (SELECT json_agg(json_build_array(q.metric, q.space_id, q.center_id, q.max_value))
   FROM quota_rules q
   WHERE (q.space_id = s.id OR q.center_id = s.center_id)
     AND q.subject = CASE WHEN :organization::integer IS NULL THEN 'user'
                          ELSE 'organization' END)::text,
  nextval('reservations_id_seq'),
  k.request_hash, k.response_status, k.response_body::text, k.created_at,
  c.name, c.address, c.district, s.holiday_policy,
  {holidays.POSTGRES}
FROM users u
LEFT JOIN spaces s ON s.id = :space AND s.is_active
LEFT JOIN centers c ON c.id = s.center_id
LEFT JOIN organizations o ON o.id = :organization
LEFT JOIN idempotency_keys k ON k.user_id = u.id AND k.key = :key
WHERE u.id = :user
"""
)

# How the write keeps bookings apart (app/reservations/store.py):
# - "function": zhendi_booking_guard locks the space (and the quota subject)
#   and re-checks holders and quota use; a refusal raises, so nothing of the
#   statement is written. It runs once the key is claimed: a duplicate waits
#   on the claim for the first's statement, then claims nothing, and replays.
# - "lock": an exclusive space without quota rules needs no re-check: the lock
#   on its row queues same-space writers and the exclusion constraint refuses
#   any overlap (23P01). The key is claimed once the lock is held.
# - "none": only the tests' negative controls.
_GUARDS = {
    "function": """{claim}guard AS (
  SELECT zhendi_booking_guard(
    :space, :start, :end, :attendees, :user, NULL, :organization, :quota_metrics,
    :quota_spaces, :quota_centers, :quota_limits, :quota_amounts, :week_start, :week_end, :now)
  {from_claimed}
), """,
    "lock": """guard AS (
  SELECT id FROM spaces WHERE id = :space AND is_active FOR UPDATE
), {claim_after}""",
    "none": """{claim}guard AS (SELECT true {from_claimed}), """,
}
_CLAIM = """claimed AS (
  INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body,
                                created_at)
  {claim_source}
  ON CONFLICT (user_id, key) DO NOTHING
  RETURNING id
), """
_WRITE = """
WITH {guard}booked AS (
  INSERT INTO reservations (id, space_id, user_id, organization_id, starts_at, ends_at,
                            exclusive, status, purpose, attendees, created_at, updated_at)
  SELECT :id, :space, :user, :organization, :start, :end, :exclusive, :status, :purpose,
         :attendees, :now, :now
  FROM {source}
  RETURNING id
), logged AS (
  INSERT INTO audit_events (occurred_at, actor_kind, actor_id, entity, entity_id, action,
                            to_status)
  SELECT :now, 'user', :user, 'reservation', booked.id, 'create', :status FROM booked
){code}, told AS ({told}
)
SELECT count(*) FROM booked
"""
_CODE = """, coded AS (
  INSERT INTO access_codes (reservation_id, space_id, lookup, code_sealed, key_version,
                            valid_from, valid_until, issued_at)
  SELECT booked.id, :space, :lookup, :sealed, :key_version, :valid_from, :valid_until, :now
  FROM booked
)"""
_KEY_VALUES = "(:user, :key, :request_hash, 201, :body::json, :now)"


def _write_statement(keyed: bool, coded: bool, guard: str, to_staff: bool) -> Statement:
    lock_first = guard == "lock"
    claim = _CLAIM.format(
        claim_source=f"SELECT {_KEY_VALUES[1:-1]} FROM guard"
        if lock_first
        else f"VALUES {_KEY_VALUES}"
    )
    guarding = _GUARDS[guard].format(
        claim=claim if keyed and not lock_first else "",
        claim_after=claim if keyed and lock_first else "",
        from_claimed="FROM claimed" if keyed else "",
    )
    return Statement.of(
        _WRITE.format(
            guard=guarding,
            source="claimed" if keyed and lock_first else "guard",
            code=_CODE if coded else "",
            told=(outbox.tell_staff if to_staff else outbox.tell_booker)(
                reservation_id="booked.id",
                fields=":told_fields::json",
                source="booked CROSS JOIN " if to_staff else "FROM booked",
            ),
        )
    )


# (keyed, coded, guard, told staff) -> statement
WRITES = {
    (keyed, coded, guard, to_staff): _write_statement(keyed, coded, guard, to_staff)
    for keyed in (True, False)
    for coded in (True, False)
    for guard in _GUARDS
    for to_staff in (True, False)
}
FIRST_HOLDER = Statement.of(
    "SELECT r.starts_at, r.ends_at FROM reservations r WHERE "
    + HOLDERS_OVERLAPPING.format(space=":space")
    + " ORDER BY r.starts_at LIMIT 1"
)
STORED_ANSWER = """
SELECT request_hash, response_status, response_body::text, created_at
FROM idempotency_keys WHERE user_id = $1 AND key = $2
"""
FORGET_EXPIRED_KEY = (
    "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND created_at < $3"
)


class PostgresBookings:
    def __init__(self, database: Database, codes: CodeBook) -> None:
        self._database = database
        self._codes = codes

    async def book(self, request: BookingRequest) -> Answer:
        async with self._database.driver() as driver:
            return await _book(driver, self._codes, request)


async def _book(driver: asyncpg.Connection, codes: CodeBook, request: BookingRequest) -> Answer:
    wanted, key = request.wanted, request.key
    week = week_of(wanted.interval.start)
    row = await driver.fetchrow(
        READ.text,
        *READ.args(
            {
                "space": wanted.space_id,
                "user": request.user_id,
                "start": wanted.interval.start,
                "end": wanted.interval.end,
                "day_before": wanted.interval.start - timedelta(days=1),
                "key": key.key if key else None,
                "organization": wanted.organization_id,
            }
        ),
    )
    interval = wanted.interval
    snapshot, reservation_id, stored = _snapshot(row, request.user_id, interval.start, interval.end)
    if key is not None and stored is not None:
        if not stored.expired(request.now):
            return booking.replay(stored, key)
        await driver.execute(FORGET_EXPIRED_KEY, request.user_id, key.key, request.now)
    plan = booking.plan(request, rules.decide(snapshot, wanted, request.now), codes)
    if booking.GUARD.delay_seconds:
        await asyncio.sleep(booking.GUARD.delay_seconds)
    for _ in range(DRAWS):
        try:
            return await _write(driver, plan, reservation_id, week)
        except asyncpg.ExclusionViolationError as exc:
            if exc.constraint_name != CODES_UNIQUE_LIVE:
                raise
            plan = plan.with_fresh_code(codes)  # the code clashed with a live one
    raise AssertionError("no door code without a clash in 20 draws")  # pragma: no cover


async def _write(
    driver: asyncpg.Connection, plan: Plan, reservation_id: int, week: Interval
) -> Answer:
    request, decision, wanted = plan.request, plan.decision, plan.wanted
    uses, key, code = decision.quotas, request.key, plan.code
    body = plan.body(reservation_id)
    told = plan.told(reservation_id)
    values: dict[str, object] = {
        "space": wanted.space_id,
        "start": wanted.interval.start,
        "end": wanted.interval.end,
        "attendees": wanted.attendees,
        "user": request.user_id,
        "organization": wanted.organization_id,
        "quota_metrics": [use.metric.value for use in uses],
        "quota_spaces": [use.space_id for use in uses],
        "quota_centers": [use.center_id for use in uses],
        "quota_limits": [use.limit for use in uses],
        "quota_amounts": [quota_amount(use.metric, wanted.interval) for use in uses],
        "week_start": week.start,
        "week_end": week.end,
        "now": request.now,
        "id": reservation_id,
        "exclusive": decision.space.exclusive and booking.GUARD.exclusion_constraint,
        "status": decision.status.value,
        "purpose": request.purpose,
        "center": decision.space.center_id,
        "district": decision.space.center_district,
        "told_kind": told.kind.value,
        "told_title": told.title,
        "told_body": told.body,
        "told_fields": told.fields,
    }
    if key is not None:
        values |= {"key": key.key, "request_hash": key.request_hash, "body": body.decode()}
    if code is not None:
        values |= {
            "lookup": code.lookup,
            "sealed": code.sealed,
            "key_version": code.key_version,
            "valid_from": code.valid_from,
            "valid_until": code.valid_until,
        }
    statement = WRITES[key is not None, code is not None, _guard(decision), told.to_staff]
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
    stored = await driver.fetchrow(STORED_ANSWER, request.user_id, key.key) if key else None
    if stored is None:  # the space was closed to bookings since the read
        raise NotFound(SPACE)
    assert key is not None  # the guard agreed yet nothing was written: the key was taken
    return booking.replay(_stored(stored), key)


async def _taken(driver: asyncpg.Connection, wanted: Wanted) -> Exception:
    """The exclusion constraint refused the booking: name the holder it overlaps
    (the same answer the guard and ``decide`` give)."""
    values = {
        "space": wanted.space_id,
        "start": wanted.interval.start,
        "end": wanted.interval.end,
        "day_before": wanted.interval.start - timedelta(days=1),
    }
    row = await driver.fetchrow(FIRST_HOLDER.text, *FIRST_HOLDER.args(values))
    if row is None:  # released again meanwhile: say what was asked for
        return rules.slot_taken(wanted.interval.start, wanted.interval.end)
    return rules.slot_taken(row[0], row[1])


def _guard(decision: Decision) -> str:
    if not booking.GUARD.lock:
        return "none"
    if decision.space.exclusive and not decision.quotas:
        return "lock"
    return "function"


def _snapshot(
    row: asyncpg.Record | None, user_id: int, start: datetime, end: datetime
) -> tuple[Snapshot, int, StoredAnswer | None]:
    if row is None:
        return Snapshot(None, None, None, (), None, ()), 0, None
    (active, verified, suspended_until, space_id, center_id, name, exclusive, capacity, slot,
     min_minutes, max_minutes, advance, open_24h, requires_approval, requires_real_name,
     requires_organization, release_minute, hours, has_doors, closure, held, organization_id,
     organization_name, organization_verified, member, quotas, reservation_id,
     stored_hash, stored_status, stored_body, stored_at, center_name, center_address,
     district, policy, days) = row  # fmt: skip
    space = None
    if space_id is not None:
        space = SpaceView(
            space_id, center_id, name, exclusive, capacity, slot, min_minutes, max_minutes,
            advance, open_24h, tuple(WeeklyWindow(*window) for window in hours),
            requires_approval, requires_real_name, requires_organization, has_doors,
            release_minute, center_name, center_address, district,
            plan_for(start, end, overrides(days), district, center_id, policy),
        )  # fmt: skip
    organization = None
    if organization_id is not None:
        organization = OrganizationView(
            organization_id, organization_name, organization_verified, member
        )
    snapshot = Snapshot(
        booker=Booker(user_id, active, verified, suspended_until),
        space=space,
        closure=closure,
        holders=tuple(
            Holder(_at(start), _at(end), int(seats), int(user)) for start, end, seats, user in held
        ),
        organization=organization,
        quotas=tuple(
            QuotaUse(QuotaMetric(metric), scope_space, scope_center, limit, None)
            for metric, scope_space, scope_center, limit in orjson.loads(quotas or "[]")
        ),
    )
    stored = None
    if stored_hash is not None:
        stored = StoredAnswer(stored_hash, stored_status, stored_body.encode(), stored_at)
    return snapshot, reservation_id, stored


def _stored(row: asyncpg.Record) -> StoredAnswer:
    request_hash, status, body, created_at = row
    return StoredAnswer(request_hash, status, body.encode(), created_at)


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
