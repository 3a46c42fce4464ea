import datetime as dt
from typing import Annotated

from fastapi import Query, Response, status

from app.core.db import SessionDep
from app.core.routing import api_router
from app.core.schemas import Limit, Offset, Page, ResourceId
from app.identity.dependencies import CurrentActor, CurrentStaff, CurrentUser
from app.models import MemberRole, Organization, OrganizationKind, OrganizationStatus
from app.organizations import registration, service
from app.organizations.schemas import (
    InvitationOut,
    JoinRequest,
    MemberOut,
    OrganizationCreate,
    OrganizationOut,
    OrganizationUpdate,
    RejectRequest,
    TransferRequest,
)
from app.quotas import service as quotas
from app.quotas.schemas import QuotaUsageOut, usage_out

router = api_router(tags=["organizations"])


def present(seen: service.OrganizationView) -> OrganizationOut:
    organization = seen.organization
    phone = organization.contact_phone
    return OrganizationOut(
        id=organization.id,
        kind=organization.kind,
        name=organization.name,
        uscc=organization.uscc,
        contact_name=organization.contact_name,
        contact_phone=phone if seen.privileged else service.mask_phone(phone),
        center_id=organization.center_id,
        status=organization.status,
        status_reason=organization.status_reason,
        my_role=seen.role,
        created_at=organization.created_at,
    )


def for_staff(organization: Organization) -> OrganizationOut:
    """Lists and decisions show staff the masked phone; the whole number is one
    logged read away (``GET /organizations/{id}``)."""
    return present(service.OrganizationView(organization, None, privileged=False))


@router.post("/organizations", response_model=OrganizationOut, status_code=status.HTTP_201_CREATED)
async def register(
    body: OrganizationCreate, user: CurrentUser, session: SessionDep
) -> OrganizationOut:
    """Register your organization (a company by default; see `kind` for what
    each kind shows of a unified social credit code); you become its owner.
    Staff then verify it."""
    organization = await registration.register(session, user, body)
    return present(service.OrganizationView(organization, MemberRole.owner, True))


@router.get("/organizations/mine", response_model=Page[OrganizationOut])
async def mine(
    user: CurrentUser, session: SessionDep, limit: Limit = 50, offset: Offset = 0
) -> Page[OrganizationOut]:
    rows = [
        present(service.OrganizationView(org, role, role is MemberRole.owner))
        for org, role in await service.mine(session, user)
    ]
    return Page.of(rows, limit, offset)


@router.post("/organizations/join", response_model=OrganizationOut)
async def join(body: JoinRequest, user: CurrentUser, session: SessionDep) -> OrganizationOut:
    """Join with an invitation code (joining again is harmless)."""
    return present(await service.join(session, user, body.code))


@router.get("/organizations/{organization_id}", response_model=OrganizationOut)
async def read(
    organization_id: ResourceId, actor: CurrentActor, session: SessionDep
) -> OrganizationOut:
    return present(await service.read(session, actor, organization_id))


@router.patch("/organizations/{organization_id}", response_model=OrganizationOut)
async def update(
    organization_id: ResourceId, body: OrganizationUpdate, user: CurrentUser, session: SessionDep
) -> OrganizationOut:
    """Owner: change the contact name and phone, or the kind, name or code. A new
    kind, name or code sends the organization back to staff for verification:
    it is `pending` again, and cannot be booked on until they verify it. The
    kind and code must fit together after the change (`uscc: null` removes a
    code where the kind allows none)."""
    return present(await registration.change(session, user, organization_id, body))


@router.post(
    "/organizations/{organization_id}/invitations",
    response_model=InvitationOut,
    status_code=status.HTTP_201_CREATED,
)
async def invite(
    organization_id: ResourceId, user: CurrentUser, session: SessionDep
) -> InvitationOut:
    """Owner: a one-time code for a colleague, valid for 72 hours."""
    code, invitation = await service.invite(session, user, organization_id)
    return InvitationOut(code=code, expires_at=invitation.expires_at)


@router.get("/organizations/{organization_id}/members", response_model=Page[MemberOut])
async def members(
    organization_id: ResourceId,
    actor: CurrentActor,
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[MemberOut]:
    rows = [
        MemberOut(
            user_id=membership.user_id,
            role=membership.role,
            joined_at=membership.joined_at,
            name_masked=name,
        )
        for membership, name in await service.members(session, actor, organization_id)
    ]
    return Page.of(rows, limit, offset)


@router.delete(
    "/organizations/{organization_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def remove_member(
    organization_id: ResourceId, user_id: ResourceId, user: CurrentUser, session: SessionDep
) -> Response:
    await service.remove_member(session, user, organization_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/organizations/{organization_id}/leave", status_code=status.HTTP_204_NO_CONTENT)
async def leave(organization_id: ResourceId, user: CurrentUser, session: SessionDep) -> Response:
    await service.leave(session, user, organization_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/organizations/{organization_id}/transfer", response_model=OrganizationOut)
async def transfer(
    organization_id: ResourceId, body: TransferRequest, user: CurrentUser, session: SessionDep
) -> OrganizationOut:
    """Owner: hand ownership to another member (you stay as a member)."""
    return present(await service.transfer(session, user, organization_id, body.user_id))


@router.get("/organizations/{organization_id}/quota", response_model=Page[QuotaUsageOut])
async def quota(
    organization_id: ResourceId,
    actor: CurrentActor,
    session: SessionDep,
    week_of: Annotated[
        dt.date | None, Query(alias="date", description="Any day of the week to show")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[QuotaUsageOut]:
    """Every limit on the organization's bookings, with its use in this (or the given)
    Shanghai week; `future_bookings` counts what is booked ahead now."""
    seen = await service.view(session, actor, organization_id)
    usages = await quotas.organization_usage(session, seen.organization.id, week_of)
    return Page.of([usage_out(usage) for usage in usages], limit, offset)


@router.get("/admin/organizations", response_model=Page[OrganizationOut], tags=["admin"])
async def list_for_staff(
    staff: CurrentStaff,
    session: SessionDep,
    status: Annotated[OrganizationStatus | None, Query()] = None,
    kind: Annotated[OrganizationKind | None, Query()] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[OrganizationOut]:
    rows, total = await service.list_for_staff(
        session, staff, status, kind=kind, limit=limit, offset=offset
    )
    items = [for_staff(organization) for organization in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post(
    "/admin/organizations/{organization_id}/verify", response_model=OrganizationOut, tags=["admin"]
)
async def verify(
    organization_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> OrganizationOut:
    verified = await service.decide(session, staff, organization_id, OrganizationStatus.verified)
    return for_staff(verified)


@router.post(
    "/admin/organizations/{organization_id}/reject", response_model=OrganizationOut, tags=["admin"]
)
async def reject(
    organization_id: ResourceId, body: RejectRequest, staff: CurrentStaff, session: SessionDep
) -> OrganizationOut:
    rejected = await service.decide(
        session, staff, organization_id, OrganizationStatus.rejected, body.reason
    )
    return for_staff(rejected)
