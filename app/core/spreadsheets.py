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

from datetime import date, datetime

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | bool | date | datetime | None


def safe_cell(value: Cell) -> Cell:
    """``value`` as a cell no spreadsheet evaluates."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value
