"""Signing up for an activity: the hot path's snapshot, decision and statements,
shared by both engines (``signup_store.py`` runs them).

    read a snapshot  →  decide (pure)  →  take the places and write, under the row lock

The snapshot is one statement: the resident, the activity with its venue's
name, whether the resident is of its audience and whether they are signed up
already. ``decide`` refuses in the order the API documents — the token's
resident, a draft or missing activity (404), the window (409
``signup_closed``), a course's session, the party's size, the audience and
the real name (403), a live sign-up (409 ``already_signed_up``) — and
renders the confirmation to write if the places are taken.

The write keeps capacity exact as ``places.py`` explains: the places'
conditional UPDATE, under which the sign-up and its notification are written
(``TAKE_AND_CONFIRM``); if no place is left, the activity's row is locked and
the take tried once more, else the sign-up joins the line (``JOIN_LINE``).
Every sign-up is thus written under the activity's row lock, held until its
commit: the line's order is the order of the ids (``signups.py``).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from app.activities import audience, places
from app.activities.service import LIVE_SIGNUPS
from app.activities.signup_schemas import SignupOut
from app.activities.signups import (
    AlreadySignedUp,
    AttendeesOverCapacity,
    CourseSession,
    SignupClosed,
    published_or_missing,
    window_refusal,
)
from app.core.errors import InvalidToken
from app.identity.service import AccountDeactivated
from app.models import ActivityAudience, ActivityStatus, NotificationKind, SignupStatus, sql_list
from app.notifications import outbox
from app.notifications.texts import activity_values, render

READ = f"""
SELECT u.id IS NOT NULL AND u.erased_at IS NULL AS known, u.is_active AS active,
       u.real_name_verified AS verified,
       a.id AS activity, a.status, a.course_id, a.capacity, a.confirmed_attendees,
       a.signup_opens_at,
       a.signup_closes_at, a.starts_at, a.ends_at, a.audience, a.organization_id,
       a.requires_real_name, a.title, a.center_id, c.name AS center_name,
       coalesce(s.name, a.place_text, c.address) AS place,
       {audience.in_audience("a.audience", "a.organization_id")} AS in_audience,
       EXISTS (SELECT 1 FROM activity_signups x
               WHERE x.activity_id = a.id AND x.user_id = :user
                 AND x.status IN ({sql_list(LIVE_SIGNUPS)})) AS signed_up
FROM (SELECT 1 AS one) AS one
LEFT JOIN users u ON u.id = :user
LEFT JOIN activities a ON a.id = :activity
LEFT JOIN centers c ON c.id = a.center_id
LEFT JOIN spaces s ON s.id = a.space_id
"""
# Taken only while the activity takes sign-ups: a cancellation or the close
# that committed before the row lock was granted is seen here.
_OPEN = (
    f"status = '{ActivityStatus.published.value}' AND :now < coalesce(signup_closes_at, starts_at)"
)
TAKE = f"""
UPDATE activities SET confirmed_attendees = confirmed_attendees + :attendees
WHERE id = :activity AND {places.FITS} AND {_OPEN}
RETURNING id"""


def insert_signup(status: SignupStatus, source: str = "") -> str:
    confirmed_at = ":now" if status is SignupStatus.confirmed else "NULL"
    return f"""
INSERT INTO activity_signups (activity_id, user_id, attendees, status, created_at, confirmed_at)
SELECT :activity, :user, :attendees, '{status.value}', :now, {confirmed_at} {source}
RETURNING id"""


def tell(fields: str, source: str = "") -> str:
    """The confirmation's notification; ``fields``: the JSON parameter."""
    return outbox.tell_participant(activity_id=":activity", fields=fields, source=source)


