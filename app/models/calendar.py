import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamped, enum_column


class DayKind(enum.StrEnum):
    holiday = "holiday"  # a day off: statutory, or a center's own
    workday = "workday"  # a day of work, a weekend day included (调休上班)


class CalendarDay(Timestamped, Base):
    """Staff's word on one day, overriding the official calendar: everywhere
    (``scope`` ''), in a district (``d:<district>``) or at a center
    (``c:<center id>``). The narrowest scope wins."""

    __tablename__ = "calendar_days"
    __table_args__ = (UniqueConstraint("day", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    scope: Mapped[str] = mapped_column(String(60))
    district: Mapped[str | None] = mapped_column(String(20))
    center_id: Mapped[int | None] = mapped_column(ForeignKey("centers.id", ondelete="CASCADE"))
    kind: Mapped[DayKind] = mapped_column(enum_column(DayKind, "day_kind"))
    name: Mapped[str] = mapped_column(String(50))
    set_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))


class CalendarFeed(Base):
    """A resident's personal iCalendar feed: its URL carries a random token,
    stored only as a SHA-256 hash. One per person; a new one revokes the old."""

    __tablename__ = "calendar_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class SpaceCalendarFeed(Base):
    """A staff member's iCalendar feed of one space, for a calendar app: like a
    resident's, a random token stored as a SHA-256 hash; one per staff member
    and space, a new one revokes the old. It answers only while the staff
    member is active and the space in their scope."""

    __tablename__ = "space_calendar_feeds"
    __table_args__ = (UniqueConstraint("staff_id", "space_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
