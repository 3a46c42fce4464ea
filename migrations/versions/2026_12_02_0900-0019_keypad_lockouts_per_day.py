"""Keypads count their lockouts per Shanghai day, and staff hear of a keypad
that locks out more than three times in one: a new notification kind.

The kinds are a CHECK on ``notifications``. On SQLite the CHECK changes by
copying the table, which loses the predicates of its partial indexes; they
are dropped first and made again, as in 0012.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = [
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
]
ALERT = "keypad_locked_repeatedly"
PARTIAL_INDEXES = {
    "ix_notifications_queued": (["next_attempt_at"], False, "delivery = 'queued'"),
    "uq_notifications_reminder": (["reservation_id"], True, "kind = 'booking_reminder'"),
}


def _set_kinds(kinds: list[str]) -> None:
    for name in PARTIAL_INDEXES:
        op.drop_index(name, table_name="notifications")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_notifications_notification_kind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_notifications_notification_kind"),
            "kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")",
        )
    for name, (columns, unique, where) in PARTIAL_INDEXES.items():
        op.create_index(
            name,
            "notifications",
            columns,
            unique=unique,
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
        )


def upgrade() -> None:
    # Nullable, or with a default: a plain ALTER TABLE on both engines.
    op.add_column("keypads", sa.Column("lockout_day", sa.Date(), nullable=True))
    op.add_column(
        "keypads",
        sa.Column("lockouts_that_day", sa.SmallInteger(), server_default="0", nullable=False),
    )
    _set_kinds([*KINDS, ALERT])


def downgrade() -> None:
    op.execute(f"DELETE FROM notifications WHERE kind = '{ALERT}'")
    _set_kinds(KINDS)
    with op.batch_alter_table("keypads", schema=None) as batch_op:
        batch_op.drop_column("lockouts_that_day")
        batch_op.drop_column("lockout_day")
