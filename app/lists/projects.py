"""The projects list (项目清单) and the service objects (服务对象清单).

A project is a service a center runs, or a district delivers through its
hub: its category, provider and schedule, and the activities held as part of
it (activities of centers the staff member covers: ``422 unknown_activity``
for one that does not exist). A project matched to a need is not deleted
(``409 list_entry_in_use``): it is cancelled or completed instead.

A center's service objects are one row per group (白领, 骑手, 老人…) with how
many people of it the center serves (``409 group_already_listed`` twice).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.centers.service import get_center_in_scope
from app.core.db import flush_unique
from app.core.errors import AppError, OutOfScope, Text
from app.identity.principals import StaffPrincipal
from app.lists.common import (
    ACTIVITY,
    PROJECT,
    SERVICE_OBJECT,
    ListEntryInUse,
    check_dates,
    in_scope,
    move_to,
    organization,
    page,
    record,
)
from app.lists.schemas import ProjectIn, ProjectPatch, ServiceObjectIn, ServiceObjectPatch
from app.models import (
    Activity,
    Center,
    NeedCategory,
    NeedMatch,
    Project,
    ProjectActivity,
    ProjectStatus,
    ServedGroup,
    ServiceObject,
)


class UnknownActivity(AppError):
    status = 422
    code = "unknown_activity"
    title = Text("活动不存在", "Unknown activity")
    detail = Text("找不到编号为 {ids} 的活动", "No activity has the id {ids}")


class GroupAlreadyListed(AppError):
    status = 409
    code = "group_already_listed"
    title = Text("服务对象已登记", "Group already listed")
    detail = Text(
        "该阵地已登记这一服务对象，请修改原记录", "The center lists this group already: edit it"
    )


@dataclass(frozen=True)
class Listed:
    project: Project
    center_name: str
    activity_ids: list[int]
    matches: int


@dataclass(frozen=True)
class ProjectFilter:
    center_ids: list[ColumnElement[bool]]
    category: NeedCategory | None = None
    status: ProjectStatus | None = None


async def _check_activities(
    session: AsyncSession, staff: StaffPrincipal, activity_ids: Sequence[int]
) -> None:
    if not activity_ids:
        return
    found = await session.execute(
        select(Activity.id, Center)
        .join(Center, Center.id == Activity.center_id)
        .where(Activity.id.in_(activity_ids))
    )
    centers = {row[0]: row[1] for row in found}
    missing = sorted(set(activity_ids) - set(centers))
    if missing:
        raise UnknownActivity(ids=", ".join(map(str, missing)))
    if not all(staff.covers_center(center) for center in centers.values()):
        raise OutOfScope(what=ACTIVITY)


async def _link(session: AsyncSession, project_id: int, activity_ids: Sequence[int]) -> None:
    await session.execute(delete(ProjectActivity).where(ProjectActivity.project_id == project_id))
    for activity_id in activity_ids:
        session.add(ProjectActivity(project_id=project_id, activity_id=activity_id))
    await session.flush()


async def _linked(session: AsyncSession, project_ids: Sequence[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {project_id: [] for project_id in project_ids}
    rows = await session.execute(
        select(ProjectActivity.project_id, ProjectActivity.activity_id)
        .where(ProjectActivity.project_id.in_(project_ids))
        .order_by(ProjectActivity.activity_id)
    )
    for project_id, activity_id in rows:
        found[project_id].append(activity_id)
    return found


async def _uses(session: AsyncSession, project_id: int) -> int:
    count = await session.scalar(
        select(func.count()).select_from(NeedMatch).where(NeedMatch.project_id == project_id)
    )
    return int(count or 0)


async def _one(session: AsyncSession, project: Project, center_name: str) -> Listed:
    linked = await _linked(session, [project.id])
    return Listed(project, center_name, linked[project.id], await _uses(session, project.id))


async def create(session: AsyncSession, staff: StaffPrincipal, body: ProjectIn) -> Listed:
    center = await get_center_in_scope(session, staff, body.center_id)
    await organization(session, body.organization_id)
    await _check_activities(session, staff, body.activity_ids)
    project = Project(center_id=center.id, **body.model_dump(exclude={"center_id", "activity_ids"}))
    session.add(project)
    await session.flush()
    await _link(session, project.id, body.activity_ids)
    record(session, staff, "project", project.id, "create", after=project.status.value)
    return await _one(session, project, center.name)


async def update(
    session: AsyncSession, staff: StaffPrincipal, project_id: int, body: ProjectPatch
) -> Listed:
    project, center = await in_scope(session, staff, Project, project_id, PROJECT, for_update=True)
    changes = body.changes()
    name = center.name
    if "center_id" in changes:
        name = await move_to(session, staff, project, changes.pop("center_id"))
    if changes.get("organization_id") is not None:
        await organization(session, changes["organization_id"])
    activity_ids = changes.pop("activity_ids", None)
    before = project.status
    for field, value in changes.items():
        setattr(project, field, value)
    check_dates(project.starts_on, project.ends_on)
    if activity_ids is not None:
        await _check_activities(session, staff, activity_ids)
        await _link(session, project.id, activity_ids)
    await session.flush()
    record(
        session, staff, "project", project.id, "update", before=before, after=project.status.value
    )
    return await _one(session, project, name)


async def delete_project(session: AsyncSession, staff: StaffPrincipal, project_id: int) -> None:
    project, _ = await in_scope(session, staff, Project, project_id, PROJECT, for_update=True)
    if await _uses(session, project.id):
        raise ListEntryInUse(what=PROJECT)
    record(session, staff, "project", project.id, "delete", before=project.status.value)
    await session.delete(project)
    await session.flush()


async def get(session: AsyncSession, staff: StaffPrincipal, project_id: int) -> Listed:
    project, center = await in_scope(session, staff, Project, project_id, PROJECT)
    return await _one(session, project, center.name)


async def listed(
    session: AsyncSession, found: ProjectFilter, *, limit: int, offset: int
) -> tuple[list[Listed], int]:
    uses = (
        select(NeedMatch.project_id, func.count().label("uses"))
        .where(NeedMatch.project_id.is_not(None))
        .group_by(NeedMatch.project_id)
        .subquery()
    )
    query = (
        select(Project, Center.name, func.coalesce(uses.c.uses, 0))
        .join(Center, Center.id == Project.center_id)
        .outerjoin(uses, uses.c.project_id == Project.id)
        .where(*found.center_ids)
    )
    if found.category is not None:
        query = query.where(Project.category == found.category)
    if found.status is not None:
        query = query.where(Project.status == found.status)
    rows, total = await page(session, query, Project.id.desc(), limit, offset)
    linked = await _linked(session, [project.id for project, _, _ in rows])
    return [
        Listed(project, name, linked[project.id], int(count)) for project, name, count in rows
    ], total


# --- service objects ---------------------------------------------------------------------


async def add_group(
    session: AsyncSession, staff: StaffPrincipal, body: ServiceObjectIn
) -> tuple[ServiceObject, str]:
    center = await get_center_in_scope(session, staff, body.center_id)
    served = ServiceObject(
        center_id=center.id, served_group=body.group, people=body.people, note=body.note
    )
    session.add(served)
    await flush_unique(session, GroupAlreadyListed())
    record(session, staff, "service_object", served.id, "create")
    return served, center.name


async def change_group(
    session: AsyncSession, staff: StaffPrincipal, served_id: int, body: ServiceObjectPatch
) -> tuple[ServiceObject, str]:
    served, center = await in_scope(
        session, staff, ServiceObject, served_id, SERVICE_OBJECT, for_update=True
    )
    for field, value in body.changes().items():
        setattr(served, field, value)
    await session.flush()
    record(session, staff, "service_object", served.id, "update")
    return served, center.name


async def remove_group(session: AsyncSession, staff: StaffPrincipal, served_id: int) -> None:
    served, _ = await in_scope(
        session, staff, ServiceObject, served_id, SERVICE_OBJECT, for_update=True
    )
    record(session, staff, "service_object", served.id, "delete")
    await session.delete(served)
    await session.flush()


async def groups(
    session: AsyncSession,
    center_ids: list[ColumnElement[bool]],
    group: ServedGroup | None,
    *,
    limit: int,
    offset: int,
) -> tuple[list[tuple[ServiceObject, str]], int]:
    query = (
        select(ServiceObject, Center.name)
        .join(Center, Center.id == ServiceObject.center_id)
        .where(*center_ids)
    )
    if group is not None:
        query = query.where(ServiceObject.served_group == group)
    rows, total = await page(session, query, ServiceObject.id, limit, offset)
    return [(served, name) for served, name in rows], total
