import datetime as dt
import enum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.clock import format_wall_clock
from app.core.schemas import (
    Flag,
    IdField,
    Instant,
    LocalInstant,
    LongText,
    Patch,
    Printable,
    ShortText,
)
from app.models import BookingMode, Closure, HolidayPolicy, ReservationStatus, Space, SpaceKind
from app.spaces.affected import AffectedAction, AffectedBooking

WallClock = Annotated[
    str,
    StringConstraints(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$"),
    Field(description="Shanghai wall-clock time, HH:MM; 24:00 closes at midnight"),
]
Facility = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30), Printable
]
Capacity = Annotated[int, Field(ge=1, le=1000, strict=True)]
Minutes = Annotated[int, Field(ge=5, le=1440, strict=True)]
AdvanceDays = Annotated[int, Field(ge=0, le=365, strict=True)]
CheckInOpens = Annotated[
    int, Field(ge=0, le=240, strict=True, description="Check-in opens this long before start")
]
NoShowAfter = Annotated[
    int,
    Field(
        ge=1,
        le=240,
        strict=True,
        description="Not checked in this long after start: released as a no-show",
    ),
]
ReleaseTime = Annotated[
    str,
    StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$"),
    Field(
        description="Shanghai HH:MM at which the last bookable day opens (default: midnight)",
        examples=["08:00"],
    ),
]
CancelBefore = Annotated[
    int,
    Field(
        ge=0, le=10080, strict=True, description="Residents cancel at least this long before start"
    ),
]

BufferMinutes = Annotated[int, Field(ge=0, le=240, strict=True)]


ChangeReason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Printable
]
AFFECTED = Field(
    default=None,
    description="What to do with holding bookings the change leaves outside the space's"
    " time: cancel them (their bookers are told) or keep them. Without it such a change"
    " is refused with 409 bookings_affected, listing them",
)


class OpeningWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weekday: int = Field(ge=0, le=6, strict=True, description="0 = Monday")
    opens: WallClock
    closes: WallClock


OpeningHoursList = Annotated[list[OpeningWindow], Field(max_length=70)]
FacilityList = Annotated[list[Facility], Field(max_length=30)]


class SpaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    center_id: IdField
    name: ShortText
    kind: SpaceKind
    booking_mode: BookingMode = BookingMode.exclusive
    capacity: Capacity
    slot_minutes: Minutes = 30
    min_minutes: Minutes | None = Field(default=None, description="Default: one slot")
    max_minutes: Minutes | None = Field(default=None, description="Default: 4 hours")
    advance_days: AdvanceDays = 14
    cancel_before_minutes: CancelBefore = 0
    modify_before_minutes: CancelBefore | None = Field(
        default=None,
        description="Bookings move until this long before the start."
        " Default (null): the cancel deadline",
    )
    buffer_minutes: BufferMinutes = Field(
        default=0,
        description="Free minutes a booking of an exclusive space needs before and after it"
        " (cleaning, set-up); shared spaces ignore it",
    )
    open_24h: Flag = False
    opening_hours: OpeningHoursList = Field(default_factory=list)
    requires_approval: Flag = False
    requires_real_name: Flag = False
    requires_organization: Flag = False
    requires_check_in: Flag = False
    check_in_opens_minutes: CheckInOpens = 15
    no_show_after_minutes: NoShowAfter = 15
    release_time: ReleaseTime | None = None
    facilities: FacilityList = Field(default_factory=list)
    description: LongText = ""
    holiday_policy: HolidayPolicy | None = Field(
        default=None,
        description="On statutory holidays: closed, open (its usual hours) or weekend_hours"
        " (Sunday's). Default: open for a 24-hour space, else closed",
    )


class SpaceUpdate(Patch):
    name: ShortText | None = None
    kind: SpaceKind | None = None
    capacity: Capacity | None = None
    slot_minutes: Minutes | None = None
    min_minutes: Minutes | None = None
    max_minutes: Minutes | None = None
    advance_days: AdvanceDays | None = None
    cancel_before_minutes: CancelBefore | None = None
    modify_before_minutes: CancelBefore | None = None
    buffer_minutes: BufferMinutes | None = None
    open_24h: Flag | None = None
    opening_hours: OpeningHoursList | None = None
    requires_approval: Flag | None = None
    requires_real_name: Flag | None = None
    requires_organization: Flag | None = None
    requires_check_in: Flag | None = None
    check_in_opens_minutes: CheckInOpens | None = None
    no_show_after_minutes: NoShowAfter | None = None
    release_time: ReleaseTime | None = None
    holiday_policy: HolidayPolicy | None = None
    facilities: FacilityList | None = None
    description: LongText | None = None
    is_active: Flag | None = None
    affected: AffectedAction | None = AFFECTED

    nullable_fields = frozenset({"release_time", "modify_before_minutes"})


