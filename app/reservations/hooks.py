"""A reservation's change of status, queued for the webhooks that take it
(app/webhooks/outbox.py), in the transaction of the change."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Reservation, ReservationStatus, Space
from app.webhooks import outbox as webhooks


async def tell_hooks(
    session: AsyncSession, ids: Sequence[int], to: ReservationStatus, now: datetime
) -> None:
    """Queue the event of moving ``ids`` to ``to``, if it is one (a move to
    ``cancelled``, ``checked_in``, ``no_show`` or ``completed``)."""
    event = webhooks.RESERVATION_EVENTS.get(to)
    if event is None or not ids:
        return
    rows = await session.execute(
        select(
            Reservation.id,
            Reservation.space_id,
            Reservation.kind,
            Reservation.starts_at,
            Reservation.ends_at,
            Space.center_id,
        )
        .join(Space, Space.id == Reservation.space_id)
        .where(Reservation.id.in_(ids))
        .order_by(Reservation.id)
    )
    for row in rows:
        data = webhooks.reservation_data(
            reservation_id=row.id,
            space_id=row.space_id,
            center_id=row.center_id,
            status=to,
            kind=row.kind,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
        )
        await webhooks.enqueue(session, event, center_id=row.center_id, data=data, now=now)
