"""Rating an activity after it is held, as a booking is rated after use
(``app/feedback``): a participant rates a completed activity once, 1 to 5, with
an optional comment; those who manage it read the ratings and their average,
and the activity report takes the average too (``app/reports/activities.py``).

Who may rate: the holder of a **confirmed** sign-up of a **completed**
activity, checked in or not. Check-in at an activity is optional (a paper list,
a head count of walk-ins), so requiring it would leave activities nobody can
rate; a sign-up cancelled before the activity, or still waiting for a place,
rates nothing.

The rating is stored on the sign-up itself (``activity_signups.rating``,
``comment``, ``rated_at``) by a compare-and-swap on ``rated_at IS NULL``: two
ratings sent at once store one, the other is ``409 feedback_given``.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.activities.finding import get_visible
from app.activities.service import managed
from app.core.errors import AppError, Text
from app.feedback.service import FeedbackGiven, FeedbackNotOpen
from app.identity.principals import Actor
from app.models import Activity, ActivitySignup, ActivityStatus, SignupStatus, User

STATUS_TEXT = {
    ActivityStatus.draft: Text("草稿", "a draft"),
    ActivityStatus.published: Text("已发布，尚未结束", "published, not yet held"),
    ActivityStatus.completed: Text("已结束", "completed"),
    ActivityStatus.cancelled: Text("已取消", "cancelled"),
}
NOT_OPEN = Text(
    "只有已结束的活动可以评价（当前状态：“{status}”）",
    "Only a completed activity can be rated (it is {status})",
)
GIVEN = Text("每次活动只能评价一次", "An activity is rated once")


class FeedbackNotAllowed(AppError):
    status = 403
    code = "feedback_not_allowed"
    title = Text("无权评价", "Not a participant")
    detail = Text(
        "只有报名成功的参与者可以评价该活动",
        "Only those whose sign-up was confirmed may rate the activity",
    )


async def rate(
    session: AsyncSession,
    user: User,
    activity_id: int,
    rating: int,
    comment: str | None,
    now: datetime,
) -> ActivitySignup:
    """Store ``user``'s rating of a completed activity they were signed up for."""
    await get_visible(session, user, activity_id)  # 404 for what they cannot see
    activity = await session.get(Activity, activity_id)
    assert activity is not None
    if activity.status is not ActivityStatus.completed:
        raise FeedbackNotOpen(NOT_OPEN, status=STATUS_TEXT[activity.status]).with_extra(
            activity_status=activity.status.value
        )
    signup = await session.scalar(
        select(ActivitySignup).where(
            ActivitySignup.activity_id == activity_id,
            ActivitySignup.user_id == user.id,
            ActivitySignup.status == SignupStatus.confirmed,
        )
    )
    if signup is None:
        raise FeedbackNotAllowed()
    swapped = await session.execute(
        update(ActivitySignup)
        .where(ActivitySignup.id == signup.id, ActivitySignup.rated_at.is_(None))
        .values(rating=rating, comment=comment or None, rated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not swapped.rowcount:  # type: ignore[attr-defined]
        raise FeedbackGiven(GIVEN)  # rated before, or by a request that won the race
    await session.refresh(signup)
    return signup


async def of_activity(
    session: AsyncSession, actor: Actor, activity_id: int, *, limit: int, offset: int
) -> tuple[Sequence[ActivitySignup], int, float | None]:
    """A page of the activity's ratings, newest first, their count and average,
    for those who manage it (staff covering its center, its organiser)."""
    activity = await managed(session, actor, activity_id)
    rated = (ActivitySignup.activity_id == activity.id, ActivitySignup.rating.is_not(None))
    count, average = (
        await session.execute(select(func.count(), func.avg(ActivitySignup.rating)).where(*rated))
    ).one()
    rows = await session.scalars(
        select(ActivitySignup)
        .where(*rated)
        .order_by(ActivitySignup.rated_at.desc(), ActivitySignup.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return rows.all(), int(count), round(float(average), 2) if average is not None else None
