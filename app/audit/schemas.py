"""The audit trail as ``GET /admin/audit`` answers it."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from app.models import ActorKind


class AuditEventOut(BaseModel):
    id: int
    occurred_at: datetime
    actor_kind: ActorKind
    actor_id: int | None
    actor_username: str | None  # a staff actor's
    entity: str
    entity_id: int
    action: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    details: dict[str, Any] | None
