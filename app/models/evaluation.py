from sqlalchemy import CheckConstraint, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamped


class EvaluationWeight(Timestamped, Base):
    """The weight super admins gave one metric of the evaluation of positions
    (app/evaluations/weights.py names the metrics and their defaults; a metric
    without a row keeps its default)."""

    __tablename__ = "evaluation_weights"
    __table_args__ = (CheckConstraint("weight >= 0", name="weight_not_negative"),)

    metric: Mapped[str] = mapped_column(String(40), primary_key=True)
    weight: Mapped[float] = mapped_column(Float)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
