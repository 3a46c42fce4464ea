"""No booking lasts longer than a day, enforced by the database: overlap queries
bound their index scans with it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 07:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPERATIONS = ("INSERT", "UPDATE")
# SQLite cannot add a CHECK to an existing table: a trigger refuses the row instead.
SQLITE_TRIGGER = """
CREATE TRIGGER reservations_lasts_at_most_a_day_{name}
BEFORE {operation} ON reservations
WHEN julianday(NEW.ends_at) - julianday(NEW.starts_at) > 1
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: lasts_at_most_a_day'); END
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_check_constraint(
            op.f("ck_reservations_lasts_at_most_a_day"),
            "reservations",
            "ends_at - starts_at <= interval '1 day'",
        )
        return
    for operation in OPERATIONS:
        op.execute(SQLITE_TRIGGER.format(name=operation.lower(), operation=operation))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(
            op.f("ck_reservations_lasts_at_most_a_day"), "reservations", type_="check"
        )
        return
    for operation in OPERATIONS:
        op.execute(f"DROP TRIGGER reservations_lasts_at_most_a_day_{operation.lower()}")
