"""Account lifecycle across domains: what happens to a person's bookings,
memberships and personal data when staff verify, re-bind or deactivate them,
and when they export or erase their own data (PIPL Arts. 44-47).

Every change here is audited under the entity ``user``.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import contributions
from app.accounts.retention import Purged as Purged
from app.accounts.retention import purge_personal_data as purge_personal_data
from app.audit import reasons
from app.audit import service as audit
from app.centers.service import get_center_in_scope
from app.core.clock import utcnow
from app.core.crypto import PiiCipher, Sealed
from app.core.db import flush_unique
from app.core.errors import AppError, NotFound, OutOfScope, Text
from app.identity import phones
from app.identity import service as identity
from app.identity.principals import StaffPrincipal
from app.models import (
    HOLDING_STATUSES,
    Answer,
    AuditEvent,
    CalendarFeed,
    Center,
    DoorAttempt,
    Feedback,
    IdempotencyKey,
    MemberRole,
    Membership,
    Notification,
    Organization,
    OrganizationKind,
    QuestionnaireResponse,
    Reservation,
    ReservationStatus,
    Space,
    StaffRole,
    Suggestion,
    User,
    WaitlistEntry,
    WaitlistStatus,
)
from app.models.waitlist import ACTIVE as WAITLIST_ACTIVE
from app.notifications import service as notifications
from app.reservations.schemas import reservation_out_loads
from app.reservations.service import cancel_live_bookings

ENTITY = "user"
USER = Text("用户", "user")
REAL_NAME_MOVED = "实名信息经柜台核验已更正至证件持有人"


class LiveBookingsExist(AppError):
    status = 409
    code = "live_bookings_exist"
    title = Text("仍有未结束的预约", "Bookings still running")
    detail = Text(
        "请先取消或等待 {count} 个未结束的预约结束后再注销账号",
        "Cancel or finish your {count} running bookings before erasing the account",
    )


class OrganizationOwner(AppError):
    status = 409
    code = "organization_owner"
    title = Text("仍是组织负责人", "Still an organization's owner")
    detail = Text(
        "请先把组织负责人身份移交给其他成员再注销账号",
        "Hand over ownership of your organizations before erasing the account",
    )


# --- staff: real names at the counter ------------------------------------------------


async def _counter(session: AsyncSession, staff: StaffPrincipal, center_id: int) -> Center:
    """The counter where the card was seen must be one of the staff member's centers."""
    return await get_center_in_scope(session, staff, center_id)


async def _locked_users(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, User]:
    """Lock the users in id order, so that two re-bindings cannot deadlock."""
    rows = await session.scalars(
        select(User).where(User.id.in_(set(user_ids))).order_by(User.id).with_for_update()
    )
    return {user.id: user for user in rows}


async def _active_user(session: AsyncSession, user_id: int) -> User:
    user = (await _locked_users(session, [user_id])).get(user_id)
    if user is None or user.erased_at is not None:
        raise NotFound(USER)
    return user


async def verify_at_counter(
    session: AsyncSession,
    cipher: PiiCipher,
    staff: StaffPrincipal,
    user_id: int,
    *,
    name: str,
    id_number: str,
    center_id: int,
) -> User:
    """Bind the name and number staff read off the resident's card."""
    await _counter(session, staff, center_id)
    user = await _active_user(session, user_id)
    parsed = identity.parse_id_number(id_number)
    index = cipher.blind_index(identity.ID_NUMBER_PURPOSE, parsed.value)
    if user.real_name_verified:
        if user.id_number_index == index:
            return user
        raise identity.AlreadyVerified()
    if await identity.holder_of(session, index) is not None:
        raise identity.IdNumberTaken()
    identity.bind_real_name(cipher, user, parsed, name, provider="counter")
    _record(session, staff, user.id, "verify_real_name", f"柜台核验（中心 {center_id}）")
    await flush_unique(session, identity.IdNumberTaken())
    return user


