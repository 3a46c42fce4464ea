from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.schemas import Instant, LocalInstant, Reason
from app.models import ReservationStatus, SeriesMode
from app.reservations.schemas import ReservationCreate

Rule = Annotated[str, StringConstraints(strip_whitespace=True, min_length=6, max_length=200)]


class SeriesCreate(ReservationCreate):
    """``start`` and ``end`` are the first occurrence."""

    rrule: Rule = Field(
        description="RFC 5545 RRULE of FREQ=DAILY|WEEKLY|MONTHLY, INTERVAL, BYDAY, BYMONTHDAY"
        " and COUNT or UNTIL: at most 52 occurrences within 365 days of the first",
        examples=["FREQ=WEEKLY;BYDAY=TU;COUNT=10"],
    )
    mode: SeriesMode = SeriesMode.all_or_nothing


class OccurrenceOut(BaseModel):
    start: LocalInstant
    end: LocalInstant
    reservation_id: int | None
    status: ReservationStatus | None
    problem: dict[str, Any] | None = Field(
        description="Why this occurrence was not booked: a problem like a single booking's"
    )


class SeriesOut(BaseModel):
    id: int
    space_id: int
    organization_id: int | None
    rrule: str
    mode: SeriesMode
    occurrences: list[OccurrenceOut]


class SeriesCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_: Instant | None = Field(
        default=None,
        alias="from",
        description="Cancel the occurrences starting from then (default: every one ahead)",
    )


class SeriesReject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason
