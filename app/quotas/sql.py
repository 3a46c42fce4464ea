"""How much of a quota rule a subject uses, said once for every reader.

One statement per subject kind, scope kind and period, each with plain
predicates that a subject's index serves (``ix_reservations_personal`` for a
person's own bookings, ``ix_reservations_organization_id_starts_at`` for an
organization's): a query that chose between them with ``:param IS NULL OR …``
or ``CASE`` would be planned once for every case and read the whole table.
The statuses counted come from the status table (app/models/reservation.py).
``:exclude`` leaves out one booking (0 for none): a move counts net of
itself.

Readers: the SQLite booking store (``app/reservations/sqlite.py``), the quota
views (``app/quotas/service.py``) on both engines, and the PostgreSQL guard's
``zhendi_quota_used``, whose live source (``app/reservations/plpgsql.py``)
renders the same predicates.
"""

from enum import StrEnum
from functools import cache

from sqlalchemy import TextClause, bindparam, text

from app.models import (
    QUOTA_AHEAD_STATUSES,
    QUOTA_WEEK_STATUSES,
    QuotaMetric,
    QuotaSubject,
    sql_list,
)
from app.models.base import UTCDateTime


class Period(StrEnum):
    ahead = "ahead"  # bookings not over yet: ``future_bookings``
    week = "week"  # bookings starting in one Shanghai week: the weekly metrics


def period_of(metric: QuotaMetric) -> Period:
    return Period.ahead if metric is QuotaMetric.future_bookings else Period.week


def subject_predicate(subject: QuotaSubject, subject_id: str = ":subject_id") -> str:
    """A subject's bookings: an organization's account, or a person's own."""
    if subject is QuotaSubject.organization:
        return f"r.organization_id = {subject_id}"
    return f"r.user_id = {subject_id} AND r.organization_id IS NULL"


def scope_predicate(on_space: bool, scope_id: str = ":scope_id") -> str:
    """A rule's scope: one space, or every space of one center."""
    if on_space:
        return f"r.space_id = {scope_id}"
    return f"r.space_id IN (SELECT s.id FROM spaces s WHERE s.center_id = {scope_id})"


def period_predicates(
    period: Period, *, now: str, day_before_now: str, week_start: str, week_end: str
) -> list[str]:
    """The bookings a period counts: by time, then by status. Ahead: not over
    yet (a booking lasts at most a day, which bounds its start for the index)."""
    if period is Period.ahead:
        return [
            f"r.starts_at > {day_before_now} AND r.ends_at > {now}",
            f"r.status IN ({sql_list(QUOTA_AHEAD_STATUSES)})",
        ]
    return [
        f"r.starts_at >= {week_start} AND r.starts_at < {week_end}",
        f"r.status IN ({sql_list(QUOTA_WEEK_STATUSES)})",
    ]


def hours_of(dialect: str) -> str:
    """A booking's length in hours."""
    if dialect == "postgresql":
        return "extract(epoch FROM r.ends_at - r.starts_at) / 3600"
    return "(strftime('%s', r.ends_at) - strftime('%s', r.starts_at)) / 3600.0"


def used_sql(dialect: str, period: Period, subject: QuotaSubject, on_space: bool) -> str:
    """``count, hours`` of the subject's bookings the rule counts."""
    predicates = period_predicates(
        period,
        now=":now",
        day_before_now=":day_before_now",
        week_start=":week_start",
        week_end=":week_end",
    )
    return (
        f"SELECT count(*), coalesce(sum({hours_of(dialect)}), 0) FROM reservations r"
        f" WHERE {subject_predicate(subject)} AND {scope_predicate(on_space)}"
        f" AND {' AND '.join(predicates)} AND r.id <> :exclude"
    )


_INSTANTS = ("now", "day_before_now", "week_start", "week_end")


@cache
def used_statement(
    dialect: str, period: Period, subject: QuotaSubject, on_space: bool
) -> TextClause:
    """``used_sql`` for SQLAlchemy sessions, its instants bound as the models bind them."""
    statement = text(used_sql(dialect, period, subject, on_space))
    names = [name for name in _INSTANTS if f":{name}" in statement.text]
    return statement.bindparams(*(bindparam(name, type_=UTCDateTime()) for name in names))


def amount_used(metric: QuotaMetric, count: int, hours: float) -> float:
    return float(hours) if metric is QuotaMetric.hours_per_week else float(count)
