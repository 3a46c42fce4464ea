"""Arriving and leaving: check-in (签到) and check-out (签退).

A booking is checked in by the first granted door unlock (app/access/verify.py),
by its owner scanning the space's QR code, or by staff. Where the space
requires check-in, a booking not checked in by start + ``no_show_after_minutes``
is released as a no-show (``lifecycle.py``); each path moves the status with
a compare-and-swap from ``confirmed``, so of a check-in and the release that
race for one booking exactly one wins (docs/ARCHITECTURE.md, invariant 9).

Checking out ends the booking at the next slot boundary: the rest of its
time is free at once, and its door code stops working.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from app.access import codes as door_codes
from app.audit import reasons
from app.core.clock import utcnow
from app.core.errors import NotFound
from app.identity.principals import Actor, StaffPrincipal
from app.models import NotificationKind, Reservation, ReservationStatus
from app.notifications import service as notifications
from app.reservations import transitions
from app.reservations.errors import RESERVATION, CheckInTokenInvalid, CheckInTokenRequired
from app.reservations.service import locked, move
from app.spaces.check_in_qr import token_matches

Status = ReservationStatus


async def check_in(
    session: AsyncSession, actor: Actor, reservation_id: int, token: str | None
) -> Reservation:
    """The owner with the token of the space's QR code, or staff in scope without."""
    reservation = await locked(session, actor, reservation_id, lock_space=False)
    if not isinstance(actor, StaffPrincipal):
        if reservation.user_id != actor.id:
            # A member of the booking's organization sees it, but only the one who
            # comes checks it in.
            raise NotFound(RESERVATION)
        if reservation.status is Status.checked_in:
            # Already in (by the door, say): tapping 签到 again, with or without
            # a scan, changes nothing and is no error.
            return reservation
        if token is None:
            raise CheckInTokenRequired()
        if not token_matches(reservation.space.check_in_token, token):
            raise CheckInTokenInvalid()
    now = utcnow()
    if transitions.check_check_in(transitions.view(reservation), now):
        reservation.checked_in_at = now
        method = reasons.BY_STAFF if isinstance(actor, StaffPrincipal) else reasons.BY_QR_CODE
        await move(session, actor, reservation, Status.checked_in, "check_in", method)
    return reservation


async def check_out(session: AsyncSession, actor: Actor, reservation_id: int) -> Reservation:
    """Leave early, or on time: ``completed``, the end cut to the next slot boundary."""
    reservation = await locked(session, actor, reservation_id, lock_space=False)
    now = utcnow()
    view = transitions.view(reservation)
    transitions.check_check_out(view, actor, now)
    reservation.ends_at = transitions.early_end(view, now)
    await move(session, actor, reservation, Status.completed, "check_out")
    await door_codes.revoke(session, reservation.id)
    # Completed now rather than by the completion job: the invitation to rate
    # it comes now too (once: a completed booking never completes again).
    await notifications.tell_booker(
        session, NotificationKind.feedback_requested, reservation, now=now
    )
    return reservation
