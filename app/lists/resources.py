"""The resources list (资源清单): what companies, organisations, residents and
partner units offer a center.

- **Offered** by a signed-in resident (``POST /resources``), in their own
  name or, with ``organization_id``, in the name of a verified organisation
  they own (``403 owner_only``, ``403 organization_not_verified``): it waits
  (``offered``) until staff covering the center accept or decline it. Its
  offerer may withdraw it while it is offered or accepted.
- **Recorded** by staff for whoever offers it (``provider``): accepted at once.
- **Used** once matched to a need; a used resource is not deleted
  (``409 list_entry_in_use``).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.centers.service import get_center, get_center_in_scope
from app.core.errors import InvalidTransition, NotFound, Text
from app.identity.principals import StaffPrincipal
from app.lists.categories import OFFERER_LABELS, RESOURCE_STATUS_LABELS
from app.lists.common import (
    RESOURCE,
    ListEntryInUse,
    check_dates,
    in_scope,
    move_to,
    organization,
    page,
    record,
)
from app.lists.schemas import OfferIn, ResourceIn, ResourcePatch
from app.models import (
    Center,
    NeedMatch,
    OrganizationStatus,
    Resource,
    ResourceKind,
    ResourceOfferer,
    ResourceStatus,
    User,
)
from app.organizations.service import as_owner
from app.reservations.errors import OrganizationNotVerified

OFFERS_ONCE_VERIFIED = Text(
    "组织通过中心认证后才能以其名义提供资源",
    "An organisation offers resources once staff verify it",
)
FROM = Text("资源当前为「{status}」", "The resource is {status}")
WITHDRAWABLE = (ResourceStatus.offered, ResourceStatus.accepted)


@dataclass(frozen=True)
class Listed:
    resource: Resource
    center_name: str
    matches: int


@dataclass(frozen=True)
class ResourceFilter:
    center_ids: list[ColumnElement[bool]]
    kind: ResourceKind | None = None
    status: ResourceStatus | None = None


def _fill(resource: Resource, body: OfferIn) -> None:
    resource.kind = body.kind
    resource.title = body.title
    resource.description = body.description
    resource.quantity = body.quantity
    resource.unit = body.unit
    resource.available_from = body.available_from
    resource.available_until = body.available_until
    resource.schedule = body.schedule


async def _uses(session: AsyncSession, resource_id: int) -> int:
    count = await session.scalar(
        select(func.count()).select_from(NeedMatch).where(NeedMatch.resource_id == resource_id)
    )
    return int(count or 0)


async def record_for(session: AsyncSession, staff: StaffPrincipal, body: ResourceIn) -> Listed:
    center = await get_center_in_scope(session, staff, body.center_id)
    found = await organization(session, body.organization_id)
    resource = Resource(
        center_id=center.id,
        offered_by=ResourceOfferer.organization if found else ResourceOfferer.staff,
        provider=body.provider,
        organization_id=found.id if found else None,
        status=ResourceStatus.accepted,
        decided_by_staff_id=staff.id,
    )
    _fill(resource, body)
    session.add(resource)
    await session.flush()
    record(session, staff, "resource", resource.id, "create", after=resource.status.value)
    return Listed(resource, center.name, 0)


async def offer(session: AsyncSession, user: User, body: OfferIn) -> Listed:
    center = await get_center(session, body.center_id)
    resource = Resource(
        center_id=center.id,
        offered_by=ResourceOfferer.resident,
        provider=OFFERER_LABELS[ResourceOfferer.resident],
        user_id=user.id,
        status=ResourceStatus.offered,
    )
    if body.organization_id is not None:
        owned = await as_owner(session, user, body.organization_id)
        if owned.status is not OrganizationStatus.verified:
            raise OrganizationNotVerified(OFFERS_ONCE_VERIFIED)
        resource.offered_by, resource.provider = ResourceOfferer.organization, owned.name
        resource.organization_id = owned.id
    _fill(resource, body)
    session.add(resource)
    await session.flush()
    record(session, user, "resource", resource.id, "offer", after=resource.status.value)
    return Listed(resource, center.name, 0)


async def mine(
    session: AsyncSession, user: User, *, limit: int, offset: int
) -> tuple[list[Listed], int]:
    return await _listed(session, [Resource.user_id == user.id], limit, offset)


async def withdraw(session: AsyncSession, user: User, resource_id: int) -> Listed:
    resource = await session.scalar(
        select(Resource)
        .where(Resource.id == resource_id, Resource.user_id == user.id)
        .with_for_update()
    )
    if resource is None:
        raise NotFound(RESOURCE)
    if resource.status not in WITHDRAWABLE:
        raise InvalidTransition(FROM, status=RESOURCE_STATUS_LABELS[resource.status])
    before, resource.status = resource.status, ResourceStatus.withdrawn
    await session.flush()
    record(session, user, "resource", resource.id, "withdraw", before=before, after="withdrawn")
    center = await session.get(Center, resource.center_id)
    return Listed(resource, center.name if center else "", await _uses(session, resource.id))


async def decide(
    session: AsyncSession, staff: StaffPrincipal, resource_id: int, to: ResourceStatus
) -> Listed:
    """Accept or decline an offered resource."""
    resource, center = await in_scope(
        session, staff, Resource, resource_id, RESOURCE, for_update=True
    )
    if resource.status is not ResourceStatus.offered:
        raise InvalidTransition(FROM, status=RESOURCE_STATUS_LABELS[resource.status])
    resource.status, resource.decided_by_staff_id = to, staff.id
    await session.flush()
    action = "accept" if to is ResourceStatus.accepted else "decline"
    record(session, staff, "resource", resource.id, action, before="offered", after=to.value)
    return Listed(resource, center.name, 0)


async def update(
    session: AsyncSession, staff: StaffPrincipal, resource_id: int, body: ResourcePatch
) -> Listed:
    resource, center = await in_scope(
        session, staff, Resource, resource_id, RESOURCE, for_update=True
    )
    changes = body.changes()
    name = center.name
    if "center_id" in changes:
        name = await move_to(session, staff, resource, changes.pop("center_id"))
    for field, value in changes.items():
        setattr(resource, field, value)
    check_dates(resource.available_from, resource.available_until)
    await session.flush()
    record(session, staff, "resource", resource.id, "update")
    return Listed(resource, name, await _uses(session, resource.id))


async def delete(session: AsyncSession, staff: StaffPrincipal, resource_id: int) -> None:
    resource, _ = await in_scope(session, staff, Resource, resource_id, RESOURCE, for_update=True)
    if await _uses(session, resource.id):
        raise ListEntryInUse(what=RESOURCE)
    record(session, staff, "resource", resource.id, "delete", before=resource.status.value)
    await session.delete(resource)
    await session.flush()


async def get(session: AsyncSession, staff: StaffPrincipal, resource_id: int) -> Listed:
    resource, center = await in_scope(session, staff, Resource, resource_id, RESOURCE)
    return Listed(resource, center.name, await _uses(session, resource.id))


def _counted() -> Select[int | None, int]:
    return (
        select(NeedMatch.resource_id, func.count().label("uses"))
        .where(NeedMatch.resource_id.is_not(None))
        .group_by(NeedMatch.resource_id)
    )


async def _listed(
    session: AsyncSession, where: Sequence[ColumnElement[bool]], limit: int, offset: int
) -> tuple[list[Listed], int]:
    uses = _counted().subquery()
    query = (
        select(Resource, Center.name, func.coalesce(uses.c.uses, 0))
        .join(Center, Center.id == Resource.center_id)
        .outerjoin(uses, uses.c.resource_id == Resource.id)
        .where(*where)
    )
    rows, total = await page(session, query, Resource.id.desc(), limit, offset)
    return [Listed(resource, name, int(count)) for resource, name, count in rows], total


async def listed(
    session: AsyncSession, found: ResourceFilter, *, limit: int, offset: int
) -> tuple[list[Listed], int]:
    where = list(found.center_ids)
    if found.kind is not None:
        where.append(Resource.kind == found.kind)
    if found.status is not None:
        where.append(Resource.status == found.status)
    return await _listed(session, where, limit, offset)
