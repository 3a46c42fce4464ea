"""Organizations: who sees them, staff verification, members and invitations
(registering one and changing its details: ``registration.py``).

A company is the real booker: its members book on its account, see its
bookings, and the owner manages who belongs. Whoever is not a member (and
not staff covering its center) cannot tell that an organization exists: 404.
"""

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.core.clock import utcnow
from app.core.errors import AppError, Forbidden, InvalidTransition, NotFound, OutOfScope, Text
from app.identity.principals import Actor, StaffPrincipal
from app.models import (
    Center,
    Invitation,
    MemberRole,
    Membership,
    NotificationKind,
    Organization,
    OrganizationKind,
    OrganizationStatus,
    User,
    WebhookEvent,
)
from app.notifications import service as notifications
from app.reservations.service import cancel_live_bookings
from app.webhooks import outbox as webhooks

ORGANIZATION = Text("组织", "organization")
INVITATION_LIFETIME = timedelta(hours=72)
ENTITY = "organization"
# What its owners are told when staff decide on an organization.
TOLD = {
    OrganizationStatus.verified: NotificationKind.organization_verified,
    OrganizationStatus.rejected: NotificationKind.organization_rejected,
}


class OwnerOnly(Forbidden):
    code = "owner_only"
    title = Text("仅限组织负责人", "Owner only")
    detail = Text("只有组织负责人可以进行此操作", "Only the organization's owner may do this")


class OwnerMustTransfer(AppError):
    status = 409
    code = "owner_must_transfer"
    title = Text("请先移交负责人", "Transfer ownership first")
    detail = Text(
        "负责人须先把负责人身份移交给其他成员", "The owner must hand over ownership first"
    )


class InvitationInvalid(AppError):
    status = 404
    code = "invitation_invalid"
    title = Text("邀请码无效", "Invalid invitation")
    detail = Text("邀请码不存在、已使用或已过期", "The code is unknown, used or expired")


class NotAMember(AppError):
    status = 422
    code = "member_not_found"
    title = Text("不是组织成员", "Not a member")
    detail = Text("该用户不是本组织成员", "That user is not a member of this organization")


ALREADY = Text("组织当前{status}", "The organization is {status}")
# Each status of an organization as a detail says it.
STATUS_TEXT: dict[OrganizationStatus, Text] = {
    OrganizationStatus.pending: Text("正在等待审核", "awaiting verification"),
    OrganizationStatus.verified: Text("已通过审核", "verified"),
    OrganizationStatus.rejected: Text("已被驳回", "rejected"),
}


@dataclass(frozen=True)
class OrganizationView:
    organization: Organization
    role: MemberRole | None
    privileged: bool  # owner or staff: sees the full contact phone


def mask_phone(phone: str) -> str:
    """``138****5678``: the first three and the last four digits."""
    digits = phone.replace("-", "")
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


async def role_of(session: AsyncSession, organization_id: int, user_id: int) -> MemberRole | None:
    role = await session.scalar(
        select(Membership.role).where(
            Membership.organization_id == organization_id, Membership.user_id == user_id
        )
    )
    return role


async def mine(session: AsyncSession, user: User) -> Sequence[tuple[Organization, MemberRole]]:
    rows = await session.execute(
        select(Organization, Membership.role)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user.id)
        .order_by(Organization.id)
    )
    return [(organization, role) for organization, role in rows]


async def view(
    session: AsyncSession, actor: Actor, organization_id: int, *, for_update: bool = False
) -> OrganizationView:
    """The organization as ``actor`` may see it: a member, or staff covering its center."""
    query = select(Organization).where(Organization.id == organization_id)
    if for_update:
        query = query.with_for_update()
    organization = await session.scalar(query)
    if organization is None:
        raise NotFound(ORGANIZATION)
    if isinstance(actor, StaffPrincipal):
        if not await _staff_covers(session, actor, organization):
            raise NotFound(ORGANIZATION)
        return OrganizationView(organization, None, privileged=True)
    role = await role_of(session, organization.id, actor.id)
    if role is None:
        raise NotFound(ORGANIZATION)
    return OrganizationView(organization, role, privileged=role is MemberRole.owner)


