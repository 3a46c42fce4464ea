"""The ledger's figures (README, "Suggestions and the ledger"): what is
overdue, what was closed on time, per center for the ledger's summary and
per row of the evaluation (app/evaluations/service.py reads ``by_rows``).

An item is overdue from its due instant while it is not closed; it was
closed on time if closed before that instant.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import utcnow
from app.identity.principals import StaffPrincipal
from app.models import Center, Suggestion, SuggestionStatus


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    return and_(Suggestion.status != SuggestionStatus.closed, Suggestion.due_at <= now)


def on_time_clause() -> ColumnElement[bool]:
    """Closed before its due instant (from which it is overdue)."""
    return and_(
        Suggestion.status == SuggestionStatus.closed, Suggestion.closed_at < Suggestion.due_at
    )


@dataclass(frozen=True)
class Figures:
    center_id: int
    center_name: str
    open: int
    overdue: int
    closed: int
    closed_on_time: int


async def summary(session: AsyncSession, staff: StaffPrincipal, now: datetime) -> list[Figures]:
    """Per center in scope: items not closed, overdue, closed, closed on time."""
    count = func.count(Suggestion.id)
    rows = await session.execute(
        select(
            Center.id,
            Center.name,
            count.filter(Suggestion.status != SuggestionStatus.closed),
            count.filter(overdue_clause(now)),
            count.filter(Suggestion.status == SuggestionStatus.closed),
            count.filter(on_time_clause()),
        )
        .join(Suggestion, Suggestion.center_id == Center.id)
        .where(staff.center_clause())
        .group_by(Center.id, Center.name)
        .order_by(Center.id)
    )
    return [Figures(*(row)) for row in rows]


async def by_rows(
    session: AsyncSession,
    keys: Sequence[Any],
    scope: Sequence[ColumnElement[bool]],
    start: datetime,
    end: datetime,
) -> dict[tuple[Any, ...], tuple[int, int]]:
    """Per row, the suggestions closed in the month before their due instant,
    and those due in the month (up to now) that were not closed before it."""
    due_by = min(end, utcnow())
    on_time = and_(on_time_clause(), Suggestion.closed_at >= start, Suggestion.closed_at < end)
    late = and_(
        Suggestion.due_at >= start,
        Suggestion.due_at < due_by,
        or_(Suggestion.closed_at.is_(None), Suggestion.closed_at >= Suggestion.due_at),
    )
    counted = (
        select(
            *keys,
            func.count(Suggestion.id).filter(on_time),
            func.count(Suggestion.id).filter(late),
        )
        .select_from(Suggestion)
        .join(Center, Center.id == Suggestion.center_id)
        .where(*scope, or_(on_time, late))
        .group_by(*keys)
    )
    return {
        tuple(key): (int(closed), int(overdue))
        for *key, closed, overdue in await session.execute(counted)
    }
