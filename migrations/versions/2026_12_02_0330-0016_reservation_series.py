"""Recurring bookings: a series, and which reservations are its occurrences.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reservation_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("space_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("rrule", sa.String(length=200), nullable=False),
        sa.Column(
            "mode",
            sa.Enum(
                "all_or_nothing",
                "book_what_is_free",
                name="series_mode",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("first_starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attendees", sa.SmallInteger(), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_reservation_series_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name=op.f("fk_reservation_series_space_id_spaces"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_reservation_series_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservation_series")),
    )
    with op.batch_alter_table("reservation_series", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reservation_series_user_id"), ["user_id"], unique=False
        )
    op.create_table(
        "reservation_series_occurrences",
        sa.Column("reservation_id", sa.Integer(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["reservations.id"],
            name=op.f("fk_reservation_series_occurrences_reservation_id_reservations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["reservation_series.id"],
            name=op.f("fk_reservation_series_occurrences_series_id_reservation_series"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("reservation_id", name=op.f("pk_reservation_series_occurrences")),
    )
    with op.batch_alter_table("reservation_series_occurrences", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reservation_series_occurrences_series_id"), ["series_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("reservation_series_occurrences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reservation_series_occurrences_series_id"))
    op.drop_table("reservation_series_occurrences")
    with op.batch_alter_table("reservation_series", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reservation_series_user_id"))
    op.drop_table("reservation_series")
