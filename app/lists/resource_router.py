"""The resources list: residents and organisations offer, staff record,
review and keep it."""

from fastapi import status

from app.core.db import SessionDep
from app.core.routing import api_router
from app.core.schemas import Limit, Offset, Page, ResourceId
from app.identity.dependencies import CurrentStaff, CurrentUser
from app.lists import resources
from app.lists.categories import OFFERER_LABELS, RESOURCE_KIND_LABELS, RESOURCE_STATUS_LABELS
from app.lists.common import centers_in
from app.lists.router import AncestorId, CenterId
from app.lists.schemas import OfferIn, ResourceIn, ResourceOut, ResourcePatch
from app.models import ResourceKind, ResourceStatus

router = api_router(tags=["lists"])


def resource_out(listed: resources.Listed) -> ResourceOut:
    found = listed.resource
    return ResourceOut(
        id=found.id,
        center_id=found.center_id,
        center_name=listed.center_name,
        kind=found.kind,
        kind_label=RESOURCE_KIND_LABELS[found.kind],
        title=found.title,
        description=found.description,
        offered_by=found.offered_by,
        offered_by_label=OFFERER_LABELS[found.offered_by],
        provider=found.provider,
        user_id=found.user_id,
        organization_id=found.organization_id,
        quantity=found.quantity,
        unit=found.unit,
        available_from=found.available_from,
        available_until=found.available_until,
        schedule=found.schedule,
        status=found.status,
        status_label=RESOURCE_STATUS_LABELS[found.status],
        matches=listed.matches,
        created_at=found.created_at,
    )


def _page(rows: list[resources.Listed], total: int, limit: int, offset: int) -> Page[ResourceOut]:
    return Page(items=[resource_out(row) for row in rows], total=total, limit=limit, offset=offset)


# --- residents and organisations ------------------------------------------------------


@router.post("/resources", response_model=ResourceOut, status_code=status.HTTP_201_CREATED)
async def offer_resource(body: OfferIn, user: CurrentUser, session: SessionDep) -> ResourceOut:
    """Offer a center a resource (a room, skills, equipment, volunteers'
    time…): in your own name, or with `organization_id` in the name of a
    verified organisation you own (403 `owner_only`, 403
    `organization_not_verified`). Staff covering the center accept or
    decline it."""
    return resource_out(await resources.offer(session, user, body))


@router.get("/resources/mine", response_model=Page[ResourceOut])
async def my_resources(
    user: CurrentUser, session: SessionDep, limit: Limit = 50, offset: Offset = 0
) -> Page[ResourceOut]:
    """What you offered, newest first."""
    rows, total = await resources.mine(session, user, limit=limit, offset=offset)
    return _page(rows, total, limit, offset)


@router.post("/resources/{resource_id}/withdraw", response_model=ResourceOut)
async def withdraw_resource(
    resource_id: ResourceId, user: CurrentUser, session: SessionDep
) -> ResourceOut:
    """Take back what you offered while it is offered or accepted (409
    `invalid_transition` after that)."""
    return resource_out(await resources.withdraw(session, user, resource_id))


# --- staff ---------------------------------------------------------------------------


@router.post(
    "/admin/resources",
    response_model=ResourceOut,
    status_code=status.HTTP_201_CREATED,
    tags=["admin"],
)
async def record_resource(
    body: ResourceIn, staff: CurrentStaff, session: SessionDep
) -> ResourceOut:
    """Record a resource a company, partner unit or anyone offers a center
    you cover (`provider`; `organization_id` if registered): accepted at once."""
    return resource_out(await resources.record_for(session, staff, body))


@router.get("/admin/resources", response_model=Page[ResourceOut], tags=["admin"])
async def list_resources(
    staff: CurrentStaff,
    session: SessionDep,
    ancestor_id: AncestorId = None,
    center_id: CenterId = None,
    kind: ResourceKind | None = None,
    status: ResourceStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ResourceOut]:
    """The resources of the centers you cover, newest first (`status=offered`:
    those waiting for you)."""
    found = resources.ResourceFilter(
        await centers_in(session, staff, ancestor_id, center_id), kind, status
    )
    rows, total = await resources.listed(session, found, limit=limit, offset=offset)
    return _page(rows, total, limit, offset)


@router.get("/admin/resources/{resource_id}", response_model=ResourceOut, tags=["admin"])
async def get_resource(
    resource_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> ResourceOut:
    return resource_out(await resources.get(session, staff, resource_id))


@router.patch("/admin/resources/{resource_id}", response_model=ResourceOut, tags=["admin"])
async def edit_resource(
    resource_id: ResourceId, body: ResourcePatch, staff: CurrentStaff, session: SessionDep
) -> ResourceOut:
    """Change a resource (422 `dates_out_of_order` if it would end before it starts)."""
    return resource_out(await resources.update(session, staff, resource_id, body))


@router.post("/admin/resources/{resource_id}/accept", response_model=ResourceOut, tags=["admin"])
async def accept_resource(
    resource_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> ResourceOut:
    """Offered → accepted: on the list, ready to be matched to needs."""
    found = await resources.decide(session, staff, resource_id, ResourceStatus.accepted)
    return resource_out(found)


@router.post("/admin/resources/{resource_id}/decline", response_model=ResourceOut, tags=["admin"])
async def decline_resource(
    resource_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> ResourceOut:
    """Offered → declined."""
    found = await resources.decide(session, staff, resource_id, ResourceStatus.declined)
    return resource_out(found)


@router.delete(
    "/admin/resources/{resource_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["admin"]
)
async def delete_resource(
    resource_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> None:
    """Delete a resource never matched to a need (409 `list_entry_in_use`)."""
    await resources.delete(session, staff, resource_id)
