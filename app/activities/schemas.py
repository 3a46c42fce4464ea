from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.core.schemas import IdField, Instant, LocalInstant, Printable, Reason
from app.models import ActivityAudience, ActivityCategory, ActivityStatus, ReservationStatus

Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Printable
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000), Printable]
PlaceText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Printable
]
MAX_CAPACITY = 10_000


class Programme(BaseModel):
    """What an activity and a course both say of themselves when created."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description = ""
    category: ActivityCategory
    center_id: IdField
    capacity: int = Field(ge=1, le=MAX_CAPACITY, strict=True)
    audience: ActivityAudience = ActivityAudience.public
    requires_real_name: bool = False
    organization_id: IdField | None = Field(
        default=None, description="The organising organisation (its owner creates it)"
    )
    publish: bool = Field(default=False, description="Publish at once instead of a draft")

    @model_validator(mode="after")
    def _members_of_someone(self) -> Self:
        if self.audience is ActivityAudience.members and self.organization_id is None:
            raise ValueError("audience `members` needs an organization_id")
        return self


class ActivityCreate(Programme):
    title: Title = Field(examples=["党课：学习党章"])
    space_id: IdField | None = Field(
        default=None,
        description="A space of the center to hold as the venue, booked by the booking rules",
    )
    place_text: PlaceText | None = Field(
        default=None, description="Where it happens when it is not one of the center's spaces"
    )
    start: Instant = Field(examples=["2026-12-18T19:00:00+08:00"])
    end: Instant = Field(examples=["2026-12-18T20:30:00+08:00"])
    signup_opens_at: Instant | None = None
    signup_closes_at: Instant | None = Field(
        default=None, description="Default: the start; sign-ups are taken until then"
    )

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        opens, closes = self.signup_opens_at, self.signup_closes_at
        if opens is not None and closes is not None and closes <= opens:
            raise ValueError("signup_closes_at must be after signup_opens_at")
        if closes is not None and closes > self.end:
            raise ValueError("signup_closes_at must not be after the end")
        return self


class ActivityCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason = Field(description="Told to every participant")


class Venue(BaseModel):
    space_id: int | None
    name: str | None  # the space's, or the place text
    address: str  # the center's
    reservation_id: int | None
    reservation_status: ReservationStatus | None  # `pending` while staff approve it


class ActivityOut(BaseModel):
    id: int
    title: str
    description: str
    category: ActivityCategory
    category_label: str
    center_id: int
    center_name: str
    district: str
    street: str
    venue: Venue
    start: LocalInstant
    end: LocalInstant
    capacity: int
    signed_up: int  # places taken by confirmed sign-ups
    remaining: int
    signup_opens_at: LocalInstant | None
    signup_closes_at: LocalInstant | None
    audience: ActivityAudience
    requires_real_name: bool
    organization_id: int | None
    course_id: int | None
    status: ActivityStatus
    status_reason: str | None
    attended: int | None
    walk_ins: int
    distance_m: int | None = None
