"""Suggestions and problems residents raise at a center, and the ledger (台账)
staff keep of them until each is closed (销项); the photos they attach are
uploads (README, "Suggestions and the ledger").

The submitter's link (``user_id``) is personal data: erasing the account, or
the retention purge once the item is long closed, sets it to NULL and keeps
the text for the ledger's figures.
"""

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamped, enum_column


class SuggestionCategory(enum.StrEnum):
    facilities = "facilities"
    environment = "environment"
    booking = "booking"
    activities = "activities"
    service = "service"
    safety = "safety"
    other = "other"


@dataclass(frozen=True)
class CategoryRule:
    label: str  # what residents and staff read
    days: int  # the time limit: due this many days after it is raised (or reopened)


# Declared once: the codes are stable, the labels and time limits may change.
CATEGORY_RULES: dict[SuggestionCategory, CategoryRule] = {
    SuggestionCategory.facilities: CategoryRule("设施设备", 7),
    SuggestionCategory.environment: CategoryRule("环境卫生", 3),
    SuggestionCategory.booking: CategoryRule("预约服务", 5),
    SuggestionCategory.activities: CategoryRule("活动组织", 10),
    SuggestionCategory.service: CategoryRule("服务态度", 5),
    SuggestionCategory.safety: CategoryRule("安全隐患", 2),
    SuggestionCategory.other: CategoryRule("其他", 15),
}


class SuggestionStatus(enum.StrEnum):
    open = "open"  # raised (or reopened), nobody assigned
    assigned = "assigned"  # a staff member handles it
    answered = "answered"  # answered, not yet closed
    closed = "closed"  # 销项: with an outcome


class SuggestionOutcome(enum.StrEnum):
    done = "done"
    not_feasible = "not_feasible"
    duplicate = "duplicate"


class Suggestion(Timestamped, Base):
    __tablename__ = "suggestions"
    __table_args__ = (
        CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="closed_when_closed"),
        Index("ix_suggestions_center_id_status", "center_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL")
    )
    category: Mapped[SuggestionCategory] = mapped_column(
        enum_column(SuggestionCategory, "suggestion_category")
    )
    text: Mapped[str] = mapped_column(Text)
    contact_ok: Mapped[bool] = mapped_column(default=False)
    status: Mapped[SuggestionStatus] = mapped_column(
        enum_column(SuggestionStatus, "suggestion_status")
    )
    due_at: Mapped[datetime]
    assigned_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )
    answer: Mapped[str | None] = mapped_column(Text)
    answer_public: Mapped[bool] = mapped_column(default=False)
    answered_at: Mapped[datetime | None]
    outcome: Mapped[SuggestionOutcome | None] = mapped_column(
        enum_column(SuggestionOutcome, "suggestion_outcome")
    )
    closed_at: Mapped[datetime | None]
    reopened_at: Mapped[datetime | None]  # once only


class Upload(Base):
    """An image a user uploaded; its bytes live in the storage under ``key``.
    Attached to at most one suggestion, and only by its owner."""

    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    suggestion_id: Mapped[int | None] = mapped_column(
        ForeignKey("suggestions.id", ondelete="SET NULL"), index=True
    )
    key: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(20))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
