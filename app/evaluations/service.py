"""The evaluation of positions (阵地评估): how each position in a staff
member's scope was run over one Shanghai calendar month, scored and ranked
among its siblings (README, "Evaluating positions").

The figures are the reports' own, not counted again:

- ``opening_hours``, ``booked_hours``, ``utilization`` (booked hours over the
  hours the spaces offered, a shared space's seats each), ``bookings`` and
  ``no_show_rate``: the utilization report (app/reports/service.py) over the
  month, its opening hours from the spaces' weekly hours, the holiday
  calendar and closures;
- ``activities_held`` and ``attended`` (人次): the activity report
  (app/reports/activities.py): completed activities starting in the month
  and the sum of their ``attended``;
- ``unique_people``: the distinct residents with a kept booking (not
  cancelled; the center's own events have no booker) or a confirmed sign-up
  to a counted activity, starting in the month: a person who did both, or
  came to three positions of a street, counts once in the row;
- ``average_rating``: the mean of the bookings' feedback and the
  activities' ratings together, each rating once;
- ``suggestions_closed``: residents' suggestions at the position closed in
  the month by their due instant (app/suggestions/service.py);
  ``suggestions_overdue`` (shown, not scored): those due in the month (up to
  now) and not closed by then;
- ``needs_met``: the needs of the four lists met (their matches covering
  everyone) in the month, the lists' own count (app/lists/summary.py).

The month is cut at today while it runs: a month in progress is evaluated
up to today, a month ahead is refused.

**The score.** Each metric is brought to 0..1 within the *compared set* (the
rows ranked together: a position's siblings, the positions with the same
parent; with ``group_by=street|district``, all the groups):

- rates as they are: ``utilization`` (at most 1), ``1 - no_show_rate``,
  ``average_rating / 5``;
- counts (``opening_hours``, ``bookings``, ``activities_held``, ``attended``,
  ``unique_people``, ``suggestions_closed``, ``needs_met``) over the largest
  in the set, so the busiest sibling has 1 (0 when all have 0);
- a rate without a figure (no offered hours, no bookings, no rating) adds 0.

``score = 100 × Σ weight × normalised / Σ weight``, to two places, 0 to 100.
``rank`` is the row's place in its compared set by score, highest first;
equal scores share a rank (1, 2, 2, 4).
"""

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Label, func, select, union, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.centers.service import get_center_in_scope
from app.core.clock import local_midnight, local_today
from app.core.errors import AppError, Text
from app.evaluations.weights import Metric, Weights
from app.evaluations.weights import current as current_weights
from app.identity.principals import StaffPrincipal
from app.lists.summary import met_needs
from app.models import (
    BOOKED_TIME_STATUSES,
    REPORTED_STATUSES,
    Activity,
    ActivitySignup,
    Center,
    Feedback,
    Reservation,
    ReservationKind,
    SignupStatus,
    Space,
    subtree_ids,
)
from app.reports import activities as activity_report
from app.reports import service as reports
from app.reports.groups import GroupBy
from app.suggestions.figures import by_rows

PERIOD = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
TOP_RATING = 5
RATES = frozenset({Metric.utilization, Metric.no_show_rate, Metric.average_rating})


class EvaluationGroupBy(StrEnum):
    # Named apart from their values: ``center`` is a method of every str.
    by_center = "center"
    by_street = "street"
    by_district = "district"


class InvalidPeriod(AppError):
    status = 422
    code = "invalid_period"
    title = Text("评估月份无效", "Invalid evaluation period")
    detail = Text(
        "评估月份须为 YYYY-MM 格式的上海自然月（2000–2099 年），且不能在未来：{period}",
        "The period is a Shanghai calendar month as YYYY-MM (2000–2099), not in the future:"
        " {period}",
    )


@dataclass
class Row:
    """One position (or street, or district) and its figures."""

    center_id: int | None = None
    center_name: str | None = None
    kind: str | None = None
    parent_id: int | None = None
    district: str | None = None
    street: str | None = None
    opening_hours: float = 0.0
    available_hours: float = 0.0
    booked_hours: float = 0.0
    utilization: float | None = None
    bookings: int = 0
    no_shows: int = 0
    no_show_rate: float | None = None
    activities_held: int = 0
    attended: int = 0
    unique_people: int = 0
    ratings: int = 0
    average_rating: float | None = None
    suggestions_closed: int = 0
    suggestions_overdue: int = 0
    needs_met: int = 0
    score: float = 0.0
    rank: int = 1
    normalised: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    period: str
    first_day: date
    last_day: date
    group_by: EvaluationGroupBy
    ancestor_id: int | None
    weights: Weights
    rows: list[Row]


def month(period: str, today: date) -> tuple[date, date]:
    """The first and last day evaluated of ``period`` (``YYYY-MM``): the whole
    month, or up to today while it runs."""
    found = PERIOD.fullmatch(period)
    if not found:
        raise InvalidPeriod(period=period[:20])
    first = date(int(found[1]), int(found[2]), 1)
    if first < reports.EARLIEST or first > today or first.year > reports.LATEST.year:
        raise InvalidPeriod(period=period)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return first, min(last, today)


Key = tuple[Any, ...]


async def evaluate(
    session: AsyncSession,
    staff: StaffPrincipal,
    *,
    period: str,
    group_by: EvaluationGroupBy,
    ancestor_id: int | None,
) -> Evaluation:
    first, last = month(period, local_today())
    scope: list[ColumnElement[bool]] = [staff.center_clause()]
    if ancestor_id is not None:
        await get_center_in_scope(session, staff, ancestor_id)
        scope.append(Center.id.in_(select(subtree_ids([ancestor_id]).c.id)))
    rows = await _rows(session, scope, group_by)
    usage = await reports.utilization(
        session,
        staff,
        center_id=None,
        space_id=None,
        first_day=first,
        last_day=last,
        group_by=GroupBy(group_by.value),
        ancestor_id=ancestor_id,
    )
    for found in usage.rows:
        row = rows.get(_key(group_by, found.center_id, found.district, found.street))
        if row is None:
            continue
        row.opening_hours, row.available_hours = found.open_hours, found.available_hours
        row.booked_hours, row.utilization = found.booked_hours, found.utilization
        row.bookings, row.no_shows = found.bookings, found.no_shows
        row.no_show_rate = found.no_show_rate
    held = await activity_report.report(
        session,
        staff,
        center_id=None,
        first_day=first,
        last_day=last,
        group_by=activity_report.ActivityGroupBy(group_by.value),
        ancestor_id=ancestor_id,
    )
    for figures in held.rows:
        row = rows.get(_key(group_by, figures.center_id, figures.district, figures.street))
        if row is not None:
            row.activities_held, row.attended = figures.sessions, figures.attended
    start, end = local_midnight(first), local_midnight(last + timedelta(days=1))
    for key, people in (await _people(session, scope, group_by, start, end)).items():
        if key in rows:
            rows[key].unique_people = people
    for key, (stars, count) in (await _ratings(session, scope, group_by, start, end)).items():
        if key in rows and count:
            rows[key].ratings = count
            rows[key].average_rating = round(stars / count, 2)
    keys = _key_columns(group_by)
    for key, (on_time, late) in (await by_rows(session, keys, scope, start, end)).items():
        if key in rows:
            rows[key].suggestions_closed, rows[key].suggestions_overdue = on_time, late
    for *key, met in await session.execute(met_needs(keys, scope, start, end)):
        if tuple(key) in rows:
            rows[tuple(key)].needs_met = int(met)
    weights = await current_weights(session)
    ordered = list(rows.values())
    score(ordered, weights.weights, by_parent=group_by is EvaluationGroupBy.by_center)
    return Evaluation(period, first, last, group_by, ancestor_id, weights, ordered)


def _key(group_by: EvaluationGroupBy, center_id: Any, district: Any, street: Any) -> Key:
    match group_by:
        case EvaluationGroupBy.by_center:
            return (center_id,)
        case EvaluationGroupBy.by_street:
            return (district, street)
        case EvaluationGroupBy.by_district:
            return (district,)


def _key_columns(group_by: EvaluationGroupBy) -> list[Label[Any]]:
    match group_by:
        case EvaluationGroupBy.by_center:
            return [Center.id.label("k0")]
        case EvaluationGroupBy.by_street:
            return [Center.district.label("k0"), Center.street.label("k1")]
        case EvaluationGroupBy.by_district:
            return [Center.district.label("k0")]


async def _rows(
    session: AsyncSession, scope: list[ColumnElement[bool]], group_by: EvaluationGroupBy
) -> dict[Key, Row]:
    """A row per center in scope (or per street, per district), in order."""
    if group_by is EvaluationGroupBy.by_center:
        centers = await session.execute(
            select(
                Center.id,
                Center.name,
                Center.kind,
                Center.parent_id,
                Center.district,
                Center.street,
            )
            .where(*scope)
            .order_by(Center.id)
        )
        return {
            (center,): Row(
                center_id=center,
                center_name=name,
                kind=kind.value,
                parent_id=parent,
                district=district,
                street=street,
            )
            for center, name, kind, parent, district, street in centers
        }
    columns = _key_columns(group_by)
    found = await session.execute(
        select(*columns).distinct().where(*scope).order_by(*(column.name for column in columns))
    )
    if group_by is EvaluationGroupBy.by_street:
        return {(d, s): Row(district=d, street=s) for d, s in found}
    return {(d,): Row(district=d) for (d,) in found}


def _within(column: Any, start: Any, end: Any) -> list[ColumnElement[bool]]:
    return [column >= start, column < end]


