"""Feedback after use: the booker of a completed booking rates it once, 1 to
5, with an optional comment; staff read a space's feedback and its average
(which the usage reports take too)."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import flush_unique
from app.core.errors import AppError, NotFound, Text
from app.identity.principals import StaffPrincipal
from app.models import Feedback, Reservation, ReservationStatus, User
from app.reservations.errors import STATUS_TEXT
from app.spaces.service import get_space_in_scope

RESERVATION = Text("预约", "reservation")


class FeedbackNotOpen(AppError):
    status = 409
    code = "feedback_not_open"
    title = Text("暂不能评价", "Feedback not open")
    detail = Text(
        "只有已完成的预约可以评价（当前状态：“{status}”）",
        "Only a completed booking can be rated (it is {status})",
    )


class FeedbackGiven(AppError):
    status = 409
    code = "feedback_given"
    title = Text("已评价", "Feedback already given")
    detail = Text("每个预约只能评价一次", "A booking is rated once")


async def give(
    session: AsyncSession,
    user: User,
    reservation_id: int,
    rating: int,
    comment: str | None,
    now: datetime,
) -> Feedback:
    reservation = await session.scalar(
        select(Reservation).where(Reservation.id == reservation_id, Reservation.user_id == user.id)
    )
    if reservation is None:  # someone else's is as unknown as a missing one
        raise NotFound(RESERVATION)
    if reservation.status is not ReservationStatus.completed:
        status = reservation.status
        raise FeedbackNotOpen(status=STATUS_TEXT[status]).with_extra(
            reservation_status=status.value
        )
    given = await session.scalar(
        select(Feedback.id).where(Feedback.reservation_id == reservation.id)
    )
    if given is not None:
        raise FeedbackGiven()
    feedback = Feedback(
        reservation_id=reservation.id,
        space_id=reservation.space_id,
        user_id=user.id,
        rating=rating,
        comment=comment or None,
        created_at=now,
    )
    session.add(feedback)
    await flush_unique(session, FeedbackGiven())  # two at once: one is kept
    return feedback


async def of_space(
    session: AsyncSession, staff: StaffPrincipal, space_id: int, *, limit: int, offset: int
) -> tuple[Sequence[Feedback], int, float | None]:
    """A page of the space's feedback, newest first, the count and the average."""
    space = await get_space_in_scope(session, staff, space_id)
    count, average = (
        await session.execute(
            select(func.count(), func.avg(Feedback.rating)).where(Feedback.space_id == space.id)
        )
    ).one()
    rows = await session.scalars(
        select(Feedback)
        .where(Feedback.space_id == space.id)
        .order_by(Feedback.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return rows.all(), int(count), round(float(average), 2) if average is not None else None
