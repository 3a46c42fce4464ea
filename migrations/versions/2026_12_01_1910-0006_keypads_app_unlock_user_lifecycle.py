"""Hardening: one guessing budget per space's keypad, app unlocks in the door log,
users that can be deactivated or erased.

The lockout state moves from each door to the space's keypad, so extra doors
buy an attacker nothing; the old per-door counters are dropped.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "keypads",
        sa.Column("space_id", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.id"], name=op.f("fk_keypads_space_id_spaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("space_id", name=op.f("pk_keypads")),
    )
    op.execute("INSERT INTO keypads (space_id) SELECT DISTINCT space_id FROM doors")
    with op.batch_alter_table("door_attempts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "method",
                sa.Enum(
                    "code", "app", name="attempt_method", native_enum=False, create_constraint=True
                ),
                server_default="code",
                nullable=False,
            )
        )
    with op.batch_alter_table("doors", schema=None) as batch_op:
        batch_op.drop_column("consecutive_failures")
        batch_op.drop_column("locked_until")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
        batch_op.drop_column("is_active")
    with op.batch_alter_table("doors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("consecutive_failures", sa.SmallInteger(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("door_attempts", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_door_attempts_attempt_method"), type_="check")
        batch_op.drop_column("method")
    op.drop_table("keypads")
