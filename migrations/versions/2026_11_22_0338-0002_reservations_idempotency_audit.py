"""Reservations (with the PostgreSQL no-overlap exclusion constraint), idempotency keys,
audit events, and a per-space cancellation deadline.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:38:25.891459
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "actor_kind",
            sa.Enum(
                "user",
                "staff",
                "system",
                name="actor_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("entity", sa.String(length=30), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_entity", "audit_events", ["entity", "entity_id", "id"])

    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.SmallInteger(), nullable=False),
        sa.Column("response_body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_idempotency_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_idempotency_keys_user_id_key")),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])

    op.create_table(
        "reservations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("space_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exclusive", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "confirmed",
                "checked_in",
                "completed",
                "rejected",
                "cancelled",
                "no_show",
                name="reservation_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("attendees", sa.SmallInteger(), nullable=False),
        sa.Column("status_reason", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.CheckConstraint("attendees >= 1", name=op.f("ck_reservations_attendees_positive")),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_reservations_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name=op.f("fk_reservations_space_id_spaces"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_reservations_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
    )
    op.create_index("ix_reservations_space_id_starts_at", "reservations", ["space_id", "starts_at"])
    op.create_index("ix_reservations_user_id_starts_at", "reservations", ["user_id", "starts_at"])
    if op.get_bind().dialect.name == "postgresql":
        # Autogenerate cannot see this: no two holding bookings of an exclusive
        # space overlap. btree_gist lets `space_id WITH =` live in a GiST index.
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE reservations ADD CONSTRAINT reservations_no_overlap "
            "EXCLUDE USING gist (space_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
            "WHERE (exclusive AND status IN ('pending', 'confirmed', 'checked_in'))"
        )

    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "cancel_before_minutes", sa.SmallInteger(), server_default="0", nullable=False
            )
        )
        batch_op.create_check_constraint(
            op.f("ck_spaces_cancel_before_nonnegative"), "cancel_before_minutes >= 0"
        )


def downgrade() -> None:
    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_spaces_cancel_before_nonnegative"), type_="check")
        batch_op.drop_column("cancel_before_minutes")

    op.drop_index("ix_reservations_user_id_starts_at", table_name="reservations")
    op.drop_index("ix_reservations_space_id_starts_at", table_name="reservations")

    op.drop_table("reservations")
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")

    op.drop_table("idempotency_keys")
    op.drop_index("ix_audit_events_entity", table_name="audit_events")

    op.drop_table("audit_events")
