"""The evaluation of positions for staff, as JSON, CSV or XLSX, and the
weights of its score."""

from typing import Annotated

from fastapi import Query, Response

from app.core.db import SessionDep
from app.core.routing import api_router
from app.core.schemas import MAX_ID
from app.evaluations import exports, service, weights
from app.evaluations.schemas import EvaluationReport, EvaluationRow, WeightsIn, WeightsOut
from app.identity.dependencies import CurrentStaff
from app.reports.router import DOWNLOADABLE, Format, HeaderLanguage, answer

router = api_router("/admin", tags=["admin"])


def report_of(found: service.Evaluation) -> EvaluationReport:
    return EvaluationReport(
        period=found.period,
        from_=found.first_day,
        to=found.last_day,
        group_by=found.group_by,
        ancestor_id=found.ancestor_id,
        weights={metric.value: weight for metric, weight in found.weights.weights.items()},
        rows=[EvaluationRow.model_validate(row) for row in found.rows],
    )


@router.get(
    "/evaluations",
    response_model=EvaluationReport,
    response_model_by_alias=True,
    responses=DOWNLOADABLE,
)
async def evaluations(
    staff: CurrentStaff,
    session: SessionDep,
    period: Annotated[
        str, Query(max_length=20, description="A Shanghai calendar month, YYYY-MM; not ahead")
    ],
    ancestor_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Only this center and every center below it"),
    ] = None,
    group_by: service.EvaluationGroupBy = service.EvaluationGroupBy.by_center,
    format: Format = Format.json,
    lang: HeaderLanguage = "zh",
) -> Response | EvaluationReport:
    """How each position in your scope was run in `period` (阵地评估): opening
    hours, utilization, no-show rate, bookings, activities held and 人次,
    unique people served, average rating, suggestions closed, and a `score`
    (0–100) from the evaluation weights, with the row's `rank` among its
    siblings (the positions with the same parent; by street or district,
    among the groups). README, "Evaluating positions", says how each metric
    enters the score."""
    found = await service.evaluate(
        session, staff, period=period, group_by=group_by, ancestor_id=ancestor_id
    )
    report = report_of(found)
    return answer(report, format, lang, exports.as_csv, exports.as_xlsx)


def _weights_out(found: weights.Weights) -> WeightsOut:
    return WeightsOut(
        weights={metric.value: weight for metric, weight in found.weights.items()},
        defaults={metric.value: weight for metric, weight in found.defaults.items()},
    )


@router.get("/evaluation-weights", response_model=WeightsOut)
async def get_weights(staff: CurrentStaff, session: SessionDep) -> WeightsOut:
    """Every metric's weight in the evaluation's score, and its default."""
    return _weights_out(await weights.current(session))


@router.put("/evaluation-weights", response_model=WeightsOut)
async def put_weights(staff: CurrentStaff, session: SessionDep, body: WeightsIn) -> WeightsOut:
    """Weigh the metrics named anew (super admins only); the others keep
    theirs. Each weight is a number from 0 to 1000; at least one stays above 0."""
    return _weights_out(await weights.replace(session, staff, body.weights))
