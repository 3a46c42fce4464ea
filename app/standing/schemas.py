from pydantic import BaseModel, ConfigDict

from app.core.schemas import LocalInstant, Reason
from app.models import Violation, ViolationKind, ViolationStatus


class ViolationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    center_id: int
    reservation_id: int | None
    kind: ViolationKind
    points: int
    occurred_at: LocalInstant
    status: ViolationStatus
    counts: bool = False  # whether its point counts now
    appeal_reason: str | None
    appealed_at: LocalInstant | None
    decided_at: LocalInstant | None
    decision_reason: str | None

    @classmethod
    def of(cls, violation: Violation, *, counts: bool) -> "ViolationOut":
        return cls.model_validate(violation).model_copy(update={"counts": counts})


class SuspensionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    center_id: int
    starts_at: LocalInstant
    until: LocalInstant


class StandingOut(BaseModel):
    points: int
    violations: list[ViolationOut]
    suspended_until: LocalInstant | None
    suspensions: list[SuspensionOut]


class AppealRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason
