"""Space calendar feeds: a staff member's feed of one space, its token hashed.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "space_calendar_feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("space_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name=op.f("fk_space_calendar_feeds_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_space_calendar_feeds_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_space_calendar_feeds")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_space_calendar_feeds_token_hash")),
        sa.UniqueConstraint(
            "staff_id", "space_id", name=op.f("uq_space_calendar_feeds_staff_id_space_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("space_calendar_feeds")
