"""The projects list and the service objects list, for staff."""

from fastapi import status

from app.core.db import SessionDep
from app.core.routing import api_router
from app.core.schemas import Limit, Offset, Page, ResourceId
from app.identity.dependencies import CurrentStaff
from app.lists import projects
from app.lists.categories import CATEGORY_LABELS, GROUP_LABELS, PROJECT_STATUS_LABELS
from app.lists.common import centers_in
from app.lists.router import AncestorId, CenterId
from app.lists.schemas import (
    ProjectIn,
    ProjectOut,
    ProjectPatch,
    ServiceObjectIn,
    ServiceObjectOut,
    ServiceObjectPatch,
)
from app.models import NeedCategory, ProjectStatus, ServedGroup, ServiceObject

router = api_router("/admin", tags=["lists", "admin"])


def project_out(listed: projects.Listed) -> ProjectOut:
    found = listed.project
    return ProjectOut(
        id=found.id,
        center_id=found.center_id,
        center_name=listed.center_name,
        category=found.category,
        category_label=CATEGORY_LABELS[found.category],
        title=found.title,
        description=found.description,
        provider=found.provider,
        organization_id=found.organization_id,
        schedule=found.schedule,
        starts_on=found.starts_on,
        ends_on=found.ends_on,
        status=found.status,
        status_label=PROJECT_STATUS_LABELS[found.status],
        activity_ids=listed.activity_ids,
        matches=listed.matches,
        created_at=found.created_at,
    )


def served_out(served: ServiceObject, center_name: str) -> ServiceObjectOut:
    return ServiceObjectOut(
        id=served.id,
        center_id=served.center_id,
        center_name=center_name,
        group=served.served_group,
        group_label=GROUP_LABELS[served.served_group],
        people=served.people,
        note=served.note,
        updated_at=served.updated_at,
    )


@router.post("/projects", response_model=ProjectOut, status_code=status.HTTP_201_CREATED)
async def create_project(body: ProjectIn, staff: CurrentStaff, session: SessionDep) -> ProjectOut:
    """A service a center you cover runs (or a district delivers through its
    hub): category, provider, schedule, and `activity_ids`, activities of
    centers you cover held as part of it (422 `unknown_activity`)."""
    return project_out(await projects.create(session, staff, body))


@router.get("/projects", response_model=Page[ProjectOut])
async def list_projects(
    staff: CurrentStaff,
    session: SessionDep,
    ancestor_id: AncestorId = None,
    center_id: CenterId = None,
    category: NeedCategory | None = None,
    status: ProjectStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ProjectOut]:
    """The projects of the centers you cover, newest first."""
    found = projects.ProjectFilter(
        await centers_in(session, staff, ancestor_id, center_id), category, status
    )
    rows, total = await projects.listed(session, found, limit=limit, offset=offset)
    return Page(items=[project_out(row) for row in rows], total=total, limit=limit, offset=offset)


@router.get("/projects/{project_id}", response_model=ProjectOut)
async def get_project(
    project_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> ProjectOut:
    return project_out(await projects.get(session, staff, project_id))


@router.patch("/projects/{project_id}", response_model=ProjectOut)
async def edit_project(
    project_id: ResourceId, body: ProjectPatch, staff: CurrentStaff, session: SessionDep
) -> ProjectOut:
    """Change a project; `activity_ids` replaces its activities; `status`
    moves it on (planned, running, completed: delivered, cancelled)."""
    return project_out(await projects.update(session, staff, project_id, body))


@router.delete("/projects/{project_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_project(project_id: ResourceId, staff: CurrentStaff, session: SessionDep) -> None:
    """Delete a project never matched to a need (409 `list_entry_in_use`)."""
    await projects.delete_project(session, staff, project_id)


@router.post(
    "/service-objects", response_model=ServiceObjectOut, status_code=status.HTTP_201_CREATED
)
async def add_service_object(
    body: ServiceObjectIn, staff: CurrentStaff, session: SessionDep
) -> ServiceObjectOut:
    """A group a center you cover serves, and how many of them (409
    `group_already_listed` for a group the center lists)."""
    return served_out(*await projects.add_group(session, staff, body))


@router.get("/service-objects", response_model=Page[ServiceObjectOut])
async def list_service_objects(
    staff: CurrentStaff,
    session: SessionDep,
    ancestor_id: AncestorId = None,
    center_id: CenterId = None,
    group: ServedGroup | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ServiceObjectOut]:
    """The groups the centers you cover serve."""
    clauses = await centers_in(session, staff, ancestor_id, center_id)
    rows, total = await projects.groups(session, clauses, group, limit=limit, offset=offset)
    items = [served_out(served, name) for served, name in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.patch("/service-objects/{served_id}", response_model=ServiceObjectOut)
async def edit_service_object(
    served_id: ResourceId, body: ServiceObjectPatch, staff: CurrentStaff, session: SessionDep
) -> ServiceObjectOut:
    return served_out(*await projects.change_group(session, staff, served_id, body))


@router.delete("/service-objects/{served_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_service_object(
    served_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> None:
    await projects.remove_group(session, staff, served_id)