async def _people(
    session: AsyncSession,
    scope: list[ColumnElement[bool]],
    group_by: EvaluationGroupBy,
    start: Any,
    end: Any,
) -> dict[Key, int]:
    """Distinct residents per row: a kept booking or a confirmed sign-up,
    starting in the month (UNION: each person once per row)."""
    keys = _key_columns(group_by)
    booked = (
        select(*keys, Reservation.user_id.label("person"))
        .select_from(Reservation)
        .join(Space, Space.id == Reservation.space_id)
        .join(Center, Center.id == Space.center_id)
        .where(
            *scope,
            Reservation.kind == ReservationKind.booking,
            Reservation.status.in_(BOOKED_TIME_STATUSES),
            *_within(Reservation.starts_at, start, end),
        )
    )
    signed = (
        select(*keys, ActivitySignup.user_id.label("person"))
        .select_from(ActivitySignup)
        .join(Activity, Activity.id == ActivitySignup.activity_id)
        .join(Center, Center.id == Activity.center_id)
        .where(
            *scope,
            Activity.status.in_(activity_report.COUNTED),
            ActivitySignup.status == SignupStatus.confirmed,
            *_within(Activity.starts_at, start, end),
        )
    )
    served = union(booked, signed).subquery()
    names = [served.c[column.name] for column in keys]
    counted = select(*names, func.count()).group_by(*names)
    return {tuple(key): int(people) for *key, people in await session.execute(counted)}


async def _ratings(
    session: AsyncSession,
    scope: list[ColumnElement[bool]],
    group_by: EvaluationGroupBy,
    start: Any,
    end: Any,
) -> dict[Key, tuple[int, int]]:
    """Per row, the sum and the number of ratings: bookings' feedback (the
    bookings the utilization report counts) and activities' ratings (those the
    activity report counts)."""
    keys = _key_columns(group_by)
    of_bookings = (
        select(*keys, Feedback.rating.label("stars"))
        .select_from(Feedback)
        .join(Reservation, Reservation.id == Feedback.reservation_id)
        .join(Space, Space.id == Reservation.space_id)
        .join(Center, Center.id == Space.center_id)
        .where(
            *scope,
            Reservation.kind == ReservationKind.booking,
            Reservation.status.in_(REPORTED_STATUSES),
            *_within(Reservation.starts_at, start, end),
        )
    )
    of_activities = (
        select(*keys, ActivitySignup.rating.label("stars"))
        .select_from(ActivitySignup)
        .join(Activity, Activity.id == ActivitySignup.activity_id)
        .join(Center, Center.id == Activity.center_id)
        .where(
            *scope,
            Activity.status.in_(activity_report.COUNTED),
            ActivitySignup.rating.is_not(None),
            *_within(Activity.starts_at, start, end),
        )
    )
    given = union_all(of_bookings, of_activities).subquery()
    names = [given.c[column.name] for column in keys]
    totals = select(*names, func.sum(given.c.stars), func.count(given.c.stars)).group_by(*names)
    return {
        tuple(key): (int(stars or 0), int(count))
        for *key, stars, count in await session.execute(totals)
    }


# --- the score, pure -------------------------------------------------------------------


def _value(row: Row, metric: Metric) -> float | None:
    match metric:
        case Metric.opening_hours:
            return row.opening_hours
        case Metric.utilization:
            return None if row.utilization is None else min(row.utilization, 1.0)
        case Metric.no_show_rate:
            return None if row.no_show_rate is None else 1.0 - row.no_show_rate
        case Metric.average_rating:
            return None if row.average_rating is None else row.average_rating / TOP_RATING
        case _:
            return float(getattr(row, metric.value))


def score(rows: Sequence[Row], weights: dict[Metric, float], *, by_parent: bool) -> None:
    """Each row's ``normalised`` metrics, ``score`` and ``rank`` within its
    compared set: the rows with the same parent (``by_parent``), else all."""
    sets: dict[int | None, list[Row]] = defaultdict(list)
    for row in rows:
        sets[row.parent_id if by_parent else None].append(row)
    total = sum(weights.values())
    for members in sets.values():
        peaks = {
            metric: max((_value(row, metric) or 0.0 for row in members), default=0.0)
            for metric in Metric
            if metric not in RATES
        }
        for row in members:
            exact = {}
            for metric in Metric:
                value = _value(row, metric) or 0.0
                if metric not in RATES:
                    value = value / peaks[metric] if peaks[metric] else 0.0
                exact[metric] = value
            row.normalised = {metric.value: round(value, 4) for metric, value in exact.items()}
            earned = sum(weights[metric] * exact[metric] for metric in Metric)
            row.score = round(100 * earned / total, 2) if total else 0.0
        for row in members:
            row.rank = 1 + sum(other.score > row.score for other in members)