async def read(session: AsyncSession, actor: Actor, organization_id: int) -> OrganizationView:
    """The organization with its contact: a staff member sees the whole phone
    number, personal data, so their read is logged."""
    seen = await view(session, actor, organization_id)
    if isinstance(actor, StaffPrincipal):
        audit.record(
            session,
            actor,
            entity=ENTITY,
            entity_id=organization_id,
            action="read_contact",
            from_status=None,
            to_status=None,
        )
        await session.flush()
    return seen


async def _staff_covers(
    session: AsyncSession, staff: StaffPrincipal, organization: Organization
) -> bool:
    if staff.is_super_admin:
        return True
    if organization.center_id is None:
        return False
    center = await session.get(Center, organization.center_id)
    return center is not None and staff.covers_center(center)


async def as_owner(session: AsyncSession, user: User, organization_id: int) -> Organization:
    seen = await view(session, user, organization_id, for_update=True)
    if seen.role is not MemberRole.owner:
        raise OwnerOnly()
    return seen.organization


# --- members -----------------------------------------------------------------------


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def invite(session: AsyncSession, user: User, organization_id: int) -> tuple[str, Invitation]:
    organization = await as_owner(session, user, organization_id)
    code = secrets.token_urlsafe(12)  # 96 random bits: not worth guessing
    now = utcnow()
    invitation = Invitation(
        organization_id=organization.id,
        code_hash=_code_hash(code),
        created_by_user_id=user.id,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    session.add(invitation)
    await session.flush()
    return code, invitation


async def join(session: AsyncSession, user: User, code: str) -> OrganizationView:
    """Join with a one-time code. Joining an organization you are in already is a no-op."""
    invitation = await session.scalar(
        select(Invitation).where(Invitation.code_hash == _code_hash(code)).with_for_update()
    )
    if invitation is None:
        raise InvitationInvalid()
    if await role_of(session, invitation.organization_id, user.id) is None:
        now = utcnow()
        used = await session.execute(
            update(Invitation)
            .where(
                Invitation.id == invitation.id,
                Invitation.used_at.is_(None),
                Invitation.expires_at > now,
            )
            .values(used_at=now, used_by_user_id=user.id)
        )
        if not used.rowcount:  # type: ignore[attr-defined]
            raise InvitationInvalid()
        session.add(
            Membership(
                organization_id=invitation.organization_id,
                user_id=user.id,
                role=MemberRole.member,
                joined_at=now,
            )
        )
        await session.flush()
    return await view(session, user, invitation.organization_id)


async def members(
    session: AsyncSession, actor: Actor, organization_id: int
) -> Sequence[tuple[Membership, str | None]]:
    seen = await view(session, actor, organization_id)
    if not seen.privileged:
        raise OwnerOnly()
    rows = await session.execute(
        select(Membership, User.name_masked)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == organization_id)
        .order_by(Membership.joined_at, Membership.user_id)
    )
    return [(membership, name) for membership, name in rows]


async def remove_member(
    session: AsyncSession, user: User, organization_id: int, member_id: int
) -> None:
    await as_owner(session, user, organization_id)
    if member_id == user.id:
        raise OwnerMustTransfer()
    membership = await session.get(Membership, (organization_id, member_id))
    if membership is None:
        raise NotAMember()
    cancelled = await _depart(session, user, membership, MEMBER_REMOVED)
    organization = await session.get(Organization, organization_id)
    assert organization is not None
    values = {
        "organization_name": organization.name,
        "reason": f"您以该单位名义的 {len(cancelled)} 个预约已取消。" if cancelled else "",
    }
    notifications.tell_user(
        session,
        NotificationKind.organization_member_removed,
        member_id,
        values,
        utcnow(),
        organization_id=organization_id,
    )
    await session.flush()


async def leave(session: AsyncSession, user: User, organization_id: int) -> None:
    seen = await view(session, user, organization_id, for_update=True)
    if seen.role is MemberRole.owner:
        raise OwnerMustTransfer()
    membership = await session.get(Membership, (organization_id, user.id))
    assert membership is not None
    await _depart(session, user, membership, MEMBER_LEFT)


MEMBER_REMOVED = "预约人已被移出组织"
MEMBER_LEFT = "预约人已退出组织"


