"""The holiday calendar: staff's overrides of the official days, and each
space's holiday policy (24-hour spaces stay open on holidays).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 03:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("scope", sa.String(length=60), nullable=False),
        sa.Column("district", sa.String(length=20), nullable=True),
        sa.Column("center_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "holiday", "workday", name="day_kind", native_enum=False, create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("set_by_staff_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["center_id"],
            ["centers.id"],
            name=op.f("fk_calendar_days_center_id_centers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["set_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_calendar_days_set_by_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_days")),
        sa.UniqueConstraint("day", "scope", name=op.f("uq_calendar_days_day_scope")),
    )
    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "holiday_policy",
                sa.Enum(
                    "closed",
                    "open",
                    "weekend_hours",
                    name="holiday_policy",
                    native_enum=False,
                    create_constraint=True,
                ),
                server_default="closed",
                nullable=False,
            )
        )
    op.execute("UPDATE spaces SET holiday_policy = 'open' WHERE open_24h")


def downgrade() -> None:
    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_spaces_holiday_policy"), type_="check")
        batch_op.drop_column("holiday_policy")
    op.drop_table("calendar_days")
