"""Quotas: staff set them on a space or a center. (What an organization has
used of them is shown with the organization, ``GET /organizations/{id}/quota``.)"""

from collections.abc import Sequence
from typing import Annotated

from pydantic import Field

from app.core.db import SessionDep
from app.core.routing import api_router
from app.core.schemas import ResourceId
from app.identity.dependencies import CurrentStaff
from app.models import QuotaRule
from app.quotas import service as quotas
from app.quotas.schemas import QuotaRuleIn, QuotaRuleOut

router = api_router(tags=["quotas"])
QuotaRules = Annotated[list[QuotaRuleIn], Field(max_length=20)]


@router.get("/admin/spaces/{space_id}/quotas", response_model=list[QuotaRuleOut])
async def read_space_quotas(
    space_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> list[QuotaRuleOut]:
    return [_rule_out(rule) for rule in await quotas.space_rules(session, staff, space_id)]


@router.put("/admin/spaces/{space_id}/quotas", response_model=list[QuotaRuleOut])
async def replace_space_quotas(
    space_id: ResourceId, body: QuotaRules, staff: CurrentStaff, session: SessionDep
) -> list[QuotaRuleOut]:
    """Replace this space's quotas (an empty list removes them)."""
    rules = await quotas.replace_space_rules(session, staff, space_id, _rules_in(body))
    return [_rule_out(rule) for rule in rules]


@router.get("/admin/centers/{center_id}/quotas", response_model=list[QuotaRuleOut])
async def read_center_quotas(
    center_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> list[QuotaRuleOut]:
    return [_rule_out(rule) for rule in await quotas.center_rules(session, staff, center_id)]


@router.put("/admin/centers/{center_id}/quotas", response_model=list[QuotaRuleOut])
async def replace_center_quotas(
    center_id: ResourceId, body: QuotaRules, staff: CurrentStaff, session: SessionDep
) -> list[QuotaRuleOut]:
    """Replace the quotas over all this center's spaces together."""
    rules = await quotas.replace_center_rules(session, staff, center_id, _rules_in(body))
    return [_rule_out(rule) for rule in rules]


def _rules_in(body: Sequence[QuotaRuleIn]) -> list[quotas.RuleSpec]:
    return [(rule.subject, rule.metric, rule.max_value) for rule in body]


def _rule_out(rule: QuotaRule) -> QuotaRuleOut:
    return QuotaRuleOut(
        id=rule.id, subject=rule.subject, metric=rule.metric, max_value=rule.max_value
    )
