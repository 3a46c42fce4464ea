"""Cells that a spreadsheet will not run: the one guard every CSV and XLSX
export passes its values through (README, "Security").

A text cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or a
carriage return, which Excel skips before looking) is read by Excel and
LibreOffice as a formula: a space named ``=HYPERLINK("http://x","y")`` would
become a live link in a staff member's report, and openpyxl itself writes
such a string as a formula. Following OWASP's advice on CSV injection, such
text gets a leading single quote, so it is shown as the text it is. Numbers,
dates and empty cells are written as they are: a negative number stored as
a number is not a formula.
"""

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from openpyxl import Workbook

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | bool | date | datetime | None


def safe_cell(value: Cell) -> Cell:
    """``value`` as a cell no spreadsheet evaluates."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def csv_bytes(rows: Iterable[Sequence[Cell]]) -> bytes:
    """Rows (the header first, each cell through ``safe_cell``) as the CSV every
    export writes: a byte-order mark so that Excel reads the Chinese as UTF-8,
    CRLF line ends, an empty cell for None."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for cells in rows:
        writer.writerow(["" if cell is None else cell for cell in cells])
    return "\ufeff".encode() + buffer.getvalue().encode()


def xlsx_bytes(rows: Iterable[Sequence[Cell]], sheet_title: str) -> bytes:
    """The same rows as a one-sheet workbook."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_title)
    for cells in rows:
        sheet.append(list(cells))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
