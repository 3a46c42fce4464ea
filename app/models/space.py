import enum
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped, enum_column
from app.models.center import Center

if TYPE_CHECKING:
    from app.models.access import Door


def new_check_in_token() -> str:
    """What a space's check-in QR code carries; a new one retires the old."""
    return secrets.token_urlsafe(16)


class SpaceKind(enum.StrEnum):
    meeting_room = "meeting_room"
    study_room = "study_room"
    activity_room = "activity_room"
    theater = "theater"
    gym = "gym"
    studio = "studio"
    photo_studio = "photo_studio"
    other = "other"

    @property
    def label(self) -> str:
        """The kind in the words the centers use (``kind_label`` in the API)."""
        return SPACE_KIND_LABELS[self]


SPACE_KIND_LABELS = {
    SpaceKind.meeting_room: "会议室",
    SpaceKind.study_room: "自习室",
    SpaceKind.activity_room: "活动室",
    SpaceKind.theater: "小剧场",
    SpaceKind.gym: "健身房",
    SpaceKind.studio: "共享工作室",
    SpaceKind.photo_studio: "摄影棚",
    SpaceKind.other: "其他",
}


class BookingMode(enum.StrEnum):
    exclusive = "exclusive"  # one reservation holds the whole room
    shared = "shared"  # up to `capacity` people at once (study-room seats)


class HolidayPolicy(enum.StrEnum):
    """What a statutory holiday means for a space (app/holidays)."""

    closed = "closed"  # shut (meeting rooms)
    open = "open"  # its usual hours of that weekday (the 24-hour study room)
    weekend_hours = "weekend_hours"  # Sunday's hours


def default_holiday_policy(open_24h: bool) -> HolidayPolicy:
    """A 24-hour space (the study room) stays open on holidays; others close."""
    return HolidayPolicy.open if open_24h else HolidayPolicy.closed


class Space(Timestamped, Base):
    __tablename__ = "spaces"
    __table_args__ = (
        UniqueConstraint("center_id", "name"),
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("slot_minutes > 0 AND 1440 % slot_minutes = 0", name="slot_divides_day"),
        CheckConstraint(
            "min_minutes >= slot_minutes AND min_minutes % slot_minutes = 0",
            name="min_whole_slots",
        ),
        CheckConstraint(
            "max_minutes >= min_minutes AND max_minutes % slot_minutes = 0",
            name="max_whole_slots",
        ),
        CheckConstraint("advance_days >= 0 AND advance_days <= 365", name="advance_days_range"),
        CheckConstraint("cancel_before_minutes >= 0", name="cancel_before_nonnegative"),
        CheckConstraint("modify_before_minutes >= 0", name="modify_before_nonnegative"),
        CheckConstraint(
            "buffer_minutes >= 0 AND buffer_minutes <= 240", name="buffer_minutes_range"
        ),
        CheckConstraint(
            "release_minute IS NULL OR (release_minute >= 0 AND release_minute < 1440)",
            name="release_minute_within_day",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    center_id: Mapped[int] = mapped_column(
        ForeignKey("centers.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[SpaceKind] = mapped_column(enum_column(SpaceKind, "space_kind"))
    booking_mode: Mapped[BookingMode] = mapped_column(enum_column(BookingMode, "booking_mode"))
    capacity: Mapped[int]
    slot_minutes: Mapped[int] = mapped_column(SmallInteger)
    min_minutes: Mapped[int] = mapped_column(SmallInteger)
    max_minutes: Mapped[int] = mapped_column(SmallInteger)
    advance_days: Mapped[int] = mapped_column(SmallInteger)
    # Residents may cancel until this many minutes before the start.
    cancel_before_minutes: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    # ... and move a booking until this many minutes before its start (None:
    # the cancel deadline; app/reservations/moves.py).
    modify_before_minutes: Mapped[int | None] = mapped_column(SmallInteger)
    # Free minutes a booking of an exclusive space needs before and after it
    # (cleaning, set-up), kept by the booking guard on both engines.
    buffer_minutes: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    open_24h: Mapped[bool] = mapped_column(default=False)
    requires_approval: Mapped[bool] = mapped_column(default=False)
    requires_real_name: Mapped[bool] = mapped_column(default=False)
    requires_organization: Mapped[bool] = mapped_column(default=False, server_default="0")
    facilities: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    # Check-in: a booking of a space that requires it must be checked in (door,
    # QR code, staff) by start + no_show_after_minutes, or it is released as a
    # no-show. Check-in opens check_in_opens_minutes before the start.
    requires_check_in: Mapped[bool] = mapped_column(default=False, server_default=false())
    check_in_opens_minutes: Mapped[int] = mapped_column(
        SmallInteger, default=15, server_default="15"
    )
    no_show_after_minutes: Mapped[int] = mapped_column(
        SmallInteger, default=15, server_default="15"
    )
    # The token in the check-in QR code printed in the room (staff rotate it).
    # Every space has one from its creation, so residents can check in by QR
    # the moment check-in is required (spaces older than migration 0009 get
    # theirs when staff require check-in or first print the code).
    check_in_token: Mapped[str | None] = mapped_column(String(64), default=new_check_in_token)
    # The screen at the door (app/kiosk): the hash of its device key, none
    # until staff issue one.
    kiosk_key_hash: Mapped[str | None] = mapped_column(String(64))
    # The last bookable day (today + advance_days) opens at this Shanghai
    # minute of the day instead of at midnight.
    release_minute: Mapped[int | None] = mapped_column(SmallInteger)
    holiday_policy: Mapped[HolidayPolicy] = mapped_column(
        enum_column(HolidayPolicy, "holiday_policy"),
        default=HolidayPolicy.closed,
        server_default=HolidayPolicy.closed.value,
    )

    center: Mapped[Center] = relationship(lazy="raise")
    doors: Mapped[list["Door"]] = relationship(lazy="raise", viewonly=True)
    opening_hours: Mapped[list["OpeningHours"]] = relationship(
        lazy="raise",
        cascade="all, delete-orphan",
        order_by="(OpeningHours.weekday, OpeningHours.opens_minute)",
    )


class OpeningHours(Base):
    """One weekly opening window in Shanghai wall-clock minutes, ``[opens, closes)``.

    ``closes_minute`` may be 1440 (24:00). A window past midnight is stored as
    two rows, one on each weekday.
    """

    __tablename__ = "opening_hours"
    __table_args__ = (
        CheckConstraint("weekday >= 0 AND weekday <= 6", name="weekday_range"),
        CheckConstraint(
            "opens_minute >= 0 AND closes_minute <= 1440 AND opens_minute < closes_minute",
            name="window_within_day",
        ),
        Index("ix_opening_hours_space_id_weekday", "space_id", "weekday"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(SmallInteger)  # 0 = Monday
    opens_minute: Mapped[int] = mapped_column(SmallInteger)
    closes_minute: Mapped[int] = mapped_column(SmallInteger)


class Closure(Timestamped, Base):
    """A period a space is closed (holiday, maintenance), ``[starts_at, ends_at)``."""

    __tablename__ = "closures"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_closures_space_id_starts_at", "space_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(200))
    created_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )
