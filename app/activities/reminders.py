"""The ``remind-activities`` job: each confirmed sign-up of a published
activity is told ``activity_reminder`` once, ``ZHENDI_REMIND_BEFORE_MINUTES``
before the start, as bookings are (``app/notifications/reminders.py``). A
sign-up confirmed inside the lead is not reminded: its confirmation has just
told them."""

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, literal, select, update
from sqlalchemy import Interval as SqlInterval

from app.activities.service import message_values
from app.core.config import Settings
from app.core.db import Database
from app.core.jobs import Report
from app.models import Activity, ActivitySignup, ActivityStatus, NotificationKind, SignupStatus
from app.notifications import service as notifications

BATCH = 200


def _confirmed_before_the_lead(database: Database, lead: timedelta) -> ColumnElement[bool]:
    """``confirmed_at < starts_at - lead`` in each engine's date arithmetic: a
    sign-up confirmed inside the lead has just been told."""
    if database.is_sqlite:
        days = lead.total_seconds() / 86400
        return func.julianday(ActivitySignup.confirmed_at) < (
            func.julianday(Activity.starts_at) - days
        )
    return ActivitySignup.confirmed_at < Activity.starts_at - literal(lead, SqlInterval())


async def remind_activities(database: Database, settings: Settings, now: datetime) -> Report:
    """The ``remind-activities`` job: each confirmed sign-up of a published
    activity is told ``activity_reminder`` once, ``ZHENDI_REMIND_BEFORE_MINUTES``
    before the start. Rows are picked with ``SKIP LOCKED`` and marked by a
    compare-and-swap on ``reminded_at``, so overlapping runs tell each once."""
    if settings.remind_before_minutes == 0:
        return Report(0, "reminders are off")
    lead = timedelta(minutes=settings.remind_before_minutes)
    reminded = 0
    while True:
        async with database.writer.begin() as session:
            due = (
                await session.execute(
                    select(ActivitySignup, Activity)
                    .join(Activity, Activity.id == ActivitySignup.activity_id)
                    .where(
                        ActivitySignup.status == SignupStatus.confirmed,
                        ActivitySignup.reminded_at.is_(None),
                        Activity.status == ActivityStatus.published,
                        Activity.starts_at > now,
                        Activity.starts_at <= now + lead,
                        _confirmed_before_the_lead(database, lead),
                    )
                    .order_by(Activity.starts_at, ActivitySignup.id)
                    .limit(BATCH)
                    .with_for_update(of=ActivitySignup, skip_locked=True)
                )
            ).all()
            values: dict[int, dict[str, str]] = {}
            for signup, activity in due:
                swapped = await session.execute(
                    update(ActivitySignup)
                    .where(ActivitySignup.id == signup.id, ActivitySignup.reminded_at.is_(None))
                    .values(reminded_at=now)
                    .execution_options(synchronize_session=False)
                )
                if not swapped.rowcount:  # type: ignore[attr-defined]
                    continue
                if activity.id not in values:
                    values[activity.id] = await message_values(session, activity)
                notifications.tell_user(
                    session,
                    NotificationKind.activity_reminder,
                    signup.user_id,
                    {**values[activity.id], "attendees": str(signup.attendees)},
                    now,
                    center_id=activity.center_id,
                    activity_id=activity.id,
                )
                reminded += 1
        if len(due) < BATCH:
            break
    return Report(reminded, f"{reminded} activity sign-ups reminded")
