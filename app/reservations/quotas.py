"""Fair-use quotas: how much one organization (or one resident) may book.

Rules sit on a space, or on a center (then all its spaces count together):
bookings or hours per Shanghai week (Monday to Monday, by start time), or
bookings held ahead at once. They are checked inside the booking
transaction with the subject's row locked (the organization, or the user),
so concurrent requests from many colleagues cannot slip past the limit.
Cancelled and rejected bookings do not count; everything else does.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import SHANGHAI, local_midnight, utcnow
from app.core.errors import AppError, Text
from app.models import (
    HOLDING_STATUSES,
    Center,
    Organization,
    QuotaMetric,
    QuotaRule,
    QuotaSubject,
    Reservation,
    ReservationStatus,
    Space,
    User,
)
from app.spaces.calendar import Interval

COUNTED = (*HOLDING_STATUSES, ReservationStatus.completed, ReservationStatus.no_show)


class QuotaExceeded(AppError):
    status = 409
    code = "quota_exceeded"
    title = Text("超出预约限额", "Quota exceeded")
    detail = Text(
        "超出限额：{metric} 上限 {limit}，已用 {used}",
        "Over the limit: {metric} is capped at {limit}, {used} used",
    )


@dataclass(frozen=True)
class Subject:
    kind: QuotaSubject
    id: int


def week_of(instant: datetime) -> Interval:
    """The Shanghai week (Monday 00:00 to the next Monday) containing ``instant``."""
    day = instant.astimezone(SHANGHAI).date()
    monday = day - timedelta(days=day.weekday())
    return Interval(local_midnight(monday), local_midnight(monday + timedelta(days=7)))


def rules_for_space(space: Space) -> Select[QuotaRule]:
    return select(QuotaRule).where(
        or_(QuotaRule.space_id == space.id, QuotaRule.center_id == space.center_id)
    )


async def enforce(
    session: AsyncSession,
    space: Space,
    user: User,
    organization_id: int | None,
    wanted: Interval,
    now: datetime,
) -> None:
    kind = QuotaSubject.organization if organization_id is not None else QuotaSubject.user
    query = rules_for_space(space).where(QuotaRule.subject == kind)
    rules = (await session.scalars(query)).all()
    if not rules:
        return
    subject = Subject(kind, organization_id if organization_id is not None else user.id)
    await _lock(session, subject)
    for rule in rules:
        used = await usage(session, rule, subject, wanted.start, now)
        added = _amount(rule.metric, [wanted])
        if used + added > rule.max_value:
            raise QuotaExceeded(
                metric=rule.metric.value, limit=rule.max_value, used=_shown(used)
            ).with_extra(
                quota={
                    "subject": kind.value,
                    "metric": rule.metric.value,
                    "scope": "space" if rule.space_id is not None else "center",
                    "scope_id": rule.space_id or rule.center_id,
                    "limit": rule.max_value,
                    "used": _shown(used),
                    "requested": _shown(added),
                }
            )


async def _lock(session: AsyncSession, subject: Subject) -> None:
    """Serialize this subject's bookings (on SQLite, BEGIN IMMEDIATE already has)."""
    model: type[Organization] | type[User] = (
        Organization if subject.kind is QuotaSubject.organization else User
    )
    await session.execute(select(model.id).where(model.id == subject.id).with_for_update())


async def usage(
    session: AsyncSession, rule: QuotaRule, subject: Subject, at: datetime, now: datetime
) -> float:
    """How much of ``rule`` the subject uses in the period containing ``at``."""
    query = select(Reservation.starts_at, Reservation.ends_at).where(
        Reservation.status.in_(COUNTED)
    )
    if rule.space_id is not None:
        query = query.where(Reservation.space_id == rule.space_id)
    else:
        in_center = select(Space.id).where(Space.center_id == rule.center_id)
        query = query.where(Reservation.space_id.in_(in_center))
    if subject.kind is QuotaSubject.organization:
        query = query.where(Reservation.organization_id == subject.id)
    else:
        query = query.where(
            Reservation.user_id == subject.id, Reservation.organization_id.is_(None)
        )
    if rule.metric is QuotaMetric.future_bookings:
        query = query.where(Reservation.ends_at > now, Reservation.status.in_(HOLDING_STATUSES))
    else:
        week = week_of(at)
        query = query.where(Reservation.starts_at >= week.start, Reservation.starts_at < week.end)
    intervals = [Interval(start, end) for start, end in await session.execute(query)]
    return _amount(rule.metric, intervals)


def _amount(metric: QuotaMetric, intervals: Sequence[Interval]) -> float:
    if metric is QuotaMetric.hours_per_week:
        return sum((i.end - i.start) / timedelta(hours=1) for i in intervals)
    return float(len(intervals))


def _shown(value: float) -> float | int:
    return int(value) if value == int(value) else round(value, 2)


@dataclass(frozen=True)
class Usage:
    rule: QuotaRule
    scope_name: str
    used: float


async def organization_usage(
    session: AsyncSession, organization_id: int, week_of: date | None = None
) -> list[Usage]:
    """Every organization rule, with its use in the week of ``week_of`` (default: this
    week), or, for ``future_bookings``, now."""
    now = utcnow()
    at = local_midnight(week_of) if week_of is not None else now
    rules = (
        await session.scalars(
            select(QuotaRule)
            .where(QuotaRule.subject == QuotaSubject.organization)
            .order_by(QuotaRule.id)
        )
    ).all()
    subject = Subject(QuotaSubject.organization, organization_id)
    result = []
    for rule in rules:
        name = await _scope_name(session, rule)
        result.append(Usage(rule, name, await usage(session, rule, subject, at, now)))
    return result


async def _scope_name(session: AsyncSession, rule: QuotaRule) -> str:
    if rule.space_id is not None:
        return str(await session.scalar(select(Space.name).where(Space.id == rule.space_id)))
    return str(await session.scalar(select(Center.name).where(Center.id == rule.center_id)))


async def replace_rules(
    session: AsyncSession,
    *,
    space_id: int | None = None,
    center_id: int | None = None,
    rules: Sequence[tuple[QuotaSubject, QuotaMetric, int]],
) -> Sequence[QuotaRule]:
    for rule in await rules_of(session, space_id=space_id, center_id=center_id):
        await session.delete(rule)
    await session.flush()
    fresh = [
        QuotaRule(
            space_id=space_id, center_id=center_id, subject=subject, metric=metric, max_value=value
        )
        for subject, metric, value in rules
    ]
    session.add_all(fresh)
    await session.flush()
    return fresh


async def rules_of(
    session: AsyncSession, *, space_id: int | None = None, center_id: int | None = None
) -> Sequence[QuotaRule]:
    query = (
        select(QuotaRule).where(QuotaRule.space_id == space_id)
        if space_id is not None
        else select(QuotaRule).where(QuotaRule.center_id == center_id)
    )
    return (await session.scalars(query.order_by(QuotaRule.id))).all()
