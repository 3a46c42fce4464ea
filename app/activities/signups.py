"""One's sign-up for an activity, and the line of those waiting for a place
(signing up itself is the hot path of ``signing.py`` and ``signup_store.py``;
the reminders before the start: ``app/activities/reminders.py``).

A sign-up takes its places by the conditional UPDATE of the activity's
``confirmed_attendees`` that the CHECK bounds, inside the sign-up's own
transaction: confirmed if they fit, else it waits in line. Capacity is exact
under concurrent sign-ups on both engines (``app/activities/places.py``).

The line is oldest first (by id). Every sign-up is written under the
activity's row lock (the places' UPDATE takes it; one that finds them gone
takes it and tries again), held until its commit: sign-ups join the line one
at a time, so the ids of those waiting are in the order they joined and a
position answered is the one the line keeps. A cancellation gives its places
back under the same lock and then walks the line (``promote``): a place
freed at the moment someone joins the line is either taken by them or finds
them in the line; nobody waits while their places stand free.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.activities import places
from app.activities.service import ACTIVITY, LIVE_SIGNUPS, message_values
from app.core.clock import utcnow
from app.core.errors import AppError, NotFound, Text
from app.models import (
    Activity,
    ActivitySignup,
    ActivityStatus,
    NotificationKind,
    SignupStatus,
    User,
)
from app.notifications import service as notifications
from app.reservations.rules import local_iso

SIGNUP = Text("报名", "sign-up")


class SignupClosed(AppError):
    status = 409
    code = "signup_closed"
    title = Text("不在报名时间内", "Sign-up is closed")
    detail = Text(
        "该活动现在不接受报名（未发布、已取消、已结束或不在报名时间内）",
        "The activity takes no sign-ups now (not published, cancelled, over, "
        "or outside its sign-up window)",
    )


class AlreadySignedUp(AppError):
    status = 409
    code = "already_signed_up"
    title = Text("已报名", "Already signed up")
    detail = Text(
        "您已报名该活动；如需更改人数，请先取消报名",
        "You are signed up already; cancel first to change the number of attendees",
    )


class AttendeesOverCapacity(AppError):
    status = 422
    code = "attendees_over_capacity"
    title = Text("人数超过活动名额", "More attendees than places")
    detail = Text("该活动共 {capacity} 个名额", "The activity has {capacity} places in all")


class CourseSession(AppError):
    status = 409
    code = "course_session"
    title = Text("请报名整门课程", "Enrol in the course")
    detail = Text(
        "课程的每次课随课程报名一并报名或取消",
        "A course's sessions are signed up for, and cancelled, with the course's enrolment",
    )


class ActivityStarted(AppError):
    status = 409
    code = "activity_started"
    title = Text("活动已开始", "The activity has started")
    detail = Text(
        "活动开始后不能取消报名", "A sign-up cannot be cancelled once the activity starts"
    )


@dataclass(frozen=True)
class SignupView:
    signup: ActivitySignup
    position: int | None  # 1-based among those waiting; None unless waiting


# --- signing up -------------------------------------------------------------------------


def published_or_missing(status: str | None) -> ActivityStatus:
    """The activity's status as the public sees it: a missing activity or a
    draft is not found."""
    if status is None or status == ActivityStatus.draft.value:
        raise NotFound(ACTIVITY)
    return ActivityStatus(status)


async def published(session: AsyncSession, activity_id: int) -> Activity:
    activity = await session.get(Activity, activity_id)
    published_or_missing(activity.status.value if activity else None)
    assert activity is not None
    return activity


def window_refusal(
    status: ActivityStatus,
    opens: datetime | None,
    closes: datetime | None,
    starts: datetime,
    now: datetime,
) -> None:
    """Sign-ups are taken while it is published, from ``signup_opens_at`` (or
    publication) until ``signup_closes_at`` (or the start)."""
    closes = closes or starts
    if status is not ActivityStatus.published or now >= closes or (opens and now < opens):
        raise SignupClosed().with_extra(
            activity_status=status.value,
            signup_opens_at=local_iso(opens) if opens else None,
            signup_closes_at=local_iso(closes),
        )


async def lock(session: AsyncSession, activity_id: int) -> None:
    """Lock the activity's row as its places' UPDATE does (PostgreSQL: ``FOR NO
    KEY UPDATE``, which leaves alone the key-share locks that inserting a
    sign-up takes on it, so two sign-ups never deadlock on the row)."""
    await session.execute(
        select(Activity.id).where(Activity.id == activity_id).with_for_update(key_share=True)
    )


async def _confirm(
    session: AsyncSession, activity: Activity, signup: ActivitySignup, now: datetime
) -> None:
    signup.status = SignupStatus.confirmed
    signup.confirmed_at = now
    values = await message_values(session, activity)
    notifications.tell_user(
        session,
        NotificationKind.activity_signup_confirmed,
        signup.user_id,
        {**values, "attendees": str(signup.attendees)},
        now,
        center_id=activity.center_id,
        activity_id=activity.id,
    )


async def position(session: AsyncSession, signup: ActivitySignup) -> int | None:
    """1-based place in the line, oldest first; None unless waiting."""
    if signup.status is not SignupStatus.waiting:
        return None
    ahead = await session.scalar(
        select(func.count()).where(
            ActivitySignup.activity_id == signup.activity_id,
            ActivitySignup.status == SignupStatus.waiting,
            ActivitySignup.id <= signup.id,
        )
    )
    return int(ahead or 0)


# --- one's own sign-up ------------------------------------------------------------------


async def mine(session: AsyncSession, user: User, activity_id: int) -> SignupView:
    """``user``'s latest sign-up for the activity: the live one if any."""
    signup = await session.scalar(
        select(ActivitySignup)
        .where(ActivitySignup.activity_id == activity_id, ActivitySignup.user_id == user.id)
        .order_by(ActivitySignup.id.desc())
        .limit(1)
    )
    if signup is None:
        raise NotFound(SIGNUP)
    return SignupView(signup, await position(session, signup))


