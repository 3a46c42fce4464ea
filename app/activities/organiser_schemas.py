"""What an activity's organiser reads and sends: its participants, a message."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.schemas import LocalInstant, Printable
from app.models import SignupStatus

MESSAGE_LENGTH = 300
MessageText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MESSAGE_LENGTH),
    Printable,
]


class ParticipantOut(BaseModel):
    """One sign-up as the organiser sees it: the person masked."""

    id: int
    name_masked: str | None  # the verified real name, masked: 陈**
    phone_masked: str | None  # 138****5678
    attendees: int
    status: SignupStatus
    position: int | None  # in the waiting line, 1 for the next
    created_at: LocalInstant
    checked_in_at: LocalInstant | None


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: MessageText = Field(examples=["明晚活动改在二楼多功能厅，请提前十分钟到场。"])


class MessageSent(BaseModel):
    sent: int  # people told: each confirmed or waiting participant once
