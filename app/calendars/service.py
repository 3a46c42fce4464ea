"""Calendars: one booking or one activity as an .ics file, a resident's
personal feed (their bookings and the activities they signed up for) and a
staff member's feed of a space, each behind a revocable token, and a space's
calendar for staff with their bearer token."""

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Delete, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.strategy_options import _AbstractLoad

from app.activities import finding as activities
from app.activities.schemas import ActivityOut
from app.calendars.ics import ActivityEvent, BookingEvent, calendar
from app.core.errors import InvalidToken, NotFound, OutOfScope, Text
from app.identity.principals import Actor, StaffPrincipal
from app.identity.service import PasswordChangeRequired, load_staff_principal
from app.models import (
    Activity,
    ActivitySignup,
    ActivityStatus,
    AuditEvent,
    CalendarFeed,
    Reservation,
    SignupStatus,
    Space,
    SpaceCalendarFeed,
    User,
)
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


async def activity_calendar(session: AsyncSession, actor: Actor | None, activity_id: int) -> bytes:
    """An activity as a one-event calendar, for whoever may see it: anyone once
    it is published (app/activities/finding.py, ``get_visible``)."""
    shown = await activities.get_visible(session, actor, activity_id)
    row = await session.get(Activity, activity_id)
    assert row is not None
    return calendar(f"活动 #{activity_id}", [], [_activity_event(shown, row, None)])


def _activity_event(shown: ActivityOut, row: Activity, attendees: int | None) -> ActivityEvent:
    return ActivityEvent(
        activity_id=shown.id,
        title=shown.title,
        description=shown.description,
        category_label=shown.category_label,
        center_name=shown.center_name,
        place=shown.venue.name,
        address=shown.venue.address,
        start=shown.start,
        end=shown.end,
        status=shown.status,
        attendees=attendees,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


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


async def issue_space_feed(
    session: AsyncSession, staff: StaffPrincipal, space_id: int, now: datetime
) -> str:
    """A new feed token for a space in ``staff``'s scope; their old one for the
    space, if any, stops working."""
    space = await get_space_in_scope(session, staff, space_id)
    token = secrets.token_urlsafe(32)
    await session.execute(_drop_space_feed(staff, space.id))
    feed = SpaceCalendarFeed(
        staff_id=staff.id, space_id=space.id, token_hash=_token_hash(token), created_at=now
    )
    session.add(feed)
    await session.flush()
    return token


def _drop_space_feed(staff: StaffPrincipal, space_id: int) -> Delete:
    return delete(SpaceCalendarFeed).where(
        SpaceCalendarFeed.staff_id == staff.id, SpaceCalendarFeed.space_id == space_id
    )


async def revoke_space_feed(session: AsyncSession, staff: StaffPrincipal, space_id: int) -> None:
    space = await get_space_in_scope(session, staff, space_id)
    result = await session.execute(_drop_space_feed(staff, space.id))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(FEED)


async def feed_calendar(session: AsyncSession, token: str, now: datetime) -> bytes:
    """A resident's feed or a staff member's feed of a space, by its token. An
    unknown or revoked token is a 404, and so is a feed whose owner can no
    longer see it: a deactivated or erased account, a deactivated staff
    member, a space gone from their scope."""
    token_hash = _token_hash(token)
    user = await session.scalar(
        select(User)
        .join(CalendarFeed, CalendarFeed.user_id == User.id)
        .where(CalendarFeed.token_hash == token_hash)
    )
    if user is not None:
        return await _resident_feed(session, user, now)
    space_feed = await session.scalar(
        select(SpaceCalendarFeed).where(SpaceCalendarFeed.token_hash == token_hash)
    )
    if space_feed is None:
        raise NotFound(FEED)
    try:
        staff = await load_staff_principal(session, space_feed.staff_id)
        space = await get_space_in_scope(session, staff, space_feed.space_id)
    except (
        InvalidToken,
        OutOfScope,
        PasswordChangeRequired,
    ) as lost:  # their bearer token would be refused too
        raise NotFound(FEED) from lost
    return await _space_feed(session, space, now)


async def _resident_feed(session: AsyncSession, user: User, now: datetime) -> bytes:
    """The resident's bookings from a month ago on."""
    if not user.is_active or user.erased_at is not None:
        raise NotFound(FEED)
    rows = await _feed_rows(session, Reservation.user_id == user.id, now)
    return calendar("阵地预约", await _events(session, rows), await _signed_up(session, user, now))


async def _signed_up(session: AsyncSession, user: User, now: datetime) -> list[ActivityEvent]:
    """The activities ``user`` holds a confirmed sign-up for, from a month ago
    on, unless cancelled (a cancelled activity ends every sign-up)."""
    found = (
        await session.execute(
            select(Activity, ActivitySignup.attendees)
            .join(ActivitySignup, ActivitySignup.activity_id == Activity.id)
            .where(
                ActivitySignup.user_id == user.id,
                ActivitySignup.status == SignupStatus.confirmed,
                Activity.status.in_((ActivityStatus.published, ActivityStatus.completed)),
                Activity.ends_at > now - FEED_PAST,
            )
            .order_by(Activity.starts_at, Activity.id)
            .limit(FEED_LIMIT)
        )
    ).all()
    shown = await activities.outs(session, [row for row, _ in found])
    return [
        _activity_event(out, row, attendees)
        for out, (row, attendees) in zip(shown, found, strict=True)
    ]


async def space_calendar(
    session: AsyncSession, staff: StaffPrincipal, space_id: int, now: datetime
) -> bytes:
    """A space's bookings from a month ago on, for staff in scope."""
    return await _space_feed(session, await get_space_in_scope(session, staff, space_id), now)


async def _space_feed(session: AsyncSession, space: Space, now: datetime) -> bytes:
    rows = await _feed_rows(session, Reservation.space_id == space.id, now)
    return calendar(f"{space.center.name} · {space.name}", await _events(session, rows))


async def _feed_rows(
    session: AsyncSession, whose: ColumnElement[bool], now: datetime
) -> Sequence[Reservation]:
    """The rows a feed shows (FEED_PAST, FEED_LIMIT)."""
    rows = await session.scalars(
        select(Reservation)
        .options(_with_place())
        .where(whose, Reservation.ends_at > now - FEED_PAST)
        .order_by(Reservation.starts_at, Reservation.id)
        .limit(FEED_LIMIT)
    )
    return rows.all()
