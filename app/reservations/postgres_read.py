"""The booking pipeline's reads on PostgreSQL: a booking's snapshot (one
statement), a series' snapshots (one statement for every occurrence), the
key's stored answer, and the holder an exclusion constraint refused against.
"""

import re
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson

from app.core.sql import Statement
from app.holidays import sql as holidays
from app.holidays.days import plan_for
from app.holidays.sql import overrides
from app.models import HOLDERS_OVERLAPPING, QuotaMetric
from app.quotas.rules import QuotaUse
from app.reservations import rules
from app.reservations.booking import StoredAnswer
from app.reservations.rules import Booker, Holder, OrganizationView, Snapshot, SpaceView, Wanted
from app.spaces.calendar import WeeklyWindow

# The holders of the wanted time, widened on both sides by an exclusive space's
# buffer, so that ``decide`` sees what the guard would refuse.
_BUFFER = (
    "make_interval(mins => CASE WHEN s.booking_mode = 'exclusive' THEN s.buffer_minutes ELSE 0 END)"
)
HOLDERS = "FROM reservations r WHERE " + (
    HOLDERS_OVERLAPPING.format(space="s.id")
    .replace(":end", f"(CAST(:end AS timestamptz) + {_BUFFER})")
    .replace(":start", f"(CAST(:start AS timestamptz) - {_BUFFER})")
    .replace(":day_before", f"(CAST(:day_before AS timestamptz) - {_BUFFER})")
)

# From the asker, so that an unknown caller is told so before an unknown space
# (no asker: a center event, nobody's booking).
READ_SQL = f"""
SELECT u.is_active AS active, u.real_name_verified AS verified,
  (SELECT max(su.until) FROM suspensions su
   WHERE su.user_id = u.id AND su.center_id = s.center_id AND su.lifted_at IS NULL)
    AS suspended_until,
  s.id AS space_id, s.center_id, s.name, s.booking_mode = 'exclusive' AS exclusive, s.capacity,
  s.slot_minutes, s.min_minutes, s.max_minutes, s.advance_days, s.open_24h,
  s.requires_approval, s.requires_real_name, s.requires_organization, s.release_minute,
  s.cancel_before_minutes, s.check_in_opens_minutes, s.requires_check_in,
  s.no_show_after_minutes,
  ARRAY(SELECT ARRAY[h.weekday, h.opens_minute, h.closes_minute]
        FROM opening_hours h WHERE h.space_id = s.id) AS hours,
  ARRAY(SELECT d.name FROM doors d WHERE d.space_id = s.id AND d.is_active ORDER BY d.id)
    AS door_names,
  (SELECT c.reason FROM closures c
   WHERE c.space_id = s.id AND c.starts_at < :end AND c.ends_at > :start LIMIT 1) AS closure,
  ARRAY(SELECT ARRAY[extract(epoch FROM r.starts_at), extract(epoch FROM r.ends_at),
                     r.attendees, r.user_id]::float8[] {HOLDERS}) AS holders,
  o.id AS organization_id, o.name AS organization_name,
  o.status = 'verified' AS organization_verified,
  EXISTS (SELECT FROM organization_members m WHERE m.organization_id = o.id AND m.user_id = u.id)
    AS member,
  (SELECT json_agg(json_build_array(q.metric, q.space_id, q.center_id, q.max_value))
   FROM quota_rules q
   WHERE (q.space_id = s.id OR q.center_id = s.center_id)
     AND q.subject = CASE WHEN :organization::integer IS NULL THEN 'user'
                          ELSE 'organization' END)::text AS quotas,
  nextval('reservations_id_seq') AS reservation_id,
  k.request_hash, k.response_status, k.response_body::text AS response_body,
  k.created_at AS answered_at,
  c.name AS center_name, c.address AS center_address, c.district AS center_district,
  s.holiday_policy,
  {holidays.POSTGRES} AS days,
  s.buffer_minutes
FROM (SELECT CAST(:user AS integer) AS id) asker
LEFT JOIN users u ON u.id = asker.id
LEFT JOIN spaces s ON s.id = :space AND s.is_active
LEFT JOIN centers c ON c.id = s.center_id
LEFT JOIN organizations o ON o.id = :organization
LEFT JOIN idempotency_keys k ON k.user_id = u.id AND k.key = :key
"""
READ = Statement.of(READ_SQL)
# An act's snapshot (``acts.HoldAct``): the reservation it moves is no holder.
READ_EXCLUDING = Statement.of(READ_SQL.replace(HOLDERS, HOLDERS + " AND r.id <> :exclude"))
# A series' snapshots in one statement: the same read once per occurrence, its
# instants taken from arrays, in the occurrences' order (each row its own id).
_PER_OCCURRENCE = re.compile(r"(?<![:\w]):(start|end|day_before)\b")
_COLUMNS = {"start": "w.s", "end": "w.e", "day_before": "w.d"}
READ_MANY = Statement.of(
    _PER_OCCURRENCE.sub(lambda match: _COLUMNS[match.group(1)], READ_SQL).replace(
        "FROM (SELECT",
        "FROM unnest(:starts::timestamptz[], :ends::timestamptz[], :days_before::timestamptz[])"
        " WITH ORDINALITY AS w(s, e, d, n)\nCROSS JOIN (SELECT",
    )
    + "ORDER BY w.n\n"
)

