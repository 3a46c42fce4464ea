"""The console's organization pages: staff list the organizations of their
centers by status and kind, and verify or reject them. A kind without a code
(a party branch, a community team) is verified by who it is, so the page
names the others registered with the same name at the same center."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.console import auth
from app.console.auth import ConsoleStaff
from app.console.pages import Notice, act, form_text, render
from app.core.db import SessionDep
from app.core.schemas import ResourceId
from app.identity.principals import StaffPrincipal
from app.models import OrganizationKind, OrganizationStatus
from app.organizations import service as organizations
from app.organizations.kinds import KIND_LABELS, KINDS, CodeRule
from app.organizations.schemas import RejectRequest

router = APIRouter(prefix=auth.PATH, include_in_schema=False)
ORGANIZATIONS = f"{auth.PATH}/organizations"
# Kinds whose code staff cannot check against a register: they verify the body itself.
WITHOUT_CODE = frozenset(kind for kind, rule in KINDS.items() if rule.code is CodeRule.none)


@router.get("/organizations", response_class=HTMLResponse)
async def organization_list(
    request: Request,
    staff: ConsoleStaff,
    session: SessionDep,
    status: OrganizationStatus = OrganizationStatus.pending,
    kind: OrganizationKind | None = None,
) -> HTMLResponse:
    rows, total = await organizations.list_for_staff(
        session, staff, status, kind=kind, limit=100, offset=0
    )
    return render(
        request,
        "organizations.html",
        staff,
        rows=rows,
        total=total,
        status=status,
        statuses=list(OrganizationStatus),
        kind=kind,
        kinds=KIND_LABELS,
        without_code=WITHOUT_CODE,
        namesakes=await organizations.namesakes(session, rows),
    )


@router.post("/organizations/{organization_id}/verify")
async def verify_organization(request: Request, organization_id: ResourceId) -> Response:
    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        found = await organizations.decide(
            session, staff, organization_id, OrganizationStatus.verified
        )
        return Notice("organization_verified", found.id)

    return await act(request, ORGANIZATIONS, work)


@router.post("/organizations/{organization_id}/reject")
async def reject_organization(request: Request, organization_id: ResourceId) -> Response:
    form = await request.form()

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        reason = RejectRequest(reason=form_text(form, "reason")).reason
        found = await organizations.decide(
            session, staff, organization_id, OrganizationStatus.rejected, reason
        )
        return Notice("organization_rejected", found.id)

    return await act(request, ORGANIZATIONS, work)
