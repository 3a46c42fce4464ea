from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.schemas import IdField, LocalInstant, ShortText
from app.models import Door

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
    locked_until: LocalInstant | None = Field(
        description="Until when the space's keypad refuses codes (shared by its doors)"
    )
    created_at: LocalInstant

    @classmethod
    def of(cls, door: Door, locked_until: datetime | None) -> "DoorOut":
        return cls(
            id=door.id,
            space_id=door.space_id,
            name=door.name,
            is_active=door.is_active,
            locked_until=locked_until,
            created_at=door.created_at,
        )


class DoorWithKey(DoorOut):
    device_key: str = Field(
        description="The lock's secret: shown only now. Send it as `Authorization: Device <key>`."
    )
    command_key: str = Field(
        description="The key the lock checks open commands with (HMAC-SHA256 over its 32 bytes,"
        " README: The owner's second way in): shown only now, changed with the device key."
    )


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: DoorCode


class VerifyResult(BaseModel):
    """What a lock is told. A booking's code up to 30 minutes before its window
    is "not_yet", with ``opens_at`` (its holder came early: the keypad says
    when to come back). Any other code that does not open the door now is
    "denied", whatever the reason: a guesser learns nothing about codes of
    later bookings."""

    granted: bool
    reason: Literal["granted", "not_yet", "denied"]
    reservation_id: int | None
    opens_at: LocalInstant | None = Field(
        default=None, description="not_yet: when the code starts opening the door"
    )


class UnlockRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    door_id: IdField


class UnlockResult(BaseModel):
    """What the owner is told: they may know their own booking's window."""

    granted: bool
    reason: Literal["granted", "outside_window"]
    reservation_id: int


class AccessOut(BaseModel):
    door_code: str
    valid_from: LocalInstant
    valid_until: LocalInstant
    door_ids: list[int]
