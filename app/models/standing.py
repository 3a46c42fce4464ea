import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, enum_column


class ViolationKind(enum.StrEnum):
    no_show = "no_show"


class ViolationStatus(enum.StrEnum):
    active = "active"
    appealed = "appealed"  # counts until staff decide
    pardoned = "pardoned"  # counts no more
    upheld = "upheld"


class Violation(Base):
    """A point against a resident at one center (a no-show). At most one per
    booking and kind, whoever records it and however often."""

    __tablename__ = "violations"
    __table_args__ = (
        UniqueConstraint("reservation_id", "kind"),
        Index("ix_violations_user_id_center_id_occurred_at", "user_id", "center_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id", ondelete="CASCADE"))
    reservation_id: Mapped[int | None] = mapped_column(
        ForeignKey("reservations.id", ondelete="SET NULL")
    )
    kind: Mapped[ViolationKind] = mapped_column(enum_column(ViolationKind, "violation_kind"))
    points: Mapped[int] = mapped_column(SmallInteger)
    occurred_at: Mapped[datetime]
    status: Mapped[ViolationStatus] = mapped_column(
        enum_column(ViolationStatus, "violation_status")
    )
    appeal_reason: Mapped[str | None] = mapped_column(String(200))
    appealed_at: Mapped[datetime | None]
    decided_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(String(200))


class Suspension(Base):
    """A resident may not book at a center until ``until``, because of the
    violation that brought their points to the center's threshold."""

    __tablename__ = "suspensions"
    __table_args__ = (
        Index("ix_suspensions_user_id_center_id_until", "user_id", "center_id", "until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id", ondelete="CASCADE"))
    violation_id: Mapped[int] = mapped_column(
        ForeignKey("violations.id", ondelete="CASCADE"), unique=True
    )
    starts_at: Mapped[datetime]
    until: Mapped[datetime]
    lifted_at: Mapped[datetime | None]


class JobStats(Base):
    """What one periodic job has done, all runs together: the counters /metrics
    shows for every worker at once, and the last run's details. One row per job,
    so it does not grow with time."""

    __tablename__ = "job_stats"

    job: Mapped[str] = mapped_column(String(40), primary_key=True)
    runs: Mapped[int]
    failures: Mapped[int]
    changed: Mapped[int]  # rows the runs changed
    last_started_at: Mapped[datetime]
    last_finished_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(String(200))  # None: the last run succeeded
