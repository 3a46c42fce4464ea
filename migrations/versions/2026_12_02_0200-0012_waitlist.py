"""The waitlist, and ``held``: a reservation that keeps a freed place for the
first in line until they accept it or the offer lapses.

A held place is a holder like any booking (docs/ARCHITECTURE.md, invariant
11), so every holder predicate gains the status: the reservations' CHECK,
the exclusion constraint and the booking guard on PostgreSQL, and the
partial index of open bookings. On SQLite the CHECK changes by copying the
table, which loses its triggers and the predicates of its partial indexes;
they are made again, as in 0009.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 02:00:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = [
    "pending",
    "confirmed",
    "checked_in",
    "completed",
    "rejected",
    "cancelled",
    "no_show",
    "expired",
]
HOLDING = ["pending", "confirmed", "checked_in"]
SQLITE_TRIGGER = """
CREATE TRIGGER reservations_lasts_at_most_a_day_{name}
BEFORE {operation} ON reservations
WHEN julianday(NEW.ends_at) - julianday(NEW.starts_at) > 1
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: lasts_at_most_a_day'); END
"""
EXCLUSION = (
    "ALTER TABLE reservations ADD CONSTRAINT reservations_no_overlap "
    "EXCLUDE USING gist (space_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
    "WHERE (exclusive AND {holding})"
)


def _in(values: list[str]) -> str:
    return "status IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def _guard(holding: list[str]) -> str:
    """Migration 0007's guard with another list of holding statuses: the
    function as that migration wrote it, so that the two cannot drift."""
    path = next(Path(__file__).parent.glob("*-0007_booking_guard.py"))
    spec = importlib.util.spec_from_file_location("booking_guard_0007", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    guard: str = module.BOOKING_GUARD
    holders = f"status IN ({module.HOLDING})"
    assert guard.count(holders) == 2, "the guard reads its holders in two places"
    return guard.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION").replace(
        holders, _in(holding)
    )


def _set_holding(statuses: list[str], holding: list[str]) -> None:
    dialect = op.get_bind().dialect.name
    op.drop_index("ix_reservations_open_by_start", table_name="reservations")
    if dialect == "sqlite":
        for operation in ("insert", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS reservations_lasts_at_most_a_day_{operation}")
        op.drop_index("ix_reservations_personal", table_name="reservations")
    else:
        op.execute("ALTER TABLE reservations DROP CONSTRAINT reservations_no_overlap")
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_reservations_reservation_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_reservations_reservation_status"), _in(statuses))
    if dialect == "sqlite":
        for operation in ("insert", "update"):
            op.execute(SQLITE_TRIGGER.format(name=operation, operation=operation.upper()))
        op.create_index(
            "ix_reservations_personal",
            "reservations",
            ["user_id", "starts_at"],
            sqlite_where=sa.text("organization_id IS NULL"),
        )
    else:
        op.execute(EXCLUSION.format(holding=_in(holding)))
        op.execute(_guard(holding))
        # CREATE OR REPLACE drops the function's settings (migration 0010).
        op.execute("ALTER FUNCTION zhendi_booking_guard SET plan_cache_mode = force_generic_plan")
    op.create_index(
        "ix_reservations_open_by_start",
        "reservations",
        ["starts_at"],
        postgresql_where=sa.text(_in(holding)),
        sqlite_where=sa.text(_in(holding)),
    )


def upgrade() -> None:
    _set_holding([*STATUSES, "held"], [*HOLDING, "held"])
    op.create_table(
        "waitlist_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("space_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "waiting",
                "offered",
                "booked",
                "expired",
                "withdrawn",
                name="waitlist_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("reservation_id", sa.Integer(), nullable=True),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offer_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "ends_at > starts_at", name=op.f("ck_waitlist_entries_ends_after_start")
        ),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["reservations.id"],
            name=op.f("fk_waitlist_entries_reservation_id_reservations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name=op.f("fk_waitlist_entries_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_waitlist_entries_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_entries")),
    )
    active = sa.text("status IN ('waiting', 'offered')")
    op.create_index(
        "uq_waitlist_entries_active",
        "waitlist_entries",
        ["user_id", "space_id", "starts_at", "ends_at"],
        unique=True,
        postgresql_where=active,
        sqlite_where=active,
    )
    op.create_index(
        "ix_waitlist_entries_line",
        "waitlist_entries",
        ["space_id", "id"],
        postgresql_where=active,
        sqlite_where=active,
    )


def downgrade() -> None:
    op.drop_table("waitlist_entries")
    op.execute("UPDATE reservations SET status = 'expired' WHERE status = 'held'")
    _set_holding(STATUSES, HOLDING)
