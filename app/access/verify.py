"""What a lock is told when someone types a code: the same pipeline as a
booking, read → decide → write, for the request the lock waits on.

The read is the door (by its key), its space's keypad and the wrong codes
counted against it, and the live codes the typed code could be. ``decide``
is pure: the keypad's budget first (while it is locked out no code is
looked at, so neither another door nor a cleared lockout buys a guess), then
the code. The write logs the attempt and, for a wrong code, moves the keypad
on with a compare-and-swap on its version (a guesser's parallel attempts are
each counted: one that lost the swap is read and decided again), and, with
the lockout that makes a Shanghai day's more than three, tells the staff
covering the space in the same write (so once, however many race); for a
right one it checks the booking in, or, if the booking stopped being live
since the read, reads and decides again.
"""

import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from app.access.keypad import LOCKOUTS_BEFORE_ALERT, DoorLockedOut, lockout_after
from app.core.clock import SHANGHAI
from app.models import AttemptOutcome

# A code of a booking typed this long before its window opens (its check-in)
# is someone come early: the lock is told when it opens, and it is not a wrong
# code. Earlier than that, it is answered and counted like a wrong one.
EARLY = timedelta(minutes=30)
# A read-decide-write that lost its compare-and-swap this often in a row is
# under a flood of attempts at one space; it answers 429 for now.
ATTEMPTS = 5


@dataclass(frozen=True)
class Candidate:
    """An unrevoked code of the space equal to the typed one."""

    reservation_id: int
    valid_from: datetime
    valid_until: datetime
    checked_in: bool


@dataclass(frozen=True)
class DoorSnapshot:
    door_id: int
    space_id: int
    key_hash: str
    locked_until: datetime | None
    keypad_version: int
    failures: int  # wrong codes counted against the keypad now
    candidates: tuple[Candidate, ...]
    lockout_day: date | None = None  # the Shanghai day of the keypad's last lockout
    lockouts_that_day: int = 0


@dataclass(frozen=True)
class Verdict:
    outcome: AttemptOutcome
    reservation_id: int | None = None
    locked_until: datetime | None = None  # locked out, or a new lockout from this failure
    opens_at: datetime | None = None  # not yet: when the code starts opening the door
    check_in: bool = False  # the first unlock of a confirmed booking checks it in
    lockout_day: date | None = None  # a new lockout: its Shanghai day
    lockouts_that_day: int = 0  # … and how many that day with it

    @property
    def alerts_staff(self) -> bool:
        """This lockout is the day's first beyond the few typos explain."""
        return self.lockout_day is not None and self.lockouts_that_day == LOCKOUTS_BEFORE_ALERT + 1

    @property
    def granted(self) -> bool:
        return self.outcome is AttemptOutcome.granted

    @property
    def failure(self) -> bool:
        return self.outcome in (AttemptOutcome.unknown_code, AttemptOutcome.outside_window)

    def locked_out(self, now: datetime) -> DoorLockedOut | None:
        if self.outcome is not AttemptOutcome.locked_out or self.locked_until is None:
            return None
        return DoorLockedOut(self.locked_until, now)


def key_matches(snapshot: DoorSnapshot | None, key_hash: str) -> bool:
    """Constant time, and an unknown door looks like a wrong key."""
    expected = snapshot.key_hash if snapshot is not None else "0" * 64
    return hmac.compare_digest(expected, key_hash) and snapshot is not None


def decide(snapshot: DoorSnapshot, now: datetime) -> Verdict:
    if snapshot.locked_until is not None and now < snapshot.locked_until:
        return Verdict(AttemptOutcome.locked_out, locked_until=snapshot.locked_until)
    for candidate in snapshot.candidates:
        if candidate.valid_from <= now < candidate.valid_until:
            return Verdict(
                AttemptOutcome.granted,
                reservation_id=candidate.reservation_id,
                check_in=not candidate.checked_in,
            )
    for candidate in snapshot.candidates:
        if candidate.valid_from - EARLY <= now < candidate.valid_from:
            return Verdict(
                AttemptOutcome.not_yet,
                reservation_id=candidate.reservation_id,
                opens_at=candidate.valid_from,
            )
    outcome, reservation_id = AttemptOutcome.unknown_code, None
    if snapshot.candidates:  # logged for staff; the lock hears "denied" as for a wrong code
        outcome = AttemptOutcome.outside_window
        reservation_id = snapshot.candidates[0].reservation_id
    lockout = lockout_after(snapshot.failures + 1)
    if lockout is None:
        return Verdict(outcome, reservation_id)
    day = now.astimezone(SHANGHAI).date()
    earlier = snapshot.lockouts_that_day if snapshot.lockout_day == day else 0
    return Verdict(
        outcome,
        reservation_id,
        now + lockout,
        lockout_day=day,
        lockouts_that_day=earlier + 1,
    )


class DoorStore(Protocol):
    async def verify(self, door_id: int, key_hash: str, code: str, now: datetime) -> Verdict:
        """Authenticate the door, decide, write; raise ``InvalidDeviceKey``."""
        ...