class SpaceOut(BaseModel):
    id: int
    center_id: int
    center_name: str
    center_address: str
    center_district: str
    center_street: str
    name: str
    kind: SpaceKind
    kind_label: str = Field(description="The kind in Chinese, e.g. 自习室")
    booking_mode: BookingMode
    capacity: int
    slot_minutes: int
    min_minutes: int
    max_minutes: int
    advance_days: int
    cancel_before_minutes: int
    modify_before_minutes: int | None = Field(
        description="Bookings move until this long before the start (null: the cancel deadline)"
    )
    buffer_minutes: int = Field(
        description="Free minutes a booking of an exclusive space needs before and after it"
    )
    open_24h: bool
    opening_hours: list[OpeningWindow]
    requires_approval: bool
    requires_real_name: bool
    requires_organization: bool
    requires_check_in: bool
    check_in_opens_minutes: int
    no_show_after_minutes: int
    release_time: str | None
    facilities: list[str]
    description: str
    is_active: bool
    holiday_policy: HolidayPolicy
    has_smart_lock: bool = Field(description="Doors open with a code from the reservation")
    distance_m: int | None = Field(
        default=None,
        description="Distance of its center from `near` in whole metres, when the list "
        "was asked with it",
    )
    free_now: int | None = Field(
        default=None,
        description="In the list: places free now, as `GET /spaces/{id}/occupancy` counts them",
    )

    @classmethod
    def of(
        cls, space: Space, distance_m: int | None = None, free_now: int | None = None
    ) -> "SpaceOut":
        return cls(
            free_now=free_now,
            id=space.id,
            center_id=space.center_id,
            center_name=space.center.name,
            center_address=space.center.address,
            center_district=space.center.district,
            center_street=space.center.street,
            name=space.name,
            kind=space.kind,
            kind_label=space.kind.label,
            distance_m=distance_m,
            booking_mode=space.booking_mode,
            capacity=space.capacity,
            slot_minutes=space.slot_minutes,
            min_minutes=space.min_minutes,
            max_minutes=space.max_minutes,
            advance_days=space.advance_days,
            cancel_before_minutes=space.cancel_before_minutes,
            modify_before_minutes=space.modify_before_minutes,
            buffer_minutes=space.buffer_minutes,
            open_24h=space.open_24h,
            opening_hours=[
                OpeningWindow(
                    weekday=row.weekday,
                    opens=format_wall_clock(row.opens_minute),
                    closes=format_wall_clock(row.closes_minute),
                )
                for row in space.opening_hours
            ],
            requires_approval=space.requires_approval,
            requires_real_name=space.requires_real_name,
            requires_organization=space.requires_organization,
            requires_check_in=space.requires_check_in,
            check_in_opens_minutes=space.check_in_opens_minutes,
            no_show_after_minutes=space.no_show_after_minutes,
            release_time=(
                format_wall_clock(space.release_minute)
                if space.release_minute is not None
                else None
            ),
            facilities=list(space.facilities),
            description=space.description,
            is_active=space.is_active,
            holiday_policy=space.holiday_policy,
            has_smart_lock=any(door.is_active for door in space.doors),
        )


class ClosureCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: Instant
    end: Instant
    reason: ChangeReason
    affected: AffectedAction | None = AFFECTED


class ClosureOut(BaseModel):
    id: int
    space_id: int
    start: LocalInstant
    end: LocalInstant
    reason: str

    @classmethod
    def of(cls, closure: Closure) -> "ClosureOut":
        return cls(
            id=closure.id,
            space_id=closure.space_id,
            start=closure.starts_at,
            end=closure.ends_at,
            reason=closure.reason,
        )


class AffectedOut(BaseModel):
    """A holding booking a change left outside the space's time."""

    reservation_id: int
    space_id: int
    start: LocalInstant
    end: LocalInstant
    status: ReservationStatus = Field(description="As it is now: cancelled, or kept as it was")

    @classmethod
    def of(cls, booking: AffectedBooking) -> "AffectedOut":
        return cls(
            reservation_id=booking.reservation_id,
            space_id=booking.space_id,
            start=booking.start,
            end=booking.end,
            status=booking.status,
        )


AffectedList = Annotated[
    list[AffectedOut],
    Field(description="The bookings the change left outside the space's time, and their fate"),
]


class ClosureAdded(ClosureOut):
    affected: AffectedList


class OpeningHoursChange(BaseModel):
    """``PUT /admin/spaces/{id}/opening-hours`` as an object, to say what happens
    to bookings the new hours leave out (a bare list of windows is accepted too)."""

    model_config = ConfigDict(extra="forbid")

    opening_hours: OpeningHoursList
    affected: AffectedAction | None = AFFECTED
    reason: ChangeReason | None = Field(
        default=None, description="Told to the bookers of cancelled bookings"
    )


class SpaceChanged(SpaceOut):
    affected: AffectedList


class SlotStatus(enum.StrEnum):
    free = "free"
    taken = "taken"
    closed = "closed"
    past = "past"
    not_yet_bookable = "not_yet_bookable"  # past the booking window: see opens_at
    mine = "mine"  # the caller holds it (pending, confirmed, checked in, or offered)


class SlotOut(BaseModel):
    start: LocalInstant
    end: LocalInstant
    status: SlotStatus
    remaining: int = Field(description="Seats (shared) or rooms (exclusive: 0 or 1) still free")
    reason: str | None = Field(
        default=None,
        description="Only on a closed slot closed by a closure or a holiday: why",
    )
    opens_at: LocalInstant | None = Field(
        default=None, description="Only on a not_yet_bookable slot: when it can be booked"
    )
    title: str | None = Field(
        default=None,
        description="Only on a slot taken by one of the center's public events: its title",
    )


class OccupancyOut(BaseModel):
    space_id: int
    checked_in: int = Field(description="People of the bookings checked in now")
    capacity: int
    free_now: int = Field(
        description="Places free now, as availability's `remaining`: seats no booking "
        "holds (shared) or 1/0 rooms (exclusive); 0 while the space is closed"
    )
    next_free_at: LocalInstant | None = Field(
        description="With none free: the start of the next free slot, today or tomorrow"
    )


class AvailabilityOut(BaseModel):
    space_id: int
    date: dt.date
    slot_minutes: int
    bookable_until: LocalInstant = Field(description="The end of the booking window")
    slots: list[SlotOut]
