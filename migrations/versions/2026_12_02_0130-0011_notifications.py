"""Notifications: the inbox and outbox in one table, the subscribe-message
credit ledger, and the shared WeChat access token.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wechat_tokens",
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("token_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("key_version", sa.SmallInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_wechat_tokens")),
    )
    op.create_table(
        "subscription_credits",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("last_result", sa.String(length=10), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "credits >= 0", name=op.f("ck_subscription_credits_credits_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_subscription_credits_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "template_id", name=op.f("pk_subscription_credits")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "booking_confirmed",
                "booking_approved",
                "booking_rejected",
                "booking_cancelled_by_staff",
                "booking_reminder",
                "no_show_recorded",
                "booking_suspended",
                "waitlist_offer",
                "organization_verified",
                "organization_rejected",
                "approval_requested",
                name="notification_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=60), nullable=False),
        sa.Column("body", sa.String(length=400), nullable=False),
        sa.Column("reservation_id", sa.Integer(), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("center_id", sa.Integer(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "delivery",
            sa.Enum(
                "inbox",
                "queued",
                "sent",
                "no_credit",
                "refused",
                "failed",
                name="notification_delivery",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("template_id", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (staff_id IS NULL)", name=op.f("ck_notifications_one_recipient")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_notifications_organization_id_organizations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_notifications_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notifications_queued",
            ["next_attempt_at"],
            unique=False,
            postgresql_where=sa.text("delivery = 'queued'"),
            sqlite_where=sa.text("delivery = 'queued'"),
        )
        batch_op.create_index("ix_notifications_staff_id_id", ["staff_id", "id"], unique=False)
        batch_op.create_index("ix_notifications_user_id_id", ["user_id", "id"], unique=False)
        batch_op.create_index(
            "uq_notifications_reminder",
            ["reservation_id"],
            unique=True,
            postgresql_where=sa.text("kind = 'booking_reminder'"),
            sqlite_where=sa.text("kind = 'booking_reminder'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_notifications_reminder",
            postgresql_where=sa.text("kind = 'booking_reminder'"),
            sqlite_where=sa.text("kind = 'booking_reminder'"),
        )
        batch_op.drop_index("ix_notifications_user_id_id")
        batch_op.drop_index("ix_notifications_staff_id_id")
        batch_op.drop_index(
            "ix_notifications_queued",
            postgresql_where=sa.text("delivery = 'queued'"),
            sqlite_where=sa.text("delivery = 'queued'"),
        )

    op.drop_table("notifications")
    op.drop_table("subscription_credits")
    op.drop_table("wechat_tokens")
