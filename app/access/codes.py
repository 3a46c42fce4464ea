"""Door codes: 8 random digits, sealed for their owner, found by a keyed hash.

A code is live while its booking's check-in is open and until the booking
ends: from the space's ``check_in_opens_minutes`` before the start (one
window for one act, ``calendar.check_in_opens``).
It is stored as AES-GCM ciphertext for its owner to read and as a keyed hash
of (space, code), the ``lookup``, for the lock's question. Within one space
no two unrevoked codes with overlapping windows are equal: on PostgreSQL an
exclusion constraint says so (a clash is drawn again), on SQLite the writer
checks under its write lock.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import utcnow
from app.core.crypto import PiiCipher, Sealed
from app.core.errors import AppError, Text
from app.models import AccessCode, Space
from app.spaces.calendar import Interval, check_in_opens

CODE_DIGITS = 8
CODE_SPACE = 100_000_000  # 10 ** CODE_DIGITS
PURPOSE = "door-code"
# Twenty clashes in a row among 10^8 codes do not happen; a loop that says so ends.
DRAWS = 20


@dataclass(frozen=True)
class DrawnCode:
    lookup: str
    sealed: bytes
    key_version: int
    valid_from: datetime
    valid_until: datetime


@dataclass(frozen=True)
class CodeBook:
    """Draws, reads and finds door codes with the PII cipher."""

    cipher: PiiCipher

    def lookup(self, space_id: int, code: str) -> str:
        return self.cipher.blind_index(f"door-code:{space_id}", code)

    def draw(
        self, space_id: int, start: datetime, end: datetime, check_in_opens_minutes: int
    ) -> DrawnCode:
        """A fresh code for a booking of ``[start, end)``, live from its check-in
        on; the store makes sure it does not clash with another live one of the
        space."""
        code = f"{secrets.randbelow(CODE_SPACE):0{CODE_DIGITS}d}"
        sealed = self.cipher.seal(PURPOSE, code)
        return DrawnCode(
            lookup=self.lookup(space_id, code),
            sealed=sealed.ciphertext,
            key_version=sealed.key_version,
            valid_from=check_in_opens(start, check_in_opens_minutes),
            valid_until=end,
        )

    def reveal(self, sealed: bytes, key_version: int) -> str:
        return self.cipher.open(PURPOSE, Sealed(sealed, key_version))


class NoAccessCode(AppError):
    status = 404
    code = "no_access_code"
    title = Text("没有门禁密码", "No door code")
    detail = Text(
        "该预约没有有效的门禁密码（空间无智能门锁，或预约尚未确认）",
        "This reservation has no live door code (no smart lock, or not confirmed)",
    )


async def issue(
    session: AsyncSession, codes: CodeBook, reservation_id: int, space_id: int, interval: Interval
) -> None:
    """Give a reservation a code (on approval, or staff reissuing one). The caller
    holds the space's lock, so looking for a clash and inserting cannot
    interleave with another issue; PostgreSQL's constraint backs that up."""
    opens_minutes = await session.scalar(
        select(Space.check_in_opens_minutes).where(Space.id == space_id)
    )
    assert opens_minutes is not None
    for _ in range(DRAWS):
        drawn = codes.draw(space_id, interval.start, interval.end, opens_minutes)
        if not await _clashes(session, space_id, drawn):
            break
    else:  # pragma: no cover - 20 clashes in a row among 10^8 codes
        raise AssertionError("no door code without a clash in 20 draws")
    session.add(
        AccessCode(
            reservation_id=reservation_id,
            space_id=space_id,
            lookup=drawn.lookup,
            code_sealed=drawn.sealed,
            key_version=drawn.key_version,
            valid_from=drawn.valid_from,
            valid_until=drawn.valid_until,
            issued_at=utcnow(),
        )
    )
    await session.flush()


async def _clashes(session: AsyncSession, space_id: int, drawn: DrawnCode) -> bool:
    found = await session.scalar(
        select(AccessCode.id)
        .where(
            AccessCode.space_id == space_id,
            AccessCode.lookup == drawn.lookup,
            AccessCode.revoked_at.is_(None),
            AccessCode.valid_from < drawn.valid_until,
            AccessCode.valid_until > drawn.valid_from,
        )
        .limit(1)
    )
    return found is not None


async def revoke(session: AsyncSession, *reservation_ids: int, at: datetime | None = None) -> None:
    """The bookings' codes stop opening anything (as of ``at``, a job's instant)."""
    if not reservation_ids:
        return
    await session.execute(
        update(AccessCode)
        .where(AccessCode.reservation_id.in_(reservation_ids), AccessCode.revoked_at.is_(None))
        .values(revoked_at=at or utcnow())
    )


async def live_code(session: AsyncSession, reservation_id: int) -> AccessCode | None:
    return await session.scalar(
        select(AccessCode)
        .where(AccessCode.reservation_id == reservation_id, AccessCode.revoked_at.is_(None))
        .order_by(AccessCode.id.desc())
        .limit(1)
    )
