"""Staff endpoints: centers, spaces, opening hours, closures and quotas within the
caller's scope."""

from collections.abc import Sequence
from typing import Annotated

from fastapi import Query, Response, status
from pydantic import Field

from app.centers import service as centers
from app.centers.schemas import CenterCreate, CenterOut, CenterUpdate
from app.core.db import SessionDep
from app.core.routing import api_router
from app.core.schemas import MAX_ID, Limit, Offset, Page, ResourceId
from app.identity.dependencies import CurrentStaff
from app.models import QuotaMetric, QuotaRule, QuotaSubject
from app.organizations.schemas import QuotaRuleIn, QuotaRuleOut
from app.reservations import quotas
from app.spaces import service as spaces
from app.spaces.schemas import (
    ClosureCreate,
    ClosureOut,
    OpeningHoursList,
    SpaceCreate,
    SpaceOut,
    SpaceUpdate,
)

router = api_router("/admin", tags=["admin"])
QuotaRules = Annotated[list[QuotaRuleIn], Field(max_length=20)]


@router.get("/centers", response_model=Page[CenterOut])
async def list_centers(
    staff: CurrentStaff, session: SessionDep, limit: Limit = 50, offset: Offset = 0
) -> Page[CenterOut]:
    rows, total = await centers.list_centers_in_scope(session, staff, limit=limit, offset=offset)
    items = [CenterOut.model_validate(center) for center in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post("/centers", response_model=CenterOut, status_code=status.HTTP_201_CREATED)
async def create_center(body: CenterCreate, staff: CurrentStaff, session: SessionDep) -> CenterOut:
    return CenterOut.model_validate(await centers.create_center(session, staff, body))


@router.get("/centers/{center_id}", response_model=CenterOut)
async def read_center(center_id: ResourceId, staff: CurrentStaff, session: SessionDep) -> CenterOut:
    return CenterOut.model_validate(await centers.get_center_in_scope(session, staff, center_id))


@router.patch("/centers/{center_id}", response_model=CenterOut)
async def update_center(
    center_id: ResourceId, body: CenterUpdate, staff: CurrentStaff, session: SessionDep
) -> CenterOut:
    return CenterOut.model_validate(await centers.update_center(session, staff, center_id, body))


@router.get("/spaces", response_model=Page[SpaceOut])
async def list_spaces(
    staff: CurrentStaff,
    session: SessionDep,
    center_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[SpaceOut]:
    rows, total = await spaces.list_spaces_in_scope(
        session, staff, center_id=center_id, limit=limit, offset=offset
    )
    return Page(
        items=[SpaceOut.of(space) for space in rows], total=total, limit=limit, offset=offset
    )


@router.post("/spaces", response_model=SpaceOut, status_code=status.HTTP_201_CREATED)
async def create_space(body: SpaceCreate, staff: CurrentStaff, session: SessionDep) -> SpaceOut:
    return SpaceOut.of(await spaces.create_space(session, staff, body))


@router.get("/spaces/{space_id}", response_model=SpaceOut)
async def read_space(space_id: ResourceId, staff: CurrentStaff, session: SessionDep) -> SpaceOut:
    return SpaceOut.of(await spaces.get_space_in_scope(session, staff, space_id))


@router.patch("/spaces/{space_id}", response_model=SpaceOut)
async def update_space(
    space_id: ResourceId, body: SpaceUpdate, staff: CurrentStaff, session: SessionDep
) -> SpaceOut:
    return SpaceOut.of(await spaces.update_space(session, staff, space_id, body))


@router.put("/spaces/{space_id}/opening-hours", response_model=SpaceOut)
async def replace_opening_hours(
    space_id: ResourceId, body: OpeningHoursList, staff: CurrentStaff, session: SessionDep
) -> SpaceOut:
    """Replace the weekly opening hours (an empty list closes the space every day)."""
    return SpaceOut.of(await spaces.replace_opening_hours(session, staff, space_id, body))


@router.get("/spaces/{space_id}/closures", response_model=list[ClosureOut])
async def list_closures(
    space_id: ResourceId,
    staff: CurrentStaff,
    session: SessionDep,
    include_past: bool = False,
) -> list[ClosureOut]:
    rows = await spaces.list_closures(session, staff, space_id, include_past=include_past)
    return [ClosureOut.of(closure) for closure in rows]


@router.post(
    "/spaces/{space_id}/closures", response_model=ClosureOut, status_code=status.HTTP_201_CREATED
)
async def add_closure(
    space_id: ResourceId, body: ClosureCreate, staff: CurrentStaff, session: SessionDep
) -> ClosureOut:
    return ClosureOut.of(await spaces.add_closure(session, staff, space_id, body))


@router.delete("/spaces/{space_id}/closures/{closure_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_closure(
    space_id: ResourceId, closure_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> Response:
    await spaces.delete_closure(session, staff, space_id, closure_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/spaces/{space_id}/quotas", response_model=list[QuotaRuleOut])
async def read_space_quotas(
    space_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> list[QuotaRuleOut]:
    space = await spaces.get_space_in_scope(session, staff, space_id)
    return [_rule_out(rule) for rule in await quotas.rules_of(session, space_id=space.id)]


@router.put("/spaces/{space_id}/quotas", response_model=list[QuotaRuleOut])
async def replace_space_quotas(
    space_id: ResourceId, body: QuotaRules, staff: CurrentStaff, session: SessionDep
) -> list[QuotaRuleOut]:
    """Replace this space's quotas (an empty list removes them)."""
    space = await spaces.get_space_in_scope(session, staff, space_id, for_update=True)
    rules = await quotas.replace_rules(session, space_id=space.id, rules=_rules_in(body))
    return [_rule_out(rule) for rule in rules]


@router.get("/centers/{center_id}/quotas", response_model=list[QuotaRuleOut])
async def read_center_quotas(
    center_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> list[QuotaRuleOut]:
    center = await centers.get_center_in_scope(session, staff, center_id)
    return [_rule_out(rule) for rule in await quotas.rules_of(session, center_id=center.id)]


@router.put("/centers/{center_id}/quotas", response_model=list[QuotaRuleOut])
async def replace_center_quotas(
    center_id: ResourceId, body: QuotaRules, staff: CurrentStaff, session: SessionDep
) -> list[QuotaRuleOut]:
    """Replace the quotas over all this center's spaces together."""
    center = await centers.get_center_in_scope(session, staff, center_id, for_update=True)
    rules = await quotas.replace_rules(session, center_id=center.id, rules=_rules_in(body))
    return [_rule_out(rule) for rule in rules]


def _rules_in(body: Sequence[QuotaRuleIn]) -> list[tuple[QuotaSubject, QuotaMetric, int]]:
    return [(rule.subject, rule.metric, rule.max_value) for rule in body]


def _rule_out(rule: QuotaRule) -> QuotaRuleOut:
    return QuotaRuleOut(
        id=rule.id, subject=rule.subject, metric=rule.metric, max_value=rule.max_value
    )
