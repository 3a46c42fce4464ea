"""The weights of the evaluation's score: one per metric, set by super admins.

A metric without a stored weight keeps its default (``DEFAULTS``). ``PUT``
names the metrics it changes; the others keep what they had. A weight is a
non-negative number, at most ``MAX_WEIGHT``; at least one metric must keep a
positive weight, or no score could be computed.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import utcnow
from app.core.errors import AppError, Forbidden, Text
from app.identity.principals import StaffPrincipal
from app.models import EvaluationWeight

MAX_WEIGHT = 1000.0


class Metric(StrEnum):
    """The figures the score weighs (app/evaluations/service.py says how each
    is brought to 0..1)."""

    opening_hours = "opening_hours"
    utilization = "utilization"
    no_show_rate = "no_show_rate"
    bookings = "bookings"
    activities_held = "activities_held"
    attended = "attended"
    unique_people = "unique_people"
    average_rating = "average_rating"
    suggestions_closed = "suggestions_closed"
    needs_met = "needs_met"


DEFAULTS: dict[Metric, float] = {
    Metric.opening_hours: 1.0,
    Metric.utilization: 2.0,
    Metric.no_show_rate: 1.0,
    Metric.bookings: 1.0,
    Metric.activities_held: 1.0,
    Metric.attended: 1.0,
    Metric.unique_people: 2.0,
    Metric.average_rating: 1.0,
    # Weighed by nobody until super admins choose to.
    Metric.suggestions_closed: 0.0,
    Metric.needs_met: 1.0,
}


class InvalidWeights(AppError):
    status = 422
    code = "invalid_weights"
    title = Text("评估权重无效", "Invalid evaluation weights")
    detail = Text(
        "权重须为已知指标的 0 至 {max} 之间的数，且至少一项大于 0：{problem}",
        "Weights must name known metrics, each a number from 0 to {max},"
        " at least one above 0: {problem}",
    )


ALL_ZERO = Text("全部为 0", "every weight is 0")
SUPER_ONLY = Text("只有超级管理员可以设置评估权重", "Only super admins set evaluation weights")


@dataclass(frozen=True)
class Weights:
    weights: dict[Metric, float]
    defaults: dict[Metric, float]


async def current(session: AsyncSession) -> Weights:
    stored = dict(
        (await session.execute(select(EvaluationWeight.metric, EvaluationWeight.weight))).all()
    )
    weights = {
        metric: float(stored[metric.value]) if metric.value in stored else default
        for metric, default in DEFAULTS.items()
    }
    return Weights(weights, dict(DEFAULTS))


def _checked(given: Mapping[str, float]) -> dict[Metric, float]:
    known = {metric.value for metric in Metric}
    unknown = sorted(set(given) - known)
    if unknown:
        raise InvalidWeights(max=MAX_WEIGHT, problem=", ".join(unknown))
    bad = sorted(name for name, weight in given.items() if not 0 <= weight <= MAX_WEIGHT)
    if bad:
        raise InvalidWeights(max=MAX_WEIGHT, problem=", ".join(bad))
    return {Metric(name): float(weight) for name, weight in given.items()}


async def replace(
    session: AsyncSession, staff: StaffPrincipal, given: Mapping[str, float]
) -> Weights:
    """Store the weights ``given`` names; the others keep theirs."""
    if not staff.is_super_admin:
        raise Forbidden(SUPER_ONLY)
    changes = _checked(given)
    before = await current(session)
    after = {**before.weights, **changes}
    if not any(weight > 0 for weight in after.values()):
        raise InvalidWeights(max=MAX_WEIGHT, problem=ALL_ZERO)
    # One upsert per metric: two super admins saving at once both land, the
    # later one's weight kept, and neither meets a duplicate key.
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
    now = utcnow()
    for metric, weight in changes.items():
        row = insert(EvaluationWeight).values(
            metric=metric.value, weight=weight, updated_by=staff.id, created_at=now, updated_at=now
        )
        await session.execute(
            row.on_conflict_do_update(
                index_elements=[EvaluationWeight.metric],
                set_={
                    "weight": row.excluded.weight,
                    "updated_by": row.excluded.updated_by,
                    "updated_at": row.excluded.updated_at,
                },
            )
        )
    await session.flush()
    return Weights(after, dict(DEFAULTS))
