"""The booking rules, as pure functions on what was read: no I/O.

``decide`` is the whole decision to book, taken on a ``Snapshot`` the store
read, in the order a client meets its problems: who is asking, the space,
the calendar (docs/ARCHITECTURE.md, invariant 3), real name, organization,
closures, the holders of the time (invariants 1, 2 and 5), and quotas. A
store then writes what ``decide`` allowed, under a lock that re-checks what
the lock protects (see ``app/reservations/store.py``).
"""

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.core.clock import SHANGHAI
from app.core.errors import InvalidToken, NotFound
from app.holidays.days import DayPlan
from app.identity.service import AccountDeactivated
from app.models import QuotaSubject, ReservationStatus
from app.quotas.rules import QuotaUse, check_quotas
from app.reservations.errors import (
    NOT_YET_RELEASED,
    AlreadyBooked,
    BookingSuspended,
    InThePast,
    InvalidDuration,
    NotAligned,
    NotOrganizationMember,
    OneSeatPerPerson,
    OrganizationNotVerified,
    OrganizationRequired,
    OutsideBookingWindow,
    OutsideOpeningHours,
    RealNameRequired,
    SlotTaken,
    SpaceClosed,
    SpaceFull,
    TooManyAttendees,
)
from app.spaces import calendar
from app.spaces.calendar import SPACE, Interval, InvalidInterval, WeeklyWindow

# --- what the store read ------------------------------------------------------------


@dataclass(frozen=True)
class SpaceView:
    id: int
    center_id: int
    name: str
    exclusive: bool
    capacity: int
    slot_minutes: int
    min_minutes: int
    max_minutes: int
    advance_days: int
    open_24h: bool
    windows: tuple[WeeklyWindow, ...]
    requires_approval: bool
    requires_real_name: bool
    requires_organization: bool
    has_doors: bool
    release_minute: int | None = None  # the last bookable day opens then (Shanghai)
    # For what the booking tells people (app/notifications).
    center_name: str = ""
    center_address: str = ""
    center_district: str = ""
    # Holidays and moved workdays on the days wanted (app/holidays); None: none.
    plan: DayPlan | None = None
    # For the booking's view: the doors its code opens, and its deadlines.
    door_names: tuple[str, ...] = ()
    cancel_before_minutes: int = 0
    # Check-in (and so a door code) opens this long before the start; where
    # check-in is required, a booking not checked in this long after the start
    # is a no-show.
    check_in_opens_minutes: int = 15
    requires_check_in: bool = False
    no_show_after_minutes: int = 15
    # Free minutes an exclusive space keeps before and after each booking.
    buffer_minutes: int = 0

    @property
    def buffer(self) -> timedelta:
        """The margin kept around each booking: an exclusive space's buffer."""
        return timedelta(minutes=self.buffer_minutes if self.exclusive else 0)


@dataclass(frozen=True)
class Holder:
    """A holding reservation overlapping the wanted time."""

    start: datetime
    end: datetime
    attendees: int
    user_id: int | None  # None: a center event


@dataclass(frozen=True)
class Booker:
    id: int
    active: bool
    verified: bool  # real name
    suspended_until: datetime | None = None  # at the space's center


# Who asks for a center event: the center itself, which no user id names.
CENTER = Booker(id=0, active=True, verified=True)


@dataclass(frozen=True)
class OrganizationView:
    id: int
    name: str
    verified: bool
    member: bool  # is the booker one of its members?


@dataclass(frozen=True)
class Snapshot:
    booker: Booker | None
    space: SpaceView | None
    closure: str | None
    holders: tuple[Holder, ...]
    organization: OrganizationView | None
    quotas: tuple[QuotaUse, ...]


class Waiver(enum.StrEnum):
    """A rule ``decide`` leaves out for one act. Staff booking for someone may
    waive ``quota`` and ``booking_window`` (with a reason, audited); the
    center's own events waive every rule about the person (docs/ARCHITECTURE.md,
    "Staff bookings and center events")."""

    quota = "quota"
    booking_window = "booking_window"
    real_name = "real_name"
    organization = "organization"
    approval = "approval"
    suspension = "suspension"


# What the center's own events are not subject to: they are nobody's booking.
EVENT_WAIVERS = frozenset(Waiver)


@dataclass(frozen=True)
class Wanted:
    space_id: int
    interval: Interval
    attendees: int
    organization_id: int | None
    waived: frozenset[Waiver] = field(default=frozenset())

    @property
    def subject(self) -> QuotaSubject:
        """Whose quotas count: the organization's when booking on its account."""
        return QuotaSubject.user if self.organization_id is None else QuotaSubject.organization


@dataclass(frozen=True)
class Decision:
    """What ``decide`` allows a store to write."""

    space: SpaceView
    status: ReservationStatus
    needs_code: bool
    organization_name: str | None
    quotas: tuple[QuotaUse, ...]  # re-checked under the subject's lock


# --- the decision -----------------------------------------------------------------------