FIRST_HOLDER = Statement.of(
    "SELECT r.starts_at, r.ends_at FROM reservations r WHERE "
    + HOLDERS_OVERLAPPING.format(space=":space")
    + " ORDER BY r.starts_at LIMIT 1"
)

STORED_ANSWER = """
SELECT request_hash, response_status, response_body::text AS response_body,
  created_at AS answered_at
FROM idempotency_keys WHERE user_id = $1 AND key = $2
"""
FORGET_EXPIRED_KEY = (
    "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND created_at < $3"
)


def read_values(
    wanted: Wanted, user_id: int | None, key: str | None = None, exclude: int = 0
) -> dict[str, object]:
    """The values of a snapshot read (``READ``, ``READ_EXCLUDING``) of ``wanted``
    for ``user_id``, with ``exclude`` left out of the holders."""
    return {
        "space": wanted.space_id,
        "user": user_id,
        "start": wanted.interval.start,
        "end": wanted.interval.end,
        "day_before": wanted.interval.start - timedelta(days=1),
        "key": key,
        "organization": wanted.organization_id,
        "exclude": exclude,
    }


async def taken(driver: asyncpg.Connection, wanted: Wanted) -> Exception:
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
    return rules.slot_taken(row["starts_at"], row["ends_at"])


def snapshot(
    row: asyncpg.Record, user_id: int | None, start: datetime, end: datetime
) -> tuple[Snapshot, int, StoredAnswer | None]:
    """The snapshot ``READ`` (or ``READ_MANY``'s row) read by column name, the
    id the booking will take, and the key's stored answer."""
    organization = None
    if row["organization_id"] is not None:
        organization = OrganizationView(
            id=row["organization_id"],
            name=row["organization_name"],
            verified=row["organization_verified"],
            member=row["member"],
        )
    snapshot = Snapshot(
        booker=_booker(user_id, row["active"], row["verified"], row["suspended_until"]),
        space=_space(row, start, end),
        closure=row["closure"],
        holders=tuple(
            Holder(_at(start), _at(end), int(seats), None if user is None else int(user))
            for start, end, seats, user in row["holders"]
        ),
        organization=organization,
        quotas=tuple(
            QuotaUse(QuotaMetric(metric), scope_space, scope_center, limit, None)
            for metric, scope_space, scope_center, limit in orjson.loads(row["quotas"] or "[]")
        ),
    )
    return snapshot, row["reservation_id"], stored_in(row)


def _space(row: asyncpg.Record, start: datetime, end: datetime) -> SpaceView | None:
    if row["space_id"] is None:
        return None
    district, center_id, door_names = row["center_district"], row["center_id"], row["door_names"]
    return SpaceView(
        id=row["space_id"],
        center_id=center_id,
        name=row["name"],
        exclusive=row["exclusive"],
        capacity=row["capacity"],
        slot_minutes=row["slot_minutes"],
        min_minutes=row["min_minutes"],
        max_minutes=row["max_minutes"],
        advance_days=row["advance_days"],
        open_24h=row["open_24h"],
        windows=tuple(WeeklyWindow(*window) for window in row["hours"]),
        requires_approval=row["requires_approval"],
        requires_real_name=row["requires_real_name"],
        requires_organization=row["requires_organization"],
        has_doors=bool(door_names),
        release_minute=row["release_minute"],
        center_name=row["center_name"],
        center_address=row["center_address"],
        center_district=district,
        plan=plan_for(
            start, end, overrides(row["days"]), district, center_id, row["holiday_policy"]
        ),
        door_names=tuple(door_names),
        cancel_before_minutes=row["cancel_before_minutes"],
        check_in_opens_minutes=row["check_in_opens_minutes"],
        requires_check_in=row["requires_check_in"],
        no_show_after_minutes=row["no_show_after_minutes"],
        buffer_minutes=row["buffer_minutes"],
    )


def _booker(
    user_id: int | None, active: bool | None, verified: bool, suspended_until: datetime | None
) -> Booker | None:
    """The asker; a center event has none and stands for the center."""
    if user_id is None:
        return rules.CENTER
    if active is None:  # no such user
        return None
    return Booker(user_id, active, verified, suspended_until)


def stored(row: asyncpg.Record) -> StoredAnswer:
    """A key's stored answer: ``STORED_ANSWER``'s row, or the key's columns of
    a read that joins the key (``READ``, the move's target)."""
    return StoredAnswer(
        request_hash=row["request_hash"],
        status=row["response_status"],
        body=row["response_body"].encode(),
        created_at=row["answered_at"],
    )


def stored_in(row: asyncpg.Record) -> StoredAnswer | None:
    """The key's stored answer a read joined, if the key was used."""
    return None if row["request_hash"] is None else stored(row)


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
