"""The booking store's write statements on PostgreSQL (``postgres.py`` runs
them): a booking's one statement, guard first, in each of its shapes; a
series' key claim, row and single notification."""

from datetime import datetime
from enum import StrEnum
from functools import cache

from app.access.codes import DrawnCode
from app.core.db import OverlapGuard
from app.core.sql import Statement
from app.notifications import outbox
from app.quotas.rules import quota_amount
from app.reservations import booking
from app.reservations.rules import Decision, Wanted
from app.spaces.calendar import Interval
from app.webhooks import outbox as webhooks

GUARD_REFUSED = "ZH409"  # raised by zhendi_booking_guard (migration 0007)
RESERVATIONS_NO_OVERLAP = "reservations_no_overlap"
CODES_UNIQUE_LIVE = "access_codes_unique_live"

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
                            exclusive, status, purpose, attendees, created_at, updated_at,
                            kind, title, public)
  SELECT :id, :space, :user, :organization, :start, :end, :exclusive, :status, :purpose,
         :attendees, :now, :now, :kind, :title, :public
  FROM {source}
  RETURNING id
), logged AS (
  INSERT INTO audit_events (occurred_at, actor_kind, actor_id, entity, entity_id, action,
                            to_status, reason)
  SELECT :now, :actor_kind, :actor_id, 'reservation', booked.id, 'create', :status, :reason
  FROM booked
){code}{told}{linked}, hooked AS ({hooked}
)
SELECT count(*) FROM booked
"""
_CODE = """, coded AS (
  INSERT INTO access_codes (reservation_id, space_id, lookup, code_sealed, key_version,
                            valid_from, valid_until, issued_at)
  SELECT booked.id, :space, :lookup, :sealed, :key_version, :valid_from, :valid_until, :now
  FROM booked
)"""
# An occurrence of a series: linked to it; the series tells once, after the last.
_LINKED = """, linked AS (
  INSERT INTO reservation_series_occurrences (reservation_id, series_id)
  SELECT booked.id, :series FROM booked
)"""
_KEY_VALUES = "(:user, :key, :request_hash, 201, :body::json, :now)"


class Told(StrEnum):
    """Whom a write's own statement tells: its booker, the staff, or (an
    occurrence of a series) nobody yet."""

    booker = "booker"
    staff = "staff"
    later = "later"


@cache
def write_statement(keyed: bool, coded: bool, guard: str, told: Told) -> Statement:
    """The write step's statement: a single booking's, or (``Told.later``, no
    key) an occurrence's, linked to its series."""
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
    telling = ""
    if told is not Told.later:
        to_staff = told is Told.staff
        telling = ", told AS ({})".format(
            (outbox.tell_staff if to_staff else outbox.tell_booker)(
                reservation_id="booked.id",
                fields=":told_fields::json",
                # A center event tells nobody.
                source="booked CROSS JOIN "
                if to_staff
                else "FROM booked WHERE CAST(:user AS integer) IS NOT NULL",
            )
            + "\n"
        )
    series = told is Told.later
    return Statement.of(
        _WRITE.format(
            guard=guarding,
            source="claimed" if keyed and lock_first else "guard",
            code=_CODE if coded else "",
            told=telling,
            linked=_LINKED if series else "",
            hooked=webhooks.enqueue_sql(data=":hook_data::json", source="booked CROSS JOIN "),
        )
    )


# A series claims its key first in its transaction: a duplicate in flight waits
# on the claim for the first to commit, then claims nothing and replays it.
CLAIM_KEY = Statement.of(
    """
INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body,
                              created_at)
VALUES (:user, :key, :request_hash, 201, 'null'::json, :now)
ON CONFLICT (user_id, key) DO NOTHING
RETURNING id
"""
)
ANSWER_KEY = "UPDATE idempotency_keys SET response_body = $2::json WHERE id = $1"
INSERT_SERIES = Statement.of(booking.INSERT_SERIES)
_FIELDS = ":told_fields::json"
TELL = {
    Told.booker: Statement.of(outbox.tell_booker(reservation_id=":id", fields=_FIELDS)),
    Told.staff: Statement.of(outbox.tell_staff(reservation_id=":id", fields=_FIELDS)),
}


# An act that replaces a hold (``acts.HoldAct``), inside the caller's
# transaction: the guard with the replaced reservation left out (``p_exclude``),
# then a new held place, or the moved reservation's compare-and-swap on the
# status the act decided on; its audit event and door code.
_ACT_GUARDS = {
    True: """guard AS (
  SELECT zhendi_booking_guard(
    :space, :start, :end, :attendees, :user, :exclude, :organization, :quota_metrics,
    :quota_spaces, :quota_centers, :quota_limits, :quota_amounts, :week_start, :week_end, :now)
), """,
    False: "guard AS (SELECT true), ",
}
_PLACED = """booked AS (
  INSERT INTO reservations (id, space_id, user_id, organization_id, starts_at, ends_at,
                            exclusive, status, purpose, attendees, created_at, updated_at)
  SELECT :id, :space, :user, :organization, :start, :end, :exclusive, :status, :purpose,
         :attendees, :now, :now
  FROM guard
  RETURNING id
)"""
_MOVED = """booked AS (
  UPDATE reservations r SET status = :status, status_reason = NULL, updated_at = :now
  FROM guard WHERE r.id = :exclude AND r.status = :from_status::text
  RETURNING r.id
)"""
_ACT = """
WITH {guard}{booked}, logged AS (
  INSERT INTO audit_events (occurred_at, actor_kind, actor_id, entity, entity_id, action,
                            from_status, to_status, reason)
  SELECT :now, :actor_kind, :actor_id::integer, 'reservation', booked.id, :action,
         :from_status::text, :status, :reason::text
  FROM booked
){code}
SELECT count(*) FROM booked
"""


@cache
def act_statement(moves: bool, coded: bool, guarded: bool) -> Statement:
    return Statement.of(
        _ACT.format(
            guard=_ACT_GUARDS[guarded],
            booked=_MOVED if moves else _PLACED,
            code=_CODE if coded else "",
        )
    )


def guard_values(
    decision: Decision, wanted: Wanted, week: Interval, now: datetime, guard: OverlapGuard
) -> dict[str, object]:
    """The values ``zhendi_booking_guard`` and the written row take, for every
    act's statement: the time and space, the quota rules re-checked under the
    lock, and the status decided."""
    uses = decision.quotas
    return {
        "space": wanted.space_id,
        "start": wanted.interval.start,
        "end": wanted.interval.end,
        "attendees": wanted.attendees,
        "organization": wanted.organization_id,
        "quota_metrics": [use.metric.value for use in uses],
        "quota_spaces": [use.space_id for use in uses],
        "quota_centers": [use.center_id for use in uses],
        "quota_limits": [use.limit for use in uses],
        "quota_amounts": [quota_amount(use.metric, wanted.interval) for use in uses],
        "week_start": week.start,
        "week_end": week.end,
        "now": now,
        "exclusive": decision.space.exclusive and guard.exclusion_constraint,
        "status": decision.status.value,
    }


def code_values(code: DrawnCode | None) -> dict[str, object]:
    """A drawn door code's values, for the statements that write it."""
    if code is None:
        return {}
    return {
        "lookup": code.lookup,
        "sealed": code.sealed,
        "key_version": code.key_version,
        "valid_from": code.valid_from,
        "valid_until": code.valid_until,
    }
