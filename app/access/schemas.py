from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.schemas import IdField, LocalInstant, ShortText
from app.models import AttemptOutcome, Door

DoorCode = Annotated[str, StringConstraints(pattern=r"^\d{8}$")]


class DoorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    space_id: IdField
    name: ShortText = Field(examples=["阅心书斋正门"])


class DoorOut(BaseModel):
    id: int
    space_id: int
    name: str
    is_active: bool
    locked_until: LocalInstant | None
    created_at: LocalInstant

    @classmethod
    def of(cls, door: Door) -> "DoorOut":
        return cls(
            id=door.id,
            space_id=door.space_id,
            name=door.name,
            is_active=door.is_active,
            locked_until=door.locked_until,
            created_at=door.created_at,
        )


class DoorWithKey(DoorOut):
    device_key: str = Field(
        description="The lock's secret: shown only now. Send it as `Authorization: Device <key>`."
    )


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: DoorCode


class VerifyResult(BaseModel):
    granted: bool
    reason: AttemptOutcome
    reservation_id: int | None


class AccessOut(BaseModel):
    door_code: str
    valid_from: LocalInstant
    valid_until: LocalInstant
    door_ids: list[int]
