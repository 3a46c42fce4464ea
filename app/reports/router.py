"""Usage reports for staff, as JSON, CSV or XLSX."""

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import Query, Response

from app.core.db import SessionDep
from app.core.errors import Lang
from app.core.routing import api_router
from app.core.schemas import MAX_ID, LocalDate
from app.identity.dependencies import CurrentStaff
from app.reports import activities, exports, service
from app.reports.groups import GroupBy
from app.reports.schemas import UtilizationReport, UtilizationRow

router = api_router("/admin/reports", tags=["admin"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# What a report that also downloads as CSV or XLSX declares (here and in
# app/evaluations/router.py).
DOWNLOADABLE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX: {"schema": {"type": "string", "format": "binary"}},
        }
    }
}
HeaderLanguage = Annotated[
    Lang, Query(description="The language of a CSV's or XLSX's header row: Chinese by default")
]


class Format(StrEnum):
    json = "json"
    csv = "csv"
    xlsx = "xlsx"


@router.get(
    "/utilization",
    response_model=UtilizationReport,
    response_model_by_alias=True,
    responses=DOWNLOADABLE,
)
async def utilization(
    staff: CurrentStaff,
    session: SessionDep,
    from_: Annotated[LocalDate, Query(alias="from", description="First Shanghai day")],
    to: Annotated[LocalDate, Query(description="Last Shanghai day, included")],
    center_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    space_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    ancestor_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Only this center and every center below it"),
    ] = None,
    group_by: GroupBy = GroupBy.space,
    format: Format = Format.json,
    lang: HeaderLanguage = "zh",
) -> Response | UtilizationReport:
    """How the spaces in your scope were used, from `from` to `to` (at most 366 days).

    A booking counts where it starts; its hours count where they fall, so one
    across midnight adds hours to both days. `group_by=center|street|district`
    rolls the spaces up the network (a street is its district's: both are
    named); `ancestor_id` keeps a center and everything below it, each space
    counted once however deep the tree."""
    found = await service.utilization(
        session,
        staff,
        center_id=center_id,
        space_id=space_id,
        first_day=from_,
        last_day=to,
        group_by=group_by,
        ancestor_id=ancestor_id,
    )
    report = UtilizationReport(
        group_by=found.group_by,
        from_=found.first_day,
        to=found.last_day,
        rows=[UtilizationRow.model_validate(row) for row in found.rows],
    )
    return answer(report, format, lang, exports.as_csv, exports.as_xlsx)


Report = TypeVar("Report")
Export = Callable[[Report, Lang], tuple[bytes, str]]


def answer(
    report: Report, format: Format, lang: Lang, as_csv: Export[Report], as_xlsx: Export[Report]
) -> Response | Report:
    """The report as asked: itself (FastAPI writes the JSON), or a download."""
    if format is Format.json:
        return report
    if format is Format.csv:
        body, filename = as_csv(report, lang)
    else:
        body, filename = as_xlsx(report, lang)
    media_type = "text/csv; charset=utf-8" if format is Format.csv else XLSX
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/activities",
    response_model=activities.ActivityReport,
    response_model_by_alias=True,
    responses=DOWNLOADABLE,
)
async def activity_report(
    staff: CurrentStaff,
    session: SessionDep,
    from_: Annotated[LocalDate, Query(alias="from", description="First Shanghai day")],
    to: Annotated[LocalDate, Query(description="Last Shanghai day, included")],
    center_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    ancestor_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Only this center and every center below it"),
    ] = None,
    group_by: activities.ActivityGroupBy = activities.ActivityGroupBy.by_center,
    format: Format = Format.json,
    lang: HeaderLanguage = "zh",
) -> Response | activities.ActivityReport:
    """The activities the centers in your scope held from `from` to `to` (at
    most 366 days), by center, category, month or organiser.

    Counted: published and completed activities starting in the range.
    `activities` counts them, `sessions` those held (completed), `signups`
    their confirmed sign-ups, `attended` the 人次 of those held (checked-in
    attendees and walk-ins), `unique_people` the distinct residents checked in,
    `average_rating` the mean of their ratings."""
    report = await activities.report(
        session,
        staff,
        center_id=center_id,
        first_day=from_,
        last_day=to,
        group_by=group_by,
        ancestor_id=ancestor_id,
    )
    return answer(report, format, lang, activities.as_csv, activities.as_xlsx)
