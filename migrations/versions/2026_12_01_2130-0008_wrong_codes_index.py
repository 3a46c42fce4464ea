"""An index of the wrong codes typed at doors alone.

The lock's question counts the wrong codes typed at a space in the last day
(the keypad's budget). Read through the index of every attempt, that count
also walks every granted one: on a busy study room, the attempts of a day.
A partial index of the wrong codes makes the count read only them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRONG_CODES = "method = 'code' AND outcome IN ('unknown_code', 'outside_window')"


def upgrade() -> None:
    op.create_index(
        "ix_door_attempts_wrong_codes",
        "door_attempts",
        ["door_id", "at"],
        postgresql_where=sa.text(WRONG_CODES),
        sqlite_where=sa.text(WRONG_CODES),
    )


def downgrade() -> None:
    op.drop_index("ix_door_attempts_wrong_codes", table_name="door_attempts")
