"""Spreadsheet formula injection (OWASP "CSV injection"): a space named like a
formula reads back as text from every export, the API's and the console's,
as CSV and as XLSX (parsed with the csv module and openpyxl)."""

import ast
import csv
import io
from datetime import date

import httpx
import pytest
from openpyxl import load_workbook

from app.core import tokens
from app.core.clock import local_today
from app.reports.exports import HEADERS_ZH
from tests.factories import Api, Headers
from tests.test_structure import APP

pytestmark = pytest.mark.dates

NAMES = (
    '=HYPERLINK("http://x","y")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
)
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
REPORT = "/api/v1/admin/reports/utilization"

SPACE_NAME = HEADERS_ZH["space_name"]  # the exports speak Chinese by default


def csv_rows(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(content[3:].decode("utf-8"))))


def assert_csv_inert(content: bytes) -> list[str]:
    """No cell starts like a formula; returns the space names."""
    header, *lines = csv_rows(content)
    for line in lines:
        for cell in line:
            assert not cell.startswith(TRIGGERS) or _is_number(cell), line
    return [line[header.index(SPACE_NAME)] for line in lines]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def assert_xlsx_inert(content: bytes) -> list[str]:
    """No cell is a formula, nor text starting with '='; returns the space names."""
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows())
    header = [cell.value for cell in rows[0]]
    for row in rows:
        for cell in row:
            assert cell.data_type != "f", (cell.coordinate, cell.value)
            if isinstance(cell.value, str):
                assert not cell.value.startswith(TRIGGERS), (cell.coordinate, cell.value)
    return [str(row[header.index(SPACE_NAME)].value) for row in rows[1:]]


async def formula_named_spaces(api: Api) -> tuple[Headers, dict[str, str]]:
    staff = await api.staff()
    center = await api.center(staff)
    spaces = {}
    for name in NAMES:
        space = await api.space(center["id"], staff, name=name)
        assert space["name"] == name  # stored as given: the export is what guards
        spaces[name] = str(space["id"])
    return staff, {"center_id": str(center["id"])}


def expected(names: list[str]) -> None:
    assert sorted(names) == sorted("'" + name for name in NAMES)


async def test_the_api_exports_a_formula_named_space_as_text(api: Api) -> None:
    staff, scope = await formula_named_spaces(api)
    today = local_today().isoformat()
    params = {**scope, "from": today, "to": today}

    as_csv = await api.client.get(REPORT, params={**params, "format": "csv"}, headers=staff)
    assert as_csv.status_code == 200, as_csv.text
    expected(assert_csv_inert(as_csv.content))

    as_xlsx = await api.client.get(REPORT, params={**params, "format": "xlsx"}, headers=staff)
    assert as_xlsx.status_code == 200, as_xlsx.text
    expected(assert_xlsx_inert(as_xlsx.content))


async def test_the_consoles_downloads_are_text_too(api: Api) -> None:
    await formula_named_spaces(api)
    staff_id = await api.create_staff_row()
    token = tokens.issue(api.app.state.settings, tokens.Audience.staff, staff_id).access_token
    browser = httpx.AsyncClient(transport=api.client._transport, base_url="http://test")
    browser.cookies.set("zhendi_console", token, path="/console")
    today = local_today().isoformat()
    for format_, check in (("csv", assert_csv_inert), ("xlsx", assert_xlsx_inert)):
        download = await browser.get(
            "/console/reports/download", params={"format": format_, "from": today, "to": today}
        )
        assert download.status_code == 200, download.text
        names = check(download.content)
        assert {"'" + name for name in NAMES} <= set(names)


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+86 21 5256", "'+86 21 5256"),
        ("-5", "'-5"),  # text that looks like a number is still text
        ("@cmd", "'@cmd"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("会议室 = 议事厅", "会议室 = 议事厅"),  # only the first character matters
        ("", ""),
        (-5, -5),  # a number stays a number: Excel does not evaluate it
        (-0.5, -0.5),
        (None, None),
        (date(2026, 1, 1), date(2026, 1, 1)),
    ],
)
def test_safe_cell(value: object, cell: object) -> None:
    from app.core.spreadsheets import safe_cell  # here: the module is new

    assert safe_cell(value) == cell  # type: ignore[arg-type]


def test_every_spreadsheet_writer_uses_safe_cell() -> None:
    """Spreadsheets are written in one module (``app/core/spreadsheets.py``, the
    only one that imports ``csv`` or ``openpyxl``), and every module that hands
    it rows passes their cells through ``safe_cell``."""
    writers, exporters = [], []
    for path in APP.rglob("*.py"):
        text = path.read_text()
        tree = ast.parse(text)
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        }
        name = path.relative_to(APP.parent).as_posix()
        if imported & {"csv", "openpyxl", "xlsxwriter"}:
            writers.append(name)
        if "csv_bytes(" in text or "xlsx_bytes(" in text:
            exporters.append(name)
            assert "safe_cell(" in text, path
    assert writers == ["app/core/spreadsheets.py"]
    assert "app/reports/exports.py" in exporters
