"""The booking pipeline's statements on SQLite: one hop to the writer thread.

Read, decide and write run together inside ``BEGIN IMMEDIATE`` on the thread
that owns the database's write lock (``app/core/sqlite.py``), so the decision
is taken on what no other writer can change before it is written.
"""

import asyncio
import sqlite3
import time
from datetime import timedelta

from app.access.codes import DRAWS, CodeBook
from app.core.sqlite import SqliteWorker, instant, stamp
from app.holidays import sql as holidays
from app.holidays.days import plan_for
from app.holidays.sql import overrides
from app.models import HOLDERS_OVERLAPPING, QuotaMetric
from app.notifications import outbox
from app.quotas.rules import BOOKED_VALUES, COUNTED_VALUES, QuotaUse, week_of
from app.reservations import booking, rules
from app.reservations.booking import Answer, Booked, BookingRequest, Plan, StoredAnswer
from app.reservations.rules import (
    Booker,
    Holder,
    OrganizationView,
    Snapshot,
    SpaceView,
)
from app.spaces.calendar import WeeklyWindow

BOOKED_SQL = ", ".join(f"'{value}'" for value in BOOKED_VALUES)
COUNTED_SQL = ", ".join(f"'{value}'" for value in COUNTED_VALUES)

# The caller, the space and its hours, and whether any quota rule may apply,
# in one statement (a statement is most of a booking's cost here).
READ = f"""
SELECT u.is_active, u.real_name_verified,
  s.id, s.center_id, s.name, s.booking_mode = 'exclusive', s.capacity, s.slot_minutes,
  s.min_minutes, s.max_minutes, s.advance_days, s.open_24h, s.requires_approval,
  s.requires_real_name, s.requires_organization, s.release_minute,
  (SELECT max(su.until) FROM suspensions su
   WHERE su.user_id = u.id AND su.center_id = s.center_id AND su.lifted_at IS NULL),
  EXISTS (SELECT 1 FROM doors d WHERE d.space_id = s.id AND d.is_active),
  (SELECT c.reason FROM closures c
   WHERE c.space_id = s.id AND c.starts_at < :end AND c.ends_at > :start LIMIT 1),
  (SELECT group_concat(h.weekday || ' ' || h.opens_minute || ' ' || h.closes_minute, ' ')
   FROM opening_hours h WHERE h.space_id = s.id),
  EXISTS (SELECT 1 FROM quota_rules q
          WHERE (q.space_id = s.id OR q.center_id = s.center_id) AND q.subject = :subject),
  c.name, c.address, c.district, s.holiday_policy,
  {holidays.SQLITE}
FROM users u LEFT JOIN spaces s ON s.id = :space AND s.is_active
LEFT JOIN centers c ON c.id = s.center_id
WHERE u.id = :user
"""
HOLDERS = "SELECT r.starts_at, r.ends_at, r.attendees, r.user_id FROM reservations r WHERE " + (
    HOLDERS_OVERLAPPING.format(space=":space")
)
ORGANIZATION = """
SELECT o.id, o.name, o.status = 'verified',
  EXISTS (SELECT 1 FROM organization_members m
          WHERE m.organization_id = o.id AND m.user_id = :user)
FROM organizations o WHERE o.id = :organization
"""
QUOTA_RULES = """
SELECT metric, space_id, center_id, max_value FROM quota_rules
WHERE (space_id = :space OR center_id = :center) AND subject = :subject ORDER BY id
"""
QUOTA_USED = f"""
SELECT CASE WHEN :metric = 'hours_per_week'
            THEN coalesce(sum(strftime('%s', ends_at) - strftime('%s', starts_at)), 0) / 3600.0
            ELSE count(*) END
FROM reservations
WHERE (:scope_space IS NULL OR space_id = :scope_space)
  AND (:scope_center IS NULL
       OR space_id IN (SELECT id FROM spaces WHERE center_id = :scope_center))
  AND CASE WHEN :organization IS NOT NULL THEN organization_id = :organization
           ELSE user_id = :user AND organization_id IS NULL END
  AND CASE WHEN :metric = 'future_bookings'
           THEN status IN ({BOOKED_SQL}) AND ends_at > :now AND starts_at > :day_before_now
           ELSE status IN ({COUNTED_SQL})
                AND starts_at >= :week_start AND starts_at < :week_end END
"""
STORED_ANSWER = """
SELECT request_hash, response_status, response_body, created_at FROM idempotency_keys
WHERE user_id = :user AND key = :key
"""
FORGET_KEY = "DELETE FROM idempotency_keys WHERE user_id = :user AND key = :key"
INSERT_RESERVATION = """
INSERT INTO reservations (space_id, user_id, organization_id, starts_at, ends_at, exclusive,
                          status, purpose, attendees, created_at, updated_at)
VALUES (:space, :user, :organization, :start, :end, :exclusive, :status, :purpose, :attendees,
        :now, :now)
RETURNING id
"""
INSERT_AUDIT = """
INSERT INTO audit_events (occurred_at, actor_kind, actor_id, entity, entity_id, action, to_status)
VALUES (:now, 'user', :user, 'reservation', :id, 'create', :status)
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
INSERT_KEY = """
INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body,
                              created_at)