# PostgreSQL: places, sign-up and notification in one statement.
TAKE_AND_CONFIRM = f"""
WITH took AS ({TAKE}
), signed AS ({insert_signup(SignupStatus.confirmed, "FROM took")}
), told AS ({tell(":told_fields::json", "FROM signed")}
)
SELECT id FROM signed"""
# Under the row lock, after a take that found no place: the sign-up waits, its
# position the line's length before it plus one (the statement's snapshot,
# taken after the lock was granted, sees everyone who joined before).
JOIN_LINE = f"""
WITH signed AS ({insert_signup(SignupStatus.waiting)}
)
SELECT id, 1 + (SELECT count(*) FROM activity_signups w
                WHERE w.activity_id = :activity AND w.status = '{SignupStatus.waiting.value}')
       AS position
FROM signed"""
# The row lock a sign-up that found no place takes before trying again: ``FOR
# NO KEY UPDATE``, as the places' UPDATE takes it (``signups.lock`` says why).
LOCK = """
SELECT status, signup_closes_at, starts_at FROM activities WHERE id = :activity
FOR NO KEY UPDATE"""


@dataclass(frozen=True)
class SignupAsk:
    user_id: int
    activity_id: int
    attendees: int
    now: datetime

    def values(self) -> dict[str, Any]:
        return {
            "user": self.user_id,
            "activity": self.activity_id,
            "attendees": self.attendees,
            "now": self.now,
        }


@dataclass(frozen=True)
class Confirmation:
    """What a confirmed sign-up writes besides itself: its notification."""

    center_id: int
    title: str
    body: str
    fields: str  # JSON

    def values(self) -> dict[str, Any]:
        return {
            "center": self.center_id,
            "told_kind": NotificationKind.activity_signup_confirmed.value,
            "told_title": self.title,
            "told_body": self.body,
            "told_fields": self.fields,
        }


@dataclass(frozen=True)
class Decided:
    confirmation: Confirmation
    # The places the snapshot saw left: what the tests' negative control,
    # reading then writing, goes by.
    places_left: int


def decide(row: Any, ask: SignupAsk, instant: Any) -> Decided:
    """Every refusal of a sign-up, from the snapshot, before anything is
    written. ``row``: the snapshot by column name; ``instant``: the engine's
    reading of a time column (SQLite keeps text)."""
    if not row["known"]:
        raise InvalidToken()
    if not row["active"]:
        raise AccountDeactivated()
    status = published_or_missing(row["status"])
    starts, ends = instant(row["starts_at"]), instant(row["ends_at"])
    closes = instant(row["signup_closes_at"]) if row["signup_closes_at"] else None
    opens = instant(row["signup_opens_at"]) if row["signup_opens_at"] else None
    window_refusal(status, opens, closes, starts, ask.now)
    if row["course_id"] is not None:
        raise CourseSession()
    if ask.attendees > row["capacity"]:
        raise AttendeesOverCapacity(capacity=row["capacity"])
    audience.refuse(
        ActivityAudience(row["audience"]),
        bool(row["in_audience"]),
        bool(row["requires_real_name"]),
        bool(row["verified"]),
    )
    if row["signed_up"]:
        raise AlreadySignedUp()
    values = activity_values(
        row["activity"], row["title"], row["center_name"], row["place"], starts, ends
    ) | {"attendees": str(ask.attendees)}
    title, body = render(NotificationKind.activity_signup_confirmed, values)
    confirmation = Confirmation(row["center_id"], title, body[:400], orjson.dumps(values).decode())
    return Decided(confirmation, row["capacity"] - row["confirmed_attendees"])


def closed_under_lock(row: Any, now: datetime, instant: Any) -> SignupClosed | None:
    """The activity as the row lock found it: closed meanwhile, or None."""
    closes = row["signup_closes_at"] or row["starts_at"]
    if row["status"] != ActivityStatus.published.value or now >= instant(closes):
        return SignupClosed().with_extra(activity_status=row["status"])
    return None


def answer(ask: SignupAsk, signup_id: int, confirmed: bool, position: int | None) -> bytes:
    """The 201's body, as the route's ``SignupOut`` declares it."""
    out = SignupOut(
        id=signup_id,
        activity_id=ask.activity_id,
        status=SignupStatus.confirmed if confirmed else SignupStatus.waiting,
        position=position,
        attendees=ask.attendees,
        created_at=ask.now,
        confirmed_at=ask.now if confirmed else None,
        cancelled_at=None,
        checked_in_at=None,
    )
    return out.model_dump_json().encode()