def decide(snapshot: Snapshot, wanted: Wanted, now: datetime) -> Decision:
    """Allow the booking, or raise the first problem it has."""
    booker = snapshot.booker
    if booker is None:
        raise InvalidToken()  # the token names a user who no longer exists
    if not booker.active:
        raise AccountDeactivated()
    space = snapshot.space
    if space is None:
        raise NotFound(SPACE)
    waived = wanted.waived
    suspended = booker.suspended_until
    if Waiver.suspension not in waived and suspended is not None and now < suspended:
        raise BookingSuspended(until=local_text(suspended)).with_extra(until=local_iso(suspended))
    check_calendar(space, wanted, now)
    if space.requires_real_name and not booker.verified and Waiver.real_name not in waived:
        raise RealNameRequired()
    organization = None
    if Waiver.organization not in waived:
        organization = check_organization(space, wanted, snapshot.organization)
    if snapshot.closure is not None:
        raise SpaceClosed(reason=snapshot.closure)
    refuse_conflicts(space, booker.id, wanted, snapshot.holders)
    # Last, as the guard on PostgreSQL re-checks them: the holders, then quotas.
    # A waived quota is neither checked here nor passed to the guard.
    quotas = () if Waiver.quota in waived else snapshot.quotas
    check_quotas(quotas, wanted.interval, wanted.subject)
    confirmed = not space.requires_approval or Waiver.approval in waived
    return Decision(
        space=space,
        status=ReservationStatus.confirmed if confirmed else ReservationStatus.pending,
        needs_code=confirmed and space.has_doors,
        organization_name=organization.name if organization else None,
        quotas=quotas,
    )


def check_calendar(space: SpaceView, wanted: Wanted, now: datetime) -> None:
    """Invariant 3, cheapest rule first."""
    interval = wanted.interval
    if interval.end <= interval.start:
        raise InvalidInterval()
    slot = space.slot_minutes
    if not (calendar.is_aligned(interval.start, slot) and calendar.is_aligned(interval.end, slot)):
        raise NotAligned(slot=slot)
    minutes = (interval.end - interval.start) / timedelta(minutes=1)
    if not space.min_minutes <= minutes <= space.max_minutes:
        raise InvalidDuration(min=space.min_minutes, max=space.max_minutes)
    if interval.start < now and not walk_in(space, interval.start, now):
        raise InThePast()
    window_end = calendar.booking_window_end(space.advance_days, now, space.release_minute)
    if interval.start >= window_end and Waiver.booking_window not in wanted.waived:
        release = calendar.next_release(now, space.release_minute)
        if release is not None and interval.start < window_end + timedelta(days=1):
            raise OutsideBookingWindow(NOT_YET_RELEASED, opens=local_text(release)).with_extra(
                opens_at=local_iso(release)
            )
        raise OutsideBookingWindow(days=space.advance_days, until=local_text(window_end))
    hours_of = space.plan.hours_of if space.plan else None
    if not calendar.within_opening_hours(space.open_24h, space.windows, interval, hours_of):
        if space.plan is not None and space.plan.closed_by is not None:
            raise SpaceClosed(reason=space.plan.closed_by)
        raise OutsideOpeningHours()
    if wanted.attendees > space.capacity:
        raise TooManyAttendees(capacity=space.capacity)
    one_seat = space.requires_real_name and Waiver.real_name not in wanted.waived
    if not space.exclusive and one_seat and wanted.attendees != 1:
        # One real name, one code, one seat: each companion books their own.
        raise OneSeatPerPerson()


def walk_in(space: SpaceView, start: datetime, now: datetime) -> bool:
    """Whether a booking may start at ``start``, already past: the boundary of
    the slot running now (``calendar.walk_in_open``). ``start`` is on the slot
    grid already."""
    return calendar.walk_in_open(
        now - start,
        space.slot_minutes,
        requires_approval=space.requires_approval,
        requires_check_in=space.requires_check_in,
        no_show_after_minutes=space.no_show_after_minutes,
    )


def check_organization(
    space: SpaceView, wanted: Wanted, organization: OrganizationView | None
) -> OrganizationView | None:
    """Only members book on an organization's account, and only once staff have
    verified it; a space that requires an organization takes no personal booking."""
    if wanted.organization_id is None:
        if space.requires_organization:
            raise OrganizationRequired()
        return None
    if organization is None or not organization.member:
        raise NotOrganizationMember()
    if not organization.verified:
        raise OrganizationNotVerified()
    return organization


def refuse_conflicts(
    space: SpaceView, user_id: int | None, wanted: Wanted, holders: Iterable[Holder]
) -> None:
    """Invariants 1, 2 and 5 against the holders of the wanted time: a room is
    taken by any overlap; a shared space refuses only if some instant would go
    over capacity, and a person holds one seat at a time."""
    interval, buffer = wanted.interval, space.buffer
    overlapping = [
        holder
        for holder in holders
        if holder.start < interval.end + buffer and interval.start - buffer < holder.end
    ]
    if space.exclusive:
        if overlapping:
            first = min(overlapping, key=lambda holder: holder.start)
            raise slot_taken(first.start, first.end)
        return
    if user_id is not None and any(holder.user_id == user_id for holder in overlapping):
        raise AlreadyBooked()
    peak = calendar.peak_load(
        ((holder.start, holder.end, holder.attendees) for holder in overlapping),
        interval.start,
        interval.end,
    )
    if peak + wanted.attendees > space.capacity:
        raise space_full(space.capacity, peak)


def slot_taken(start: datetime, end: datetime) -> SlotTaken:
    return SlotTaken(start=local_text(start), end=local_text(end)).with_extra(
        conflict={"start": local_iso(start), "end": local_iso(end)}
    )


def space_full(capacity: int, peak: int) -> SpaceFull:
    return SpaceFull().with_extra(capacity=capacity, remaining=max(capacity - peak, 0))


def local_text(instant: datetime) -> str:
    return instant.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def local_iso(instant: datetime) -> str:
    return instant.astimezone(SHANGHAI).isoformat()
