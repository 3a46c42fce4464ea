"""What the four lists share: finding an entry in a staff member's scope, the
page of a list with its centers' names, the audit trail, the errors."""

from collections.abc import Sequence
from datetime import date
from typing import Any, TypeVar, TypeVarTuple

from sqlalchemy import ColumnElement, Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.centers.service import centers_below, get_center_in_scope
from app.core.errors import AppError, NotFound, OutOfScope, Text
from app.identity.principals import Actor, StaffPrincipal
from app.models import Center, Need, Organization, Project, Resource, ServiceObject

NEED = Text("需求", "need")
RESOURCE = Text("资源", "resource")
PROJECT = Text("项目", "project")
SERVICE_OBJECT = Text("服务对象", "service object")
ORGANIZATION = Text("组织", "organization")
ACTIVITY = Text("活动", "activity")

Entry = TypeVar("Entry", Need, Resource, Project, ServiceObject)
Columns = TypeVarTuple("Columns")


class ListEntryInUse(AppError):
    status = 409
    code = "list_entry_in_use"
    title = Text("已有需求对接", "Matched to needs")
    detail = Text(
        "该{what}已对接需求，不能删除；可将其标记为结束或撤回",
        "This {what} is matched to needs and cannot be deleted; end or withdraw it instead",
    )


class DatesOutOfOrder(AppError):
    status = 422
    code = "dates_out_of_order"
    title = Text("日期顺序有误", "Dates out of order")
    detail = Text("结束日期不能早于开始日期", "The end date cannot come before the start date")


def check_dates(first: date | None, last: date | None) -> None:
    if first is not None and last is not None and last < first:
        raise DatesOutOfOrder()


async def in_scope(
    session: AsyncSession,
    staff: StaffPrincipal,
    model: type[Entry],
    entry_id: int,
    what: Text,
    *,
    for_update: bool = False,
) -> tuple[Entry, Center]:
    """The entry and its center: 404 without it, 403 ``out_of_scope`` when
    ``staff`` does not cover its center."""
    query = select(model).where(model.id == entry_id)
    if for_update:
        query = query.with_for_update()
    entry = await session.scalar(query)
    if entry is None:
        raise NotFound(what)
    center = await session.get(Center, entry.center_id)
    if center is None or not staff.covers_center(center):
        raise OutOfScope(what=what)
    return entry, center


async def centers_in(
    session: AsyncSession, staff: StaffPrincipal, ancestor_id: int | None, center_id: int | None
) -> list[ColumnElement[bool]]:
    """Clauses on ``Center``: those ``staff`` covers, below ``ancestor_id``
    (a center they cover), only ``center_id``."""
    clauses = await centers_below(session, staff, ancestor_id)
    if center_id is not None:
        clauses.append(Center.id == center_id)
    return clauses


async def move_to(session: AsyncSession, staff: StaffPrincipal, entry: Any, center_id: int) -> str:
    """Move ``entry`` to another center ``staff`` covers; its name."""
    center = await get_center_in_scope(session, staff, center_id)
    entry.center_id = center.id
    return center.name


async def organization(session: AsyncSession, organization_id: int | None) -> Organization | None:
    if organization_id is None:
        return None
    found = await session.get(Organization, organization_id)
    if found is None:
        raise NotFound(ORGANIZATION)
    return found


async def page(
    session: AsyncSession, query: Select[*Columns], order: Any, limit: int, offset: int
) -> tuple[Sequence[Row[*Columns]], int]:
    """One page of ``query``'s rows, and how many there are."""
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = (await session.execute(query.order_by(order).limit(limit).offset(offset))).all()
    return rows, int(total or 0)


def record(
    session: AsyncSession,
    actor: Actor,
    entity: str,
    entity_id: int,
    action: str,
    *,
    before: str | None = None,
    after: str | None = None,
) -> None:
    audit.record(
        session,
        actor,
        entity=entity,
        entity_id=entity_id,
        action=action,
        from_status=before,
        to_status=after,
    )
