"""Reservations after booking: who sees which, and the changes of state.

Creating a booking is the pipeline in ``booking.py``. The changes here
(cancel, approve, reject, reissue a door code) follow the same discipline
on the ORM: read what the decision needs under a lock, decide with the pure
predicates of ``transitions.py``, then write with a compare-and-swap on the
status the decision saw (docs/ARCHITECTURE.md, invariant 6), so two staff
acting at once cannot both win. Approving re-checks the holders under the
space's lock, as a booking does. Every change is written to the audit trail
in the same transaction.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import codes as door_codes
from app.access.codes import CodeBook
from app.audit import service as audit
from app.core.clock import utcnow
from app.core.errors import NotFound, Text
from app.identity.principals import Actor, StaffPrincipal
from app.models import (
    HOLDING_STATUSES,
    AuditEvent,
    Center,
    MemberRole,
    Membership,
    NotificationKind,
    Organization,
    Reservation,
    ReservationStatus,
    Space,
    User,
)
from app.notifications import service as notifications
from app.reservations import rules, snapshots, transitions
from app.reservations.errors import ReasonRequired, SpaceClosed
from app.reservations.rules import Wanted
from app.reservations.schemas import reservation_out_loads
from app.spaces.calendar import Interval

RESERVATION = Text("预约", "reservation")
ENTITY = "reservation"
Status = ReservationStatus
Kind = NotificationKind


# --- reading -------------------------------------------------------------------


@dataclass(frozen=True)
class ReservationFilter:
    space_id: int | None = None
    organization_id: int | None = None
    status: ReservationStatus | None = None
    starts_from: datetime | None = None  # reservations ending after this instant
    starts_before: datetime | None = None  # reservations starting before this instant
    phone_tail: str | None = None  # the booker's phone number ends so (staff's search)
    organization_name: str | None = None  # the organization's name contains this


def _visible_to(actor: Actor) -> Select[Reservation]:
    """Staff see their centers' reservations; a resident sees their own and those of
    the organizations they belong to."""
    query = select(Reservation).options(*reservation_out_loads())
    if isinstance(actor, StaffPrincipal):
        in_scope = select(Space.id).join(Center, Space.center_id == Center.id)
        return query.where(Reservation.space_id.in_(in_scope.where(actor.center_clause())))
    my_organizations = select(Membership.organization_id).where(Membership.user_id == actor.id)
    return query.where(
        or_(Reservation.user_id == actor.id, Reservation.organization_id.in_(my_organizations))
    )


async def list_reservations(
    session: AsyncSession, actor: Actor, filters: ReservationFilter, *, limit: int, offset: int
) -> tuple[Sequence[Reservation], int]:
    query = _visible_to(actor)
    if filters.space_id is not None:
        query = query.where(Reservation.space_id == filters.space_id)
    if filters.organization_id is not None:
        query = query.where(Reservation.organization_id == filters.organization_id)
    if filters.status is not None:
        query = query.where(Reservation.status == filters.status)
    if filters.starts_from is not None:
        query = query.where(Reservation.ends_at > filters.starts_from)
    if filters.starts_before is not None:
        query = query.where(Reservation.starts_at < filters.starts_before)
    if filters.phone_tail:
        phones = select(User.id).where(User.phone.endswith(filters.phone_tail, autoescape=True))
        query = query.where(Reservation.user_id.in_(phones))
    if filters.organization_name:
        named = select(Organization.id).where(
            Organization.name.contains(filters.organization_name, autoescape=True)
        )
        query = query.where(Reservation.organization_id.in_(named))
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    page = query.order_by(Reservation.starts_at, Reservation.id).limit(limit).offset(offset)
    return (await session.scalars(page)).all(), int(total or 0)


async def get_reservation(session: AsyncSession, actor: Actor, reservation_id: int) -> Reservation:
    """The reservation if ``actor`` may see it; otherwise 404, as if it did not exist."""
    reservation = await session.scalar(_visible_to(actor).where(Reservation.id == reservation_id))
    if reservation is None:
        raise NotFound(RESERVATION)
    return reservation


async def reservation_history(
    session: AsyncSession, actor: Actor, reservation_id: int
) -> Sequence[AuditEvent]:
    reservation = await get_reservation(session, actor, reservation_id)
    return await audit.history(session, ENTITY, reservation.id)


# --- changes of state -----------------------------------------------------------------


async def locked(
    session: AsyncSession, actor: Actor, reservation_id: int, *, lock_space: bool
) -> Reservation:
    """Lock (the space, then) the reservation, in that fixed order, and read it
    fresh. On SQLite the write transaction (``BEGIN IMMEDIATE``) already holds
    the database's lock."""
    reservation = await get_reservation(session, actor, reservation_id)
    if lock_space:
        await session.execute(
            select(Space.id).where(Space.id == reservation.space_id).with_for_update()
        )
    locked = await session.scalar(
        select(Reservation)
        .where(Reservation.id == reservation_id)
        .options(*reservation_out_loads())
        .with_for_update(of=Reservation)
        .execution_options(populate_existing=True)
    )
    assert locked is not None
    return locked


async def move(
    session: AsyncSession,
    actor: Actor | None,
    reservation: Reservation,
    to: ReservationStatus,
    action: str,
    reason: str | None = None,
) -> None:
    """Compare-and-swap the status from what the decision saw to ``to``, audited."""
    before = reservation.status
    reservation.status = to
    reservation.status_reason = reason
    audit.record(
        session,
        actor,
        entity=ENTITY,
        entity_id=reservation.id,
        action=action,
        from_status=before.value,
        to_status=to.value,
        reason=reason,
    )
    await session.flush()


