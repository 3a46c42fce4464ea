"""A report as a spreadsheet: CSV for anything, XLSX for Excel.

The CSV starts with a byte-order mark: without it Excel reads UTF-8 as the
system's legacy code page and garbles the Chinese space names.
"""

import csv
import io

from openpyxl import Workbook

from app.reports.schemas import UtilizationReport, UtilizationRow

COLUMNS = list(UtilizationRow.model_fields)
SHEET_TITLE = "使用情况"


def _cells(row: UtilizationRow) -> list[object]:
    values = row.model_dump()
    return [values[column] for column in COLUMNS]


def _filename(report: UtilizationReport, extension: str) -> str:
    return f"utilization-{report.group_by}-{report.from_}-{report.to}.{extension}"


def as_csv(report: UtilizationReport) -> tuple[bytes, str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in report.rows:
        writer.writerow(["" if cell is None else cell for cell in _cells(row)])
    return "\ufeff".encode() + buffer.getvalue().encode(), _filename(report, "csv")


def as_xlsx(report: UtilizationReport) -> tuple[bytes, str]:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(SHEET_TITLE)
    sheet.append(COLUMNS)
    for row in report.rows:
        sheet.append(_cells(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue(), _filename(report, "xlsx")
