"""The booking rules, as pure functions on what was read: no I/O.

``decide`` is the whole decision to book, taken on a ``Snapshot`` the store
read, in the order a client meets its problems: who is asking, the space,
the calendar (docs/ARCHITECTURE.md, invariant 3), real name, organization,
closures, the holders of the time (invariants 1, 2 and 5), and quotas. A
store then writes what ``decide`` allowed, under a lock that re-checks what
the lock protects (see ``app/reservations/store.py``).
"""

from collections.abc import Iterable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Holder:
    """A holding reservation overlapping the wanted time."""

    start: datetime
    end: datetime
    attendees: int
    user_id: int


@dataclass(frozen=True)
class Booker:
    id: int
    active: bool
    verified: bool  # real name
    suspended_until: datetime | None = None  # at the space's center


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


@dataclass(frozen=True)
class Wanted:
    space_id: int
    interval: Interval
    attendees: int
    organization_id: int | None

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
    if booker.suspended_until is not None and now < booker.suspended_until:
        until = booker.suspended_until
        raise BookingSuspended(until=local_text(until)).with_extra(until=local_iso(until))
    check_calendar(space, wanted, now)
    if space.requires_real_name and not booker.verified:
        raise RealNameRequired()
    organization = check_organization(space, wanted, snapshot.organization)
    if snapshot.closure is not None:
        raise SpaceClosed(reason=snapshot.closure)
    refuse_conflicts(space, booker.id, wanted, snapshot.holders)
    # Last, as the guard on PostgreSQL re-checks them: the holders, then quotas.
    check_quotas(snapshot.quotas, wanted.interval, wanted.subject)
    confirmed = not space.requires_approval
    return Decision(
        space=space,
        status=ReservationStatus.confirmed if confirmed else ReservationStatus.pending,
        needs_code=confirmed and space.has_doors,
        organization_name=organization.name if organization else None,
        quotas=snapshot.quotas,
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
    if interval.start < now:
        raise InThePast()
    window_end = calendar.booking_window_end(space.advance_days, now, space.release_minute)
    if interval.start >= window_end:
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


def check_organization(
    space: SpaceView, wanted: Wanted, organization: OrganizationView | None
) -> OrganizationView | None:
    """Only members book on an organization's account; a space that requires an
    organization takes only verified ones."""
    if wanted.organization_id is None:
        if space.requires_organization:
            raise OrganizationRequired()
        return None
    if organization is None or not organization.member:
        raise NotOrganizationMember()
    if space.requires_organization and not organization.verified:
        raise OrganizationRequired()
    return organization


def refuse_conflicts(
    space: SpaceView, user_id: int, wanted: Wanted, holders: Iterable[Holder]
) -> None:
    """Invariants 1, 2 and 5 against the holders of the wanted time: a room is
    taken by any overlap; a shared space refuses only if some instant would go
    over capacity, and a person holds one seat at a time."""
    interval = wanted.interval
    overlapping = [
        holder for holder in holders if holder.start < interval.end and interval.start < holder.end
    ]
    if space.exclusive:
        if overlapping:
            first = min(overlapping, key=lambda holder: holder.start)
            raise slot_taken(first.start, first.end)
        return
    if any(holder.user_id == user_id for holder in overlapping):
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
