"""The common booking on PostgreSQL in two statements, without a transaction around them.

Booking a room is the hot write path (bench/RESULTS.md). Most bookings are of
an exclusive space (a meeting room) with no doors, no quota rules and no
organization; for those, ``try_booking`` needs one read and one write, each a
single statement sent through the driver:

- The read takes the space's rules, the caller's real-name flag, a closure and
  the holders overlapping the request from one snapshot, and the ordinary
  rule checks run on it (``service.check_booking_rules``, ``refuse_conflicts``).
- The write locks the space row, then claims the Idempotency-Key (if any) and
  inserts the reservation and its audit event, all in one statement: they
  commit together or not at all. The lock
  queues same-space writers, so they never deadlock inside the exclusion
  constraint (DESIGN.md), and the constraint refuses any overlap the read
  could not see (23P01, answered 409 ``slot_taken``): invariant 1 does not
  depend on the read.
- Idempotency (invariant 7): the read returns the key's stored answer, which
  is replayed. The write claims the key with ``ON CONFLICT DO NOTHING`` and
  books only if it did; the stored answer is the response itself, known
  before the write because the reservation's id is drawn in the read. A
  duplicate that arrives while the first is being written waits on the key's
  unique index for that one statement, then replays the first answer.

A closure or rule change committed between the read and the write orders
after the booking, exactly as if the booking had come a moment earlier: the
booking reads nothing that such a change writes, and the change reads nothing
the booking writes. Everything else returns ``None`` and takes the
transactional path in ``service.create_reservation``: shared spaces (their
capacity needs the holders read under the lock), doors (codes), quota rules,
organizations, and keys old enough to have expired.
"""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import orjson

from app.core.clock import SHANGHAI, utcnow
from app.core.db import Database
from app.core.errors import RETRYABLE_SQLSTATES, ConcurrentUpdate, InvalidToken, NotFound
from app.identity.service import AccountDeactivated
from app.models import HOLDING_SQL, ReservationStatus
from app.reservations import idempotency, service
from app.reservations.schemas import ReservationCreate
from app.spaces.calendar import Interval, WeeklyWindow
from app.spaces.service import SPACE

# From users, so that an unknown caller is told so before an unknown space.
_READ = f"""
SELECT s.id, s.center_id, s.name, s.booking_mode = 'exclusive', s.capacity, s.slot_minutes,
  s.min_minutes, s.max_minutes, s.advance_days, s.open_24h, s.requires_approval,
  s.requires_real_name, s.requires_organization, u.real_name_verified, u.is_active,
  ARRAY(SELECT ARRAY[h.weekday, h.opens_minute, h.closes_minute]
        FROM opening_hours h WHERE h.space_id = s.id),
  EXISTS (SELECT FROM doors d WHERE d.space_id = s.id AND d.is_active),
  EXISTS (SELECT FROM quota_rules q WHERE q.space_id = s.id OR q.center_id = s.center_id),
  (SELECT c.reason FROM closures c
   WHERE c.space_id = s.id AND c.starts_at < $4 AND c.ends_at > $3 LIMIT 1),
  ARRAY(SELECT ARRAY[extract(epoch FROM r.starts_at), extract(epoch FROM r.ends_at),
                     r.attendees, r.user_id]::float8[]
        FROM reservations r
        WHERE r.space_id = s.id AND r.status IN ({HOLDING_SQL})
          AND r.starts_at < $4 AND r.ends_at > $3 AND r.starts_at > $3 - interval '1 day'),
  nextval('reservations_id_seq'),
  k.request_hash, k.response_status, k.response_body::text, k.created_at
FROM users u
LEFT JOIN spaces s ON s.id = $1 AND s.is_active
LEFT JOIN idempotency_keys k ON k.user_id = u.id AND k.key = $5
WHERE u.id = $2
"""

_WRITE = """
WITH space AS (
  SELECT id FROM spaces WHERE id = $1 AND is_active {lock}
), {claim}booked AS (
  INSERT INTO reservations (id, space_id, user_id, starts_at, ends_at, exclusive, status,
                            purpose, attendees, created_at, updated_at)
  SELECT $10, $1, $2, $3, $4, $5, $6, $7, $8, $9, $9 FROM {source}
  RETURNING id
), logged AS (
  INSERT INTO audit_events (occurred_at, actor_kind, actor_id, entity, entity_id, action,
                            to_status)
  SELECT $9, 'user', $2, 'reservation', booked.id, 'create', $6 FROM booked
)
SELECT id FROM booked
"""
_CLAIM = """claimed AS (
  INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body,
                                created_at)
  SELECT $2, $11, $12, 201, $13::json, $9 FROM space
  ON CONFLICT (user_id, key) DO NOTHING
  RETURNING id
), """
# (locked, keyed) -> statement; the unlocked ones serve only OverlapGuard's negative controls.
_WRITES = {
    (locked, keyed): _WRITE.format(
        lock="FOR UPDATE" if locked else "",
        claim=_CLAIM if keyed else "",
        source="claimed" if keyed else "space",
    )
    for locked in (True, False)
    for keyed in (True, False)
}
_STORED_ANSWER = (
    "SELECT request_hash, response_body::text FROM idempotency_keys WHERE user_id = $1 AND key = $2"
)
_CREATED = 201


@dataclass(frozen=True)
class Booked:
    body: bytes


@dataclass(frozen=True)
class Replayed:
    body: bytes


@dataclass(frozen=True)
class _Key:
    key: str
    request_hash: str


@dataclass(frozen=True)
class _Space:
    id: int
    center_id: int
    name: str
    requires_approval: bool
    requires_real_name: bool
    rules: service.BookingRules


