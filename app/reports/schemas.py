import datetime as dt

from pydantic import BaseModel, ConfigDict

from app.reports.groups import GroupBy


class UtilizationRow(BaseModel):
    """One group; the keys the report is not grouped by are null."""

    model_config = ConfigDict(from_attributes=True)

    space_id: int | None
    space_name: str | None
    date: dt.date | None
    weekday: int | None  # 0 = Monday
    hour: int | None  # Shanghai hour of the day
    center_id: int | None  # grouped by center
    center_name: str | None
    district: str | None  # grouped by street or district
    street: str | None  # grouped by street
    open_hours: float
    available_hours: float  # open hours × places (a shared space's seats, else 1)
    booked_hours: float  # kept bookings' hours, no-shows included
    checked_in_hours: float  # hours of the bookings whose people checked in
    center_event_hours: float  # the center's own events (党课, 议事会), not bookings
    bookings: int  # made and kept or cancelled, counted where they start
    cancellations: int
    no_shows: int
    unique_users: int
    organizations: int
    utilization: float | None  # booked_hours / available_hours
    no_show_rate: float | None  # no_shows / (bookings - cancellations)
    average_rating: float | None


class UtilizationReport(BaseModel):
    group_by: GroupBy
    from_: dt.date
    to: dt.date
    rows: list[UtilizationRow]

    model_config = ConfigDict(
        populate_by_name=True,
        alias_generator=lambda name: "from" if name == "from_" else name,
    )
