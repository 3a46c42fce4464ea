"""The audit trail: every state change, who made it, from which state to which."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import utcnow
from app.identity.principals import Actor, StaffPrincipal
from app.models import ActorKind, AuditEvent


def actor_kind(actor: Actor | None) -> tuple[ActorKind, int | None]:
    if actor is None:
        return ActorKind.system, None
    if isinstance(actor, StaffPrincipal):
        return ActorKind.staff, actor.id
    return ActorKind.user, actor.id


def record(
    session: AsyncSession,
    actor: Actor | None,
    *,
    entity: str,
    entity_id: int,
    action: str,
    from_status: str | None,
    to_status: str | None,
    reason: str | None = None,
) -> None:
    """Add an event to the current transaction: it commits or rolls back with the change."""
    kind, actor_id = actor_kind(actor)
    session.add(
        AuditEvent(
            occurred_at=utcnow(),
            actor_kind=kind,
            actor_id=actor_id,
            entity=entity,
            entity_id=entity_id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            reason=reason,
        )
    )


async def history(session: AsyncSession, entity: str, entity_id: int) -> Sequence[AuditEvent]:
    query = (
        select(AuditEvent)
        .where(AuditEvent.entity == entity, AuditEvent.entity_id == entity_id)
        .order_by(AuditEvent.id)
    )
    return (await session.scalars(query)).all()
