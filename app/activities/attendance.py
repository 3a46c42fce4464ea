"""Attendance (签到): who came to an activity, and the figure it ends with.

A confirmed participant checks in by scanning the activity's QR code (its
``check_in_token``) from 30 minutes before the start until the end; staff or
the organiser check people in from the list, and count walk-ins (people who
came without signing up). The ``complete-activities`` job ends a published
activity once its end has passed: ``attended`` = the attendees of checked-in
sign-ups + walk-ins, final from then on.

Check-ins take the activity's row in share mode, walk-ins and the job in
update mode (PostgreSQL: ``FOR SHARE`` and ``FOR NO KEY UPDATE``; SQLite's
write transaction serializes them all): a check-in either counts in the job's
sum or meets a completed activity.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.activities.service import ACTIVITY, managed
from app.activities.signups import SIGNUP
from app.audit import service as audit
from app.core.clock import utcnow
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import AppError, InvalidTransition, NotFound, Text
from app.core.jobs import Report
from app.identity.principals import Actor, StaffPrincipal
from app.models import Activity, ActivitySignup, ActivityStatus, Course, SignupStatus, User
from app.reservations.errors import CheckInClosed, CheckInNotOpen, CheckInTokenInvalid
from app.reservations.rules import local_iso, local_text
from app.spaces.check_in_qr import qr_svg, token_matches

# Check-in opens this long before the start and closes at the end.
CHECK_IN_OPENS_BEFORE = timedelta(minutes=30)
# What an activity's QR code holds; the mini-program reads the id and the token.
PREFIX = "zhendi-activity-check-in"
BATCH = 200

ACTIVITY_TOKEN = Text(
    "请扫描活动现场张贴的签到二维码", "Scan the check-in QR code posted at the activity"
)


class NotSignedUp(AppError):
    status = 409
    code = "not_signed_up"
    title = Text("未报名或尚在候补", "Not signed up")
    detail = Text(
        "只有报名成功（非候补）的人可以签到", "Only a confirmed sign-up (not waiting) checks in"
    )


class AttendanceFinal(AppError):
    status = 409
    code = "attendance_final"
    title = Text("活动已结束", "Attendance is final")
    detail = Text(
        "活动已结束并完成统计，签到人数不再变更",
        "The activity is completed and its attendance counted; it changes no more",
    )


@dataclass(frozen=True)
class CheckInQr:
    activity_id: int
    token: str
    svg: str


@dataclass(frozen=True)
class Attendance:
    activity_id: int
    checked_in: int  # attendees of checked-in sign-ups
    walk_ins: int
    attended: int | None  # final, once completed


async def check_in_qr(session: AsyncSession, actor: Actor, activity_id: int) -> CheckInQr:
    """The activity's check-in QR code, for those who manage it."""
    activity = await managed(session, actor, activity_id)
    content = f"{PREFIX}:{activity.id}:{activity.check_in_token}"
    return CheckInQr(activity.id, activity.check_in_token, qr_svg(content))


async def _locked(session: AsyncSession, activity_id: int, *, share: bool) -> Activity:
    """The activity's row, read afresh and locked: in share mode for a check-in,
    else as an UPDATE of it locks (``FOR NO KEY UPDATE``)."""
    activity = await session.scalar(
        select(Activity)
        .where(Activity.id == activity_id)
        .with_for_update(read=share, key_share=not share)
        .execution_options(populate_existing=True)
    )
    if activity is None:
        raise NotFound(ACTIVITY)
    return activity


def _still_counting(activity: Activity, now: datetime) -> None:
    """Attendance is taken while the activity is published, from when
    check-in opens; it is final once completed."""
    if activity.status is ActivityStatus.completed:
        raise AttendanceFinal()
    if activity.status is not ActivityStatus.published:
        raise InvalidTransition(
            Text("活动未发布或已取消", "The activity is not published, or is cancelled")
        ).with_extra(activity_status=activity.status.value)
    opens = activity.starts_at - CHECK_IN_OPENS_BEFORE
    if now < opens:
        raise CheckInNotOpen(opens_at=local_text(opens)).with_extra(opens_at=local_iso(opens))


async def check_in(
    session: AsyncSession, user: User, activity_id: int, token: str
) -> ActivitySignup:
    """A confirmed participant with the activity's token, from 30 minutes
    before the start until the end. Checking in twice changes nothing."""
    now = utcnow()
    activity = await _locked(session, activity_id, share=True)
    if activity.status is ActivityStatus.draft:
        raise NotFound(ACTIVITY)
    if not token_matches(activity.check_in_token, token):
        raise CheckInTokenInvalid(ACTIVITY_TOKEN)
    signup = await session.scalar(
        select(ActivitySignup)
        .where(
            ActivitySignup.activity_id == activity.id,
            ActivitySignup.user_id == user.id,
            ActivitySignup.status.in_((SignupStatus.confirmed, SignupStatus.waiting)),
        )
        .with_for_update()
    )
    if signup is None or signup.status is not SignupStatus.confirmed:
        raise NotSignedUp().with_extra(signup_status=signup.status.value if signup else None)
    if activity.status is ActivityStatus.completed:
        raise AttendanceFinal()
    if signup.checked_in_at is not None:
        return signup
    _still_counting(activity, now)
    if now >= activity.ends_at:
        ends = activity.ends_at
        raise CheckInClosed(closed_at=local_text(ends)).with_extra(closed_at=local_iso(ends))
    signup.checked_in_at = now
    return signup


