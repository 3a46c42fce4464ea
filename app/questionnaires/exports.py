"""A questionnaire's responses as CSV or XLSX: one row per response, one
column per question; an anonymous questionnaire's export has no user column."""

from app.core.clock import SHANGHAI
from app.core.errors import Lang
from app.core.spreadsheets import Cell, csv_bytes, safe_cell, xlsx_bytes
from app.questionnaires.results import Export

HEADERS = {
    "zh": ("答卷编号", "提交时间", "区", "街镇", "用户编号"),
    "en": ("response", "submitted_at", "district", "street", "user_id"),
}


def rows(found: Export, lang: Lang) -> list[list[Cell]]:
    head: list[Cell] = list(HEADERS[lang])
    if found.questionnaire.anonymous:
        head.pop()
    head += [f"{question.position}. {question.text}" for question in found.questions]
    table: list[list[Cell]] = [head]
    for response_id, submitted_at, district, street, user_id, answers in found.rows:
        cells: list[Cell] = [
            response_id,
            submitted_at.astimezone(SHANGHAI).isoformat(),
            district,
            street,
        ]
        if not found.questionnaire.anonymous:
            cells.append(user_id)
        table.append(cells + list(answers))
    return [[safe_cell(cell) for cell in cells] for cells in table]


def as_csv(found: Export, lang: Lang) -> tuple[bytes, str]:
    return csv_bytes(rows(found, lang)), f"questionnaire-{found.questionnaire.id}.csv"


def as_xlsx(found: Export, lang: Lang) -> tuple[bytes, str]:
    return xlsx_bytes(
        rows(found, lang), "responses"
    ), f"questionnaire-{found.questionnaire.id}.xlsx"
