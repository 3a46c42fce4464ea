"""Reservations after booking: who sees which, and the changes of state.

Creating a booking is the pipeline in ``booking.py``. The changes here
(cancel, approve, reject, reissue a door code) follow the same discipline
on the ORM: read what the decision needs under a lock, decide with the pure
predicates of ``transitions.py``, then write with a compare-and-swap on the
status the decision saw (docs/ARCHITECTURE.md, invariant 6), so two staff
acting at once cannot both win. Approving makes a request hold time, so the
booking store writes it (``store.hold``): the holders and closures re-checked
under the space's lock, the request itself left out. Every change is written
to the audit trail in the same transaction.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import codes as door_codes
from app.access.codes import CodeBook
from app.audit import service as audit
from app.core.clock import utcnow
from app.core.db import OverlapGuard
from app.core.errors import NotFound, OutOfScope, Text
from app.identity.phones import PhoneSearch
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
    ReservationKind,
    ReservationStatus,
    Space,
    User,
    WaitlistEntry,
    WaitlistStatus,
)
from app.notifications import service as notifications
from app.reservations import snapshots, store, transitions
from app.reservations.acts import Act, HoldAct
from app.reservations.booking import BookingRequest
from app.reservations.errors import RESERVATION, ReasonRequired
from app.reservations.hooks import tell_hooks
from app.reservations.rules import Wanted
from app.reservations.schemas import reservation_out_loads
from app.spaces.calendar import Interval

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
    # The booker's phone: its last four digits or the whole number, as the
    # keyed hash of either (app/identity/phones.py), for staff's search.
    phone: PhoneSearch | None = None
    organization_name: str | None = None  # the organization's name contains this
    user_id: int | None = None  # the booker's (the console's resident page)


def _visible_to(actor: Actor) -> Select[Reservation]:
    """Staff see their centers' reservations; a resident sees their own and those of
    the organizations they belong to."""
    # The center's own events are not bookings: staff see them as events
    # (app/reservations/events.py).
    query = (
        select(Reservation)
        .options(*reservation_out_loads())
        .where(Reservation.kind == ReservationKind.booking)
    )
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
    if filters.user_id is not None:
        query = query.where(Reservation.user_id == filters.user_id)
    if filters.status is not None:
        query = query.where(Reservation.status == filters.status)
    if filters.starts_from is not None:
        query = query.where(Reservation.ends_at > filters.starts_from)
    if filters.starts_before is not None:
        query = query.where(Reservation.starts_at < filters.starts_before)
    if filters.phone is not None:
        query = query.where(Reservation.user_id.in_(select(User.id).where(filters.phone.clause())))
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
    await tell_hooks(session, [reservation.id], to, utcnow())


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
    within: StaffPrincipal | None = None,
) -> list[int]:
    """Cancel what ``user_id`` still holds (pending, confirmed or checked in, not
    over yet) and revoke its door codes: for a member who left an organization
    (its bookings only), a user staff deactivated, or an account that lost its
    real name (bookings of spaces that require one). Returns the ids.

    ``within``: the staff member whose act this is. If any of those bookings
    lies at a center outside their scope, nothing is cancelled and the act is
    refused (``OutOfScope``): a staff act changes only what lies in their scope
    (README, "Security")."""
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
    if within is not None:
        await _refuse_outside_scope(session, within, [reservation.id for reservation in rows])
    for reservation in rows:
        offered = reservation.status is Status.held  # a place offered, not yet booked
        await cancel_holding(session, actor, reservation, reason)
        if isinstance(actor, StaffPrincipal) and not offered:
            await notifications.tell_booker(
                session, Kind.booking_cancelled_by_staff, reservation, reason=reason
            )
    return [reservation.id for reservation in rows]


async def cancel_holding(
    session: AsyncSession, actor: Actor | None, reservation: Reservation, reason: str
) -> None:
    """Cancel a holding booking the caller has locked, whatever its status
    (pending, confirmed, checked in, or a place held for the waitlist): audited,
    its door code revoked, and the waitlist offer it was, if any, ended. The
    caller tells the booker, in the words of its occasion."""
    await move(session, actor, reservation, Status.cancelled, "cancel", reason)
    await door_codes.revoke(session, reservation.id)
    await session.execute(
        update(WaitlistEntry)
        .where(
            WaitlistEntry.reservation_id == reservation.id,
            WaitlistEntry.status == WaitlistStatus.offered,
        )
        .values(status=WaitlistStatus.expired, updated_at=utcnow())
    )


BOOKINGS_OUTSIDE = Text(
    "此操作会取消您管理范围以外中心的预约，请联系其所在区的管理员或超级管理员处理",
    "This would cancel bookings at centers outside your scope: ask their district's"
    " admin or a super admin",
)


async def _refuse_outside_scope(
    session: AsyncSession, staff: StaffPrincipal, reservation_ids: Sequence[int]
) -> None:
    outside = await session.scalar(
        select(Reservation.id)
        .join(Space, Space.id == Reservation.space_id)
        .join(Center, Center.id == Space.center_id)
        .where(Reservation.id.in_(reservation_ids), not_(staff.center_clause()))
        .limit(1)
    )
    if outside is not None:
        raise OutOfScope(BOOKINGS_OUTSIDE)


async def approve(
    session: AsyncSession,
    codes: CodeBook,
    guard: OverlapGuard,
    staff: StaffPrincipal,
    reservation_id: int,
    *,
    tell: bool = True,
) -> Reservation:
    """Confirm a pending request (``tell``: notify the booker; a series tells once)."""
    reservation = await locked(session, staff, reservation_id, lock_space=True)
    transitions.check_approve(transitions.view(reservation), utcnow())
    # Re-checked by the booking store under the space's lock: a closure may have
    # been added since the request, and nothing else may hold the time now.
    interval = Interval(reservation.starts_at, reservation.ends_at)
    wanted = Wanted(reservation.space_id, interval, reservation.attendees, None)
    request = BookingRequest(reservation.user_id, wanted, reservation.purpose, None, utcnow())
    kind, actor_id = audit.actor_kind(staff)
    act = HoldAct(Act.approve, request, reservation.id, kind.value, actor_id)
    await store.hold(session, codes, act, guard)
    reservation = await reloaded(session, reservation.id)
    if tell:
        await notifications.tell_booker(session, Kind.booking_approved, reservation)
    return reservation


async def reloaded(session: AsyncSession, reservation_id: int) -> Reservation:
    """The reservation as the booking store just wrote it (its status, its door
    code), over what the session had read before."""
    reservation = await session.scalar(
        select(Reservation)
        .where(Reservation.id == reservation_id)
        .options(*reservation_out_loads())
        .execution_options(populate_existing=True)
    )
    assert reservation is not None
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
    # The old code no longer opens the door: the booker learns to look again.
    await notifications.tell_booker(session, Kind.access_code_reissued, reservation)
    await session.flush()
    return reservation