async def check_in_for(
    session: AsyncSession, actor: Actor, activity_id: int, signup_id: int
) -> ActivitySignup:
    """Staff or the organiser check a confirmed participant in from the list,
    from when check-in opens until the activity is completed."""
    now = utcnow()
    await managed(session, actor, activity_id)
    activity = await _locked(session, activity_id, share=True)
    signup = await session.scalar(
        select(ActivitySignup)
        .where(ActivitySignup.id == signup_id, ActivitySignup.activity_id == activity.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if signup is None:
        raise NotFound(SIGNUP)
    if signup.status is not SignupStatus.confirmed:
        raise NotSignedUp().with_extra(signup_status=signup.status.value)
    _still_counting(activity, now)
    if signup.checked_in_at is not None:
        return signup
    signup.checked_in_at = now
    signup.checked_in_by_staff_id = actor.id if isinstance(actor, StaffPrincipal) else None
    audit.record(
        session,
        actor,
        entity="activity_signup",
        entity_id=signup.id,
        action="check_in",
        from_status=None,
        to_status=None,
    )
    return signup


async def add_walk_ins(
    session: AsyncSession, actor: Actor, activity_id: int, count: int
) -> Attendance:
    """Count ``count`` more people who came without signing up."""
    now = utcnow()
    await managed(session, actor, activity_id)
    activity = await _locked(session, activity_id, share=False)
    _still_counting(activity, now)
    activity.walk_ins += count
    activity.updated_at = now
    audit.record(
        session,
        actor,
        entity="activity",
        entity_id=activity.id,
        action="walk_ins",
        from_status=None,
        to_status=None,
        reason=f"+{count}",
    )
    await session.flush()
    return await attendance(session, activity)


async def _checked_in(session: AsyncSession, activity_id: int) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(ActivitySignup.attendees), 0)).where(
            ActivitySignup.activity_id == activity_id,
            ActivitySignup.status == SignupStatus.confirmed,
            ActivitySignup.checked_in_at.is_not(None),
        )
    )
    return int(total or 0)


async def attendance(session: AsyncSession, activity: Activity) -> Attendance:
    return Attendance(
        activity_id=activity.id,
        checked_in=await _checked_in(session, activity.id),
        walk_ins=activity.walk_ins,
        attended=activity.attended,
    )


async def complete_activities(database: Database, settings: Settings, now: datetime) -> Report:
    """The ``complete-activities`` job: every published activity whose end has
    passed becomes ``completed`` with its final ``attended``. Rows are picked
    with ``SKIP LOCKED`` and moved by a compare-and-swap on the status, so two
    runs at once, or one after another, complete each once."""
    completed = 0
    while True:
        async with database.writer.begin() as session:
            due = (
                await session.scalars(
                    select(Activity.id)
                    .where(Activity.status == ActivityStatus.published, Activity.ends_at <= now)
                    .order_by(Activity.ends_at, Activity.id)
                    .limit(BATCH)
                    .with_for_update(key_share=True, skip_locked=True)
                )
            ).all()
            for activity_id in due:
                checked_in = await _checked_in(session, activity_id)
                swapped = await session.execute(
                    update(Activity)
                    .where(Activity.id == activity_id, Activity.status == ActivityStatus.published)
                    .values(
                        status=ActivityStatus.completed,
                        attended=Activity.walk_ins + checked_in,
                        completed_at=now,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                completed += swapped.rowcount  # type: ignore[attr-defined]
        if len(due) < BATCH:
            break
    courses = await _complete_courses(database, now)
    return Report(
        completed + courses, f"{completed} activities completed, {courses} courses completed"
    )


async def _complete_courses(database: Database, now: datetime) -> int:
    """A published course is completed once none of its sessions is still to
    be held (each is completed or cancelled): a compare-and-swap on its status."""
    still_to_hold = (
        select(Activity.id)
        .where(
            Activity.course_id == Course.id,
            Activity.status.in_((ActivityStatus.draft, ActivityStatus.published)),
        )
        .exists()
    )
    async with database.writer.begin() as session:
        swapped = await session.execute(
            update(Course)
            .where(Course.status == ActivityStatus.published, ~still_to_hold)
            .values(status=ActivityStatus.completed, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return int(swapped.rowcount)  # type: ignore[attr-defined]
