"""A report as a spreadsheet: CSV for anything, XLSX for Excel.

The CSV starts with a byte-order mark: without it Excel reads UTF-8 as the
system's legacy code page and garbles the Chinese space names. Every cell of
both goes through ``safe_cell``: a space's name is staff's free text, and a
name that starts like a formula stays text (app/core/spreadsheets.py).
The header row is Chinese, for the staff who open it; ``lang="en"`` gives the
JSON's own field names, for scripts and English readers.
"""

from app.core.errors import Lang
from app.core.spreadsheets import Cell, csv_bytes, safe_cell, xlsx_bytes
from app.reports.schemas import UtilizationReport, UtilizationRow

COLUMNS = list(UtilizationRow.model_fields)
HEADERS_ZH = {
    "space_id": "空间编号",
    "space_name": "空间名称",
    "date": "日期",
    "weekday": "星期（0 为周一）",
    "hour": "时段（时）",
    "center_id": "阵地编号",
    "center_name": "阵地名称",
    "district": "区",
    "street": "街镇",
    "open_hours": "开放小时",
    "available_hours": "可用小时",
    "booked_hours": "预约小时",
    "checked_in_hours": "签到小时",
    "center_event_hours": "中心活动小时",
    "bookings": "预约数",
    "cancellations": "取消数",
    "no_shows": "爽约数",
    "unique_users": "预约人数",
    "organizations": "单位数",
    "utilization": "使用率",
    "no_show_rate": "爽约率",
    "average_rating": "平均评分",
}
SHEET_TITLE = {"zh": "使用情况", "en": "Utilization"}


def headers(lang: Lang) -> list[str]:
    return COLUMNS if lang == "en" else [HEADERS_ZH[column] for column in COLUMNS]


def _cells(row: UtilizationRow) -> list[Cell]:
    values = row.model_dump()
    return [safe_cell(values[column]) for column in COLUMNS]


def _filename(report: UtilizationReport, extension: str) -> str:
    return f"utilization-{report.group_by}-{report.from_}-{report.to}.{extension}"


def _rows(report: UtilizationReport, lang: Lang) -> list[list[Cell]]:
    return [list(headers(lang)), *(_cells(row) for row in report.rows)]


def as_csv(report: UtilizationReport, lang: Lang = "zh") -> tuple[bytes, str]:
    return csv_bytes(_rows(report, lang)), _filename(report, "csv")


def as_xlsx(report: UtilizationReport, lang: Lang = "zh") -> tuple[bytes, str]:
    return xlsx_bytes(_rows(report, lang), SHEET_TITLE[lang]), _filename(report, "xlsx")
