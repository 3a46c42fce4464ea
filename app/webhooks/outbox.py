"""The webhooks' outbox: a change writes one delivery per endpoint that
subscribed to its event and whose owner covers its center, in the change's
own transaction (or, on the hot paths, its own statement), so a message is
sent for what committed and only for that.

Both writers are one ``INSERT … SELECT`` over the subscriptions of the event
(``webhook_subscriptions``' key starts with it): a change nobody subscribed to
costs one index probe. An endpoint's owner is a super admin (every center) or
a district admin (the centers of their district), as of the change.
"""

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Integer, String, and_, insert, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Activity,
    Center,
    ReservationKind,
    ReservationStatus,
    Staff,
    StaffRole,
    Suggestion,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookStatus,
    WebhookSubscription,
)

# The hot paths' statement: ``:hook_event``, ``:center``, ``:district`` and
# ``:now`` are parameters; {data} the JSON parameter (cast on PostgreSQL);
# {source} what it is written after (``booked CROSS JOIN `` in a CTE).
ENQUEUE = """
INSERT INTO webhook_deliveries (endpoint_id, event, center_id, data, created_at, status,
                                attempts, next_attempt_at)
SELECT e.id, ws.event, CAST(:center AS integer), {data}, :now, 'queued', 0, :now
FROM {source}webhook_subscriptions ws
JOIN webhook_endpoints e ON e.id = ws.endpoint_id
JOIN staff st ON st.id = e.staff_id
WHERE ws.event = CAST(:hook_event AS varchar) AND e.is_active AND st.is_active
  AND (st.role = 'super_admin' OR (st.role = 'district_admin' AND st.district = :district))"""


def enqueue_sql(*, data: str, source: str = "") -> str:
    return ENQUEUE.format(data=data, source=source)


async def enqueue(
    session: AsyncSession,
    event: WebhookEvent,
    *,
    center_id: int | None,
    data: dict[str, Any],
    now: datetime,
) -> None:
    """Queue ``event`` about ``center_id`` for every endpoint that takes it
    (about no center, such as an organization of none: super admins' only)."""
    columns = WebhookDelivery.__table__.c
    covers = Staff.role == StaffRole.super_admin
    if center_id is not None:
        in_district = and_(
            Staff.role == StaffRole.district_admin,
            Staff.district
            == select(Center.district).where(Center.id == center_id).scalar_subquery(),
        )
        covers = or_(covers, in_district)
    chosen = (
        select(
            WebhookEndpoint.id,
            literal(event.value, String),
            literal(center_id, Integer),
            literal(data, JSON),
            literal(now, columns.created_at.type),
            literal(WebhookStatus.queued.value, String),
            literal(0, Integer),
            literal(now, columns.next_attempt_at.type),
        )
        .select_from(WebhookSubscription)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookSubscription.endpoint_id)
        .join(Staff, Staff.id == WebhookEndpoint.staff_id)
        .where(
            WebhookSubscription.event == event,
            WebhookEndpoint.is_active.is_(True),
            Staff.is_active.is_(True),
            covers,
        )
    )
    names = [
        "endpoint_id", "event", "center_id", "data", "created_at", "status", "attempts",
        "next_attempt_at",
    ]  # fmt: skip
    await session.execute(insert(WebhookDelivery).from_select(names, chosen))


# A reservation's change of status, as the event an endpoint subscribes to.
RESERVATION_EVENTS = {
    ReservationStatus.cancelled: WebhookEvent.reservation_cancelled,
    ReservationStatus.checked_in: WebhookEvent.reservation_checked_in,
    ReservationStatus.no_show: WebhookEvent.reservation_no_show,
    ReservationStatus.completed: WebhookEvent.reservation_completed,
}


def reservation_data(
    *,
    reservation_id: int,
    space_id: int,
    center_id: int,
    status: ReservationStatus,
    kind: ReservationKind | str,
    starts_at: datetime,
    ends_at: datetime,
) -> dict[str, Any]:
    """What a reservation's message says: ids, times and status, nobody's
    personal data (the receiver asks the API for more, in its owner's scope)."""
    return {
        "reservation_id": reservation_id,
        "space_id": space_id,
        "center_id": center_id,
        "status": status.value,
        "kind": str(kind),
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
    }


def activity_data(activity: Activity) -> dict[str, Any]:
    return {
        "activity_id": activity.id,
        "center_id": activity.center_id,
        "title": activity.title,
        "status": activity.status.value,
        "starts_at": activity.starts_at.isoformat(),
        "ends_at": activity.ends_at.isoformat(),
    }


def suggestion_data(suggestion: Suggestion) -> dict[str, Any]:
    """A suggestion raised: what and when it is due, not its text or who
    raised it (personal data, read through the API in scope)."""
    return {
        "suggestion_id": suggestion.id,
        "center_id": suggestion.center_id,
        "category": suggestion.category.value,
        "status": suggestion.status.value,
        "due_at": suggestion.due_at.isoformat(),
    }


async def suggestion_created(session: AsyncSession, suggestion: Suggestion) -> None:
    await enqueue(
        session,
        WebhookEvent.suggestion_created,
        center_id=suggestion.center_id,
        data=suggestion_data(suggestion),
        now=suggestion.created_at,
    )


def as_json(data: dict[str, Any]) -> str:
    return orjson.dumps(data).decode()
