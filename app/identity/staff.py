"""Staff accounts: creating one, with the scope its role needs (README,
"Staff scope"): a district admin's district, a street admin's district and
street, a center admin's centers and how far they reach."""

import re
from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, exists, insert, not_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import AlreadyExists, Text, UnprocessableInput
from app.core.passwords import hash_password_async
from app.identity.principals import StaffPrincipal
from app.identity.service import STAFF, USERNAME_PATTERN
from app.models import Center, Staff, StaffRole, StaffScope, staff_centers


async def create_staff(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    role: StaffRole,
    district: str | None = None,
    street: str | None = None,
    center_ids: Sequence[int] = (),
    scope: StaffScope = StaffScope.listed,
    must_change_password: bool = False,
) -> Staff:
    username = username.lower()
    if not re.fullmatch(USERNAME_PATTERN, username):
        raise UnprocessableInput(
            Text(
                "用户名须为 3–50 位小写字母、数字或 . _ -",
                "Usernames are 3-50 lower-case letters, digits, '.', '_' or '-'",
            )
        )
    check_password_policy(password)
    await check_role_scope(
        session, role=role, district=district, street=street, center_ids=center_ids, scope=scope
    )
    if await session.scalar(select(Staff.id).where(Staff.username == username)) is not None:
        raise AlreadyExists(what=STAFF)
    staff = Staff(
        username=username,
        password_hash=await hash_password_async(password),
        role=role,
        district=district if role in (StaffRole.district_admin, StaffRole.street_admin) else None,
        street=street if role is StaffRole.street_admin else None,
        scope=scope,
        must_change_password=must_change_password,
    )
    session.add(staff)
    await session.flush()
    if role is StaffRole.center_admin:
        await session.execute(
            insert(staff_centers),
            [{"staff_id": staff.id, "center_id": center_id} for center_id in set(center_ids)],
        )
    return staff


MIN_PASSWORD_LENGTH = 10


def check_password_policy(password: str) -> None:
    """The staff password policy: at least ten characters (Argon2id hashes it)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UnprocessableInput(Text("密码至少 10 位", "Passwords must be at least 10 characters"))


async def check_role_scope(
    session: AsyncSession,
    *,
    role: StaffRole,
    district: str | None,
    street: str | None,
    center_ids: Sequence[int],
    scope: StaffScope,
) -> None:
    """The scope ``role`` needs is given (README, "Staff scope")."""
    if role is StaffRole.district_admin and not district:
        raise UnprocessableInput(
            Text("区级管理员须指定所属区", "A district admin needs a district")
        )
    if role is StaffRole.street_admin and not (district and street):
        raise UnprocessableInput(
            Text("街镇管理员须指定所属区和街镇", "A street admin needs a district and a street")
        )
    if scope is StaffScope.subtree and role is not StaffRole.center_admin:
        raise UnprocessableInput(
            Text("只有中心管理员可管辖下级阵地", "Only a center admin may be given a subtree")
        )
    if role is StaffRole.center_admin:
        await _require_centers(session, center_ids)


async def _require_centers(session: AsyncSession, center_ids: Sequence[int]) -> None:
    wanted = set(center_ids)
    if not wanted:
        raise UnprocessableInput(
            Text("中心管理员须至少指定一个中心", "A center admin needs at least one center")
        )
    found = set((await session.scalars(select(Center.id).where(Center.id.in_(wanted)))).all())
    if missing := wanted - found:
        raise UnprocessableInput(
            Text("中心不存在：{ids}", "No such centers: {ids}"),
            ids=", ".join(str(center_id) for center_id in sorted(missing)),
        )


def _centers_in_district(district: str | None) -> ColumnElement[bool]:
    """A center admin (the correlated ``Staff`` row) whose every listed center
    is in ``district``, and who has one."""
    inside = exists().where(
        staff_centers.c.staff_id == Staff.id,
        staff_centers.c.center_id == Center.id,
        Center.district == district,
    )
    outside = exists().where(
        staff_centers.c.staff_id == Staff.id,
        staff_centers.c.center_id == Center.id,
        or_(Center.district != district, Center.district.is_(None)),
    )
    return and_(inside, not_(outside))


def visible_clause(actor: StaffPrincipal) -> ColumnElement[bool]:
    """The accounts ``actor`` manages (themselves excluded by the routes)."""
    if actor.is_super_admin:
        return true()
    return and_(
        Staff.role != StaffRole.super_admin,
        or_(
            and_(
                Staff.role.in_((StaffRole.district_admin, StaffRole.street_admin)),
                Staff.district == actor.district,
            ),
            and_(Staff.role == StaffRole.center_admin, _centers_in_district(actor.district)),
        ),
    )
