"""Calendars: one booking as an .ics file, a resident's personal feed behind a
revocable token, and a space's feed for staff."""

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.strategy_options import _AbstractLoad

from app.calendars.ics import BookingEvent, calendar
from app.core.errors import NotFound, Text
from app.identity.principals import StaffPrincipal
from app.models import AuditEvent, CalendarFeed, Reservation, Space, User
from app.spaces.service import get_space_in_scope

RESERVATION = Text("预约", "reservation")
FEED = Text("日历订阅", "calendar feed")
# What a feed shows: the last month and everything ahead, newest last.
FEED_PAST = timedelta(days=30)
FEED_LIMIT = 1000


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _events(session: AsyncSession, rows: Sequence[Reservation]) -> list[BookingEvent]:
    """The bookings as events, each with its SEQUENCE: the changes recorded in
    the audit trail after its creation (docs/ARCHITECTURE.md, invariant 5)."""
    ids = [row.id for row in rows]
    changes: dict[int, int] = {}
    if ids:
        counted = await session.execute(
            select(AuditEvent.entity_id, func.count())
            .where(AuditEvent.entity == "reservation", AuditEvent.entity_id.in_(ids))
            .group_by(AuditEvent.entity_id)
        )
        changes = {entity_id: int(count) for entity_id, count in counted}
    return [
        BookingEvent(
            reservation_id=row.id,
            space_name=row.space.name,
            center_name=row.space.center.name,
            center_address=row.space.center.address,
            start=row.starts_at,
            end=row.ends_at,
            status=row.status,
            purpose=row.purpose,
            attendees=row.attendees,
            sequence=max(changes.get(row.id, 1) - 1, 0),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
        for row in rows
    ]


def _with_place() -> _AbstractLoad:
    return selectinload(Reservation.space).selectinload(Space.center)


async def reservation_calendar(session: AsyncSession, user: User, reservation_id: int) -> bytes:
    """The booker's own booking as a one-event calendar."""
    row = await session.scalar(
        select(Reservation)
        .options(_with_place())
        .where(Reservation.id == reservation_id, Reservation.user_id == user.id)
    )
    if row is None:  # someone else's is as unknown as a missing one
        raise NotFound(RESERVATION)
    return calendar(f"预约 #{row.id}", await _events(session, [row]))


async def issue_feed(session: AsyncSession, user: User, now: datetime) -> str:
    """A new feed token for ``user``; the old one, if any, stops working."""
    token = secrets.token_urlsafe(32)
    await session.execute(delete(CalendarFeed).where(CalendarFeed.user_id == user.id))
    session.add(CalendarFeed(user_id=user.id, token_hash=_token_hash(token), created_at=now))
    await session.flush()
    return token


async def revoke_feed(session: AsyncSession, user: User) -> None:
    result = await session.execute(delete(CalendarFeed).where(CalendarFeed.user_id == user.id))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(FEED)


async def feed_calendar(session: AsyncSession, token: str, now: datetime) -> bytes:
    """The feed's owner's bookings from a month ago on. An unknown or revoked
    token, or a deactivated or erased account, is a 404."""
    user = await session.scalar(
        select(User)
        .join(CalendarFeed, CalendarFeed.user_id == User.id)
        .where(CalendarFeed.token_hash == _token_hash(token))
    )
    if user is None or not user.is_active or user.erased_at is not None:
        raise NotFound(FEED)
    rows = await session.scalars(
        select(Reservation)
        .options(_with_place())
        .where(Reservation.user_id == user.id, Reservation.ends_at > now - FEED_PAST)
        .order_by(Reservation.starts_at, Reservation.id)
        .limit(FEED_LIMIT)
    )
    return calendar("阵地预约", await _events(session, rows.all()))


async def space_calendar(
    session: AsyncSession, staff: StaffPrincipal, space_id: int, now: datetime
) -> bytes:
    """A space's bookings from a month ago on, for staff in scope."""
    space = await get_space_in_scope(session, staff, space_id)
    rows = await session.scalars(
        select(Reservation)
        .options(_with_place())
        .where(Reservation.space_id == space.id, Reservation.ends_at > now - FEED_PAST)
        .order_by(Reservation.starts_at, Reservation.id)
        .limit(FEED_LIMIT)
    )
    return calendar(f"{space.center.name} · {space.name}", await _events(session, rows.all()))
