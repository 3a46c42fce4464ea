"""The center's own use of its spaces: 党课, 议事会 and the like.

An event is a reservation row of kind ``center_event`` holding the whole
space (every seat of a shared one), written by the booking store
(``app/reservations/store.py``) like any booking, so the same guard keeps
events and bookings apart and every holder query, availability included,
sees it. It is nobody's booking (``user_id`` NULL): no quota, booking window
or real name applies, no door code is issued and nobody is told of it
(docs/ARCHITECTURE.md, "Staff bookings and center events").

It may not take time bookings hold: such an event is refused with ``409
bookings_affected`` listing them, as a closure is (``app/spaces/affected.py``),
unless ``affected: "cancel"``, which cancels them first as a closure does
(door codes revoked, bookers told, ``app/reservations/changes.py``).
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import utcnow
from app.core.db import Database
from app.core.errors import NotFound, Text
from app.core.schemas import Instant, LocalInstant, Printable
from app.holidays.service import space_plan
from app.identity.principals import StaffPrincipal
from app.models import (
    HOLDING_STATUSES,
    ActorKind,
    Reservation,
    ReservationKind,
    ReservationStatus,
    Space,
)
from app.reservations import changes, rules, snapshots
from app.reservations.booking import AuditActor, BookingRequest, CenterEvent
from app.reservations.errors import SpaceClosed
from app.reservations.rules import EVENT_WAIVERS, Wanted
from app.reservations.service import cancel_holding
from app.reservations.store import BookingStore
from app.spaces.affected import AffectedAction, AffectedBooking, holding_during, refuse_unless_told
from app.spaces.calendar import Interval
from app.spaces.service import get_space_in_scope

EVENT = Text("中心活动", "center event")
OVER_BOOKINGS = Text(
    "该时段已有 {count} 条预约，请确认取消这些预约后再安排活动",
    '{count} bookings hold this time: send `affected: "cancel"` to cancel them',
)
CANCELLED = "中心活动取消"

Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Printable
]


class EventCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title = Field(examples=["党课：学习二十届三中全会精神"])
    start: Instant
    end: Instant
    public: bool = Field(default=False, description="Show the title in the space's availability")
    affected: Literal["cancel"] | None = Field(
        default=None,
        description="Cancel the bookings holding the time (their bookers are told);"
        " without it such an event is refused with 409 bookings_affected, listing them",
    )


class EventOut(BaseModel):
    id: int
    space_id: int
    title: str
    public: bool
    start: LocalInstant
    end: LocalInstant
    status: ReservationStatus

    @classmethod
    def of(cls, event: Reservation) -> "EventOut":
        return cls(
            id=event.id,
            space_id=event.space_id,
            title=event.title or "",
            public=bool(event.public),
            start=event.starts_at,
            end=event.ends_at,
            status=event.status,
        )


async def hold(
    database: Database,
    bookings: BookingStore,
    staff: StaffPrincipal,
    space_id: int,
    data: EventCreate,
) -> tuple[Reservation, list[AffectedBooking]]:
    """Hold the space for the center's event, through the booking store."""
    interval = Interval(data.start.astimezone(UTC), data.end.astimezone(UTC))
    now = utcnow()
    async with database.writer.begin() as session:
        space = await get_space_in_scope(session, staff, space_id)
        wanted = Wanted(space.id, interval, space.capacity, None, waived=EVENT_WAIVERS)
        await _check_time(session, space, wanted, now)
        affected = await holding_during(session, space.id, interval)
        action = AffectedAction(data.affected) if data.affected else None
        refuse_unless_told(affected, action, OVER_BOOKINGS)
        reason = f"中心活动：{data.title}"[:200]
        affected = await changes.settle(session, staff, affected, action, reason)
    request = BookingRequest(
        None,
        wanted,
        data.title,
        None,
        now,
        actor=AuditActor(ActorKind.staff, staff.id, f"center event: {data.title}"[:200]),
        event=CenterEvent(data.title, data.public),
    )
    answer = await bookings.book(request)
    event_id = int(orjson.loads(answer.body)["id"])
    async with database.reader.begin() as session:
        event = await session.get(Reservation, event_id)
        assert event is not None
        return event, affected


async def _check_time(session: AsyncSession, space: Space, wanted: Wanted, now: datetime) -> None:
    """What the store would refuse of the time itself, refused before any booking
    is cancelled for it: the calendar's rules and closures."""
    interval = wanted.interval
    plan = await space_plan(session, space, interval.start, interval.end)
    rules.check_calendar(await snapshots.space_view(session, space, plan), wanted, now)
    closure = await snapshots.closure(session, space.id, interval)
    if closure is not None:
        raise SpaceClosed(reason=closure)


async def list_events(
    session: AsyncSession, staff: StaffPrincipal, space_id: int, *, include_past: bool
) -> Sequence[Reservation]:
    space = await get_space_in_scope(session, staff, space_id)
    query = select(Reservation).where(
        Reservation.space_id == space.id,
        Reservation.kind == ReservationKind.center_event,
        Reservation.status.in_(HOLDING_STATUSES),
    )
    if not include_past:
        query = query.where(Reservation.ends_at > utcnow())
    return (await session.scalars(query.order_by(Reservation.starts_at, Reservation.id))).all()


async def get_event(
    session: AsyncSession, staff: StaffPrincipal, space_id: int, event_id: int
) -> Reservation:
    space = await get_space_in_scope(session, staff, space_id)
    event = await session.scalar(
        select(Reservation).where(
            Reservation.id == event_id,
            Reservation.space_id == space.id,
            Reservation.kind == ReservationKind.center_event,
        )
    )
    if event is None:
        raise NotFound(EVENT)
    return event


async def cancel_event(
    session: AsyncSession, staff: StaffPrincipal, space_id: int, event_id: int
) -> None:
    """Release the event's time (audited); an event already over or cancelled is 404."""
    space = await get_space_in_scope(session, staff, space_id)
    event = await session.scalar(
        select(Reservation)
        .where(
            Reservation.id == event_id,
            Reservation.space_id == space.id,
            Reservation.kind == ReservationKind.center_event,
            Reservation.status.in_(HOLDING_STATUSES),
            Reservation.ends_at > utcnow(),
        )
        .with_for_update()
    )
    if event is None:
        raise NotFound(EVENT)
    await cancel_holding(session, staff, event, CANCELLED)
