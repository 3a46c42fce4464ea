"""The ``remind-upcoming`` job: each confirmed booking is reminded once,
``ZHENDI_REMIND_BEFORE_MINUTES`` before it starts.

A run picks the bookings starting within that lead that have no reminder
yet, locking them (``SKIP LOCKED``: two runs at once take different ones),
and writes the reminder; a unique index on a booking's reminder makes "once"
the database's word too. A booking made inside the lead is not reminded: its
confirmation has just told its booker.
"""

from datetime import datetime, timedelta

from sqlalchemy import exists, select

from app.core.config import Settings
from app.core.db import Database
from app.core.jobs import Report
from app.models import Notification, NotificationKind, Reservation, ReservationStatus
from app.notifications.service import tell_booker

BATCH = 200


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
                        Reservation.starts_at > now,
                        Reservation.starts_at <= now + lead,
                        ~already,
                    )
                    .order_by(Reservation.starts_at, Reservation.id)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            told = 0
            for reservation in due:
                if reservation.created_at < reservation.starts_at - lead:
                    await tell_booker(
                        session, NotificationKind.booking_reminder, reservation, now=now
                    )
                    told += 1
        reminded += told
        if len(due) < BATCH or told == 0:
            break
    return Report(reminded, f"{reminded} bookings reminded")
