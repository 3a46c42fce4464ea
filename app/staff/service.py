"""Staff accounts managed by staff (README, "Staff accounts").

A super admin manages every account but their own; a district admin the
accounts whose scope lies within their district (district and street admins
of it, center admins whose every listed center is in it), never a super admin
nor another district's; nobody else manages accounts. One's own account is
changed only through ``/admin/me``. A password set here (a new account's or
a reset one) is generated, shown once, and must be changed at the first
sign-in (``Staff.must_change_password``). Every change is audited
(entity ``staff``).
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.core.clock import utcnow
from app.core.errors import Forbidden, NotFound, Text, UnprocessableInput
from app.core.passwords import hash_password_async, verify_password
from app.identity import service as identity
from app.identity.principals import StaffPrincipal
from app.identity.staff import (
    check_password_policy,
    check_role_scope,
    create_staff,
    visible_clause,
)
from app.models import Center, Staff, StaffRole, StaffScope, staff_centers
from app.staff.schemas import StaffCreate, StaffUpdate

ENTITY = "staff"
ACTIVE, INACTIVE = "active", "inactive"

MANAGERS = frozenset({StaffRole.super_admin, StaffRole.district_admin})
NOT_A_MANAGER = Text(
    "只有超级管理员和区级管理员可管理工作人员账号",
    "Only super admins and district admins manage staff accounts",
)
NOT_YOURSELF = Text(
    "不能在此管理自己的账号，请使用“我的账号”",
    "Manage your own account through /admin/me, not here",
)
OUTSIDE_DISTRICT = Text(
    "只能管理本区范围内的工作人员账号（不含超级管理员）",
    "District admins manage only their district's staff, never a super admin",
)
WRONG_PASSWORD = Text("当前密码不正确", "The current password is wrong")
SAME_PASSWORD = Text(
    "新密码不能与当前密码相同", "The new password must differ from the current one"
)


@dataclass(frozen=True)
class Account:
    staff: Staff
    center_ids: list[int]


def require_manager(actor: StaffPrincipal) -> None:
    if actor.role not in MANAGERS:
        raise Forbidden(NOT_A_MANAGER)


async def _check_target_scope(
    session: AsyncSession,
    actor: StaffPrincipal,
    role: StaffRole,
    district: str | None,
    center_ids: Sequence[int],
) -> None:
    """A district admin may give only a scope within their district."""
    if actor.is_super_admin:
        return
    if role is StaffRole.super_admin:
        raise Forbidden(OUTSIDE_DISTRICT)
    if role in (StaffRole.district_admin, StaffRole.street_admin):
        if district != actor.district:
            raise Forbidden(OUTSIDE_DISTRICT)
        return
    if center_ids:
        districts = set(
            (await session.scalars(select(Center.district).where(Center.id.in_(center_ids)))).all()
        )
        if districts - {actor.district}:
            raise Forbidden(OUTSIDE_DISTRICT)


async def _center_ids(session: AsyncSession, staff_ids: Sequence[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {staff_id: [] for staff_id in staff_ids}
    if staff_ids:
        rows = await session.execute(
            select(staff_centers.c.staff_id, staff_centers.c.center_id)
            .where(staff_centers.c.staff_id.in_(staff_ids))
            .order_by(staff_centers.c.center_id)
        )
        for staff_id, center_id in rows:
            found[staff_id].append(center_id)
    return found


async def list_staff(
    session: AsyncSession,
    actor: StaffPrincipal,
    *,
    role: StaffRole | None,
    district: str | None,
    active: bool | None,
    query: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Account], int]:
    require_manager(actor)
    where = [visible_clause(actor), Staff.id != actor.id]
    if role is not None:
        where.append(Staff.role == role)
    if district:
        where.append(Staff.district == district)
    if active is not None:
        where.append(Staff.is_active.is_(active))
    if query:
        escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(Staff.username.like(f"%{escaped}%", escape="\\"))
    total = await session.scalar(select(func.count()).select_from(Staff).where(*where)) or 0
    rows = (
        await session.scalars(
            select(Staff).where(*where).order_by(Staff.username).limit(limit).offset(offset)
        )
    ).all()
    centers = await _center_ids(session, [row.id for row in rows])
    return [Account(row, centers[row.id]) for row in rows], total


async def get_managed(session: AsyncSession, actor: StaffPrincipal, staff_id: int) -> Account:
    """An account ``actor`` manages: 404 for one outside their reach, 403 for their own."""
    require_manager(actor)
    if staff_id == actor.id:
        raise Forbidden(NOT_YOURSELF)
    staff = await session.scalar(select(Staff).where(Staff.id == staff_id, visible_clause(actor)))
    if staff is None:
        raise NotFound(identity.STAFF)
    return Account(staff, (await _center_ids(session, [staff.id]))[staff.id])


def _record(
    session: AsyncSession,
    actor: StaffPrincipal,
    staff: Staff,
    action: str,
    before: str | None = None,
    after: str | None = None,
    reason: str | None = None,
) -> None:
    audit.record(
        session,
        actor,
        entity=ENTITY,
        entity_id=staff.id,
        action=action,
        from_status=before,
        to_status=after,
        reason=reason,
    )


def _describe(
    role: StaffRole, district: str | None, street: str | None, centers: Sequence[int]
) -> str:
    parts = [role.value, district or "", street or "", ",".join(str(c) for c in sorted(centers))]
    return " ".join(part for part in parts if part)[:200]


def generated_password() -> str:
    """16 URL-safe characters (96 bits): well past the policy's ten."""
    return secrets.token_urlsafe(12)


