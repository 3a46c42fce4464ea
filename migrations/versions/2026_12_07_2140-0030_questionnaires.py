"""Questionnaires (问卷): their questions, responses and answers.

A response is unique per questionnaire and ``respondent_key`` (a keyed hash
of the questionnaire and the user): an anonymous questionnaire's responses
are refused twice without storing who answered (``user_id`` stays NULL).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "questionnaires",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("intro", sa.Text(), nullable=False),
        sa.Column(
            "scope",
            sa.Enum(
                "center",
                "street",
                "district",
                name="questionnaire_scope",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("center_id", sa.Integer(), nullable=True),
        sa.Column("district", sa.String(length=20), nullable=False),
        sa.Column("street", sa.String(length=50), nullable=True),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("requires_real_name", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "published",
                "closed",
                name="questionnaire_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint(
            "closes_at > opens_at", name=op.f("ck_questionnaires_closes_after_opens")
        ),
        sa.ForeignKeyConstraint(
            ["center_id"],
            ["centers.id"],
            name=op.f("fk_questionnaires_center_id_centers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"],
            ["staff.id"],
            name=op.f("fk_questionnaires_created_by_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questionnaires")),
    )
    with op.batch_alter_table("questionnaires", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_questionnaires_center_id"), ["center_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_questionnaires_district"), ["district"], unique=False)
        batch_op.create_index(
            "ix_questionnaires_status_closes_at", ["status", "closes_at"], unique=False
        )

    op.create_table(
        "questionnaire_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("questionnaire_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "single",
                "multiple",
                "scale",
                "text",
                name="question_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=True),
        sa.Column("scale_min", sa.SmallInteger(), nullable=True),
        sa.Column("scale_max", sa.SmallInteger(), nullable=True),
        sa.Column("max_length", sa.SmallInteger(), nullable=True),
        sa.CheckConstraint(
            "scale_min IS NULL OR scale_max > scale_min",
            name=op.f("ck_questionnaire_questions_scale_max_above_min"),
        ),
        sa.ForeignKeyConstraint(
            ["questionnaire_id"],
            ["questionnaires.id"],
            name=op.f("fk_questionnaire_questions_questionnaire_id_questionnaires"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questionnaire_questions")),
        sa.UniqueConstraint(
            "questionnaire_id",
            "position",
            name=op.f("uq_questionnaire_questions_questionnaire_id_position"),
        ),
    )
    op.create_table(
        "questionnaire_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("questionnaire_id", sa.Integer(), nullable=False),
        sa.Column("respondent_key", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("center_id", sa.Integer(), nullable=True),
        sa.Column("district", sa.String(length=20), nullable=False),
        sa.Column("street", sa.String(length=50), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["center_id"],
            ["centers.id"],
            name=op.f("fk_questionnaire_responses_center_id_centers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["questionnaire_id"],
            ["questionnaires.id"],
            name=op.f("fk_questionnaire_responses_questionnaire_id_questionnaires"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_questionnaire_responses_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questionnaire_responses")),
        sa.UniqueConstraint(
            "questionnaire_id",
            "respondent_key",
            name=op.f("uq_questionnaire_responses_questionnaire_id_respondent_key"),
        ),
    )
    with op.batch_alter_table("questionnaire_responses", schema=None) as batch_op:
        batch_op.create_index(
            "ix_questionnaire_responses_questionnaire_id_id",
            ["questionnaire_id", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_questionnaire_responses_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "questionnaire_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("option", sa.SmallInteger(), nullable=True),
        sa.Column("value", sa.SmallInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["questionnaire_questions.id"],
            name=op.f("fk_questionnaire_answers_question_id_questionnaire_questions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["questionnaire_responses.id"],
            name=op.f("fk_questionnaire_answers_response_id_questionnaire_responses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questionnaire_answers")),
    )
    with op.batch_alter_table("questionnaire_answers", schema=None) as batch_op:
        batch_op.create_index("ix_questionnaire_answers_question_id", ["question_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_questionnaire_answers_response_id"), ["response_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("questionnaire_answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_questionnaire_answers_response_id"))
        batch_op.drop_index("ix_questionnaire_answers_question_id")

    op.drop_table("questionnaire_answers")
    with op.batch_alter_table("questionnaire_responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_questionnaire_responses_user_id"))
        batch_op.drop_index("ix_questionnaire_responses_questionnaire_id_id")

    op.drop_table("questionnaire_responses")
    op.drop_table("questionnaire_questions")
    with op.batch_alter_table("questionnaires", schema=None) as batch_op:
        batch_op.drop_index("ix_questionnaires_status_closes_at")
        batch_op.drop_index(batch_op.f("ix_questionnaires_district"))
        batch_op.drop_index(batch_op.f("ix_questionnaires_center_id"))

    op.drop_table("questionnaires")
