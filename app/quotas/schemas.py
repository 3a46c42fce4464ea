from pydantic import BaseModel, ConfigDict, Field

from app.models import QuotaMetric, QuotaSubject


class QuotaRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: QuotaSubject
    metric: QuotaMetric
    max_value: int = Field(ge=0, le=1000, strict=True)


class QuotaRuleOut(QuotaRuleIn):
    id: int


class QuotaUsageOut(BaseModel):
    scope: str = Field(description="`space` or `center`")
    scope_id: int
    scope_name: str
    metric: QuotaMetric
    limit: int
    used: float = Field(description="Bookings, or hours, this week; or bookings ahead")
