"""The network as one tree, and streets as a staff scope.

``centers.parent_id`` links a center to the one a level up (a district hub's
children are street centers, theirs grid stations, theirs residential
stations and posts); the service refuses a parent whose kind does not rank
above the child's, so the links never form a cycle. Staff gain the role
``street_admin`` (every center of ``district`` + ``street``, both required by
a CHECK) and a center admin's ``scope``: ``center`` (the listed centers) or
``subtree`` (and every center below them). On SQLite the role's CHECK
changes by copying the table.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ["super_admin", "district_admin", "center_admin"]
STREET_ADMIN_HAS_STREET = "role <> 'street_admin' OR (district IS NOT NULL AND street IS NOT NULL)"


def _roles(roles: list[str]) -> str:
    return "role IN (" + ", ".join(f"'{role}'" for role in roles) + ")"


def upgrade() -> None:
    with op.batch_alter_table("centers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_centers_parent_id"), ["parent_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_centers_parent_id_centers"),
            "centers",
            ["parent_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("street", sa.String(length=50), nullable=True))
        batch_op.add_column(
            sa.Column(
                "scope",
                sa.Enum(
                    "center",
                    "subtree",
                    name="staff_scope",
                    native_enum=False,
                    create_constraint=True,
                ),
                server_default="center",
                nullable=False,
            )
        )
        batch_op.drop_constraint(op.f("ck_staff_staff_role"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_staff_staff_role"), _roles([*ROLES, "street_admin"])
        )
        batch_op.create_check_constraint(
            op.f("ck_staff_street_admin_has_street"), STREET_ADMIN_HAS_STREET
        )


def downgrade() -> None:
    # A street admin cannot be told apart from a district admin without the
    # street: they become center admins of no center, deactivated (covering
    # nothing), so their rows, audit trail and notifications stay.
    op.execute(
        "UPDATE staff SET role = 'center_admin', is_active = false WHERE role = 'street_admin'"
    )
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_staff_street_admin_has_street"), type_="check")
        batch_op.drop_constraint(op.f("ck_staff_staff_role"), type_="check")
        batch_op.create_check_constraint(op.f("ck_staff_staff_role"), _roles(ROLES))
        batch_op.drop_constraint(op.f("ck_staff_staff_scope"), type_="check")
        batch_op.drop_column("scope")
        batch_op.drop_column("street")

    with op.batch_alter_table("centers", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_centers_parent_id_centers"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_centers_parent_id"))
        batch_op.drop_column("parent_id")