async def create(
    session: AsyncSession, actor: StaffPrincipal, body: StaffCreate
) -> tuple[Account, str]:
    require_manager(actor)
    await _check_target_scope(session, actor, body.role, body.district, body.center_ids)
    password = generated_password()
    staff = await create_staff(
        session,
        username=body.username,
        password=password,
        role=body.role,
        district=body.district,
        street=body.street,
        center_ids=body.center_ids,
        scope=body.scope,
        must_change_password=True,
    )
    centers = sorted(set(body.center_ids)) if body.role is StaffRole.center_admin else []
    _record(
        session, actor, staff, "create", None, ACTIVE,
        _describe(staff.role, staff.district, staff.street, centers),
    )  # fmt: skip
    return Account(staff, centers), password


async def update(
    session: AsyncSession, actor: StaffPrincipal, staff_id: int, body: StaffUpdate
) -> Account:
    account = await get_managed(session, actor, staff_id)
    staff = account.staff
    given = body.model_fields_set
    role = body.role if body.role is not None else staff.role
    district = body.district if "district" in given else staff.district
    street = body.street if "street" in given else staff.street
    scope = body.scope if body.scope is not None else staff.scope
    if role is not StaffRole.center_admin and "scope" not in given:
        scope = StaffScope.listed
    center_ids = body.center_ids if body.center_ids is not None else account.center_ids
    if role is not StaffRole.center_admin:
        center_ids = []
    await check_role_scope(
        session, role=role, district=district, street=street, center_ids=center_ids, scope=scope
    )
    await _check_target_scope(session, actor, role, district, center_ids)
    before = _describe(staff.role, staff.district, staff.street, account.center_ids)
    staff.role = role
    staff.district = (
        district if role in (StaffRole.district_admin, StaffRole.street_admin) else None
    )
    staff.street = street if role is StaffRole.street_admin else None
    staff.scope = scope
    await session.execute(delete(staff_centers).where(staff_centers.c.staff_id == staff.id))
    if center_ids:
        await session.execute(
            insert(staff_centers),
            [
                {"staff_id": staff.id, "center_id": center_id}
                for center_id in sorted(set(center_ids))
            ],
        )
    await session.flush()
    after = _describe(role, staff.district, staff.street, center_ids)
    _record(session, actor, staff, "update", None, None, f"{before} -> {after}"[:200])
    return Account(staff, sorted(set(center_ids)))


async def reset_password(
    session: AsyncSession, actor: StaffPrincipal, staff_id: int
) -> tuple[Account, str]:
    """A new generated password, shown once; the account's sessions end and
    it must change the password at the next sign-in."""
    account = await get_managed(session, actor, staff_id)
    password = generated_password()
    account.staff.password_hash = await hash_password_async(password)
    account.staff.must_change_password = True
    await identity.sign_out_staff(session, account.staff.id, utcnow())
    await session.refresh(account.staff)
    _record(session, actor, account.staff, "reset_password")
    return account, password


async def set_active(
    session: AsyncSession, actor: StaffPrincipal, staff_id: int, active: bool
) -> Account:
    account = await get_managed(session, actor, staff_id)
    staff = account.staff
    if staff.is_active == active:
        return account
    staff.is_active = active
    if not active:
        await identity.sign_out_staff(session, staff.id, utcnow())
        await session.refresh(staff)
    action = "activate" if active else "deactivate"
    _record(
        session,
        actor,
        staff,
        action,
        INACTIVE if active else ACTIVE,
        ACTIVE if active else INACTIVE,
    )
    return account


async def change_own_password(
    session: AsyncSession, actor: StaffPrincipal, current: str, new: str
) -> None:
    """Change one's password (the policy's, Argon2id): every token issued
    before this second stops working (the router hands out a new one)."""
    staff = await session.get(Staff, actor.id)
    if staff is None:
        raise NotFound(identity.STAFF)
    if not await verify_password(staff.password_hash, current):
        raise UnprocessableInput(WRONG_PASSWORD)
    check_password_policy(new)
    if new == current:
        raise UnprocessableInput(SAME_PASSWORD)
    staff.password_hash = await hash_password_async(new)
    staff.must_change_password = False
    await identity.sign_out_staff(session, staff.id, utcnow())
    audit.record(
        session, actor, entity=ENTITY, entity_id=staff.id, action="change_password",
        from_status=None, to_status=None,
    )  # fmt: skip


async def signed_out_at(session: AsyncSession, staff_id: int) -> datetime | None:
    found: datetime | None = await session.scalar(
        select(Staff.signed_out_at).where(Staff.id == staff_id)
    )
    return found
