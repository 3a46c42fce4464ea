from pydantic import BaseModel, ConfigDict, Field

from app.models import QuotaMetric, QuotaSubject
from app.quotas.rules import shown
from app.quotas.service import Usage


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
    used: int | float = Field(
        description="Bookings, or hours, this week; or bookings ahead. A whole "
        "number is an integer (`1`, not `1.0`); hours may be fractional (`1.5`)"
    )


def usage_out(usage: Usage) -> QuotaUsageOut:
    rule = usage.rule
    return QuotaUsageOut(
        scope="space" if rule.space_id is not None else "center",
        scope_id=rule.space_id or rule.center_id or 0,
        scope_name=usage.scope_name,
        metric=rule.metric,
        limit=rule.max_value,
        used=shown(usage.used),
    )
