"""Retention: personal data dropped once kept longer than needed (the
``purge-personal-data`` job; README, "Security")."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import contributions
from app.core.config import Settings
from app.models import ActorKind, AuditEvent, DoorAttempt, Notification


@dataclass(frozen=True)
class Purged:
    door_attempts_deleted: int
    audit_events_cleared: int
    notifications_deleted: int
    suggestions_unlinked: int
    responses_unlinked: int
    before: datetime


async def purge_personal_data(session: AsyncSession, settings: Settings, now: datetime) -> Purged:
    """Drop what is kept longer than needed: door attempts after
    ``ZHENDI_DOOR_ATTEMPT_RETENTION_DAYS``; in audit events older than
    ``ZHENDI_AUDIT_PERSONAL_DATA_RETENTION_DAYS``, the free-text reason and
    which resident acted (the event itself stays, for the statistics);
    notifications that old (they quote reasons and bookings); and who raised
    a suggestion closed, or gave an answer, that long ago (the text and the
    answers stay)."""
    attempts_before = now - timedelta(days=settings.door_attempt_retention_days)
    audit_before = now - timedelta(days=settings.audit_personal_data_retention_days)
    deleted = await session.execute(delete(DoorAttempt).where(DoorAttempt.at < attempts_before))
    old = AuditEvent.occurred_at < audit_before
    reasons = await session.execute(
        update(AuditEvent).where(old, AuditEvent.reason.is_not(None)).values(reason=None)
    )
    notifications = await session.execute(
        delete(Notification).where(Notification.created_at < audit_before)
    )
    residents = await session.execute(
        update(AuditEvent)
        .where(old, AuditEvent.actor_kind == ActorKind.user, AuditEvent.actor_id.is_not(None))
        .values(actor_id=None)
    )
    suggestions, responses = await contributions.unlink_before(session, audit_before)
    return Purged(
        door_attempts_deleted=deleted.rowcount,  # type: ignore[attr-defined]
        audit_events_cleared=reasons.rowcount + residents.rowcount,  # type: ignore[attr-defined]
        notifications_deleted=notifications.rowcount,  # type: ignore[attr-defined]
        suggestions_unlinked=suggestions,
        responses_unlinked=responses,
        before=min(attempts_before, audit_before),
    )
