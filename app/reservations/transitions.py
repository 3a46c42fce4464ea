"""Which changes a reservation's state allows, as pure predicates beside the
changes themselves (``service.py``): each raises the problem that refuses it.

    pending ──approve──▶ confirmed ──door / check-in──▶ checked_in
       │                    │
       ├─reject──▶ rejected  └─cancel──▶ cancelled
       └─cancel──▶ cancelled
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.core.errors import Forbidden, InvalidTransition, Text
from app.identity.principals import Actor, StaffPrincipal
from app.models import Reservation, ReservationStatus
from app.reservations.errors import APPROVE, CANCEL, CANNOT, REJECT, CancellationClosed

Status = ReservationStatus
ONLY_LIVE_GET_A_CODE = Text(
    "只有已确认的预约才能重新生成密码", "Only confirmed bookings get a new code"
)
# Bookings whose code opens the door (inside its window).
LIVE = (Status.confirmed, Status.checked_in)


@dataclass(frozen=True)
class View:
    status: ReservationStatus
    starts_at: datetime
    ends_at: datetime
    user_id: int
    cancel_before_minutes: int


def view(reservation: Reservation) -> View:
    return View(
        status=reservation.status,
        starts_at=reservation.starts_at,
        ends_at=reservation.ends_at,
        user_id=reservation.user_id,
        cancel_before_minutes=reservation.space.cancel_before_minutes,
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
    if reservation.status not in (Status.pending, Status.confirmed):
        raise InvalidTransition(CANNOT, status=reservation.status.value, action=CANCEL)
    if staff:
        if now >= reservation.ends_at:
            raise InvalidTransition(CANNOT, status=reservation.status.value, action=CANCEL)
        return
    deadline = reservation.starts_at - timedelta(minutes=reservation.cancel_before_minutes)
    if now >= deadline:
        raise CancellationClosed(minutes=reservation.cancel_before_minutes)


def check_approve(reservation: View, now: datetime) -> None:
    if reservation.status is not Status.pending:
        raise InvalidTransition(CANNOT, status=reservation.status.value, action=APPROVE)
    if now >= reservation.starts_at:
        raise InvalidTransition(CANNOT, status="expired", action=APPROVE)


def check_reject(reservation: View) -> None:
    if reservation.status is not Status.pending:
        raise InvalidTransition(CANNOT, status=reservation.status.value, action=REJECT)


def check_reissue(reservation: View) -> None:
    if reservation.status not in LIVE:
        raise InvalidTransition(ONLY_LIVE_GET_A_CODE)
