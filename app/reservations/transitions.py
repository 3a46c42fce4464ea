"""Which changes a reservation's state allows, as pure predicates beside the
changes themselves (``service.py``, ``attendance.py``, ``lifecycle.py``): each
raises the problem that refuses it. The whole diagram is in the README
("The lifecycle of a booking").
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.core.errors import Forbidden, InvalidTransition, Text
from app.identity.principals import Actor, StaffPrincipal
from app.models import CHANGEABLE_STATUSES, CODE_LIVE_STATUSES, Reservation, ReservationStatus
from app.reservations.errors import (
    APPROVE,
    CANCEL,
    CANNOT,
    CHECK_IN,
    CHECK_OUT,
    ENDED,
    REJECT,
    STATUS_TEXT,
    CancellationClosed,
    CheckInClosed,
    CheckInNotOpen,
    CheckOutNotCheckedIn,
    CheckOutNotStarted,
)
from app.reservations.rules import local_iso, local_text
from app.spaces.calendar import check_in_opens

Status = ReservationStatus
ONLY_LIVE_GET_A_CODE = Text(
    "只有已确认的预约才能重新生成密码", "Only confirmed bookings get a new code"
)
# Bookings whose code opens the door (inside its window).


@dataclass(frozen=True)
class View:
    status: ReservationStatus
    starts_at: datetime
    ends_at: datetime
    user_id: int
    cancel_before_minutes: int
    slot_minutes: int
    requires_check_in: bool
    check_in_opens_minutes: int
    no_show_after_minutes: int

    @property
    def check_in_opens(self) -> datetime:
        return check_in_opens(self.starts_at, self.check_in_opens_minutes)

    @property
    def check_in_closes(self) -> datetime:
        """Where check-in is required, the no-show deadline; elsewhere (and for a
        booking shorter than the grace), the end."""
        if self.requires_check_in:
            deadline = self.starts_at + timedelta(minutes=self.no_show_after_minutes)
            return min(deadline, self.ends_at)
        return self.ends_at


def view(reservation: Reservation) -> View:
    space = reservation.space
    return View(
        status=reservation.status,
        starts_at=reservation.starts_at,
        ends_at=reservation.ends_at,
        user_id=reservation.user_id,
        cancel_before_minutes=space.cancel_before_minutes,
        slot_minutes=space.slot_minutes,
        requires_check_in=space.requires_check_in,
        check_in_opens_minutes=space.check_in_opens_minutes,
        no_show_after_minutes=space.no_show_after_minutes,
    )


def check_cancel(
    reservation: View, actor: Actor, now: datetime, *, owns_organization: bool
) -> None:
    """The booker (or the organization's owner) until the space's deadline before
    the start; staff, with a reason, until the end."""
    staff = isinstance(actor, StaffPrincipal)
    if not staff and reservation.user_id != actor.id and not owns_organization:
        raise Forbidden(
            Text("只有预约人或组织负责人可以取消", "Only the booker or the owner may cancel")
        )
    if reservation.status not in CHANGEABLE_STATUSES:
        raise InvalidTransition(CANNOT, status=STATUS_TEXT[reservation.status], action=CANCEL)
    if staff:
        if now >= reservation.ends_at:
            raise InvalidTransition(CANNOT, status=ENDED, action=CANCEL)
        return
    deadline = reservation.starts_at - timedelta(minutes=reservation.cancel_before_minutes)
    if now >= deadline:
        raise CancellationClosed(minutes=reservation.cancel_before_minutes)


def check_approve(reservation: View, now: datetime) -> None:
    if reservation.status is not Status.pending:
        raise InvalidTransition(CANNOT, status=STATUS_TEXT[reservation.status], action=APPROVE)
    if now >= reservation.starts_at:
        raise InvalidTransition(CANNOT, status=STATUS_TEXT[Status.expired], action=APPROVE)


def check_reject(reservation: View) -> None:
    if reservation.status is not Status.pending:
        raise InvalidTransition(CANNOT, status=STATUS_TEXT[reservation.status], action=REJECT)


def check_reissue(reservation: View) -> None:
    if reservation.status not in CODE_LIVE_STATUSES:
        raise InvalidTransition(ONLY_LIVE_GET_A_CODE)


def check_check_in(reservation: View, now: datetime) -> bool:
    """Whether checking in changes anything: a booking already checked in stays
    so (the resident may scan twice); only a confirmed one inside its window
    moves."""
    if reservation.status is Status.checked_in:
        return False
    if reservation.status is not Status.confirmed:
        raise InvalidTransition(CANNOT, status=STATUS_TEXT[reservation.status], action=CHECK_IN)
    opens, closes = reservation.check_in_opens, reservation.check_in_closes
    if now < opens:
        raise CheckInNotOpen(opens_at=local_text(opens)).with_extra(opens_at=local_iso(opens))
    if now >= closes:
        raise CheckInClosed(closed_at=local_text(closes)).with_extra(closed_at=local_iso(closes))
    return True


def check_check_out(reservation: View, actor: Actor, now: datetime) -> None:
    """The booker or staff, from check-in (or, where none is needed, the start)
    until the end."""
    if not isinstance(actor, StaffPrincipal) and reservation.user_id != actor.id:
        raise Forbidden(Text("只有预约人可以签退", "Only the booker may check out"))
    if reservation.status not in CODE_LIVE_STATUSES or now >= reservation.ends_at:
        status = STATUS_TEXT[reservation.status] if now < reservation.ends_at else ENDED
        raise InvalidTransition(CANNOT, status=status, action=CHECK_OUT)
    if reservation.status is Status.confirmed:
        if now < reservation.starts_at:
            raise CheckOutNotStarted()
        if reservation.requires_check_in:
            raise CheckOutNotCheckedIn()


def early_end(reservation: View, now: datetime) -> datetime:
    """Where a booking left at ``now`` ends: the first slot boundary after now,
    but at least one slot after the start, and never later than it was."""
    slot = timedelta(minutes=reservation.slot_minutes)
    slots_used = max((now - reservation.starts_at) // slot + 1, 1)
    return min(reservation.starts_at + slots_used * slot, reservation.ends_at)
