"""The console's evaluation of positions (阵地评估): a street's or a district's
table of positions ranked among their siblings, and each position's card, over
``app/evaluations/service.evaluate`` as the API answers it; with its download."""

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.console import auth
from app.console.auth import ConsoleStaff
from app.console.pages import back_to, render
from app.core.clock import local_today
from app.core.db import SessionDep
from app.core.errors import AppError
from app.evaluations import exports
from app.evaluations import service as evaluations
from app.evaluations.router import report_of
from app.evaluations.schemas import EvaluationReport
from app.evaluations.weights import Metric
from app.identity.principals import StaffPrincipal
from app.models import Center, CenterKind
from app.reports.router import XLSX

router = APIRouter(prefix=auth.PATH, include_in_schema=False)
PAGE = f"{auth.PATH}/evaluations"
# The nodes whose positions a page compares: a district's hubs and its streets.
NODE_KINDS = (CenterKind.district_hub, CenterKind.street_center)
GROUPS = {group.value: group for group in evaluations.EvaluationGroupBy}
METRIC_NAMES = {
    Metric.opening_hours: "开放小时",
    Metric.utilization: "使用率",
    Metric.no_show_rate: "守约率（1 − 爽约率）",
    Metric.bookings: "预约数",
    Metric.activities_held: "举办活动场次",
    Metric.attended: "参与人次",
    Metric.unique_people: "服务人数",
    Metric.average_rating: "平均评分",
    Metric.suggestions_closed: "办结建议数",
    Metric.needs_met: "满足需求数",
}
KIND_LABELS = {kind.value: kind.label for kind in CenterKind}


def _last_month() -> str:
    """The month a page opens on: the last whole one."""
    return f"{local_today().replace(day=1) - timedelta(days=1):%Y-%m}"


async def _evaluation(
    request: Request, staff: StaffPrincipal, session: AsyncSession
) -> EvaluationReport:
    query = request.query_params
    ancestor = query.get("ancestor_id", "")
    found = await evaluations.evaluate(
        session,
        staff,
        period=query.get("period") or _last_month(),
        group_by=GROUPS.get(query.get("group_by", ""), evaluations.EvaluationGroupBy.by_center),
        ancestor_id=int(ancestor) if ancestor.isdecimal() and 0 < len(ancestor) < 10 else None,
    )
    return report_of(found)


@router.get("/evaluations", response_class=HTMLResponse)
async def evaluation_page(request: Request, staff: ConsoleStaff, session: SessionDep) -> Response:
    try:
        report = await _evaluation(request, staff, session)
    except AppError as error:
        return back_to(PAGE, error=error.code)
    nodes = await session.execute(
        select(Center.id, Center.name, Center.kind)
        .where(staff.center_clause(), Center.kind.in_(NODE_KINDS))
        .order_by(Center.kind, Center.district, Center.street, Center.id)
    )
    names = {row.center_id: row.center_name for row in report.rows}
    return render(
        request,
        "evaluations.html",
        staff,
        report=report,
        nodes=nodes.all(),
        names=names,
        metric_names={metric.value: name for metric, name in METRIC_NAMES.items()},
        kind_labels=KIND_LABELS,
    )


@router.get("/evaluations/download")
async def evaluation_download(
    request: Request, staff: ConsoleStaff, session: SessionDep, format: str = "csv"
) -> Response:
    try:
        report = await _evaluation(request, staff, session)
    except AppError as error:
        return back_to(PAGE, error=error.code)
    body, filename = exports.as_xlsx(report) if format == "xlsx" else exports.as_csv(report)
    media_type = XLSX if format == "xlsx" else "text/csv; charset=utf-8"
    disposition = f'attachment; filename="{filename}"'
    return Response(body, media_type=media_type, headers={"Content-Disposition": disposition})
