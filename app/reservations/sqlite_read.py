"""The booking pipeline's reads on SQLite, on the writer thread inside the
booking's transaction (``sqlite.py``): a booking's snapshot and the key's
stored answer."""

import sqlite3
from datetime import timedelta
from typing import Any

import orjson

from app.core.sqlite import instant, named, stamp
from app.holidays import sql as holidays
from app.holidays.days import plan_for
from app.holidays.sql import overrides
from app.models import HOLDERS_OVERLAPPING, QuotaMetric
from app.quotas import sql as quota_sql
from app.quotas.rules import QuotaUse, week_of
from app.reservations import rules
from app.reservations.booking import BookingRequest, StoredAnswer
from app.reservations.rules import Booker, Holder, OrganizationView, Snapshot, SpaceView
from app.spaces.calendar import Interval, WeeklyWindow

# The caller, the space and its hours, and whether any quota rule may apply,
# in one statement (a statement is most of a booking's cost here).
READ = f"""
SELECT u.is_active AS active, u.real_name_verified AS verified,
  s.id AS space_id, s.center_id, s.name, s.booking_mode = 'exclusive' AS exclusive, s.capacity,
  s.slot_minutes, s.min_minutes, s.max_minutes, s.advance_days, s.open_24h,
  s.requires_approval, s.requires_real_name, s.requires_organization, s.release_minute,
  s.cancel_before_minutes, s.check_in_opens_minutes, s.requires_check_in,
  s.no_show_after_minutes,
  (SELECT max(su.until) FROM suspensions su
   WHERE su.user_id = u.id AND su.center_id = s.center_id AND su.lifted_at IS NULL)
    AS suspended_until,
  (SELECT json_group_array(d.name) FROM
   (SELECT d.name FROM doors d WHERE d.space_id = s.id AND d.is_active ORDER BY d.id) d)
    AS door_names,
  (SELECT c.reason FROM closures c
   WHERE c.space_id = s.id AND c.starts_at < :end AND c.ends_at > :start LIMIT 1) AS closure,
  (SELECT group_concat(h.weekday || ' ' || h.opens_minute || ' ' || h.closes_minute, ' ')
   FROM opening_hours h WHERE h.space_id = s.id) AS hours,
  EXISTS (SELECT 1 FROM quota_rules q
          WHERE (q.space_id = s.id OR q.center_id = s.center_id) AND q.subject = :subject)
    AS any_quota,
  c.name AS center_name, c.address AS center_address, c.district AS center_district,
  s.holiday_policy,
  {holidays.SQLITE} AS days,
  s.buffer_minutes
FROM (SELECT :user AS id) asker LEFT JOIN users u ON u.id = asker.id
LEFT JOIN spaces s ON s.id = :space AND s.is_active
LEFT JOIN centers c ON c.id = s.center_id
"""
HOLDERS = "SELECT r.starts_at, r.ends_at, r.attendees, r.user_id FROM reservations r WHERE " + (
    HOLDERS_OVERLAPPING.format(space=":space")
)
HOLDERS_EXCLUDING = HOLDERS + " AND r.id <> :exclude"
ORGANIZATION = """
SELECT o.id, o.name, o.status = 'verified' AS verified,
  EXISTS (SELECT 1 FROM organization_members m
          WHERE m.organization_id = o.id AND m.user_id = :user) AS member
FROM organizations o WHERE o.id = :organization
"""
QUOTA_RULES = """
SELECT metric, space_id, center_id, max_value FROM quota_rules
WHERE (space_id = :space OR center_id = :center) AND subject = :subject ORDER BY id
"""
STORED_ANSWER = """
SELECT request_hash, response_status, response_body, created_at FROM idempotency_keys
WHERE user_id = :user AND key = :key
"""


def stored_answer(db: sqlite3.Connection, user_id: int, key: str) -> StoredAnswer | None:
    found = named(db.execute(STORED_ANSWER, {"user": user_id, "key": key}))
    if found is None:
        return None
    return StoredAnswer(
        request_hash=found["request_hash"],
        status=found["response_status"],
        body=found["response_body"].encode(),
        created_at=instant(found["created_at"]),
    )


