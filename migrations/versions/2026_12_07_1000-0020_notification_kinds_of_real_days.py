"""Eight notification kinds: what happened to a booking, an appeal, a real
name, a company or a door code is told to the person it happened to.

The kinds are a CHECK on ``notifications``; on SQLite the CHECK changes by
copying the table, which loses the predicates of its partial indexes, so
they are dropped first and made again (as in 0012 and 0019).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
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
    "keypad_locked_repeatedly",
]
NEW_KINDS = [
    "booking_cancelled_by_closure",
    "appeal_decided",
    "real_name_rebound",
    "organization_registered",
    "waitlist_offer_lapsed",
    "organization_member_removed",
    "access_code_reissued",
    "feedback_requested",
]
PARTIAL_INDEXES = {
    "ix_notifications_queued": (["next_attempt_at"], False, "delivery = 'queued'"),
    "uq_notifications_reminder": (["reservation_id"], True, "kind = 'booking_reminder'"),
}


def _width(kinds: list[str]) -> int:
    return max(map(len, kinds))  # the column is as wide as the longest kind


def _set_kinds(kinds: list[str], was: list[str]) -> None:
    for name in PARTIAL_INDEXES:
        op.drop_index(name, table_name="notifications")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column(
            "kind",
            existing_type=sa.String(_width(was)),
            type_=sa.String(_width(kinds)),
            existing_nullable=False,
        )
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
    _set_kinds([*KINDS, *NEW_KINDS], was=KINDS)


def downgrade() -> None:
    kinds = ", ".join(f"'{kind}'" for kind in NEW_KINDS)
    op.execute(f"DELETE FROM notifications WHERE kind IN ({kinds})")
    _set_kinds(KINDS, was=[*KINDS, *NEW_KINDS])