async def rebind(
    session: AsyncSession,
    cipher: PiiCipher,
    staff: StaffPrincipal,
    user_id: int,
    *,
    name: str,
    id_number: str,
    center_id: int,
    reason: str,
) -> User:
    """Move an ID number to its true holder, who proved it at the counter.

    Whoever held it loses the real name, and their running bookings of spaces
    that require one are cancelled (their door codes revoked). Unless the
    actor is a super admin, that account must lie in their scope
    (``_holder_in_scope``), or nothing changes (403 ``out_of_scope``).
    """
    counter = await _counter(session, staff, center_id)
    parsed = identity.parse_id_number(id_number)
    index = cipher.blind_index(identity.ID_NUMBER_PURPOSE, parsed.value)
    holder_id = await identity.holder_of(session, index)
    users = await _locked_users(session, [user_id, *([holder_id] if holder_id else [])])
    claimant = users.get(user_id)
    if claimant is None or claimant.erased_at is not None:
        raise NotFound(USER)
    if claimant.real_name_verified and claimant.id_number_index != index:
        raise identity.AlreadyVerified()
    if holder_id == claimant.id:
        return claimant
    note = f"{reason}（中心 {center_id}）"
    if holder_id is not None:
        await _holder_in_scope(session, staff, holder_id)
        squatter = users[holder_id]
        identity.clear_real_name(squatter)
        await session.flush()  # frees the number's unique index for the claimant
        await cancel_live_bookings(
            session,
            staff,
            user_id=squatter.id,
            reason=REAL_NAME_MOVED,
            real_name_spaces_only=True,
            within=staff,
        )
        _record(session, staff, squatter.id, "real_name_revoked", note)
        notifications.tell_real_name_rebound(session, squatter.id, counter, utcnow())
    identity.bind_real_name(cipher, claimant, parsed, name, provider="counter")
    _record(session, staff, claimant.id, "real_name_rebound", note)
    await flush_unique(session, identity.IdNumberTaken())
    return claimant


HOLDER_OUTSIDE = Text(
    "该证件号码现绑定的账号不在您的管理范围内，请联系区级管理员或超级管理员处理",
    "The account holding this number is outside your scope: ask a district or super admin",
)


async def _holder_in_scope(session: AsyncSession, staff: StaffPrincipal, holder_id: int) -> None:
    """Taking a number away from an account needs the account in the actor's
    scope: it has booked, and only at centers the actor covers (README,
    "Security"). An account that never booked lies in no center's scope."""
    if staff.is_super_admin:
        return
    centers = (
        await session.scalars(
            select(Center)
            .join(Space, Space.center_id == Center.id)
            .join(Reservation, Reservation.space_id == Space.id)
            .where(Reservation.user_id == holder_id)
            .distinct()
        )
    ).all()
    if not centers or not all(staff.covers_center(center) for center in centers):
        raise OutOfScope(HOLDER_OUTSIDE)


# --- staff: deactivation ---------------------------------------------------------------


def _may_manage_accounts(staff: StaffPrincipal) -> None:
    """Residents belong to no center: only district and super admins manage them."""
    if staff.role not in (StaffRole.super_admin, StaffRole.district_admin):
        raise OutOfScope(what=USER)


async def deactivate(
    session: AsyncSession, staff: StaffPrincipal, user_id: int, reason: str
) -> User:
    """The user's tokens stop working at once (every request reads ``is_active``);
    their running bookings are cancelled and their door codes revoked. If any
    of those bookings lies outside the actor's scope, nothing changes (403
    ``out_of_scope``): a district admin asks that district's, or a super admin."""
    _may_manage_accounts(staff)
    user = await _active_user(session, user_id)
    if not user.is_active:
        return user
    user.is_active = False
    await cancel_live_bookings(
        session, staff, user_id=user.id, reason=f"账号已停用：{reason}", within=staff
    )
    _record(session, staff, user.id, "deactivate", reason)
    await session.flush()
    return user


async def activate(session: AsyncSession, staff: StaffPrincipal, user_id: int, reason: str) -> User:
    _may_manage_accounts(staff)
    user = await _active_user(session, user_id)
    if user.is_active:
        return user
    user.is_active = True
    _record(session, staff, user.id, "activate", reason)
    await session.flush()
    return user


async def get_user(session: AsyncSession, staff: StaffPrincipal, user_id: int) -> User:
    _may_manage_accounts(staff)
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(USER)
    return user


# --- the data subject --------------------------------------------------------------------


@dataclass(frozen=True)
class Export:
    user: User
    name: str | None
    id_number: str | None
    phone: str | None
    memberships: Sequence[tuple[Membership, str, OrganizationKind]]
    reservations: Sequence[tuple[Reservation, Sequence[AuditEvent]]]
    door_attempts: Sequence[DoorAttempt]
    suggestions: Sequence[tuple[Suggestion, Sequence[int]]]
    responses: Sequence[tuple[QuestionnaireResponse, str, Sequence[tuple[Answer, str]]]]


