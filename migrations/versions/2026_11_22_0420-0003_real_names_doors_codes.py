"""Real-name verification (sealed ID numbers, blind index), doors, door codes and
the log of every attempt at a door.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 04:16:06.103260
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)
        for name in ("created_at", "updated_at")
    ]


def upgrade() -> None:
    op.create_table(
        "doors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("space_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("device_key_hash", sa.String(length=64), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("consecutive_failures", sa.SmallInteger(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.id"], name=op.f("fk_doors_space_id_spaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_doors")),
        sa.UniqueConstraint("device_key_hash", name=op.f("uq_doors_device_key_hash")),
    )
    op.create_index("ix_doors_space_id", "doors", ["space_id"])

    op.create_table(
        "access_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reservation_id", sa.Integer(), nullable=False),
        sa.Column("space_id", sa.Integer(), nullable=False),
        sa.Column("lookup", sa.String(length=64), nullable=False),
        sa.Column("code_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("key_version", sa.SmallInteger(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["reservations.id"],
            name=op.f("fk_access_codes_reservation_id_reservations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name=op.f("fk_access_codes_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_codes")),
    )
    op.create_index("ix_access_codes_reservation_id", "access_codes", ["reservation_id"])
    op.create_index("ix_access_codes_space_id_lookup", "access_codes", ["space_id", "lookup"])
    if op.get_bind().dialect.name == "postgresql":
        # Autogenerate cannot see this: two live codes of one space whose
        # windows overlap are never equal.
        op.execute(
            "ALTER TABLE access_codes ADD CONSTRAINT access_codes_unique_live "
            "EXCLUDE USING gist (space_id WITH =, lookup WITH =, "
            "tstzrange(valid_from, valid_until, '[)') WITH &&) WHERE (revoked_at IS NULL)"
        )

    op.create_table(
        "door_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("door_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "granted",
                "unknown_code",
                "outside_window",
                "locked_out",
                name="attempt_outcome",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("reservation_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["door_id"],
            ["doors.id"],
            name=op.f("fk_door_attempts_door_id_doors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["reservations.id"],
            name=op.f("fk_door_attempts_reservation_id_reservations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_door_attempts")),
    )
    op.create_index("ix_door_attempts_door_id_at", "door_attempts", ["door_id", "at"])

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("id_number_index", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("id_number_sealed", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("name_sealed", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("pii_key_version", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("real_name_provider", sa.String(length=30), nullable=True))
        batch_op.add_column(
            sa.Column("real_name_verified_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_unique_constraint(op.f("uq_users_id_number_index"), ["id_number_index"])


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_users_id_number_index"), type_="unique")
        for column in (
            "real_name_verified_at",
            "real_name_provider",
            "pii_key_version",
            "name_sealed",
            "id_number_sealed",
            "id_number_index",
        ):
            batch_op.drop_column(column)
    op.drop_index("ix_door_attempts_door_id_at", table_name="door_attempts")
    op.drop_table("door_attempts")
    op.drop_index("ix_access_codes_space_id_lookup", table_name="access_codes")
    op.drop_index("ix_access_codes_reservation_id", table_name="access_codes")
    op.drop_table("access_codes")
    op.drop_index("ix_doors_space_id", table_name="doors")
    op.drop_table("doors")
