"""Doors, door codes and what a lock is told when someone types a code.

Codes are 8 random digits from ``secrets``. A code is live from a few
minutes before its reservation starts until it ends; it is stored as AES-GCM
ciphertext for its owner to read and as a keyed hash of (space, code) for the
lock's question. Within one space no two live codes with overlapping windows
are equal (checked under the booking's space lock, and by an exclusion
constraint on PostgreSQL).

Guessing is bounded per door, in the database, so the budget holds across
processes and restarts: ``FAILURES_BEFORE_LOCKOUT`` wrong codes in a row lock
the door for ``LOCKOUT``, and wrong codes at a space's doors within any 24
hours are capped by ``failure_cap``, sized so that an attacker's chance of
hitting any live code within a code's lifetime stays at or below 1e-6:
k live codes x failures / 10^8 <= 100 / 10^8.
"""

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.audit import service as audit
from app.core.clock import utcnow
from app.core.crypto import PiiCipher, Sealed
from app.core.errors import AppError, NotAuthenticated, NotFound, Text
from app.identity.principals import StaffPrincipal
from app.models import (
    AccessCode,
    AttemptOutcome,
    BookingMode,
    Door,
    DoorAttempt,
    Reservation,
    ReservationStatus,
    Space,
    User,
)
from app.reservations.schemas import reservation_out_loads
from app.spaces.service import SPACE, get_space_in_scope

DOOR = Text("门禁", "door")
ACCESS_CODE = Text("门禁密码", "door code")
CODE_DIGITS = 8
CODE_SPACE = 100_000_000  # 10 ** CODE_DIGITS
FAILURES_BEFORE_LOCKOUT = 5
LOCKOUT = timedelta(minutes=15)
FAILURE_WINDOW = timedelta(hours=24)
MAX_FAILURES_PER_WINDOW = 10
# k live codes x failures per code lifetime, over 10^8 codes: at most 1e-6.
GUESS_BUDGET = CODE_SPACE // 1_000_000
_ISSUE_ATTEMPTS = 20
ENTITY = "reservation"


class InvalidDeviceKey(NotAuthenticated):
    code = "invalid_device_key"
    title = Text("设备密钥无效", "Invalid device key")
    detail = Text("门禁设备认证失败", "The lock could not be authenticated")

    def __init__(self) -> None:
        super().__init__()
        self.headers["WWW-Authenticate"] = "Device"


