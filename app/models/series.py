import enum
from datetime import datetime

from sqlalchemy import ForeignKey, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, enum_column


class SeriesMode(enum.StrEnum):
    all_or_nothing = "all_or_nothing"  # every occurrence, or none
    book_what_is_free = "book_what_is_free"  # each occurrence on its own


class ReservationSeries(Base):
    """A recurring booking (RFC 5545 RRULE): each occurrence is an ordinary
    reservation with its own state, linked by ``SeriesOccurrence``."""

    __tablename__ = "reservation_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="RESTRICT"))
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    rrule: Mapped[str] = mapped_column(String(200))
    mode: Mapped[SeriesMode] = mapped_column(enum_column(SeriesMode, "series_mode"))
    first_starts_at: Mapped[datetime]
    first_ends_at: Mapped[datetime]
    attendees: Mapped[int] = mapped_column(SmallInteger)
    purpose: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class SeriesOccurrence(Base):
    """Which reservations a series booked (a table of its own, so the hot
    paths' reservations rows stay as they are)."""

    __tablename__ = "reservation_series_occurrences"

    reservation_id: Mapped[int] = mapped_column(
        ForeignKey("reservations.id", ondelete="CASCADE"), primary_key=True
    )
    series_id: Mapped[int] = mapped_column(
        ForeignKey("reservation_series.id", ondelete="CASCADE"), index=True
    )