async def export(session: AsyncSession, cipher: PiiCipher, user: User) -> Export:
    """Everything held about ``user``, their real name unsealed for them alone."""
    name = id_number = None
    if user.name_sealed and user.id_number_sealed and user.pii_key_version:
        version = user.pii_key_version
        name = cipher.open(identity.NAME_PURPOSE, Sealed(user.name_sealed, version))
        id_number = cipher.open(identity.ID_NUMBER_PURPOSE, Sealed(user.id_number_sealed, version))
    memberships = (
        await session.execute(
            select(Membership, Organization.name, Organization.kind)
            .join(Organization, Organization.id == Membership.organization_id)
            .where(Membership.user_id == user.id)
            .order_by(Membership.organization_id)
        )
    ).all()
    reservations = (
        await session.scalars(
            select(Reservation)
            .where(Reservation.user_id == user.id)
            .options(*reservation_out_loads())
            .order_by(Reservation.starts_at, Reservation.id)
        )
    ).all()
    histories = [(r, await audit.history(session, "reservation", r.id)) for r in reservations]
    attempts = (
        await session.scalars(
            select(DoorAttempt)
            .where(DoorAttempt.reservation_id.in_([r.id for r in reservations]))
            .order_by(DoorAttempt.at, DoorAttempt.id)
        )
    ).all()
    _record(session, user, user.id, "export", None)
    await session.flush()
    return Export(
        user=user,
        name=name,
        id_number=id_number,
        phone=phones.reveal(cipher, user),
        memberships=[(membership, name, kind) for membership, name, kind in memberships],
        reservations=histories,
        door_attempts=attempts,
        suggestions=await contributions.suggestions_of(session, user),
        responses=await contributions.responses_of(session, user),
    )


async def erase(session: AsyncSession, user: User) -> None:
    """Erase the account (PIPL Art. 47): the real name's ciphertext and blind
    index, the WeChat identity and the phone are destroyed, memberships end,
    and the bookings stay only as anonymous rows for the usage statistics.
    The account's tokens stop working at once."""
    user = await _active_user(session, user.id)
    running = await session.scalar(
        select(func.count(Reservation.id)).where(
            Reservation.user_id == user.id,
            Reservation.status.in_(HOLDING_STATUSES),
            Reservation.status != ReservationStatus.held,  # an offer ends with the account
            Reservation.ends_at > utcnow(),
        )
    )
    if running:
        raise LiveBookingsExist(count=running)
    owns = await session.scalar(
        select(Membership.organization_id).where(
            Membership.user_id == user.id, Membership.role == MemberRole.owner
        )
    )
    if owns is not None:
        raise OrganizationOwner()
    await session.execute(delete(Membership).where(Membership.user_id == user.id))
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.user_id == user.id))
    # Notifications quote staff's reasons and the places booked; waiting ends,
    # and a place held for them is freed.
    await session.execute(delete(Notification).where(Notification.user_id == user.id))
    await session.execute(delete(CalendarFeed).where(CalendarFeed.user_id == user.id))
    await contributions.unlink(session, user.id)  # kept for the ledger and the results
    # Ratings stay for the statistics; what they wrote goes.
    await session.execute(update(Feedback).where(Feedback.user_id == user.id).values(comment=None))
    await session.execute(
        update(Reservation)
        .where(Reservation.user_id == user.id, Reservation.status == ReservationStatus.held)
        .values(status=ReservationStatus.expired, status_reason=reasons.ACCOUNT_ERASED)
    )
    await session.execute(
        update(WaitlistEntry)
        .where(WaitlistEntry.user_id == user.id, WaitlistEntry.status.in_(WAITLIST_ACTIVE))
        .values(status=WaitlistStatus.withdrawn)
    )
    identity.clear_real_name(user)
    user.openid = f"erased:{user.id}"  # a later WeChat login starts a new account
    user.unionid = None
    phones.clear(user)
    user.nickname = None
    user.last_login_at = None
    user.is_active = False
    user.erased_at = utcnow()
    _record(session, user, user.id, "erase", None)
    await session.flush()


def _record(
    session: AsyncSession,
    actor: StaffPrincipal | User,
    user_id: int,
    action: str,
    reason: str | None,
) -> None:
    audit.record(
        session,
        actor,
        entity=ENTITY,
        entity_id=user_id,
        action=action,
        from_status=None,
        to_status=None,
        reason=reason,
    )
