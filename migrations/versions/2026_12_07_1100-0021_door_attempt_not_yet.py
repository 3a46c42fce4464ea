"""A door attempt may be ``not_yet``: a booking's code typed up to 30 minutes
before its window opens, told when it opens and not counted as a wrong code.

The outcomes are a CHECK on ``door_attempts``; on SQLite the CHECK changes by
copying the table, which loses the predicate of its partial index of wrong
codes, so it is dropped first and made again (as in 0019 for notifications).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTCOMES = ["granted", "unknown_code", "outside_window", "locked_out"]
NOT_YET = "not_yet"
WRONG_CODES = "method = 'code' AND outcome IN ('unknown_code', 'outside_window')"


def _set_outcomes(outcomes: list[str]) -> None:
    op.drop_index("ix_door_attempts_wrong_codes", table_name="door_attempts")
    with op.batch_alter_table("door_attempts", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_door_attempts_attempt_outcome"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_door_attempts_attempt_outcome"),
            "outcome IN (" + ", ".join(f"'{outcome}'" for outcome in outcomes) + ")",
        )
    op.create_index(
        "ix_door_attempts_wrong_codes",
        "door_attempts",
        ["door_id", "at"],
        postgresql_where=sa.text(WRONG_CODES),
        sqlite_where=sa.text(WRONG_CODES),
    )


def upgrade() -> None:
    _set_outcomes([*OUTCOMES, NOT_YET])


def downgrade() -> None:
    # An early code was not a wrong one; it was, before this revision, too early.
    op.execute(f"UPDATE door_attempts SET outcome = 'outside_window' WHERE outcome = '{NOT_YET}'")
    _set_outcomes(OUTCOMES)
