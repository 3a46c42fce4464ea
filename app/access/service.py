"""Doors, door codes and what a lock is told when someone types a code.

Codes are 8 random digits from ``secrets``. A code is live from a few
minutes before its reservation starts until it ends; it is stored as AES-GCM
ciphertext for its owner to read and as a keyed hash of (space, code) for the
lock's question. Within one space no two live codes with overlapping windows
are equal (checked under the booking's space lock, and by an exclusion
constraint on PostgreSQL).

Guessing is bounded per space (all its doors share one keypad budget), in
the database, so the budget holds across doors, processes and restarts. The
budget is checked before the code is looked at: while the keypad is locked
out, no code is tried at all. Wrong codes within the last day (since staff
last cleared the keypad) lock it out for escalating short periods
(``lockout_after``): none for the first four, 15 minutes at the fifth, then
doubling with each further one. Any code that does not open the door now,
a wrong one or a real one of a later booking, gets the same answer and
counts the same, so the lock tells a guesser nothing. A booking's owner
always has a way in that no stranger can exhaust: the app unlock
(``unlock``), authenticated by their own token. The bound this gives is
worked out in the README ("Guessing a door code").
"""

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.access.locks import DoorRef, LockAdapter
from app.audit import service as audit
from app.core.clock import utcnow
from app.core.crypto import PiiCipher, Sealed
from app.core.errors import AppError, NotAuthenticated, NotFound, Text
from app.identity.principals import StaffPrincipal
from app.models import (
    AccessCode,
    AttemptMethod,
    AttemptOutcome,
    Door,
    DoorAttempt,
    Keypad,
    Membership,
    Reservation,
    ReservationStatus,
    Space,
    User,
)
from app.reservations.schemas import reservation_out_loads
from app.spaces.service import get_space_in_scope

DOOR = Text("门禁", "door")
RESERVATION = Text("预约", "reservation")
# Bookings whose code opens the door (inside its window).
LIVE = (ReservationStatus.confirmed, ReservationStatus.checked_in)
ACCESS_CODE = Text("门禁密码", "door code")
CODE_DIGITS = 8
CODE_SPACE = 100_000_000  # 10 ** CODE_DIGITS
FAILURES_BEFORE_LOCKOUT = 5
FIRST_LOCKOUT = timedelta(minutes=15)
LONGEST_LOCKOUT = timedelta(hours=24)
FAILURE_WINDOW = timedelta(hours=24)
# The most wrong codes the schedule lets through at one space in any 24 hours,
# against a guesser who types the moment each lockout ends (a test recomputes it).
MOST_FAILURES_PER_DAY = 11
_ISSUE_ATTEMPTS = 20
FAILURES = (AttemptOutcome.unknown_code, AttemptOutcome.outside_window)
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
    )
    session.add(door)
    await ensure_keypad(session, space.id)
    await session.flush()
    return door, device_key


async def ensure_keypad(session: AsyncSession, space_id: int) -> None:
    """The space's keypad row, created with its first door."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(insert(Keypad).values(space_id=space_id).on_conflict_do_nothing())


async def _door_in_scope(session: AsyncSession, staff: StaffPrincipal, door_id: int) -> Door:
    door = await session.scalar(select(Door).where(Door.id == door_id).with_for_update())
    if door is None:
        raise NotFound(DOOR)
    await get_space_in_scope(session, staff, door.space_id)
    return door


async def keypad_lockouts(
    session: AsyncSession, space_ids: Sequence[int]
) -> dict[int, datetime | None]:
    rows = await session.execute(
        select(Keypad.space_id, Keypad.locked_until).where(Keypad.space_id.in_(space_ids))
    )
    return {row.space_id: row.locked_until for row in rows}


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
    """Staff reopen the keypad of the door's space (after checking on site): the
    lockout ends and the wrong codes typed so far stop counting."""
    door = await _door_in_scope(session, staff, door_id)
    keypad = await _lock_keypad(session, door.space_id)
    keypad.locked_until = None
    keypad.cleared_at = utcnow()
    audit.record(
        session,
        staff,
        entity="door",
        entity_id=door.id,
        action="clear_lockout",
        from_status=None,
        to_status=None,
    )
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
    access = await _live_code(session, reservation.id) if reservation.status in LIVE else None
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
        raise NotFound(RESERVATION)
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
    if locked.status not in LIVE:
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


# --- the lock asks, the owner unlocks -------------------------------------------


def lockout_after(failures: int) -> timedelta | None:
    """How long the keypad stays shut after the ``failures``-th wrong code of
    the window: not at all for the first four, 15 minutes at the fifth, then
    twice as long with each further one (at most a day)."""
    if failures < FAILURES_BEFORE_LOCKOUT:
        return None
    doublings = min(failures - FAILURES_BEFORE_LOCKOUT, 7)
    return min(FIRST_LOCKOUT * (1 << doublings), LONGEST_LOCKOUT)


@dataclass(frozen=True)
class Verdict:
    outcome: AttemptOutcome
    reservation_id: int | None = None
    locked_until: datetime | None = None

    def locked_out(self, now: datetime) -> "DoorLockedOut | None":
        """The 429 to answer while the keypad is shut, counted from ``now``."""
        if self.locked_until is None:
            return None
        return DoorLockedOut(self.locked_until, now)

    @property
    def granted(self) -> bool:
        return self.outcome is AttemptOutcome.granted


async def _lock_keypad(session: AsyncSession, space_id: int) -> Keypad:
    """The space's keypad, locked: attempts at any of its doors queue here."""
    query = select(Keypad).where(Keypad.space_id == space_id).with_for_update()
    keypad = await session.scalar(query)
    if keypad is None:  # a door made before keypads existed, or by hand
        await ensure_keypad(session, space_id)
        keypad = await session.scalar(query)
        assert keypad is not None
    return keypad


