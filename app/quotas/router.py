"""Quotas: staff set them on a space or a center; a resident sees what they
have used of theirs (``GET /me/quota``). (What an organization has used of
its quotas is shown with the organization, ``GET /organizations/{id}/quota``.)"""

import datetime as dt
from collections.abc import Sequence
from typing import Annotated

from fastapi import Query
from pydantic import Field

from app.core.db import SessionDep
from app.core.routing import api_router
from app.core.schemas import MAX_ID, Limit, Offset, Page, ResourceId
from app.identity.dependencies import CurrentStaff, CurrentUser
from app.models import QuotaRule
from app.quotas import service as quotas
from app.quotas.schemas import QuotaRuleIn, QuotaRuleOut, QuotaUsageOut, usage_out
from app.spaces.service import get_active_space

router = api_router(tags=["quotas"])
MAX_RULES = 20
QuotaRules = Annotated[list[QuotaRuleIn], Field(max_length=MAX_RULES)]


@router.get("/admin/spaces/{space_id}/quotas", response_model=Page[QuotaRuleOut])
async def read_space_quotas(
    space_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> Page[QuotaRuleOut]:
    return _page(await quotas.space_rules(session, staff, space_id))


@router.put("/admin/spaces/{space_id}/quotas", response_model=Page[QuotaRuleOut])
async def replace_space_quotas(
    space_id: ResourceId, body: QuotaRules, staff: CurrentStaff, session: SessionDep
) -> Page[QuotaRuleOut]:
    """Replace this space's quotas (an empty list removes them)."""
    rules = await quotas.replace_space_rules(session, staff, space_id, _rules_in(body))
    return _page(rules)


@router.get("/admin/centers/{center_id}/quotas", response_model=Page[QuotaRuleOut])
async def read_center_quotas(
    center_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> Page[QuotaRuleOut]:
    return _page(await quotas.center_rules(session, staff, center_id))


@router.put("/admin/centers/{center_id}/quotas", response_model=Page[QuotaRuleOut])
async def replace_center_quotas(
    center_id: ResourceId, body: QuotaRules, staff: CurrentStaff, session: SessionDep
) -> Page[QuotaRuleOut]:
    """Replace the quotas over all this center's spaces together."""
    rules = await quotas.replace_center_rules(session, staff, center_id, _rules_in(body))
    return _page(rules)


@router.get("/me/quota", response_model=Page[QuotaUsageOut], tags=["me"])
async def my_quota(
    user: CurrentUser,
    session: SessionDep,
    space_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only the limits on this space's bookings")
    ] = None,
    week_of: Annotated[
        dt.date | None, Query(alias="date", description="Any day of the week to show")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[QuotaUsageOut]:
    """Every limit on your personal bookings (with `space_id`: those that apply
    to that space, its own and its center's), with their use in this (or the
    given) Shanghai week; `future_bookings` counts what is booked ahead now.
    Bookings on an organization's account count towards its quota instead."""
    space = await get_active_space(session, space_id) if space_id is not None else None
    usages = await quotas.user_usage(session, user.id, space, week_of)
    return Page.of([usage_out(usage) for usage in usages], limit, offset)


def _rules_in(body: Sequence[QuotaRuleIn]) -> list[quotas.RuleSpec]:
    return [(rule.subject, rule.metric, rule.max_value) for rule in body]


def _page(rules: Sequence[QuotaRule]) -> Page[QuotaRuleOut]:
    """All the rules of a scope (at most 20), as every list is answered; a
    replacement answers the rules now in force."""
    return Page.of([_rule_out(rule) for rule in rules], MAX_RULES, 0)


def _rule_out(rule: QuotaRule) -> QuotaRuleOut:
    return QuotaRuleOut(
        id=rule.id, subject=rule.subject, metric=rule.metric, max_value=rule.max_value
    )
