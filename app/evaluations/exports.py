"""An evaluation as a spreadsheet, as the reports are (app/reports/exports.py):
a BOM before the CSV for Excel, every cell through ``safe_cell``, Chinese
headers unless ``lang="en"``."""

from app.core.errors import Lang
from app.core.spreadsheets import Cell, csv_bytes, safe_cell, xlsx_bytes
from app.evaluations.schemas import EvaluationReport, EvaluationRow
from app.evaluations.service import EvaluationGroupBy

KEYS = {
    EvaluationGroupBy.by_center: [
        "center_id",
        "center_name",
        "kind",
        "parent_id",
        "district",
        "street",
    ],
    EvaluationGroupBy.by_street: ["district", "street"],
    EvaluationGroupBy.by_district: ["district"],
}
FIGURES = [
    "rank",
    "score",
    "opening_hours",
    "available_hours",
    "booked_hours",
    "utilization",
    "bookings",
    "no_shows",
    "no_show_rate",
    "activities_held",
    "attended",
    "unique_people",
    "ratings",
    "average_rating",
    "suggestions_closed",
    "suggestions_overdue",
    "needs_met",
]
HEADERS_ZH = {
    "center_id": "阵地编号",
    "center_name": "阵地名称",
    "kind": "阵地类型",
    "parent_id": "上级阵地编号",
    "district": "区",
    "street": "街镇",
    "rank": "排名",
    "score": "得分",
    "opening_hours": "开放小时",
    "available_hours": "可用小时",
    "booked_hours": "预约小时",
    "utilization": "使用率",
    "bookings": "预约数",
    "no_shows": "爽约数",
    "no_show_rate": "爽约率",
    "activities_held": "举办活动场次",
    "attended": "参与人次",
    "unique_people": "服务人数",
    "ratings": "评价数",
    "average_rating": "平均评分",
    "suggestions_closed": "办结建议数",
    "suggestions_overdue": "超期建议数",
    "needs_met": "满足需求数",
}
SHEET_TITLE = {"zh": "阵地评估", "en": "Evaluation"}


def columns(group_by: EvaluationGroupBy) -> list[str]:
    return KEYS[group_by] + FIGURES


def _table(report: EvaluationReport, lang: Lang) -> list[list[Cell]]:
    names = columns(report.group_by)
    header: list[Cell] = list(names if lang == "en" else [HEADERS_ZH[name] for name in names])
    body = []
    for row in report.rows:
        values = EvaluationRow.model_dump(row, mode="json")
        body.append([safe_cell(values[name]) for name in names])
    return [header, *body]


def _filename(report: EvaluationReport, extension: str) -> str:
    return f"evaluation-{report.group_by}-{report.period}.{extension}"


def as_csv(report: EvaluationReport, lang: Lang = "zh") -> tuple[bytes, str]:
    return csv_bytes(_table(report, lang)), _filename(report, "csv")


def as_xlsx(report: EvaluationReport, lang: Lang = "zh") -> tuple[bytes, str]:
    return xlsx_bytes(_table(report, lang), SHEET_TITLE[lang]), _filename(report, "xlsx")
