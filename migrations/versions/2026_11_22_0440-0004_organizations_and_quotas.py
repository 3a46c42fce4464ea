"""Organizations with members, invitations and verification; quota rules per
space or center; bookings on an organization's account.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 04:33:52.667216
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("contact_name", sa.String(length=50), nullable=False),
        sa.Column("contact_phone", sa.String(length=20), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "verified",
                "rejected",
                name="organization_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("status_reason", sa.String(length=200), nullable=True),
        sa.Column("decided_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.ForeignKeyConstraint(
            ["center_id"],
            ["centers.id"],
            name=op.f("fk_organizations_center_id_centers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_organizations_decided_by_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("uscc", name=op.f("uq_organizations_uscc")),
    )
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organizations_center_id"), ["center_id"], unique=False)

    op.create_table(
        "organization_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_organization_invitations_created_by_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_organization_invitations_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["used_by_user_id"],
            ["users.id"],
            name=op.f("fk_organization_invitations_used_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization_invitations")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_organization_invitations_code_hash")),
    )
    with op.batch_alter_table("organization_invitations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organization_invitations_organization_id"),
            ["organization_id"],
            unique=False,
        )

    op.create_table(
        "organization_members",
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "owner", "member", name="member_role", native_enum=False, create_constraint=True
            ),
            nullable=False,
        ),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_organization_members_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_organization_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "user_id", name=op.f("pk_organization_members")),
    )
    with op.batch_alter_table("organization_members", schema=None) as batch_op:
        batch_op.create_index("ix_organization_members_user_id", ["user_id"], unique=False)
        batch_op.create_index(
            "uq_organization_members_one_owner",
            ["organization_id"],
            unique=True,
            postgresql_where=sa.text("role = 'owner'"),
            sqlite_where=sa.text("role = 'owner'"),
        )

    op.create_table(
        "quota_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("space_id", sa.Integer(), nullable=True),
        sa.Column("center_id", sa.Integer(), nullable=True),
        sa.Column(
            "subject",
            sa.Enum(
                "organization",
                "user",
                name="quota_subject",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "metric",
            sa.Enum(
                "bookings_per_week",
                "hours_per_week",
                "future_bookings",
                name="quota_metric",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("max_value", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint(
            "(space_id IS NULL) <> (center_id IS NULL)",
            name=op.f("ck_quota_rules_exactly_one_scope"),
        ),
        sa.CheckConstraint("max_value >= 0", name=op.f("ck_quota_rules_max_value_nonnegative")),
        sa.ForeignKeyConstraint(
            ["center_id"],
            ["centers.id"],
            name=op.f("fk_quota_rules_center_id_centers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name=op.f("fk_quota_rules_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quota_rules")),
    )
    with op.batch_alter_table("quota_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quota_rules_center_id"), ["center_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_quota_rules_space_id"), ["space_id"], unique=False)

    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reservations_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_reservations_organization_id_organizations"),
            "organizations",
            ["organization_id"],
            ["id"],
            ondelete="RESTRICT",
        )

    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("requires_organization", sa.Boolean(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.drop_column("requires_organization")

    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_reservations_organization_id_organizations"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_reservations_organization_id"))

    with op.batch_alter_table("quota_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quota_rules_space_id"))
        batch_op.drop_index(batch_op.f("ix_quota_rules_center_id"))

    op.drop_table("quota_rules")
    with op.batch_alter_table("organization_members", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_organization_members_one_owner",
            postgresql_where=sa.text("role = 'owner'"),
            sqlite_where=sa.text("role = 'owner'"),
        )
        batch_op.drop_index("ix_organization_members_user_id")

    op.drop_table("organization_members")
    with op.batch_alter_table("organization_invitations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organization_invitations_organization_id"))

    op.drop_table("organization_invitations")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organizations_center_id"))

    op.drop_table("organizations")
