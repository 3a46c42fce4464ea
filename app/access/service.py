"""What a lock is told when someone types a code, the owner's app unlock, and
the owner reading their code.

Any code that does not open the door now, a wrong one or a real one of a
later booking, gets the same answer and counts the same against the
keypad's budget (``keypad.py``), so the lock tells a guesser nothing. A
booking's owner always has a way in that no stranger can exhaust: the app
unlock, authenticated by their own token.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.access.codes import CodeBook, NoAccessCode, live_code
from app.access.doors import DOOR
from app.access.locks import DoorRef, LockAdapter
from app.audit import reasons
from app.audit import service as audit
from app.core.clock import utcnow
from app.core.errors import NotFound, Text
from app.models import (
    CODE_LIVE_STATUSES,
    AccessCode,
    AttemptMethod,
    AttemptOutcome,
    Door,
    DoorAttempt,
    Membership,
    Reservation,
    ReservationStatus,
    User,
)

RESERVATION = Text("预约", "reservation")
# Bookings whose code opens the door (inside its window).
ENTITY = "reservation"


@dataclass(frozen=True)
class Access:
    code: str
    valid_from: datetime
    valid_until: datetime
    door_ids: list[int]


async def _owned_reservation(session: AsyncSession, user: User, reservation_id: int) -> Reservation:
    """``user``'s own reservation. One made on an organization's account stays
    theirs only while they are a member: someone removed from the company (or
    who left) no longer reads its code or opens its door."""
    reservation = await session.scalar(
        select(Reservation).where(Reservation.id == reservation_id, Reservation.user_id == user.id)
    )
    if reservation is None:
        raise NotFound(RESERVATION)
    if reservation.organization_id is not None and not await _is_member(
        session, reservation.organization_id, user.id
    ):
        raise NoAccessCode()
    return reservation


async def _is_member(session: AsyncSession, organization_id: int, user_id: int) -> bool:
    found = await session.scalar(
        select(Membership.user_id).where(
            Membership.organization_id == organization_id, Membership.user_id == user_id
        )
    )
    return found is not None


async def read_access(
    session: AsyncSession, codes: CodeBook, user: User, reservation_id: int
) -> Access:
    """The owner's door code. Nobody else, staff included, ever reads it."""
    reservation = await _owned_reservation(session, user, reservation_id)
    access = await _live_code_of(session, reservation)
    if access is None:
        raise NoAccessCode()
    door_ids = (
        await session.scalars(
            select(Door.id)
            .where(Door.space_id == reservation.space_id, Door.is_active.is_(True))
            .order_by(Door.id)
        )
    ).all()
    return Access(
        code=codes.reveal(access.code_sealed, access.key_version),
        valid_from=access.valid_from,
        valid_until=access.valid_until,
        door_ids=list(door_ids),
    )


def _log_unlock(
    session: AsyncSession, door: Door, now: datetime, outcome: AttemptOutcome, reservation_id: int
) -> None:
    session.add(
        DoorAttempt(
            door_id=door.id,
            at=now,
            outcome=outcome,
            method=AttemptMethod.app,
            reservation_id=reservation_id,
        )
    )


async def _check_in(session: AsyncSession, reservation_id: int) -> None:
    """The first unlock checks the booking in (a compare-and-swap on its status)."""
    now = utcnow()
    result = await session.execute(
        update(Reservation)
        .where(Reservation.id == reservation_id, Reservation.status == ReservationStatus.confirmed)
        .values(status=ReservationStatus.checked_in, checked_in_at=now, updated_at=now)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        audit.record(
            session,
            None,
            entity=ENTITY,
            entity_id=reservation_id,
            action="check_in",
            from_status=ReservationStatus.confirmed.value,
            to_status=ReservationStatus.checked_in.value,
            reason=reasons.DOOR_UNLOCKED,
        )


async def unlock(
    session: AsyncSession, locks: LockAdapter, user: User, reservation_id: int, door_id: int
) -> bool:
    """The booking's owner opens a door of its space from the app, inside the
    window of the booking's code. No keypad budget applies: the caller is
    proved by their own token, so a stranger's wrong codes cannot shut them
    out. Logged like a code attempt; the first unlock checks the booking in.
    """
    now = utcnow()
    reservation = await _owned_reservation(session, user, reservation_id)
    door = await session.scalar(
        select(Door).where(
            Door.id == door_id,
            Door.space_id == reservation.space_id,
            Door.is_active.is_(True),
        )
    )
    if door is None:
        raise NotFound(DOOR)
    access = await _live_code_of(session, reservation)
    if access is None:
        raise NoAccessCode()
    if not access.valid_from <= now < access.valid_until:
        _log_unlock(session, door, now, AttemptOutcome.outside_window, reservation.id)
        return False
    _log_unlock(session, door, now, AttemptOutcome.granted, reservation.id)
    await _check_in(session, reservation.id)
    await session.flush()
    # Told last, inside the transaction: if the door cannot be reached, nothing
    # is logged as opened and the booking is not checked in.
    await locks.open(DoorRef(door.id, door.device_key_hash), reservation.id)
    return True


async def _live_code_of(session: AsyncSession, reservation: Reservation) -> AccessCode | None:
    """The reservation's door code, if its status lets the code open the door."""
    if reservation.status not in CODE_LIVE_STATUSES:
        return None
    return await live_code(session, reservation.id)