async def cancel(
    session: AsyncSession, actor: Actor, reservation_id: int, reason: str | None
) -> Reservation:
    if isinstance(actor, StaffPrincipal) and not reason:
        raise ReasonRequired()
    reservation = await locked(session, actor, reservation_id, lock_space=False)
    owns_organization = (
        not isinstance(actor, StaffPrincipal)
        and reservation.organization_id is not None
        and await _role_in(session, reservation.organization_id, actor.id) is MemberRole.owner
    )
    transitions.check_cancel(
        transitions.view(reservation), actor, utcnow(), owns_organization=owns_organization
    )
    await move(session, actor, reservation, Status.cancelled, "cancel", reason)
    await door_codes.revoke(session, reservation.id)
    if isinstance(actor, StaffPrincipal):
        await notifications.tell_booker(
            session, Kind.booking_cancelled_by_staff, reservation, reason=reason
        )
    return reservation


async def _role_in(session: AsyncSession, organization_id: int, user_id: int) -> MemberRole | None:
    return await session.scalar(
        select(Membership.role).where(
            Membership.organization_id == organization_id, Membership.user_id == user_id
        )
    )


async def cancel_live_bookings(
    session: AsyncSession,
    actor: Actor | None,
    *,
    user_id: int,
    reason: str,
    organization_id: int | None = None,
    real_name_spaces_only: bool = False,
) -> list[int]:
    """Cancel what ``user_id`` still holds (pending, confirmed or checked in, not
    over yet) and revoke its door codes: for a member who left an organization
    (its bookings only), a user staff deactivated, or an account that lost its
    real name (bookings of spaces that require one). Returns the ids."""
    query = select(Reservation).where(
        Reservation.user_id == user_id,
        Reservation.status.in_(HOLDING_STATUSES),
        Reservation.ends_at > utcnow(),
    )
    if organization_id is not None:
        query = query.where(Reservation.organization_id == organization_id)
    if real_name_spaces_only:
        needing = select(Space.id).where(Space.requires_real_name.is_(True))
        query = query.where(Reservation.space_id.in_(needing))
    rows = (await session.scalars(query.order_by(Reservation.id).with_for_update())).all()
    for reservation in rows:
        offered = reservation.status is Status.held  # a place offered, not yet booked
        await move(session, actor, reservation, Status.cancelled, "cancel", reason)
        await door_codes.revoke(session, reservation.id)
        if isinstance(actor, StaffPrincipal) and not offered:
            await notifications.tell_booker(
                session, Kind.booking_cancelled_by_staff, reservation, reason=reason
            )
    return [reservation.id for reservation in rows]


async def approve(
    session: AsyncSession,
    codes: CodeBook,
    staff: StaffPrincipal,
    reservation_id: int,
    *,
    tell: bool = True,
) -> Reservation:
    """Confirm a pending request (``tell``: notify the booker; a series tells once)."""
    reservation = await locked(session, staff, reservation_id, lock_space=True)
    transitions.check_approve(transitions.view(reservation), utcnow())
    # Re-checked under the space's lock: a closure may have been added since the
    # request, and nothing else may hold the time now.
    interval = Interval(reservation.starts_at, reservation.ends_at)
    closure = await snapshots.closure(session, reservation.space_id, interval)
    if closure is not None:
        raise SpaceClosed(reason=closure)
    space = await snapshots.space_view(session, reservation.space)
    holders = await snapshots.holders(
        session, reservation.space_id, interval, excluding=reservation.id
    )
    wanted = Wanted(reservation.space_id, interval, reservation.attendees, None)
    rules.refuse_conflicts(space, reservation.user_id, wanted, holders)
    await move(session, staff, reservation, Status.confirmed, "approve")
    if space.has_doors:
        await door_codes.issue(session, codes, reservation.id, reservation.space_id, interval)
    if tell:
        await notifications.tell_booker(session, Kind.booking_approved, reservation)
    return reservation


async def reject(
    session: AsyncSession,
    staff: StaffPrincipal,
    reservation_id: int,
    reason: str,
    *,
    tell: bool = True,
) -> Reservation:
    reservation = await locked(session, staff, reservation_id, lock_space=False)
    transitions.check_reject(transitions.view(reservation))
    await move(session, staff, reservation, Status.rejected, "reject", reason)
    if tell:
        await notifications.tell_booker(session, Kind.booking_rejected, reservation, reason=reason)
    return reservation


async def reissue_code(
    session: AsyncSession, codes: CodeBook, staff: StaffPrincipal, reservation_id: int
) -> Reservation:
    """Revoke the reservation's door code and issue a new one (lock, re-check, rotate)."""
    reservation = await locked(session, staff, reservation_id, lock_space=True)
    transitions.check_reissue(transitions.view(reservation))
    await door_codes.revoke(session, reservation.id)
    if not await snapshots.has_doors(session, reservation.space_id):
        raise door_codes.NoAccessCode()
    interval = Interval(reservation.starts_at, reservation.ends_at)
    await door_codes.issue(session, codes, reservation.id, reservation.space_id, interval)
    audit.record(
        session,
        staff,
        entity=ENTITY,
        entity_id=reservation.id,
        action="reissue_code",
        from_status=reservation.status.value,
        to_status=reservation.status.value,
    )
    await session.flush()
    return reservation
