"""The one table of reservation statuses, and the lists derived from it.

Every status list in Python and SQL comes from ``STATUS_MEANINGS``
(app/models/reservation.py): a list spelled by hand elsewhere is how two
lists named alike came to mean opposite things.
"""

import ast
import re
import sqlite3
from pathlib import Path

import pytest

from app.core.migrate import upgrade
from app.models import (
    BOOKED_TIME_STATUSES,
    CODE_LIVE_STATUSES,
    HOLDING_STATUSES,
    QUOTA_AHEAD_STATUSES,
    QUOTA_WEEK_STATUSES,
    REPORTED_STATUSES,
    STATUS_MEANINGS,
    USED_STATUSES,
    QuotaSubject,
    ReservationStatus,
)
from app.quotas.sql import Period, used_sql

APP = Path(__file__).resolve().parent.parent / "app"
TABLE = APP / "models" / "reservation.py"
Status = ReservationStatus
STATUS_VALUES = {status.value for status in ReservationStatus}
NAMES = "|".join(STATUS_VALUES)
# A SQL list of statuses written out: ``IN ('confirmed', 'checked_in')``.
SPELLED_LIST = re.compile(rf"""IN\s*\(\s*'({NAMES})'\s*,""", re.IGNORECASE)


def test_every_status_has_one_meaning() -> None:
    assert set(STATUS_MEANINGS) == set(ReservationStatus)


def test_the_derived_lists_say_what_the_table_says() -> None:
    assert HOLDING_STATUSES == (Status.pending, Status.confirmed, Status.checked_in, Status.held)
    # An offer held for the waitlist holds the time, but counts toward no quota
    # until it is accepted.
    assert Status.held not in QUOTA_AHEAD_STATUSES + QUOTA_WEEK_STATUSES
    assert set(QUOTA_AHEAD_STATUSES) < set(QUOTA_WEEK_STATUSES)
    # A cancelled booking was made, but its time was given back.
    assert Status.cancelled in REPORTED_STATUSES
    assert Status.cancelled not in BOOKED_TIME_STATUSES
    assert set(USED_STATUSES) < set(BOOKED_TIME_STATUSES) < set(REPORTED_STATUSES)
    assert set(CODE_LIVE_STATUSES) < set(HOLDING_STATUSES)


def _is_status(node: ast.expr) -> bool:
    """``ReservationStatus.x``, ``Status.x`` or a status's value as a string."""
    if isinstance(node, ast.Constant):
        return node.value in STATUS_VALUES
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in {"ReservationStatus", "Status"}
    )


def _spelled_lists(path: Path) -> list[str]:
    """Status lists written out by hand in one module: SQL lists, and module
    constants of two or more ``ReservationStatus`` members. (A transition's
    statuses inside a function are the state machine's, not a list.)"""
    source = path.read_text()
    found = [match.group(0) for match in SPELLED_LIST.finditer(source)]
    for statement in ast.parse(source).body:
        if not isinstance(statement, ast.Assign | ast.AnnAssign):
            continue
        node = statement.value
        if isinstance(node, ast.Tuple | ast.List | ast.Set) and len(node.elts) >= 2:
            members = [element for element in node.elts if _is_status(element)]
            if len(members) >= 2:
                found.append(ast.unparse(node))
    return found


def test_no_module_spells_a_status_list_of_its_own() -> None:
    spelled = {
        str(path.relative_to(APP.parent)): lists
        for path in sorted(APP.rglob("*.py"))
        if path != TABLE and (lists := _spelled_lists(path))
    }
    assert spelled == {}, "derive these from STATUS_MEANINGS (app/models/reservation.py)"


@pytest.mark.parametrize("period", list(Period))
@pytest.mark.parametrize("subject", list(QuotaSubject))
@pytest.mark.parametrize("on_space", [True, False], ids=["space", "center"])
async def test_quota_use_on_sqlite_reads_the_subjects_index(
    tmp_path: Path, period: Period, subject: QuotaSubject, on_space: bool
) -> None:
    """A booking under a quota counts its subject's bookings through an index
    bounded by time, never by scanning the reservations table: its cost must
    not grow with the table."""
    path = tmp_path / "plan.db"
    await upgrade(f"sqlite+aiosqlite:///{path}")
    db = sqlite3.connect(path)
    try:
        values = dict.fromkeys(("now", "day_before_now", "week_start", "week_end"), "")
        plan = db.execute(
            "EXPLAIN QUERY PLAN " + used_sql("sqlite", period, subject, on_space),
            {**values, "subject_id": 1, "scope_id": 1, "exclude": 0},
        ).fetchall()
    finally:
        db.close()
    reads = [row[3] for row in plan if " r " in f"{row[3]} "]
    assert reads, plan
    assert all(read.startswith("SEARCH r USING INDEX") for read in reads), plan
