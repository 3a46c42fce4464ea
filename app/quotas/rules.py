"""Fair-use quotas as pure arithmetic: what a booking adds to a rule, and
whether the subject stays within it.

Rules sit on a space, or on a center (then all its spaces count together),
per organization or per resident (their personal bookings): bookings or
hours per Shanghai week (Monday to Monday, by start time), or bookings held
ahead at once. Cancelled, rejected and expired bookings give their share
back. Who counts what where is ``zhendi_quota_used`` (PostgreSQL) and its
SQLite twin; the booking guard re-checks under the subject's lock.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.core.clock import SHANGHAI, local_midnight
from app.core.errors import AppError, Text
from app.models import QuotaMetric, QuotaSubject
from app.spaces.calendar import Interval


class QuotaExceeded(AppError):
    status = 409
    code = "quota_exceeded"
    title = Text("超出预约限额", "Quota exceeded")
    detail = Text(
        "超出限额：{metric}上限 {limit}，已用 {used}",
        "Over the limit: {metric} is capped at {limit}, {used} used",
    )


# Each metric as a detail says it (the console's form uses the same words).
METRIC_TEXT: dict[QuotaMetric, Text] = {
    QuotaMetric.bookings_per_week: Text("每周预约次数", "bookings per week"),
    QuotaMetric.hours_per_week: Text("每周预约小时", "hours per week"),
    QuotaMetric.future_bookings: Text("未来预约数", "future bookings"),
}


@dataclass(frozen=True)
class QuotaUse:
    """One quota rule that applies to the booking, with what the subject uses of it
    in the period the booking falls in (its week, or, for ``future_bookings``, now).

    ``used`` is None where the store counts the use only under the subject's
    lock (PostgreSQL's guard): a count in the snapshot too would cost a second
    count for nothing but an earlier refusal."""

    metric: QuotaMetric
    space_id: int | None  # the rule's scope: a space, or
    center_id: int | None  # all the spaces of a center
    limit: int
    used: float | None


def quota_amount(metric: QuotaMetric, interval: Interval) -> float:
    """What a booking of ``interval`` adds to a rule of ``metric``."""
    if metric is QuotaMetric.hours_per_week:
        return (interval.end - interval.start) / timedelta(hours=1)
    return 1.0


def check_quotas(uses: Sequence[QuotaUse], interval: Interval, subject: QuotaSubject) -> None:
    for use in uses:
        added = quota_amount(use.metric, interval)
        if use.used is not None and use.used + added > use.limit:
            raise quota_exceeded(use, subject, added)


def quota_exceeded(use: QuotaUse, subject: QuotaSubject, added: float) -> QuotaExceeded:
    used = shown(use.used or 0.0)
    return QuotaExceeded(metric=METRIC_TEXT[use.metric], limit=use.limit, used=used).with_extra(
        quota={
            "subject": subject.value,
            "metric": use.metric.value,
            "scope": "space" if use.space_id is not None else "center",
            "scope_id": use.space_id or use.center_id,
            "limit": use.limit,
            "used": used,
            "requested": shown(added),
        }
    )


def shown(value: float) -> float | int:
    return int(value) if value == int(value) else round(value, 2)


def week_of(instant: datetime) -> Interval:
    """The Shanghai week (Monday 00:00 to the next Monday) containing ``instant``."""
    day = instant.astimezone(SHANGHAI).date()
    monday = day - timedelta(days=day.weekday())
    return Interval(local_midnight(monday), local_midnight(monday + timedelta(days=7)))
