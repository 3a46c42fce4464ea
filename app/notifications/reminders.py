"""The ``remind-upcoming`` job: each confirmed booking is reminded once,
``ZHENDI_REMIND_BEFORE_MINUTES`` before it starts.

A run picks the bookings starting within that lead that have no reminder
yet, locking them (``SKIP LOCKED``: two runs at once take different ones),
and writes the reminder; a unique index on a booking's reminder makes "once"
the database's word too. A booking made inside the lead is not reminded: its
confirmation has just told its booker.
"""

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Interval, exists, func, literal, select

from app.core.config import Settings
from app.core.db import Database
from app.core.jobs import Report
from app.models import (
    Notification,
    NotificationKind,
    Reservation,
    ReservationKind,
    ReservationStatus,
)
from app.notifications.service import tell_booker

BATCH = 200


def _made_before_the_lead(database: Database, lead: timedelta) -> ColumnElement[bool]:
    """``created_at < starts_at - lead``, in each engine's date arithmetic
    (SQLite keeps instants as text)."""
    if database.is_sqlite:
        days = lead.total_seconds() / 86400
        return func.julianday(Reservation.created_at) < func.julianday(Reservation.starts_at) - days
    return Reservation.created_at < Reservation.starts_at - literal(lead, Interval())


async def remind_upcoming(database: Database, settings: Settings, now: datetime) -> Report:
    if settings.remind_before_minutes == 0:
        return Report(0, "reminders are off")
    lead = timedelta(minutes=settings.remind_before_minutes)
    reminded = 0
    while True:
        async with database.writer.begin() as session:
            already = exists().where(
                Notification.reservation_id == Reservation.id,
                Notification.kind == NotificationKind.booking_reminder,
            )
            due = (
                await session.scalars(
                    select(Reservation)
                    .where(
                        Reservation.status == ReservationStatus.confirmed,
                        Reservation.kind == ReservationKind.booking,
                        Reservation.starts_at > now,
                        Reservation.starts_at <= now + lead,
                        _made_before_the_lead(database, lead),
                        ~already,
                    )
                    .order_by(Reservation.starts_at, Reservation.id)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for reservation in due:
                await tell_booker(session, NotificationKind.booking_reminder, reservation, now=now)
        reminded += len(due)
        if len(due) < BATCH:
            break
    return Report(reminded, f"{reminded} bookings reminded")