async def cancel_mine(session: AsyncSession, user: User, activity_id: int) -> SignupView:
    """Cancel one's live sign-up until the activity starts; a confirmed one gives
    its places back and the line moves up (``promote``)."""
    now = utcnow()
    activity = await published(session, activity_id)
    if now >= activity.starts_at:
        raise ActivityStarted()
    # The activity first, then the sign-up: the order every writer locks them in.
    await lock(session, activity.id)
    signup = await session.scalar(
        select(ActivitySignup)
        .where(
            ActivitySignup.activity_id == activity.id,
            ActivitySignup.user_id == user.id,
            ActivitySignup.status.in_(LIVE_SIGNUPS),
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if signup is None:
        raise NotFound(SIGNUP)
    if signup.enrolment_id is not None:
        raise CourseSession()
    held_places = signup.status is SignupStatus.confirmed
    signup.status = SignupStatus.cancelled
    signup.cancelled_at = now
    await session.flush()
    if held_places:
        await places.give_back(session, activity.id, signup.attendees)
        await promote(session, activity, now)
    return SignupView(signup, None)


async def promote(session: AsyncSession, activity: Activity, now: datetime) -> int:
    """Confirm the waiting sign-ups that fit the places now free, walking the
    line oldest first. One too big for the free places is skipped and keeps
    its place in line; a smaller one behind it may be confirmed. Each one
    confirmed is told ``activity_signup_confirmed``. Call it after giving
    places back, in the same transaction (the activity's row is locked)."""
    free = await session.scalar(
        select(Activity.capacity - Activity.confirmed_attendees).where(Activity.id == activity.id)
    )
    remaining = int(free or 0)
    if remaining <= 0:
        return 0
    line = (
        await session.scalars(
            select(ActivitySignup)
            .where(
                ActivitySignup.activity_id == activity.id,
                ActivitySignup.status == SignupStatus.waiting,
            )
            .order_by(ActivitySignup.id)
            .with_for_update()
        )
    ).all()
    confirmed = 0
    for signup in line:
        if signup.attendees > remaining:
            continue
        if not await places.take(session, activity.id, signup.attendees):
            break  # cannot happen under the lock; never confirm without the places
        remaining -= signup.attendees
        confirmed += 1
        await _confirm(session, activity, signup, now)
        if remaining == 0:
            break
    return confirmed
