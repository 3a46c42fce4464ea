"""Questionnaires (问卷): staff ask the residents of a center, a street or a
district; each resident answers once (README, "Questionnaires").

An anonymous questionnaire's responses keep no link to the answerer: the
row holds no user id, only ``respondent_key``, a keyed hash (HMAC under the
PII key) of the questionnaire and the user, which the unique constraint uses
to refuse a second answer. Without the key nobody can tell whose it is.
"""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamped, enum_column


class QuestionnaireStatus(enum.StrEnum):
    draft = "draft"  # staff edit it; residents do not see it
    published = "published"  # answered between opens_at and closes_at
    closed = "closed"  # by staff before its time; read only


class QuestionnaireScope(enum.StrEnum):
    center = "center"  # type: ignore[assignment]  # str.center, shadowed on purpose
    street = "street"  # district + street
    district = "district"


class QuestionKind(enum.StrEnum):
    single = "single"
    multiple = "multiple"
    scale = "scale"
    text = "text"


class Questionnaire(Timestamped, Base):
    __tablename__ = "questionnaires"
    __table_args__ = (
        CheckConstraint("closes_at > opens_at", name="closes_after_opens"),
        Index("ix_questionnaires_status_closes_at", "status", "closes_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    intro: Mapped[str] = mapped_column(Text, default="")
    scope: Mapped[QuestionnaireScope] = mapped_column(
        enum_column(QuestionnaireScope, "questionnaire_scope")
    )
    center_id: Mapped[int | None] = mapped_column(
        ForeignKey("centers.id", ondelete="CASCADE"), index=True
    )
    # The scope's district and street (a center's own, copied when it is set),
    # so that staff's scope and residents' filters read one row.
    district: Mapped[str] = mapped_column(String(20), index=True)
    street: Mapped[str | None] = mapped_column(String(50))
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    anonymous: Mapped[bool] = mapped_column(default=False)
    requires_real_name: Mapped[bool] = mapped_column(default=False)
    status: Mapped[QuestionnaireStatus] = mapped_column(
        enum_column(QuestionnaireStatus, "questionnaire_status")
    )
    published_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    created_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )


class Question(Base):
    """One question, in ``position`` order. ``options`` (a JSON list of
    texts) for single and multiple choice; ``scale_min``..``scale_max`` for a
    scale; ``max_length`` for text."""

    __tablename__ = "questionnaire_questions"
    __table_args__ = (
        UniqueConstraint("questionnaire_id", "position"),
        CheckConstraint("scale_min IS NULL OR scale_max > scale_min", name="scale_max_above_min"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    questionnaire_id: Mapped[int] = mapped_column(
        ForeignKey("questionnaires.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[QuestionKind] = mapped_column(enum_column(QuestionKind, "question_kind"))
    text: Mapped[str] = mapped_column(String(500))
    required: Mapped[bool] = mapped_column(default=True)
    options: Mapped[list[Any] | None] = mapped_column(JSON)
    scale_min: Mapped[int | None] = mapped_column(SmallInteger)
    scale_max: Mapped[int | None] = mapped_column(SmallInteger)
    max_length: Mapped[int | None] = mapped_column(SmallInteger)


class QuestionnaireResponse(Base):
    """One resident's answers. ``user_id`` is NULL for an anonymous
    questionnaire (and its ``submitted_at`` kept to the hour); the district and
    street are the respondent's center's, or the questionnaire's scope's."""

    __tablename__ = "questionnaire_responses"
    __table_args__ = (
        # One answer per resident: for anonymous ones too, through the keyed hash.
        UniqueConstraint("questionnaire_id", "respondent_key"),
        Index("ix_questionnaire_responses_questionnaire_id_id", "questionnaire_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    questionnaire_id: Mapped[int] = mapped_column(
        ForeignKey("questionnaires.id", ondelete="CASCADE")
    )
    respondent_key: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    center_id: Mapped[int | None] = mapped_column(ForeignKey("centers.id", ondelete="SET NULL"))
    district: Mapped[str] = mapped_column(String(20))
    street: Mapped[str | None] = mapped_column(String(50))
    submitted_at: Mapped[datetime]


class Answer(Base):
    """One answer to one question: a chosen option's index (one row per
    choice of a multiple choice), a scale's value, or a text."""

    __tablename__ = "questionnaire_answers"
    __table_args__ = (Index("ix_questionnaire_answers_question_id", "question_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(
        ForeignKey("questionnaire_responses.id", ondelete="CASCADE"), index=True
    )
    question_id: Mapped[int] = mapped_column(
        ForeignKey("questionnaire_questions.id", ondelete="CASCADE")
    )
    option: Mapped[int | None] = mapped_column(SmallInteger)
    value: Mapped[int | None] = mapped_column(SmallInteger)
    text: Mapped[str | None] = mapped_column(Text)
