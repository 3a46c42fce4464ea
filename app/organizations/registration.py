"""Registering a company, and the owner changing its details: a name and a
unified social credit code are a claim staff verify, so a new one sends the
company back to them; the contact is the owner's to change."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.centers.service import CENTER
from app.core.clock import utcnow
from app.core.db import flush_unique
from app.core.errors import AppError, NotFound, Text
from app.models import (
    Center,
    MemberRole,
    Membership,
    NotificationKind,
    Organization,
    OrganizationStatus,
    User,
)
from app.notifications import service as notifications
from app.organizations import uscc
from app.organizations.schemas import OrganizationCreate, OrganizationUpdate
from app.organizations.service import ENTITY, OrganizationView, as_owner, view


class InvalidUscc(AppError):
    status = 422
    code = "invalid_uscc"
    title = Text("统一社会信用代码无效", "Invalid unified social credit code")
    detail = Text(
        "统一社会信用代码的格式、类别或校验码不正确",
        "The code fails its format, type or check-character rules",
    )


class UsccTaken(AppError):
    status = 409
    code = "uscc_taken"
    title = Text("该组织已注册", "Organization already registered")
    detail = Text(
        "该统一社会信用代码已被注册，请联系组织负责人邀请您加入",
        "This code is registered already; ask its owner for an invitation",
    )


async def register(session: AsyncSession, user: User, data: OrganizationCreate) -> Organization:
    try:
        code = uscc.validate(data.uscc)
    except uscc.InvalidUscc:
        raise InvalidUscc() from None
    if data.center_id is not None and await session.get(Center, data.center_id) is None:
        raise NotFound(CENTER)
    if await session.scalar(select(Organization.id).where(Organization.uscc == code)):
        raise UsccTaken()
    organization = Organization(
        name=data.name,
        uscc=code,
        contact_name=data.contact_name,
        contact_phone=data.contact_phone,
        center_id=data.center_id,
        status=OrganizationStatus.pending,
    )
    session.add(organization)
    await flush_unique(session, UsccTaken())  # registered a moment ago by someone else
    session.add(
        Membership(
            organization_id=organization.id,
            user_id=user.id,
            role=MemberRole.owner,
            joined_at=utcnow(),
        )
    )
    audit.record(
        session,
        user,
        entity=ENTITY,
        entity_id=organization.id,
        action="register",
        from_status=None,
        to_status=organization.status.value,
    )
    await notifications.tell_staff_of_organization(
        session, NotificationKind.organization_registered, organization
    )
    await session.flush()
    return organization


# What staff are told when an organization they decided on comes back to them.
CHANGED_IDENTITY = "（单位名称或统一社会信用代码已变更，需重新认证）"
FIELD_NAMES = {
    "name": "名称",
    "uscc": "统一社会信用代码",
    "contact_name": "联系人",
    "contact_phone": "联系电话",
}


async def change(
    session: AsyncSession, user: User, organization_id: int, changes: OrganizationUpdate
) -> OrganizationView:
    """The owner changes the contact, or the name or code. A new name or code is
    a new claim: the organization is ``pending`` again (a verified one can no
    longer be booked on until staff verify it anew), and staff are told."""
    organization = await as_owner(session, user, organization_id)
    wanted = changes.changes()
    if "uscc" in wanted:
        try:
            wanted["uscc"] = uscc.validate(wanted["uscc"])
        except uscc.InvalidUscc:
            raise InvalidUscc() from None
        taken = await session.scalar(
            select(Organization.id).where(
                Organization.uscc == wanted["uscc"], Organization.id != organization.id
            )
        )
        if taken is not None:
            raise UsccTaken()
    changed = {
        field: value for field, value in wanted.items() if getattr(organization, field) != value
    }
    if not changed:
        return await view(session, user, organization_id)
    for field, value in changed.items():
        setattr(organization, field, value)
    before = organization.status
    resubmitted = bool(changed.keys() & {"name", "uscc"}) and before is not (
        OrganizationStatus.pending
    )
    if resubmitted:
        organization.status = OrganizationStatus.pending
        organization.status_reason = None
        organization.decided_by_staff_id = None
        organization.decided_at = None
    audit.record(
        session,
        user,
        entity=ENTITY,
        entity_id=organization.id,
        action="resubmit" if resubmitted else "update",
        from_status=before.value,
        to_status=organization.status.value,
        reason="变更" + "、".join(FIELD_NAMES[field] for field in FIELD_NAMES if field in changed),
    )
    await flush_unique(session, UsccTaken())
    if resubmitted:
        await notifications.tell_staff_of_organization(
            session, NotificationKind.organization_registered, organization, reason=CHANGED_IDENTITY
        )
        await session.flush()
    return await view(session, user, organization_id)
