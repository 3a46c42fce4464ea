"""Quota rules as staff set them, and what an organization has used of them.

The arithmetic is ``rules.py``; bookings are checked against quotas in the
booking pipeline (``app/reservations/booking.py``).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.centers.service import get_center_in_scope
from app.core.clock import local_midnight, utcnow
from app.identity.principals import StaffPrincipal
from app.models import (
    Center,
    QuotaMetric,
    QuotaRule,
    QuotaSubject,
    Space,
)
from app.quotas import sql as quota_sql
from app.quotas.rules import week_of
from app.spaces.service import get_space_in_scope

RuleSpec = tuple[QuotaSubject, QuotaMetric, int]


@dataclass(frozen=True)
class Subject:
    kind: QuotaSubject
    id: int


def rules_for_space(space: Space) -> Select[QuotaRule]:
    return select(QuotaRule).where(
        or_(QuotaRule.space_id == space.id, QuotaRule.center_id == space.center_id)
    )


async def usage(
    session: AsyncSession,
    rule: QuotaRule,
    subject: Subject,
    at: datetime,
    now: datetime,
    *,
    excluding: int | None = None,
) -> float:
    """How much of ``rule`` the subject uses in the period containing ``at``
    (leaving out the booking ``excluding``): the statement every engine's
    booking counts with (app/quotas/sql.py)."""
    dialect = session.get_bind().dialect.name
    on_space = rule.space_id is not None
    statement = quota_sql.used_statement(
        dialect, quota_sql.period_of(rule.metric), subject.kind, on_space
    )
    week = week_of(at)
    row = (
        await session.execute(
            statement,
            {
                "subject_id": subject.id,
                "scope_id": rule.space_id if on_space else rule.center_id,
                "now": now,
                "day_before_now": now - timedelta(days=1),
                "week_start": week.start,
                "week_end": week.end,
                "exclude": excluding or 0,
            },
        )
    ).one()
    return quota_sql.amount_used(rule.metric, row[0], row[1])


@dataclass(frozen=True)
class Usage:
    rule: QuotaRule
    scope_name: str
    used: float


async def organization_usage(
    session: AsyncSession, organization_id: int, week_of: date | None = None
) -> list[Usage]:
    """Every organization rule, with its use in the week of ``week_of`` (default: this
    week), or, for ``future_bookings``, now."""
    rules = select(QuotaRule).where(QuotaRule.subject == QuotaSubject.organization)
    subject = Subject(QuotaSubject.organization, organization_id)
    return await _usages(session, rules, subject, week_of)


async def user_usage(
    session: AsyncSession, user_id: int, space: Space | None, week_of: date | None = None
) -> list[Usage]:
    """Every rule on a resident's personal bookings (those that apply to
    ``space``: its own and its center's), with their use as
    ``organization_usage`` counts it."""
    rules = select(QuotaRule).where(QuotaRule.subject == QuotaSubject.user)
    if space is not None:
        rules = rules.where(
            or_(QuotaRule.space_id == space.id, QuotaRule.center_id == space.center_id)
        )
    return await _usages(session, rules, Subject(QuotaSubject.user, user_id), week_of)


async def _usages(
    session: AsyncSession, rules: Select[QuotaRule], subject: Subject, week_of: date | None
) -> list[Usage]:
    now = utcnow()
    at = local_midnight(week_of) if week_of is not None else now
    result = []
    for rule in (await session.scalars(rules.order_by(QuotaRule.id))).all():
        name = await _scope_name(session, rule)
        result.append(Usage(rule, name, await usage(session, rule, subject, at, now)))
    return result


async def _scope_name(session: AsyncSession, rule: QuotaRule) -> str:
    if rule.space_id is not None:
        return str(await session.scalar(select(Space.name).where(Space.id == rule.space_id)))
    return str(await session.scalar(select(Center.name).where(Center.id == rule.center_id)))


async def space_rules(
    session: AsyncSession, staff: StaffPrincipal, space_id: int
) -> Sequence[QuotaRule]:
    space = await get_space_in_scope(session, staff, space_id)
    return await rules_of(session, space_id=space.id)


async def center_rules(
    session: AsyncSession, staff: StaffPrincipal, center_id: int
) -> Sequence[QuotaRule]:
    center = await get_center_in_scope(session, staff, center_id)
    return await rules_of(session, center_id=center.id)


async def replace_space_rules(
    session: AsyncSession, staff: StaffPrincipal, space_id: int, rules: Sequence[RuleSpec]
) -> Sequence[QuotaRule]:
    """Replace a space's quotas (an empty list removes them)."""
    space = await get_space_in_scope(session, staff, space_id, for_update=True)
    _audit(session, staff, "space", space.id, rules)
    return await replace_rules(session, space_id=space.id, rules=rules)


async def replace_center_rules(
    session: AsyncSession, staff: StaffPrincipal, center_id: int, rules: Sequence[RuleSpec]
) -> Sequence[QuotaRule]:
    """Replace the quotas over all the center's spaces together."""
    center = await get_center_in_scope(session, staff, center_id, for_update=True)
    _audit(session, staff, "center", center.id, rules)
    return await replace_rules(session, center_id=center.id, rules=rules)


def _audit(
    session: AsyncSession,
    staff: StaffPrincipal,
    entity: str,
    entity_id: int,
    rules: Sequence[RuleSpec],
) -> None:
    described = "; ".join(f"{subject}:{metric}<={value}" for subject, metric, value in rules)
    audit.record(
        session,
        staff,
        entity=entity,
        entity_id=entity_id,
        action="replace_quotas",
        from_status=None,
        to_status=None,
        reason=described[:200] or None,
    )


async def replace_rules(
    session: AsyncSession,
    *,
    space_id: int | None = None,
    center_id: int | None = None,
    rules: Sequence[RuleSpec],
) -> Sequence[QuotaRule]:
    for rule in await rules_of(session, space_id=space_id, center_id=center_id):
        await session.delete(rule)
    await session.flush()
    fresh = [
        QuotaRule(
            space_id=space_id, center_id=center_id, subject=subject, metric=metric, max_value=value
        )
        for subject, metric, value in rules
    ]
    session.add_all(fresh)
    await session.flush()
    return fresh


async def rules_of(
    session: AsyncSession, *, space_id: int | None = None, center_id: int | None = None
) -> Sequence[QuotaRule]:
    query = (
        select(QuotaRule).where(QuotaRule.space_id == space_id)
        if space_id is not None
        else select(QuotaRule).where(QuotaRule.center_id == center_id)
    )
    return (await session.scalars(query.order_by(QuotaRule.id))).all()