async def _depart(
    session: AsyncSession, actor: User, membership: Membership, reason: str
) -> list[int]:
    """End a membership. What the member booked on the organization's account
    is cancelled and its door codes revoked: they saw those codes, and the
    company's room is no longer theirs to open. Returns the cancelled ids."""
    cancelled = await cancel_live_bookings(
        session,
        actor,
        user_id=membership.user_id,
        organization_id=membership.organization_id,
        reason=reason,
    )
    await session.delete(membership)
    await session.flush()
    return cancelled


async def transfer(
    session: AsyncSession, user: User, organization_id: int, new_owner_id: int
) -> OrganizationView:
    await as_owner(session, user, organization_id)
    if new_owner_id == user.id:
        return await view(session, user, organization_id)
    successor = await session.get(Membership, (organization_id, new_owner_id))
    if successor is None:
        raise NotAMember()
    current = await session.get(Membership, (organization_id, user.id))
    assert current is not None
    current.role = MemberRole.member
    await session.flush()  # demote first: one owner at a time (a unique index says so)
    successor.role = MemberRole.owner
    await session.flush()
    return await view(session, user, organization_id)


# --- staff -------------------------------------------------------------------------


async def list_for_staff(
    session: AsyncSession,
    staff: StaffPrincipal,
    status: OrganizationStatus | None,
    *,
    kind: OrganizationKind | None = None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Organization], int]:
    query = select(Organization)
    if not staff.is_super_admin:
        covered = select(Center.id).where(staff.center_clause())
        query = query.where(Organization.center_id.in_(covered))
    if status is not None:
        query = query.where(Organization.status == status)
    if kind is not None:
        query = query.where(Organization.kind == kind)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(query.order_by(Organization.id).limit(limit).offset(offset))
    return rows.all(), int(total or 0)


async def namesakes(
    session: AsyncSession, organizations: Sequence[Organization]
) -> dict[int, list[int]]:
    """For each of ``organizations``, the others registered with the same name at
    the same center (any kind, any status): what staff check before verifying
    one that has no code to tell it apart."""
    keys = {(o.center_id, o.name) for o in organizations if o.center_id is not None}
    if not keys:
        return {}
    rows = await session.execute(
        select(Organization.id, Organization.center_id, Organization.name)
        .where(
            Organization.center_id.in_({center for center, _ in keys}),
            Organization.name.in_({name for _, name in keys}),
        )
        .order_by(Organization.id)
    )
    by_key: dict[tuple[int | None, str], list[int]] = {}
    for found, center_id, name in rows:
        by_key.setdefault((center_id, name), []).append(found)
    return {
        o.id: [other for other in by_key.get((o.center_id, o.name), []) if other != o.id]
        for o in organizations
        if len(by_key.get((o.center_id, o.name), [])) > 1
    }


async def decide(
    session: AsyncSession,
    staff: StaffPrincipal,
    organization_id: int,
    to: OrganizationStatus,
    reason: str | None = None,
) -> Organization:
    """Verify or reject (lock, re-check, change)."""
    organization = await session.scalar(
        select(Organization).where(Organization.id == organization_id).with_for_update()
    )
    if organization is None:
        raise NotFound(ORGANIZATION)
    if not await _staff_covers(session, staff, organization):
        raise OutOfScope(what=ORGANIZATION)
    if organization.status is to:
        raise InvalidTransition(ALREADY, status=STATUS_TEXT[organization.status])
    before = organization.status
    organization.status = to
    organization.status_reason = reason
    organization.decided_by_staff_id = staff.id
    organization.decided_at = utcnow()
    audit.record(
        session,
        staff,
        entity=ENTITY,
        entity_id=organization.id,
        action="verify" if to is OrganizationStatus.verified else "reject",
        from_status=before.value,
        to_status=to.value,
        reason=reason,
    )
    if to in TOLD:
        await notifications.tell_organization(session, TOLD[to], organization, reason=reason)
    if to is OrganizationStatus.verified:
        data = {"organization_id": organization.id, "center_id": organization.center_id,
                "kind": organization.kind.value, "name": organization.name}  # fmt: skip
        await webhooks.enqueue(
            session,
            WebhookEvent.organization_verified,
            center_id=organization.center_id,
            data=data,
            now=organization.decided_at,
        )
    await session.flush()
    return organization
