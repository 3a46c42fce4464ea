"""The weights of the evaluation of positions (阵地评估).

One row per metric a super admin weighted (``PUT
/admin/evaluation-weights``); a metric without a row keeps its default
(app/evaluations/weights.py). A weight is never negative (a CHECK).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evaluation_weights",
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("weight >= 0", name=op.f("ck_evaluation_weights_weight_not_negative")),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["staff.id"],
            name=op.f("fk_evaluation_weights_updated_by_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("metric", name=op.f("pk_evaluation_weights")),
    )


def downgrade() -> None:
    op.drop_table("evaluation_weights")