def snapshot(
    db: sqlite3.Connection, request: BookingRequest, exclude: int = 0
) -> tuple[Snapshot, StoredAnswer | None]:
    """The booking's snapshot (leaving ``exclude`` out of the holders) and
    its key's stored answer."""
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
        "exclude": exclude,
    }
    row = named(db.execute(READ, values))
    stored = None
    if request.key is not None and request.user_id is not None:
        stored = stored_answer(db, request.user_id, request.key.key)
    assert row is not None  # the asker's row is always there
    booker: Booker | None = rules.CENTER  # a center event: nobody's booking
    if request.user_id is not None:
        booker = None
        if row["active"] is not None:  # a user of that id exists
            suspended_until = row["suspended_until"]
            booker = Booker(
                id=request.user_id,
                active=bool(row["active"]),
                verified=bool(row["verified"]),
                suspended_until=instant(suspended_until) if suspended_until is not None else None,
            )
    if booker is None or row["space_id"] is None:
        return Snapshot(booker, None, None, (), None, ()), stored
    space = _space(row, interval)
    holders = tuple(
        Holder(instant(start), instant(end), seats, user_id)
        for start, end, seats, user_id in db.execute(
            HOLDERS_EXCLUDING if exclude else HOLDERS, _widened(values, interval, space.buffer)
        )
    )
    organization = None
    if wanted.organization_id is not None:
        found = named(db.execute(ORGANIZATION, values))
        if found is not None:
            organization = OrganizationView(
                id=found["id"],
                name=found["name"],
                verified=bool(found["verified"]),
                member=bool(found["member"]),
            )
    quotas = _quota_uses(db, request, space, exclude) if row["any_quota"] else ()
    snapshot = Snapshot(booker, space, row["closure"], holders, organization, quotas)
    return snapshot, stored


def _space(row: dict[str, Any], interval: Interval) -> SpaceView:
    """``READ``'s space, by column name (booleans are 0/1 on SQLite)."""
    doors = tuple(orjson.loads(row["door_names"])) if row["door_names"] else ()
    district, center_id = row["center_district"], row["center_id"]
    plan = plan_for(
        interval.start,
        interval.end,
        overrides(row["days"]),
        district,
        center_id,
        row["holiday_policy"],
    )
    return SpaceView(
        id=row["space_id"],
        center_id=center_id,
        name=row["name"],
        exclusive=bool(row["exclusive"]),
        capacity=row["capacity"],
        slot_minutes=row["slot_minutes"],
        min_minutes=row["min_minutes"],
        max_minutes=row["max_minutes"],
        advance_days=row["advance_days"],
        open_24h=bool(row["open_24h"]),
        windows=_windows(row["hours"]),
        requires_approval=bool(row["requires_approval"]),
        requires_real_name=bool(row["requires_real_name"]),
        requires_organization=bool(row["requires_organization"]),
        has_doors=bool(doors),
        release_minute=row["release_minute"],
        center_name=row["center_name"],
        center_address=row["center_address"],
        center_district=district,
        plan=plan,
        door_names=doors,
        cancel_before_minutes=row["cancel_before_minutes"],
        check_in_opens_minutes=row["check_in_opens_minutes"],
        requires_check_in=bool(row["requires_check_in"]),
        no_show_after_minutes=row["no_show_after_minutes"],
        buffer_minutes=row["buffer_minutes"] or 0,
    )


def _widened(values: dict[str, object], interval: Interval, by: timedelta) -> dict[str, object]:
    """The holders' query for ``interval`` widened by ``by`` on both sides: the
    bookings a space's buffer keeps apart from it."""
    if not by:
        return values
    start, end = interval.start - by, interval.end + by
    return values | {
        "start": stamp(start),
        "end": stamp(end),
        "day_before": stamp(start - timedelta(days=1)),
    }


def _windows(hours: str | None) -> tuple[WeeklyWindow, ...]:
    """``"weekday opens closes weekday opens closes …"`` as windows."""
    numbers = [int(number) for number in (hours or "").split()]
    return tuple(WeeklyWindow(*numbers[i : i + 3]) for i in range(0, len(numbers), 3))


def _quota_uses(
    db: sqlite3.Connection, request: BookingRequest, space: SpaceView, exclude: int
) -> tuple[QuotaUse, ...]:
    """The quota rules on the booking and their use, ``exclude`` left out (a
    move counts net of itself)."""
    wanted = request.wanted
    rows = db.execute(
        QUOTA_RULES,
        {"space": space.id, "center": space.center_id, "subject": wanted.subject.value},
    ).fetchall()
    if not rows:
        return ()
    week = week_of(wanted.interval.start)
    subject_id = request.user_id if wanted.organization_id is None else wanted.organization_id
    uses = []
    for metric_value, scope_space, scope_center, limit in rows:
        metric = QuotaMetric(metric_value)
        statement = quota_sql.used_sql(
            "sqlite", quota_sql.period_of(metric), wanted.subject, scope_space is not None
        )
        count, hours = db.execute(
            statement,
            {
                "subject_id": subject_id,
                "scope_id": scope_space if scope_space is not None else scope_center,
                "now": stamp(request.now),
                "day_before_now": stamp(request.now - timedelta(days=1)),
                "week_start": stamp(week.start),
                "week_end": stamp(week.end),
                "exclude": exclude,
            },
        ).fetchone()
        used = quota_sql.amount_used(metric, count, hours)
        uses.append(QuotaUse(metric, scope_space, scope_center, limit, used))
    return tuple(uses)
