"""Bookings that live by the clock: check-in settings and the release time of
spaces, the expired status, violations and suspensions, the job runs, and on
PostgreSQL procrastinate's own schema (the job queue of ``zhendi worker``).

SQLite keeps a table's CHECK constraints in its definition: the new status
is added by copying the reservations table (Alembic's batch mode), which
loses the table's triggers and the predicate of its partial index; both are
made again here.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager
from sqlalchemy.util import await_only

revision: str = "0009"
down_revision: str | None = "0008"
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
]
OPEN = "status IN ('pending', 'confirmed', 'checked_in')"
SQLITE_TRIGGER = """
CREATE TRIGGER reservations_lasts_at_most_a_day_{name}
BEFORE {operation} ON reservations
WHEN julianday(NEW.ends_at) - julianday(NEW.starts_at) > 1
BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: lasts_at_most_a_day'); END
"""


def _statuses(values: list[str]) -> str:
    return "status IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def _set_statuses(values: list[str]) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for operation in ("insert", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS reservations_lasts_at_most_a_day_{operation}")
        op.drop_index("ix_reservations_personal", table_name="reservations")
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_reservations_reservation_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_reservations_reservation_status"), _statuses(values)
        )
    if sqlite:
        for operation in ("insert", "update"):
            op.execute(SQLITE_TRIGGER.format(name=operation, operation=operation.upper()))
        op.create_index(
            "ix_reservations_personal",
            "reservations",
            ["user_id", "starts_at"],
            sqlite_where=sa.text("organization_id IS NULL"),
        )


def upgrade() -> None:
    op.create_table(
        "job_stats",
        sa.Column("job", sa.String(length=40), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("job", name=op.f("pk_job_stats")),
    )
    op.create_table(
        "violations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column("reservation_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum("no_show", name="violation_kind", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("points", sa.SmallInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "appealed",
                "pardoned",
                "upheld",
                name="violation_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("appeal_reason", sa.String(length=200), nullable=True),
        sa.Column("appealed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["center_id"],
            ["centers.id"],
            name=op.f("fk_violations_center_id_centers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_violations_decided_by_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["reservations.id"],
            name=op.f("fk_violations_reservation_id_reservations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_violations_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_violations")),
        sa.UniqueConstraint(
            "reservation_id", "kind", name=op.f("uq_violations_reservation_id_kind")
        ),
    )
    op.create_index(
        "ix_violations_user_id_center_id_occurred_at",
        "violations",
        ["user_id", "center_id", "occurred_at"],
    )
    op.create_table(
        "suspensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column("violation_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["center_id"],
            ["centers.id"],
            name=op.f("fk_suspensions_center_id_centers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_suspensions_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["violation_id"],
            ["violations.id"],
            name=op.f("fk_suspensions_violation_id_violations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suspensions")),
        sa.UniqueConstraint("violation_id", name=op.f("uq_suspensions_violation_id")),
    )
    op.create_index(
        "ix_suspensions_user_id_center_id_until", "suspensions", ["user_id", "center_id", "until"]
    )
    with op.batch_alter_table("centers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("violation_points_to_suspend", sa.SmallInteger(), nullable=True)
        )
        batch_op.add_column(sa.Column("violation_window_days", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("suspension_days", sa.SmallInteger(), nullable=True))
    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("requires_check_in", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "check_in_opens_minutes", sa.SmallInteger(), server_default="15", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column(
                "no_show_after_minutes", sa.SmallInteger(), server_default="15", nullable=False
            )
        )
        batch_op.add_column(sa.Column("check_in_token", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("release_minute", sa.SmallInteger(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_spaces_release_minute_within_day"),
            "release_minute IS NULL OR (release_minute >= 0 AND release_minute < 1440)",
        )
    op.add_column(
        "reservations", sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True)
    )
    _set_statuses([*STATUSES, "expired"])
    op.create_index(
        "ix_reservations_open_by_start",
        "reservations",
        ["starts_at"],
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )
    if op.get_bind().dialect.name == "postgresql":
        # procrastinate's schema is one script of many statements: run it on the
        # driver's connection, which takes such a script in one go.
        driver = op.get_bind().connection.driver_connection
        assert driver is not None  # an open connection always has one
        await_only(driver.execute(SchemaManager.get_schema()))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP_PROCRASTINATE)
    op.drop_index("ix_reservations_open_by_start", table_name="reservations")
    op.execute("UPDATE reservations SET status = 'rejected' WHERE status = 'expired'")
    _set_statuses(STATUSES)
    op.drop_column("reservations", "checked_in_at")
    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_spaces_release_minute_within_day"), type_="check")
        batch_op.drop_column("release_minute")
        batch_op.drop_column("check_in_token")
        batch_op.drop_column("no_show_after_minutes")
        batch_op.drop_column("check_in_opens_minutes")
        batch_op.drop_column("requires_check_in")
    with op.batch_alter_table("centers", schema=None) as batch_op:
        batch_op.drop_column("suspension_days")
        batch_op.drop_column("violation_window_days")
        batch_op.drop_column("violation_points_to_suspend")
    op.drop_index("ix_suspensions_user_id_center_id_until", table_name="suspensions")
    op.drop_table("suspensions")
    op.drop_index("ix_violations_user_id_center_id_occurred_at", table_name="violations")
    op.drop_table("violations")
    op.drop_table("job_stats")


# Every object procrastinate's schema made: its tables, types and functions.
DROP_PROCRASTINATE = """
DO $$
DECLARE
    item record;
BEGIN
    FOR item IN SELECT tablename FROM pg_tables
                WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate%' LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', item.tablename);
    END LOOP;
    FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
                JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%' LOOP
        EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', item.signature);
    END LOOP;
    FOR item IN SELECT t.typname FROM pg_type t
                JOIN pg_namespace n ON n.oid = t.typnamespace
                WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate%'
                  AND t.typtype IN ('e', 'c', 'd') LOOP
        EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', item.typname);
    END LOOP;
END
$$
"""
