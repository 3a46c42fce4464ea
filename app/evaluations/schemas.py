import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict

from app.evaluations.service import EvaluationGroupBy
from app.evaluations.weights import MAX_WEIGHT

Weight = Annotated[float, Strict(), Field(allow_inf_nan=False)]


class EvaluationRow(BaseModel):
    """One position (``group_by=center``) or one street or district; the keys
    not grouped by are null."""

    model_config = ConfigDict(from_attributes=True)

    center_id: int | None
    center_name: str | None
    kind: str | None  # the position's kind (district_hub, street_center, …)
    parent_id: int | None  # the position's parent: its siblings share it
    district: str | None
    street: str | None
    opening_hours: float  # hours the spaces were open in the month, summed over spaces
    available_hours: float  # open hours × places (a shared space's seats, else 1)
    booked_hours: float
    utilization: float | None  # booked_hours / available_hours
    bookings: int
    no_shows: int
    no_show_rate: float | None  # no_shows / (bookings - cancellations)
    activities_held: int  # completed activities starting in the month
    attended: int  # 人次: their attendees and walk-ins
    unique_people: int  # distinct residents with a kept booking or a confirmed sign-up
    ratings: int  # bookings' feedback and activities' ratings
    average_rating: float | None
    suggestions_closed: int  # closed in the month by their due instant
    suggestions_overdue: int  # due in the month (up to now), not closed by then
    needs_met: int  # needs of the four lists met in the month
    score: float  # 0..100, from the weights
    rank: int  # among its siblings (the same parent), or among the groups
    normalised: dict[str, float]  # each metric as it entered the score, 0..1


class EvaluationReport(BaseModel):
    period: str  # YYYY-MM, a Shanghai calendar month
    from_: dt.date
    to: dt.date  # the month's last day, or today while it runs
    group_by: EvaluationGroupBy
    ancestor_id: int | None
    weights: dict[str, float]
    rows: list[EvaluationRow]

    model_config = ConfigDict(
        populate_by_name=True,
        alias_generator=lambda name: "from" if name == "from_" else name,
    )


class WeightsIn(BaseModel):
    """The metrics to weigh anew; the others keep their weights."""

    model_config = ConfigDict(extra="forbid")

    weights: dict[str, Weight] = Field(
        description=f"metric → weight, 0 to {MAX_WEIGHT:g}", max_length=50
    )


class WeightsOut(BaseModel):
    weights: dict[str, float]  # every metric's weight now
    defaults: dict[str, float]  # what a metric weighs when never set