class DoorLockedOut(AppError):
    status = 429
    code = "door_locked_out"
    title = Text("尝试次数过多，门禁已锁定", "Too many wrong codes: door locked")
    detail = Text("请于 {minutes} 分钟后再试", "Try again in {minutes} minutes")

    def __init__(self, until: datetime, now: datetime) -> None:
        seconds = max(1, int((until - now).total_seconds()))
        super().__init__(minutes=-(-seconds // 60))
        self.headers["Retry-After"] = str(seconds)


class NoAccessCode(AppError):
    status = 404
    code = "no_access_code"
    title = Text("没有门禁密码", "No door code")
    detail = Text(
        "该预约没有有效的门禁密码（空间无智能门锁，或预约尚未确认）",
        "This reservation has no live door code (no smart lock, or not confirmed)",
    )


class CannotReissue(AppError):
    status = 409
    code = "invalid_transition"
    title = Text("预约状态不允许该操作", "Not allowed in this state")
    detail = Text("只有已确认的预约才能重新生成密码", "Only confirmed bookings get a new code")


# --- doors ---------------------------------------------------------------------


def device_key_hash(device_key: str) -> str:
    """How a door's key is stored: 256 random bits need no slow hash."""
    return hashlib.sha256(device_key.encode()).hexdigest()


def _new_device_key() -> str:
    return secrets.token_urlsafe(32)


async def create_door(
    session: AsyncSession, staff: StaffPrincipal, space_id: int, name: str
) -> tuple[Door, str]:
    space = await get_space_in_scope(session, staff, space_id)
    device_key = _new_device_key()
    door = Door(
        space_id=space.id,
        name=name,
        device_key_hash=device_key_hash(device_key),
        is_active=True,
        consecutive_failures=0,
    )
    session.add(door)
    await session.flush()
    return door, device_key


async def _door_in_scope(session: AsyncSession, staff: StaffPrincipal, door_id: int) -> Door:
    door = await session.scalar(select(Door).where(Door.id == door_id).with_for_update())
    if door is None:
        raise NotFound(DOOR)
    await get_space_in_scope(session, staff, door.space_id)
    return door


async def rotate_door_key(
    session: AsyncSession, staff: StaffPrincipal, door_id: int
) -> tuple[Door, str]:
    """A new device key; the old one stops working at once."""
    door = await _door_in_scope(session, staff, door_id)
    device_key = _new_device_key()
    door.device_key_hash = device_key_hash(device_key)
    await session.flush()
    return door, device_key


async def clear_lockout(session: AsyncSession, staff: StaffPrincipal, door_id: int) -> Door:
    """Staff reopen a door locked by wrong codes (after checking on site)."""
    door = await _door_in_scope(session, staff, door_id)
    door.locked_until = None
    door.consecutive_failures = 0
    await session.flush()
    return door


async def list_doors(session: AsyncSession, staff: StaffPrincipal, space_id: int) -> Sequence[Door]:
    space = await get_space_in_scope(session, staff, space_id)
    query = select(Door).where(Door.space_id == space.id).order_by(Door.id)
    return (await session.scalars(query)).all()


async def authenticate_door(session: AsyncSession, door_id: int, device_key: str) -> Door:
    """The door, locked for this attempt, if ``device_key`` is its key.

    An unknown door and a wrong key look the same, and the comparison takes
    constant time.
    """
    door = await session.scalar(
        select(Door).where(Door.id == door_id, Door.is_active.is_(True)).with_for_update()
    )
    expected = door.device_key_hash if door is not None else device_key_hash("no such door")
    if not hmac.compare_digest(expected, device_key_hash(device_key)) or door is None:
        raise InvalidDeviceKey()
    return door


# --- codes -----------------------------------------------------------------------


@dataclass(frozen=True)
class CodeBook:
    """Issues, reads and checks door codes with the PII cipher and the leeway."""

    cipher: PiiCipher
    leeway: timedelta

    def lookup(self, space_id: int, code: str) -> str:
        return self.cipher.blind_index(f"door-code:{space_id}", code)

    async def issue(self, session: AsyncSession, reservation: Reservation) -> AccessCode | None:
        """Give a confirmed reservation a code, if its space has a smart lock.

        Runs inside the booking or approval transaction, under the space lock,
        so checking for a clash and inserting cannot interleave with another issue.
        """
        if not await _has_doors(session, reservation.space_id):
            return None
        valid_from = reservation.starts_at - self.leeway
        valid_until = reservation.ends_at
        for _ in range(_ISSUE_ATTEMPTS):
            code = f"{secrets.randbelow(CODE_SPACE):0{CODE_DIGITS}d}"
            lookup = self.lookup(reservation.space_id, code)
            if not await _clashes(session, reservation.space_id, lookup, valid_from, valid_until):
                break
        else:  # pragma: no cover - 20 clashes in a row among 10^8 codes
            raise RuntimeError("could not draw a unique door code")
        sealed = self.cipher.seal("door-code", code)
        access = AccessCode(
            reservation_id=reservation.id,
            space_id=reservation.space_id,
            lookup=lookup,
            code_sealed=sealed.ciphertext,
            key_version=sealed.key_version,
            valid_from=valid_from,
            valid_until=valid_until,
            issued_at=utcnow(),
        )
        session.add(access)
        await session.flush()
        return access

    def reveal(self, access: AccessCode) -> str:
        return self.cipher.open("door-code", Sealed(access.code_sealed, access.key_version))


async def _has_doors(session: AsyncSession, space_id: int) -> bool:
    found = await session.scalar(
        select(Door.id).where(Door.space_id == space_id, Door.is_active.is_(True)).limit(1)
    )
    return found is not None


async def _clashes(
    session: AsyncSession, space_id: int, lookup: str, valid_from: datetime, valid_until: datetime
) -> bool:
    found = await session.scalar(
        select(AccessCode.id)
        .where(
            AccessCode.space_id == space_id,
            AccessCode.lookup == lookup,
            AccessCode.revoked_at.is_(None),
            AccessCode.valid_from < valid_until,
            AccessCode.valid_until > valid_from,
        )
        .limit(1)
    )
    return found is not None


async def revoke_codes(session: AsyncSession, reservation_id: int) -> None:
    await session.execute(
        update(AccessCode)
        .where(AccessCode.reservation_id == reservation_id, AccessCode.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def _live_code(session: AsyncSession, reservation_id: int) -> AccessCode | None:
    return await session.scalar(
        select(AccessCode)
        .where(AccessCode.reservation_id == reservation_id, AccessCode.revoked_at.is_(None))
        .order_by(AccessCode.id.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class Access:
    code: str
    valid_from: datetime
    valid_until: datetime
    door_ids: list[int]


async def read_access(
    session: AsyncSession, codes: CodeBook, user: User, reservation_id: int
) -> Access:
    """The owner's door code. Nobody else, staff included, ever reads it."""
    reservation = await session.scalar(
        select(Reservation).where(Reservation.id == reservation_id, Reservation.user_id == user.id)
    )
    if reservation is None:
        raise NotFound(Text("预约", "reservation"))
    live = (ReservationStatus.confirmed, ReservationStatus.checked_in)
    access = await _live_code(session, reservation.id) if reservation.status in live else None
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
        code=codes.reveal(access),
        valid_from=access.valid_from,
        valid_until=access.valid_until,
        door_ids=list(door_ids),
    )


async def reissue(
    session: AsyncSession, codes: CodeBook, staff: StaffPrincipal, reservation_id: int
) -> Reservation:
    """Revoke the reservation's code and issue a new one (lock, re-check, rotate)."""
    reservation = await session.scalar(
        select(Reservation)
        .where(Reservation.id == reservation_id)
        .options(selectinload(Reservation.space).selectinload(Space.center))
    )
    if reservation is None or not staff.covers_center(reservation.space.center):
        raise NotFound(Text("预约", "reservation"))
    await session.execute(
        select(Space.id).where(Space.id == reservation.space_id).with_for_update()
    )
    locked = await session.scalar(
        select(Reservation)
        .where(Reservation.id == reservation_id)
        .options(*reservation_out_loads())
        .with_for_update(of=Reservation)
        .execution_options(populate_existing=True)
    )
    assert locked is not None
    if locked.status not in (ReservationStatus.confirmed, ReservationStatus.checked_in):
        raise CannotReissue()
    await revoke_codes(session, locked.id)
    if await codes.issue(session, locked) is None:
        raise NoAccessCode()
    audit.record(
        session,
        staff,
        entity=ENTITY,
        entity_id=locked.id,
        action="reissue_code",
        from_status=locked.status.value,
        to_status=locked.status.value,
    )
    return locked


# --- the lock asks ---------------------------------------------------------------


def failure_cap(space: Space) -> int:
    """Wrong codes allowed at a space's doors in any 24 hours.

    At most ``2 x capacity`` codes of a shared space are live at once (a
    full house, and the next one inside the leeway before it starts); an
    exclusive space has at most 2. The cap keeps live codes x failures
    within ``GUESS_BUDGET``.
    """
    units = space.capacity if space.booking_mode is BookingMode.shared else 1
    return max(1, min(MAX_FAILURES_PER_WINDOW, GUESS_BUDGET // (2 * units)))


@dataclass(frozen=True)
class Verdict:
    outcome: AttemptOutcome
    reservation_id: int | None = None
    locked_until: datetime | None = None

    @property
    def granted(self) -> bool:
        return self.outcome is AttemptOutcome.granted


async def verify_code(session: AsyncSession, codes: CodeBook, door: Door, code: str) -> Verdict:
    """Answer a lock: does ``code`` open ``door`` now? Every attempt is logged."""
    now = utcnow()
    space = await session.get(Space, door.space_id)
    if space is None:  # pragma: no cover - doors are deleted with their space
        raise NotFound(SPACE)
    if door.locked_until is not None and now < door.locked_until:
        verdict = Verdict(AttemptOutcome.locked_out, locked_until=door.locked_until)
    else:
        verdict = await _check(session, codes, door, code, now)
        if verdict.outcome is AttemptOutcome.unknown_code:
            await _count_failure(session, door, space, now)
        elif verdict.granted:
            door.consecutive_failures = 0
            await _check_in(session, verdict.reservation_id)
    session.add(
        DoorAttempt(
            door_id=door.id, at=now, outcome=verdict.outcome, reservation_id=verdict.reservation_id
        )
    )
    await session.flush()
    return verdict


async def _check(
    session: AsyncSession, codes: CodeBook, door: Door, code: str, now: datetime
) -> Verdict:
    candidates = (
        await session.execute(
            select(
                AccessCode.valid_from, AccessCode.valid_until, Reservation.id, Reservation.status
            )
            .join(Reservation, Reservation.id == AccessCode.reservation_id)
            .where(
                AccessCode.space_id == door.space_id,
                AccessCode.lookup == codes.lookup(door.space_id, code),
                AccessCode.revoked_at.is_(None),
                Reservation.status.in_((ReservationStatus.confirmed, ReservationStatus.checked_in)),
            )
        )
    ).all()
    for valid_from, valid_until, reservation_id, _status in candidates:
        if valid_from <= now < valid_until:
            return Verdict(AttemptOutcome.granted, reservation_id=reservation_id)
    if candidates:
        return Verdict(AttemptOutcome.outside_window, reservation_id=candidates[0][2])
    return Verdict(AttemptOutcome.unknown_code)


async def _count_failure(session: AsyncSession, door: Door, space: Space, now: datetime) -> None:
    door.consecutive_failures += 1
    if door.consecutive_failures >= FAILURES_BEFORE_LOCKOUT:
        door.consecutive_failures = 0
        door.locked_until = now + LOCKOUT
    cap = failure_cap(space)
    recent = (
        await session.scalars(
            select(DoorAttempt.at)
            .join(Door, Door.id == DoorAttempt.door_id)
            .where(
                Door.space_id == space.id,
                DoorAttempt.outcome == AttemptOutcome.unknown_code,
                DoorAttempt.at > now - FAILURE_WINDOW,
            )
            .order_by(DoorAttempt.at.desc())
            .limit(cap)
        )
    ).all()
    failures = [now, *recent]  # this attempt is logged after the check
    if len(failures) >= cap:
        # Closed until the oldest of the last `cap` failures leaves the window.
        reopens = failures[cap - 1] + FAILURE_WINDOW
        door.locked_until = max(door.locked_until or reopens, reopens)


async def _check_in(session: AsyncSession, reservation_id: int | None) -> None:
    """The first unlock checks the booking in (a compare-and-swap on its status)."""
    if reservation_id is None:
        return
    result = await session.execute(
        update(Reservation)
        .where(Reservation.id == reservation_id, Reservation.status == ReservationStatus.confirmed)
        .values(status=ReservationStatus.checked_in, updated_at=utcnow())
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
            reason="door unlocked",
        )
