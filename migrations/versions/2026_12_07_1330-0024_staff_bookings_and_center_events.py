"""Staff book for people and for the center (issue 24).

- ``users.is_placeholder``: a resident staff booked for by phone, with no
  account yet; the account that binds the same phone claims it.
- ``reservations.kind`` (``booking`` | ``center_event``), ``title`` and
  ``public``: the center's own programme is a reservation row, so the
  exclusion constraint, the booking guard, availability and every holder
  query see it. An event is nobody's booking: its ``user_id`` is NULL, and a
  CHECK ties the one to the other.

On SQLite the CHECKs and the nullable ``user_id`` change by copying the
table, which loses its triggers and the predicates of its partial indexes;
they are made again, as in 0012.

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-07 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOLDING = "status IN ('pending', 'confirmed', 'checked_in', 'held')"
SQLITE_TRIGGER = """
CREATE TRIGGER reservations_lasts_at_most_a_day_{name}
BEFORE {operation} ON reservations
WHEN julianday(NEW.ends_at) - julianday(NEW.starts_at) > 1
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: lasts_at_most_a_day'); END
"""
EVENT_HAS_NO_BOOKER = "(kind = 'center_event') = (user_id IS NULL)"


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("is_placeholder", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    _before_copy()
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sa.Enum(
                    "booking",
                    "center_event",
                    name="reservation_kind",
                    native_enum=False,
                    create_constraint=True,
                ),
                server_default="booking",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("title", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("public", sa.Boolean(), nullable=True))
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_check_constraint(
            op.f("ck_reservations_event_has_no_booker"), EVENT_HAS_NO_BOOKER
        )
    _after_copy()


def downgrade() -> None:
    op.execute("DELETE FROM audit_events WHERE entity = 'reservation' AND entity_id IN "
               "(SELECT id FROM reservations WHERE kind = 'center_event')")  # fmt: skip
    op.execute("DELETE FROM reservations WHERE kind = 'center_event'")
    _before_copy()
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_reservations_event_has_no_booker"), type_="check")
        batch_op.drop_constraint(op.f("ck_reservations_reservation_kind"), type_="check")
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("public")
        batch_op.drop_column("title")
        batch_op.drop_column("kind")
    _after_copy()
    op.drop_column("users", "is_placeholder")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _before_copy() -> None:
    if not _sqlite():
        return
    op.drop_index("ix_reservations_open_by_start", table_name="reservations")
    op.drop_index("ix_reservations_personal", table_name="reservations")
    for operation in ("insert", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS reservations_lasts_at_most_a_day_{operation}")


def _after_copy() -> None:
    if not _sqlite():
        return
    for operation in ("insert", "update"):
        op.execute(SQLITE_TRIGGER.format(name=operation, operation=operation.upper()))
    op.create_index(
        "ix_reservations_personal",
        "reservations",
        ["user_id", "starts_at"],
        sqlite_where=sa.text("organization_id IS NULL"),
    )
    op.create_index(
        "ix_reservations_open_by_start",
        "reservations",
        ["starts_at"],
        sqlite_where=sa.text(HOLDING),
    )
