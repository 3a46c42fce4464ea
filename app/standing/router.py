"""A resident's standing and appeals; staff's decisions on them."""

from typing import Annotated

from fastapi import Query

from app.core.clock import utcnow
from app.core.db import SessionDep
from app.core.routing import api_router
from app.core.schemas import MAX_ID, Limit, Offset, Page, ResourceId
from app.identity.dependencies import CurrentStaff, CurrentUser, SettingsDep
from app.models import ViolationStatus
from app.standing import service
from app.standing.schemas import (
    AppealRequest,
    DecisionRequest,
    StandingOut,
    SuspensionOut,
    ViolationOut,
)

router = api_router(tags=["standing"])


@router.get("/me/standing", response_model=StandingOut)
async def my_standing(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> StandingOut:
    """Your violations, the points that count now, and until when you may not
    book (`suspended_until`, the latest of your suspensions in force)."""
    standing = await service.standing(session, settings, user.id, utcnow())
    return StandingOut(
        points=standing.points,
        violations=[
            ViolationOut.of(v, counts=v.id in standing.counting) for v in standing.violations
        ],
        suspended_until=standing.suspended_until,
        suspensions=[SuspensionOut.model_validate(s) for s in standing.suspensions],
    )


@router.post("/me/violations/{violation_id}/appeal", response_model=ViolationOut)
async def appeal(
    violation_id: ResourceId, body: AppealRequest, user: CurrentUser, session: SessionDep
) -> ViolationOut:
    """Appeal a violation, once; its point counts until staff decide."""
    violation = await service.appeal(session, user, violation_id, body.reason, utcnow())
    return ViolationOut.of(violation, counts=True)


@router.get("/admin/violations", response_model=Page[ViolationOut], tags=["admin"])
async def list_violations(
    staff: CurrentStaff,
    session: SessionDep,
    status: ViolationStatus | None = None,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ViolationOut]:
    """Violations at your centers; `status=appealed` lists the appeals to decide."""
    rows, total = await service.list_violations(
        session, staff, status=status, user_id=user_id, limit=limit, offset=offset
    )
    items = [ViolationOut.of(v, counts=v.status in service.COUNTING) for v in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post("/admin/violations/{violation_id}/pardon", response_model=ViolationOut, tags=["admin"])
async def pardon(
    violation_id: ResourceId,
    body: DecisionRequest,
    staff: CurrentStaff,
    session: SessionDep,
    settings: SettingsDep,
) -> ViolationOut:
    """Pardon (appealed or not): the point stops counting and a suspension it
    caused is lifted."""
    violation = await service.pardon(session, settings, staff, violation_id, body.reason, utcnow())
    return ViolationOut.of(violation, counts=False)


@router.post("/admin/violations/{violation_id}/uphold", response_model=ViolationOut, tags=["admin"])
async def uphold(
    violation_id: ResourceId, body: DecisionRequest, staff: CurrentStaff, session: SessionDep
) -> ViolationOut:
    """Uphold an appealed violation: its point keeps counting."""
    violation = await service.uphold(session, staff, violation_id, body.reason, utcnow())
    return ViolationOut.of(violation, counts=True)
