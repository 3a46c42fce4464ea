"""The guessing budget of a space's keypad (all its doors share it).

Wrong codes within the last day, since staff last cleared the keypad, lock it
out for escalating short periods (``lockout_after``): none for the first
four, 15 minutes at the fifth, 30 at the sixth, then an hour at each further
one, never longer: a stranger who stops typing leaves the keypad shut for an
hour at most. The budget is checked before a code is looked at, so neither
another door nor a cleared lockout buys a guess. What that bounds is worked
out in the README ("Guessing a door code").
"""

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import AppError, Text
from app.models import AttemptMethod, Door, DoorAttempt, Keypad
from app.models.access import WRONG_CODES

FAILURES_BEFORE_LOCKOUT = 5
FIRST_LOCKOUT = timedelta(minutes=15)
LONGEST_LOCKOUT = timedelta(hours=1)
FAILURE_WINDOW = timedelta(hours=24)
# The most wrong codes the schedule lets through at one space in any 24 hours,
# and in any 8 h 45 min (the longest a code of a study room with 8-hour
# bookings can be found and used: answered "not yet" from 30 minutes before
# its check-in opens, 15 minutes before the start, live until the end),
# against a guesser who types the moment each lockout ends (tests recompute them).
MOST_FAILURES_PER_DAY = 30
MOST_FAILURES_PER_CODE_LIFETIME = 14
# A typo or two lock nobody out; a keypad that locks out more than this often in
# one Shanghai day has a guesser at it, and the staff covering it are told.
LOCKOUTS_BEFORE_ALERT = 3
FAILURES = WRONG_CODES


class DoorLockedOut(AppError):
    status = 429
    code = "door_locked_out"
    title = Text("尝试次数过多，门禁已锁定", "Too many wrong codes: door locked")
    detail = Text("请于 {minutes} 分钟后再试", "Try again in {minutes} minutes")

    def __init__(self, until: datetime, now: datetime) -> None:
        seconds = max(1, int((until - now).total_seconds()))
        super().__init__(minutes=-(-seconds // 60))
        self.headers["Retry-After"] = str(seconds)


def lockout_after(failures: int) -> timedelta | None:
    """How long the keypad stays shut after the ``failures``-th wrong code of
    the window: not at all for the first four, 15 minutes at the fifth, then
    twice as long with each further one, up to an hour."""
    if failures < FAILURES_BEFORE_LOCKOUT:
        return None
    doublings = min(failures - FAILURES_BEFORE_LOCKOUT, 2)
    return min(FIRST_LOCKOUT * (1 << doublings), LONGEST_LOCKOUT)


def counting_since(now: datetime, cleared_at: datetime | None) -> datetime:
    """Wrong codes count from here: a day ago, or the last clear if later."""
    since = now - FAILURE_WINDOW
    return cleared_at if cleared_at is not None and cleared_at > since else since


async def ensure_keypad(session: AsyncSession, space_id: int) -> None:
    """The space's keypad row, created with its first door."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(insert(Keypad).values(space_id=space_id).on_conflict_do_nothing())


async def lock_keypad(session: AsyncSession, space_id: int) -> Keypad:
    """The space's keypad, locked: attempts at any of its doors queue here."""
    query = select(Keypad).where(Keypad.space_id == space_id).with_for_update()
    keypad = await session.scalar(query)
    if keypad is None:  # a door made before keypads existed, or by hand
        await ensure_keypad(session, space_id)
        keypad = await session.scalar(query)
        assert keypad is not None
    return keypad


async def failures_since(session: AsyncSession, space_id: int, since: datetime) -> int:
    """Wrong codes typed at the space's doors since ``since``."""
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
