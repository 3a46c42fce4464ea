"""Staff check-in from an activity's list, and walk-ins counted at the door:
a stand-in for the activities' attendance service, written against the
tables until that service takes them over (then each function here becomes
one call to it, and this module goes).

Each runs inside the console action's one transaction, holding the
activity's row lock (as cancelling it does), and writes with a
compare-and-swap (docs/ARCHITECTURE.md, invariant 6): a sign-up is checked in
only if it is still confirmed and not checked in yet, and walk-ins are added
only while the activity is published and its check-in open (from 30 minutes
before the start). Two staff pressing at once check a person in once, and
nothing is added to an activity cancelled or completed meanwhile.
"""

from datetime import datetime

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.activities import service as activities
from app.audit import service as audit
from app.console.pages import InvalidForm
from app.console.programme import CHECK_IN_OPENS, check_in_opens
from app.core.clock import SHANGHAI, utcnow
from app.core.errors import ConcurrentUpdate, InvalidTransition, NotFound, Text
from app.identity.principals import StaffPrincipal
from app.models import Activity, ActivitySignup, ActivityStatus, SignupStatus
from app.reservations.errors import CheckInNotOpen

SIGNUP = Text("报名", "sign-up")
# Walk-ins added at once: a door's count, not a typo's.
MOST_WALK_INS = 500
NOT_PUBLISHED = Text("活动未发布或已结束、已取消", "The activity is not published, or is over")
ALREADY_CHECKED_IN = Text("该报名已签到", "Already checked in")
NOT_CONFIRMED = Text("该报名未确认（候补或已取消）", "The sign-up is not confirmed")


def _open(now: datetime) -> ColumnElement[bool]:
    """The activity is published and its check-in open at ``now``."""
    return and_(
        Activity.status == ActivityStatus.published,
        Activity.starts_at <= now + CHECK_IN_OPENS,
    )


def _check_window(activity: Activity, now: datetime) -> None:
    if activity.status is not ActivityStatus.published:
        raise InvalidTransition(NOT_PUBLISHED).with_extra(activity_status=activity.status.value)
    if now < check_in_opens(activity):
        opens = check_in_opens(activity).astimezone(SHANGHAI)
        raise CheckInNotOpen(opens_at=opens.strftime("%Y-%m-%d %H:%M"))


async def staff_check_in_signup(
    session: AsyncSession, staff: StaffPrincipal, activity_id: int, signup_id: int
) -> ActivitySignup:
    """Check a confirmed sign-up in, as staff, once. The activity's row is
    locked first, as cancelling it locks it, so it cannot be cancelled or
    completed between the check and the swap."""
    activity = await activities.managed(session, staff, activity_id, for_update=True)
    signup = await session.scalar(
        select(ActivitySignup).where(
            ActivitySignup.id == signup_id, ActivitySignup.activity_id == activity_id
        )
    )
    if signup is None:
        raise NotFound(SIGNUP)
    now = utcnow()
    _check_window(activity, now)
    if signup.checked_in_at is not None:
        raise InvalidTransition(ALREADY_CHECKED_IN)
    if signup.status is not SignupStatus.confirmed:
        raise InvalidTransition(NOT_CONFIRMED).with_extra(signup_status=signup.status.value)
    swapped = await session.execute(
        update(ActivitySignup)
        .where(
            ActivitySignup.id == signup_id,
            ActivitySignup.status == SignupStatus.confirmed,
            ActivitySignup.checked_in_at.is_(None),
        )
        .values(checked_in_at=now, checked_in_by_staff_id=staff.id)
        .execution_options(synchronize_session=False)
    )
    if not swapped.rowcount:  # type: ignore[attr-defined]
        raise ConcurrentUpdate()  # checked in, cancelled or closed since it was read
    audit.record(
        session,
        staff,
        entity="activity_signup",
        entity_id=signup_id,
        action="check_in",
        from_status=SignupStatus.confirmed.value,
        to_status=SignupStatus.confirmed.value,
    )
    await session.refresh(signup)
    return signup


async def record_walk_ins(
    session: AsyncSession, staff: StaffPrincipal, activity_id: int, count: int
) -> int:
    """Add ``count`` people who came without signing up; the new total."""
    if not 1 <= count <= MOST_WALK_INS:
        raise InvalidForm()
    activity = await activities.managed(session, staff, activity_id, for_update=True)
    now = utcnow()
    _check_window(activity, now)
    swapped = await session.execute(
        update(Activity)
        .where(Activity.id == activity_id, _open(now))
        .values(walk_ins=Activity.walk_ins + count, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not swapped.rowcount:  # type: ignore[attr-defined]
        raise ConcurrentUpdate()  # cancelled or completed since it was read
    audit.record(
        session,
        staff,
        entity="activity",
        entity_id=activity_id,
        action="walk_ins",
        from_status=None,
        to_status=None,
        reason=f"现场登记 {count} 人",
    )
    total = await session.scalar(select(Activity.walk_ins).where(Activity.id == activity_id))
    return int(total or 0)
