"""Request and response bodies of sign-ups and attendance."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.schemas import LocalInstant, Printable
from app.models import SignupStatus

MAX_ATTENDEES = 5
MAX_WALK_INS = 500

CheckInToken = Annotated[str, StringConstraints(min_length=1, max_length=64), Printable]


class SignupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attendees: int = Field(
        default=1,
        ge=1,
        le=MAX_ATTENDEES,
        strict=True,
        description="You and up to four people who come with you",
    )


class SignupOut(BaseModel):
    id: int
    activity_id: int
    status: SignupStatus
    position: int | None = Field(description="Place in line (1 = next), while `waiting`")
    attendees: int
    created_at: LocalInstant
    confirmed_at: LocalInstant | None
    cancelled_at: LocalInstant | None
    checked_in_at: LocalInstant | None


class CheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: CheckInToken = Field(description="What the activity's check-in QR code carries")


class WalkIns(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=1, le=MAX_WALK_INS, strict=True)


class ActivityCheckInQrOut(BaseModel):
    token: str = Field(description="What the QR code carries: participants send it to check in")
    svg: str = Field(description="The QR code as SVG, to print for the activity")


class AttendanceOut(BaseModel):
    activity_id: int
    checked_in: int = Field(description="Attendees of checked-in sign-ups")
    walk_ins: int
    attended: int | None = Field(description="Final once the activity is completed")