VALUES (:user, :key, :request_hash, 201, :body, :now)
"""


class SqliteBookings:
    def __init__(self, writer: SqliteWorker, codes: CodeBook) -> None:
        self._writer = writer
        self._codes = codes

    async def book(self, request: BookingRequest) -> Answer:
        if booking.GUARD.lock:
            return await self._writer.transaction(lambda db: _book(db, self._codes, request))
        return await self._unguarded(request)

    async def _unguarded(self, request: BookingRequest) -> Answer:
        """The tests' negative control: read and write in separate transactions,
        nothing re-checked in between."""
        snapshot, _ = await self._writer.run(lambda db: _read(db, request))
        plan = booking.plan(
            request, rules.decide(snapshot, request.wanted, request.now), self._codes
        )
        await asyncio.sleep(booking.GUARD.delay_seconds)
        return await self._writer.transaction(lambda db: _write(db, self._codes, plan))


def _book(db: sqlite3.Connection, codes: CodeBook, request: BookingRequest) -> Answer:
    snapshot, stored = _read(db, request)
    key = request.key
    if key is not None and stored is not None:
        if not stored.expired(request.now):
            return booking.replay(stored, key)
        db.execute(FORGET_KEY, {"user": request.user_id, "key": key.key})
    plan = booking.plan(request, rules.decide(snapshot, request.wanted, request.now), codes)
    if booking.GUARD.delay_seconds:  # tests: a slow decision, still under the lock
        time.sleep(booking.GUARD.delay_seconds)
    return _write(db, codes, plan)


def _read(db: sqlite3.Connection, request: BookingRequest) -> tuple[Snapshot, StoredAnswer | None]:
    wanted = request.wanted
    interval = wanted.interval
    values: dict[str, object] = {
        "user": request.user_id,
        "space": wanted.space_id,
        "start": stamp(interval.start),
        "end": stamp(interval.end),
        "day_before": stamp(interval.start - timedelta(days=1)),
        "organization": wanted.organization_id,
        "key": request.key.key if request.key else None,
        "subject": wanted.subject.value,
    }
    row = db.execute(READ, values).fetchone()
    stored = None
    if request.key is not None:
        found = db.execute(STORED_ANSWER, values).fetchone()
        if found is not None:
            request_hash, status, body, created_at = found
            stored = StoredAnswer(request_hash, status, body.encode(), instant(created_at))
    if row is None:
        return Snapshot(None, None, None, (), None, ()), stored
    (active, verified, space_id, center_id, name, exclusive, capacity, slot, min_minutes,
     max_minutes, advance, open_24h, requires_approval, requires_real_name,
     requires_organization, release_minute, suspended_until, has_doors, closure, hours,
     any_quota, center_name, center_address, district, policy, days) = row  # fmt: skip
    booker = Booker(
        request.user_id,
        bool(active),
        bool(verified),
        instant(suspended_until) if suspended_until is not None else None,
    )
    if space_id is None:
        return Snapshot(booker, None, None, (), None, ()), stored
    space = SpaceView(
        space_id, center_id, name, bool(exclusive), capacity, slot, min_minutes, max_minutes,
        advance, bool(open_24h), _windows(hours), bool(requires_approval),
        bool(requires_real_name), bool(requires_organization), bool(has_doors), release_minute,
        center_name, center_address, district,
        plan_for(interval.start, interval.end, overrides(days), district, center_id, policy),
    )  # fmt: skip
    holders = tuple(
        Holder(instant(start), instant(end), seats, user_id)
        for start, end, seats, user_id in db.execute(HOLDERS, values)
    )
    organization = None
    if wanted.organization_id is not None:
        found_organization = db.execute(ORGANIZATION, values).fetchone()
        if found_organization is not None:
            org_id, org_name, org_verified, member = found_organization
            organization = OrganizationView(org_id, org_name, bool(org_verified), bool(member))
    quotas = _quota_uses(db, request, space) if any_quota else ()
    snapshot = Snapshot(booker, space, closure, holders, organization, quotas)
    return snapshot, stored


def _windows(hours: str | None) -> tuple[WeeklyWindow, ...]:
    """``"weekday opens closes weekday opens closes …"`` as windows."""
    numbers = [int(number) for number in (hours or "").split()]
    return tuple(WeeklyWindow(*numbers[i : i + 3]) for i in range(0, len(numbers), 3))


def _quota_uses(
    db: sqlite3.Connection, request: BookingRequest, space: SpaceView
) -> tuple[QuotaUse, ...]:
    wanted = request.wanted
    rows = db.execute(
        QUOTA_RULES,
        {"space": space.id, "center": space.center_id, "subject": wanted.subject.value},
    ).fetchall()
    if not rows:
        return ()
    week = week_of(wanted.interval.start)
    uses = []
    for metric, scope_space, scope_center, limit in rows:
        used = db.execute(
            QUOTA_USED,
            {
                "metric": metric,
                "scope_space": scope_space,
                "scope_center": scope_center,
                "organization": wanted.organization_id,
                "user": request.user_id,
                "now": stamp(request.now),
                "day_before_now": stamp(request.now - timedelta(days=1)),
                "week_start": stamp(week.start),
                "week_end": stamp(week.end),
            },
        ).fetchone()[0]
        uses.append(QuotaUse(QuotaMetric(metric), scope_space, scope_center, limit, float(used)))
    return tuple(uses)


def _write(db: sqlite3.Connection, codes: CodeBook, plan: Plan) -> Answer:
    request, decision, wanted = plan.request, plan.decision, plan.wanted
    values: dict[str, object] = {
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
    }
    reservation_id: int = db.execute(INSERT_RESERVATION, values).fetchone()[0]
    values["id"] = reservation_id
    db.execute(INSERT_AUDIT, values)
    _tell(db, plan, values)
    body = plan.body(reservation_id)
    if plan.code is not None:
        _insert_code(db, codes, plan, values)
    if request.key is not None:
        key = {"key": request.key.key, "request_hash": request.key.request_hash}
        db.execute(INSERT_KEY, {**values, **key, "body": body.decode()})
    return Booked(body)


def _tell(db: sqlite3.Connection, plan: Plan, values: dict[str, object]) -> None:
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
