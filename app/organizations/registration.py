"""Registering an organisation, and the owner changing its details: its kind,
name and unified social credit code are a claim staff verify, so a new one
sends the organisation back to them; the contact is the owner's to change.

Each kind shows what ``app/organizations/kinds.py`` says of a code: a company
and a social organisation register with one (a social organisation's starts
with 5), a party branch and a community team with none, a partner unit with
one if it has one. Kinds without a code are told apart by who they are, not by
their name: two of them may share a name at one center (a name proves
nothing, and refusing the second would let whoever came first keep the real
branch out), and staff verify or reject each.
"""

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
    OrganizationKind,
    OrganizationStatus,
    User,
)
from app.notifications import service as notifications
from app.organizations import uscc
from app.organizations.kinds import KINDS, CodeRule
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


class UsccRequired(AppError):
    status = 422
    code = "uscc_required"
    title = Text("缺少统一社会信用代码", "Unified social credit code required")
    detail = Text(
        "{kind}须填写统一社会信用代码", "A {kind} registers with its unified social credit code"
    )


class UsccNotAllowed(AppError):
    status = 422
    code = "uscc_not_allowed"
    title = Text("该类别不填写统一社会信用代码", "No unified social credit code for this kind")
    detail = Text(
        "{kind}没有统一社会信用代码，由工作人员核实；请不要填写",
        "A {kind} has no unified social credit code (staff verify it); send none",
    )


class UsccKindMismatch(AppError):
    status = 422
    code = "uscc_kind_mismatch"
    title = Text("统一社会信用代码与类别不符", "Code does not match the kind")
    detail = Text(
        "{kind}的统一社会信用代码以 {authority} 开头",
        "A {kind}'s unified social credit code starts with {authority}",
    )


def checked_code(kind: OrganizationKind, code: str | None) -> str | None:
    """``code`` if ``kind`` may show it (``None`` where it has none); which
    rule it breaks otherwise."""
    rule = KINDS[kind]
    if code is None:
        if rule.code is CodeRule.required:
            raise UsccRequired(kind=rule.name)
        return None
    if rule.code is CodeRule.none:
        raise UsccNotAllowed(kind=rule.name)
    try:
        code = uscc.validate(code)
    except uscc.InvalidUscc:
        raise InvalidUscc() from None
    if not code.startswith(rule.authority):
        raise UsccKindMismatch(kind=rule.name, authority=rule.authority)
    return code


async def _taken(session: AsyncSession, code: str | None, organization_id: int | None) -> bool:
    """Whether another organization holds ``code`` (many may hold none)."""
    if code is None:
        return False
    query = select(Organization.id).where(Organization.uscc == code)
    if organization_id is not None:
        query = query.where(Organization.id != organization_id)
    return await session.scalar(query) is not None


async def register(session: AsyncSession, user: User, data: OrganizationCreate) -> Organization:
    code = checked_code(data.kind, data.uscc)
    if data.center_id is not None and await session.get(Center, data.center_id) is None:
        raise NotFound(CENTER)
    if await _taken(session, code, None):
        raise UsccTaken()
    organization = Organization(
        kind=data.kind,
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
CHANGED_IDENTITY = "（单位类别、名称或统一社会信用代码已变更，需重新认证）"
# What is a claim staff verify: a change of any sends the organization back to them.
IDENTITY = {"kind", "name", "uscc"}
FIELD_NAMES = {
    "kind": "类别",
    "name": "名称",
    "uscc": "统一社会信用代码",
    "contact_name": "联系人",
    "contact_phone": "联系电话",
}


async def change(
    session: AsyncSession, user: User, organization_id: int, changes: OrganizationUpdate
) -> OrganizationView:
    """The owner changes the contact, or the kind, name or code. A new kind, name
    or code is a new claim: the organization is ``pending`` again (a verified
    one can no longer be booked on until staff verify it anew), and staff are
    told. The kind and code are checked as they will be together: a community
    team that registers with civil affairs becomes a social organization by
    sending both; a partner unit turning into a party branch sends
    ``uscc: null`` with it."""
    organization = await as_owner(session, user, organization_id)
    wanted = changes.changes()
    if wanted.keys() & {"kind", "uscc"}:
        kind = wanted.get("kind", organization.kind)
        code = checked_code(kind, wanted["uscc"] if "uscc" in wanted else organization.uscc)
        if "uscc" in wanted:
            wanted["uscc"] = code
        if await _taken(session, code, organization.id):
            raise UsccTaken()
    changed = {
        field: value for field, value in wanted.items() if getattr(organization, field) != value
    }
    if not changed:
        return await view(session, user, organization_id)
    for field, value in changed.items():
        setattr(organization, field, value)
    before = organization.status
    resubmitted = bool(changed.keys() & IDENTITY) and before is not OrganizationStatus.pending
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