async def verify_code(
    session: AsyncSession, codes: CodeBook, door: Door, code: str
) -> tuple[Verdict, "DoorLockedOut | None"]:
    """Answer a lock: does ``code`` open ``door`` now? Every attempt is logged.

    The keypad's budget comes first: while it is locked out the code is not
    looked at, so neither another door nor a cleared lockout buys a guess.
    """
    now = utcnow()
    keypad = await _lock_keypad(session, door.space_id)
    if keypad.locked_until is not None and now < keypad.locked_until:
        verdict = Verdict(AttemptOutcome.locked_out, locked_until=keypad.locked_until)
    else:
        verdict = await _check(session, codes, door, code, now)
        if verdict.granted:
            await check_in_by_door(session, verdict.reservation_id)
        else:
            failures = 1 + await _failures_since(session, door.space_id, keypad, now)
            if lockout := lockout_after(failures):
                keypad.locked_until = now + lockout
    _log_attempt(session, door, now, verdict, AttemptMethod.code)
    await session.flush()
    return verdict, verdict.locked_out(now)


async def _check(
    session: AsyncSession, codes: CodeBook, door: Door, code: str, now: datetime
) -> Verdict:
    candidates = (
        await session.execute(
            select(AccessCode.valid_from, AccessCode.valid_until, Reservation.id)
            .join(Reservation, Reservation.id == AccessCode.reservation_id)
            .where(
                AccessCode.space_id == door.space_id,
                AccessCode.lookup == codes.lookup(door.space_id, code),
                AccessCode.revoked_at.is_(None),
                Reservation.status.in_(LIVE),
            )
        )
    ).all()
    for valid_from, valid_until, reservation_id in candidates:
        if valid_from <= now < valid_until:
            return Verdict(AttemptOutcome.granted, reservation_id=reservation_id)
    if candidates:  # logged for staff; the lock hears the same "denied" as for a wrong code
        return Verdict(AttemptOutcome.outside_window, reservation_id=candidates[0][2])
    return Verdict(AttemptOutcome.unknown_code)


async def _failures_since(
    session: AsyncSession, space_id: int, keypad: Keypad, now: datetime
) -> int:
    """Wrong codes typed at the space's doors in the window, since the last clear."""
    since = now - FAILURE_WINDOW
    if keypad.cleared_at is not None and keypad.cleared_at > since:
        since = keypad.cleared_at
    count = await session.scalar(
        select(func.count(DoorAttempt.id))
        .join(Door, Door.id == DoorAttempt.door_id)
        .where(
            Door.space_id == space_id,
            DoorAttempt.method == AttemptMethod.code,
            DoorAttempt.outcome.in_(FAILURES),
            DoorAttempt.at > since,
        )
    )
    return int(count or 0)


def _log_attempt(
    session: AsyncSession, door: Door, now: datetime, verdict: Verdict, method: AttemptMethod
) -> None:
    session.add(
        DoorAttempt(
            door_id=door.id,
            at=now,
            outcome=verdict.outcome,
            method=method,
            reservation_id=verdict.reservation_id,
        )
    )


async def check_in_by_door(session: AsyncSession, reservation_id: int | None) -> None:
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


async def unlock(
    session: AsyncSession, locks: LockAdapter, user: User, reservation_id: int, door_id: int
) -> Verdict:
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
    access = await _live_code(session, reservation.id) if reservation.status in LIVE else None
    if access is None:
        raise NoAccessCode()
    if not access.valid_from <= now < access.valid_until:
        verdict = Verdict(AttemptOutcome.outside_window, reservation_id=reservation.id)
        _log_attempt(session, door, now, verdict, AttemptMethod.app)
        return verdict
    verdict = Verdict(AttemptOutcome.granted, reservation_id=reservation.id)
    _log_attempt(session, door, now, verdict, AttemptMethod.app)
    await check_in_by_door(session, reservation.id)
    await session.flush()
    # Told last, inside the transaction: if the door cannot be reached, nothing
    # is logged as opened and the booking is not checked in.
    await locks.open(DoorRef(door.id, door.device_key_hash), reservation.id)
    return verdict