async def try_booking(
    database: Database, user_id: int, request: ReservationCreate, idempotency_key: str | None
) -> Booked | Replayed | None:
    """Book (or replay the key's first answer) and return the response body, or
    ``None`` if this booking needs the transactional path. Raises the same
    problems as the transactional path."""
    if request.organization_id is not None or database.driver_pool is None:
        return None
    key = None
    if idempotency_key is not None:
        key = _Key(idempotency_key, idempotency.fingerprint(request.model_dump(mode="json")))
    async with database.driver() as driver:
        return await _try_booking(driver, user_id, request, key)


async def _try_booking(
    driver: asyncpg.Connection, user_id: int, request: ReservationCreate, key: _Key | None
) -> Booked | Replayed | None:
    wanted = Interval(request.start.astimezone(UTC), request.end.astimezone(UTC))
    row = await driver.fetchrow(
        _READ, request.space_id, user_id, wanted.start, wanted.end, key and key.key
    )
    if row is None:
        raise InvalidToken()  # the token names a user who no longer exists
    (space_id, center_id, name, exclusive, capacity, slot, min_minutes, max_minutes, advance,
     open_24h, requires_approval, requires_real_name, requires_organization, verified, active,
     hours, has_doors, has_quota_rules, closure, held, reservation_id, stored_hash, stored_status,
     stored_body, stored_at) = row  # fmt: skip
    if not active:
        raise AccountDeactivated()
    now = utcnow()
    if key is not None and stored_hash is not None:
        if stored_at < now - idempotency.KEY_LIFETIME:
            return None  # the transactional path clears the expired key
        if stored_status != _CREATED:
            return None
        return _replay(key, stored_hash, stored_body)
    if space_id is None:
        raise NotFound(SPACE)
    if not exclusive or has_doors or has_quota_rules:
        return None
    rules = service.BookingRules(
        slot, min_minutes, max_minutes, advance, open_24h, capacity,
        [WeeklyWindow(*window) for window in hours],
    )  # fmt: skip
    space = _Space(space_id, center_id, name, requires_approval, requires_real_name, rules)
    _check(space, verified, requires_organization, closure, held, user_id, wanted, request, now)
    status = ReservationStatus.pending if requires_approval else ReservationStatus.confirmed
    body = _body(reservation_id, space, user_id, wanted, request, status, now)
    row_values = [
        space.id,
        user_id,
        wanted.start,
        wanted.end,
        service.GUARD.exclusion_constraint,
        status.value,
        request.purpose,
        request.attendees,
        now,
        reservation_id,
    ]
    if await _write(driver, wanted, row_values, key, body):
        return Booked(body)
    if key is not None:  # a duplicate with this key was written first: answer as it was
        stored = await driver.fetchrow(_STORED_ANSWER, user_id, key.key)
        if stored is not None:
            return _replay(key, stored[0], stored[1])
    raise NotFound(SPACE)  # deactivated between the read and the write


def _replay(key: _Key, stored_hash: str, stored_body: str) -> Replayed:
    if stored_hash != key.request_hash:
        raise idempotency.KeyReused()
    return Replayed(stored_body.encode())


def _check(
    space: _Space,
    verified: bool,
    requires_organization: bool,
    closure: str | None,
    held: list[list[float]],
    user_id: int,
    wanted: Interval,
    request: ReservationCreate,
    now: datetime,
) -> None:
    """The transactional path's checks, in its order, on the snapshot just read."""
    service.check_booking_rules(space.rules, wanted, request.attendees, now)
    if space.requires_real_name and not verified:
        raise service.RealNameRequired()
    if requires_organization:
        raise service.OrganizationRequired()
    if closure is not None:
        raise service.SpaceClosed(reason=closure)
    holders = [
        service.Holder(
            Interval(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)),
            int(seats),
            int(holder),
        )
        for start, end, seats, holder in held
    ]
    service.refuse_conflicts(
        True, space.rules.capacity, user_id, wanted, request.attendees, holders
    )


async def _write(
    driver: asyncpg.Connection,
    wanted: Interval,
    row_values: list[object],
    key: _Key | None,
    body: bytes,
) -> bool:
    """Lock, claim the key, book and audit in one statement; False if nothing was
    written (the space is gone, or the key was claimed first)."""
    guard = service.GUARD
    if guard.delay_seconds:
        await asyncio.sleep(guard.delay_seconds)
    arguments = list(row_values)
    if key is not None:
        arguments += [key.key, key.request_hash, body.decode()]
    statement = _WRITES[guard.lock_space, key is not None]
    try:
        written = await driver.fetchval(statement, *arguments)
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == service.EXCLUSION_VIOLATION:
            raise service.slot_taken(wanted) from None
        if exc.sqlstate in RETRYABLE_SQLSTATES:
            raise ConcurrentUpdate() from None
        raise
    return written is not None


def _body(
    reservation_id: int,
    space: _Space,
    user_id: int,
    wanted: Interval,
    request: ReservationCreate,
    status: ReservationStatus,
    now: datetime,
) -> bytes:
    """What ``ReservationOut`` would serialize (a test holds the two equal)."""
    created = now.astimezone(SHANGHAI).isoformat()
    return orjson.dumps(
        {
            "id": reservation_id,
            "space_id": space.id,
            "space_name": space.name,
            "center_id": space.center_id,
            "user_id": user_id,
            "organization_id": None,
            "organization_name": None,
            "start": wanted.start.astimezone(SHANGHAI).isoformat(),
            "end": wanted.end.astimezone(SHANGHAI).isoformat(),
            "status": status.value,
            "purpose": request.purpose,
            "attendees": request.attendees,
            "status_reason": None,
            "created_at": created,
            "updated_at": created,
        }
    )
