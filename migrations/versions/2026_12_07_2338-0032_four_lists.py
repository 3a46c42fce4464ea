"""The four lists (四张清单): needs and their matches, resources, projects
and their activities, service objects.

``needs.source_id`` names a suggestion or a questionnaire as a plain number,
without a foreign key: a need outlives what it came from.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 23:38:06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "needs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "elderly_care",
                "childcare",
                "employment",
                "health",
                "legal",
                "education",
                "culture_sports",
                "living",
                "environment",
                "volunteering",
                "other",
                name="need_category",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "served_group",
            sa.Enum(
                "white_collar",
                "delivery_riders",
                "elderly",
                "children",
                "youth",
                "families",
                "disabled",
                "veterans",
                "party_members",
                "residents",
                "other",
                name="served_group",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.Column(
            "urgency",
            sa.Enum(
                "low",
                "normal",
                "high",
                "urgent",
                name="need_urgency",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "source",
            sa.Enum(
                "suggestion",
                "questionnaire",
                "staff",
                name="need_source",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("open", "met", name="need_status", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("met_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_staff_id", sa.Integer(), nullable=True),
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
        sa.CheckConstraint("people >= 1", name=op.f("ck_needs_people_positive")),
        sa.ForeignKeyConstraint(
            ["center_id"],
            ["centers.id"],
            name=op.f("fk_needs_center_id_centers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_needs_created_by_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_needs")),
    )
    with op.batch_alter_table("needs", schema=None) as batch_op:
        batch_op.create_index("ix_needs_center_id_status", ["center_id", "status"], unique=False)

    op.create_table(
        "service_objects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column(
            "served_group",
            sa.Enum(
                "white_collar",
                "delivery_riders",
                "elderly",
                "children",
                "youth",
                "families",
                "disabled",
                "veterans",
                "party_members",
                "residents",
                "other",
                name="served_group",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
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
        sa.CheckConstraint("people >= 0", name=op.f("ck_service_objects_people_not_negative")),
        sa.ForeignKeyConstraint(
            ["center_id"],
            ["centers.id"],
            name=op.f("fk_service_objects_center_id_centers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_objects")),
        sa.UniqueConstraint(
            "center_id", "served_group", name=op.f("uq_service_objects_center_id_served_group")
        ),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "elderly_care",
                "childcare",
                "employment",
                "health",
                "legal",
                "education",
                "culture_sports",
                "living",
                "environment",
                "volunteering",
                "other",
                name="need_category",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("schedule", sa.String(length=200), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "planned",
                "running",
                "completed",
                "cancelled",
                name="project_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
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
        sa.CheckConstraint(
            "ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on",
            name=op.f("ck_projects_ends_after_starts"),
        ),
        sa.ForeignKeyConstraint(
            ["center_id"],
            ["centers.id"],
            name=op.f("fk_projects_center_id_centers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_projects_organization_id_organizations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
    )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_index("ix_projects_center_id_status", ["center_id", "status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_projects_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "resources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "room",
                "skills",
                "equipment",
                "volunteer_time",
                "materials",
                "funds",
                "other",
                name="resource_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "offered_by",
            sa.Enum(
                "resident",
                "organization",
                "staff",
                name="resource_offerer",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("available_from", sa.Date(), nullable=True),
        sa.Column("available_until", sa.Date(), nullable=True),
        sa.Column("schedule", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "offered",
                "accepted",
                "declined",
                "withdrawn",
                name="resource_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("decided_by_staff_id", sa.Integer(), nullable=True),
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
        sa.CheckConstraint(
            "available_until IS NULL OR available_from IS NULL"
            " OR available_until >= available_from",
            name=op.f("ck_resources_until_after_from"),
        ),
        sa.CheckConstraint(
            "quantity IS NULL OR quantity >= 1", name=op.f("ck_resources_quantity_positive")
        ),
        sa.ForeignKeyConstraint(
            ["center_id"],
            ["centers.id"],
            name=op.f("fk_resources_center_id_centers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_resources_decided_by_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_resources_organization_id_organizations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_resources_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resources")),
    )
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.create_index(
            "ix_resources_center_id_status", ["center_id", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_resources_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_resources_user_id"), ["user_id"], unique=False)

    op.create_table(
        "need_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("need_id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=True),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("covers", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("matched_by_staff_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(resource_id IS NULL) <> (project_id IS NULL)",
            name=op.f("ck_need_matches_resource_or_project"),
        ),
        sa.CheckConstraint("covers >= 1", name=op.f("ck_need_matches_covers_positive")),
        sa.ForeignKeyConstraint(
            ["matched_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_need_matches_matched_by_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["need_id"],
            ["needs.id"],
            name=op.f("fk_need_matches_need_id_needs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_need_matches_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_need_matches_resource_id_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_need_matches")),
    )
    with op.batch_alter_table("need_matches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_need_matches_need_id"), ["need_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_need_matches_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_need_matches_resource_id"), ["resource_id"], unique=False
        )

    op.create_table(
        "project_activities",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activities.id"],
            name=op.f("fk_project_activities_activity_id_activities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_activities_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "activity_id", name=op.f("pk_project_activities")),
    )
    with op.batch_alter_table("project_activities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_project_activities_activity_id"), ["activity_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("project_activities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_activities_activity_id"))

    op.drop_table("project_activities")
    with op.batch_alter_table("need_matches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_need_matches_resource_id"))
        batch_op.drop_index(batch_op.f("ix_need_matches_project_id"))
        batch_op.drop_index(batch_op.f("ix_need_matches_need_id"))

    op.drop_table("need_matches")
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resources_user_id"))
        batch_op.drop_index(batch_op.f("ix_resources_organization_id"))
        batch_op.drop_index("ix_resources_center_id_status")

    op.drop_table("resources")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_projects_organization_id"))
        batch_op.drop_index("ix_projects_center_id_status")

    op.drop_table("projects")
    op.drop_table("service_objects")
    with op.batch_alter_table("needs", schema=None) as batch_op:
        batch_op.drop_index("ix_needs_center_id_status")

    op.drop_table("needs")
