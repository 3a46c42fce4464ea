from pydantic import BaseModel, ConfigDict, Field

from app.core.schemas import Instant, LocalInstant
from app.models import WaitlistEntry, WaitlistStatus


class WaitlistJoin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: Instant = Field(examples=["2026-12-01T10:00:00+08:00"])
    end: Instant = Field(examples=["2026-12-01T12:00:00+08:00"])


class WaitlistEntryOut(BaseModel):
    id: int
    space_id: int
    start: LocalInstant
    end: LocalInstant
    status: WaitlistStatus
    reservation_id: int | None  # the held place while offered, the booking once booked
    offered_at: LocalInstant | None
    offer_expires_at: LocalInstant | None
    created_at: LocalInstant

    @classmethod
    def of(cls, entry: WaitlistEntry) -> "WaitlistEntryOut":
        return cls(
            id=entry.id,
            space_id=entry.space_id,
            start=entry.starts_at,
            end=entry.ends_at,
            status=entry.status,
            reservation_id=entry.reservation_id,
            offered_at=entry.offered_at,
            offer_expires_at=entry.offer_expires_at,
            created_at=entry.created_at,
        )
