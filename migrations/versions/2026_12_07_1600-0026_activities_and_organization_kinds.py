"""Activities and courses with sign-up; organisations of every kind.

A center's programme: ``activities`` (a course's session is one too),
``courses``, ``course_enrolments`` and ``activity_signups``, whose places are
bounded by a CHECK on each activity's ``confirmed_attendees``. Organisations
gain a ``kind``; a USCC is required only of companies and social
organisations (starting with 5), and party branches and community teams have
none. Notifications gain ``activity_id`` and four activity kinds, changed as
in 0020 (on SQLite the CHECK changes by copying the table).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 16:00:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVITY_KINDS = [
    "activity_signup_confirmed",
    "activity_reminder",
    "activity_cancelled",
    "activity_message",
]
ORGANIZATION_CHECKS = {
    "uscc_required": "kind NOT IN ('company', 'social_organization') OR uscc IS NOT NULL",
    "uscc_not_for_kind": "kind NOT IN ('party_branch', 'community_team') OR uscc IS NULL",
    "social_organization_uscc": "kind <> 'social_organization' OR uscc LIKE '5%'",
}


def _migration(number: str) -> ModuleType:
    """An earlier migration's module, for the text it wrote."""
    path = next(Path(__file__).parent.glob(f"*-{number}_*.py"))
    spec = importlib.util.spec_from_file_location(f"migration_{number}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _kinds() -> tuple[ModuleType, list[str]]:
    kinds = _migration("0020")
    return kinds, [*kinds.KINDS, *kinds.NEW_KINDS, _migration("0023").MOVED]


def upgrade() -> None:
    op.create_table(
        "courses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "party_lecture",
                "organization_life",
                "lecture",
                "training",
                "culture_sports",
                "volunteering",
                "parent_child",
                "open_day",
                "deliberation",
                "other",
                name="activity_category",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "audience",
            sa.Enum(
                "public",
                "members",
                "party_members",
                name="activity_audience",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("requires_real_name", sa.Boolean(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "published",
                "completed",
                "cancelled",
                name="activity_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("status_reason", sa.String(length=200), nullable=True),
        sa.Column("confirmed_attendees", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
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
        sa.CheckConstraint("capacity >= 1", name=op.f("ck_courses_capacity_positive")),
        sa.ForeignKeyConstraint(
            ["center_id"], ["centers.id"], name=op.f("fk_courses_center_id_centers")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_courses_created_by_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_courses_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_courses_organization_id_organizations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_courses")),
    )
    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_courses_center_id"), ["center_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_courses_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "activities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column("space_id", sa.Integer(), nullable=True),
        sa.Column("place_text", sa.String(length=200), nullable=True),
        sa.Column("reservation_id", sa.Integer(), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("course_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "party_lecture",
                "organization_life",
                "lecture",
                "training",
                "culture_sports",
                "volunteering",
                "parent_child",
                "open_day",
                "deliberation",
                "other",
                name="activity_category",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "audience",
            sa.Enum(
                "public",
                "members",
                "party_members",
                name="activity_audience",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("requires_real_name", sa.Boolean(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("signup_opens_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signup_closes_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "published",
                "completed",
                "cancelled",
                name="activity_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("status_reason", sa.String(length=200), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_attendees", sa.Integer(), server_default="0", nullable=False),
        sa.Column("walk_ins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("attended", sa.Integer(), nullable=True),
        sa.Column("check_in_token", sa.String(length=64), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
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
        sa.CheckConstraint("capacity >= 1", name=op.f("ck_activities_capacity_positive")),
        sa.CheckConstraint(
            "confirmed_attendees >= 0 AND confirmed_attendees <= capacity",
            name=op.f("ck_activities_within_capacity"),
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_activities_ends_after_start")),
        sa.CheckConstraint("walk_ins >= 0", name=op.f("ck_activities_walk_ins_nonnegative")),
        sa.ForeignKeyConstraint(
            ["center_id"], ["centers.id"], name=op.f("fk_activities_center_id_centers")
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_activities_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_activities_created_by_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_activities_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_activities_organization_id_organizations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["reservations.id"],
            name=op.f("fk_activities_reservation_id_reservations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.id"], name=op.f("fk_activities_space_id_spaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activities")),
        sa.UniqueConstraint("check_in_token", name=op.f("uq_activities_check_in_token")),
        sa.UniqueConstraint("reservation_id", name=op.f("uq_activities_reservation_id")),
    )
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activities_center_id"), ["center_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_activities_course_id"), ["course_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_activities_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_activities_space_id"), ["space_id"], unique=False)
        batch_op.create_index(
            "ix_activities_status_starts_at", ["status", "starts_at"], unique=False
        )

    op.create_table(
        "course_enrolments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("attendees", sa.SmallInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "confirmed",
                "waiting",
                "cancelled",
                name="signup_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "attendees BETWEEN 1 AND 5", name=op.f("ck_course_enrolments_attendees_range")
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_course_enrolments_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_course_enrolments_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_enrolments")),
    )
    with op.batch_alter_table("course_enrolments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_course_enrolments_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            "uq_course_enrolments_one_per_person",
            ["course_id", "user_id"],
            unique=True,
            postgresql_where=sa.text("status <> 'cancelled'"),
            sqlite_where=sa.text("status <> 'cancelled'"),
        )

    op.create_table(
        "activity_signups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("enrolment_id", sa.Integer(), nullable=True),
        sa.Column("attendees", sa.SmallInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "confirmed",
                "waiting",
                "cancelled",
                name="signup_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_in_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("comment", sa.String(length=500), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "attendees BETWEEN 1 AND 5", name=op.f("ck_activity_signups_attendees_range")
        ),
        sa.CheckConstraint(
            "rating IS NULL OR rating BETWEEN 1 AND 5",
            name=op.f("ck_activity_signups_rating_range"),
        ),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activities.id"],
            name=op.f("fk_activity_signups_activity_id_activities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["checked_in_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_activity_signups_checked_in_by_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["enrolment_id"],
            ["course_enrolments.id"],
            name=op.f("fk_activity_signups_enrolment_id_course_enrolments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_activity_signups_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_signups")),
    )
    with op.batch_alter_table("activity_signups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_activity_signups_enrolment_id"), ["enrolment_id"], unique=False
        )
        batch_op.create_index(
            "ix_activity_signups_line", ["activity_id", "status", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_activity_signups_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            "uq_activity_signups_one_per_person",
            ["activity_id", "user_id"],
            unique=True,
            postgresql_where=sa.text("status <> 'cancelled'"),
            sqlite_where=sa.text("status <> 'cancelled'"),
        )

    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("activity_id", sa.Integer(), nullable=True))
    kinds, was = _kinds()
    kinds._set_kinds([*was, *ACTIVITY_KINDS], was=was)

    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sa.Enum(
                    "company",
                    "party_branch",
                    "social_organization",
                    "community_team",
                    "partner_unit",
                    name="organization_kind",
                    native_enum=False,
                    create_constraint=True,
                ),
                server_default="company",
                nullable=False,
            )
        )
        batch_op.alter_column("uscc", existing_type=sa.VARCHAR(length=18), nullable=True)
        for name, condition in ORGANIZATION_CHECKS.items():
            batch_op.create_check_constraint(op.f(f"ck_organizations_{name}"), condition)


def downgrade() -> None:
    op.execute("DELETE FROM organizations WHERE uscc IS NULL")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        for name in [*ORGANIZATION_CHECKS, "organization_kind"]:
            batch_op.drop_constraint(op.f(f"ck_organizations_{name}"), type_="check")
        batch_op.alter_column("uscc", existing_type=sa.VARCHAR(length=18), nullable=False)
        batch_op.drop_column("kind")

    kinds, was = _kinds()
    listed = ", ".join(f"'{kind}'" for kind in ACTIVITY_KINDS)
    op.execute(f"DELETE FROM notifications WHERE kind IN ({listed})")
    kinds._set_kinds(was, was=[*was, *ACTIVITY_KINDS])
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("activity_id")

    with op.batch_alter_table("activity_signups", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_activity_signups_one_per_person",
            postgresql_where=sa.text("status <> 'cancelled'"),
            sqlite_where=sa.text("status <> 'cancelled'"),
        )
        batch_op.drop_index(batch_op.f("ix_activity_signups_user_id"))
        batch_op.drop_index("ix_activity_signups_line")
        batch_op.drop_index(batch_op.f("ix_activity_signups_enrolment_id"))

    op.drop_table("activity_signups")
    with op.batch_alter_table("course_enrolments", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_course_enrolments_one_per_person",
            postgresql_where=sa.text("status <> 'cancelled'"),
            sqlite_where=sa.text("status <> 'cancelled'"),
        )
        batch_op.drop_index(batch_op.f("ix_course_enrolments_user_id"))

    op.drop_table("course_enrolments")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index("ix_activities_status_starts_at")
        batch_op.drop_index(batch_op.f("ix_activities_space_id"))
        batch_op.drop_index(batch_op.f("ix_activities_organization_id"))
        batch_op.drop_index(batch_op.f("ix_activities_course_id"))
        batch_op.drop_index(batch_op.f("ix_activities_center_id"))

    op.drop_table("activities")
    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_courses_organization_id"))
        batch_op.drop_index(batch_op.f("ix_courses_center_id"))

    op.drop_table("courses")
