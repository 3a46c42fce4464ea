"""The activity report: what the centers in a staff member's scope held over a
range of Shanghai days, grouped by center, street (district + street),
district, category, month or organiser, as JSON, CSV or XLSX (README, "The
activity report"). ``ancestor_id`` keeps the activities of a center and every
center below it in the network (a recursive CTE: each center once, however
deep the tree).

The activities **counted** are those published or completed (drafts and
cancelled ones are not), of a center in the caller's scope, that **start**
within the range (``from`` 00:00 to the end of ``to``, Shanghai time); a row
groups them by their center, their category, the Shanghai month they start in,
or their organising organisation (``organization_id`` null: the center's own).
For the activities counted in a row:

- ``activities``: how many there are; a course's sessions count one each.
- ``sessions``: how many of them were held: completed (the
  complete-activities job closes an activity once it has ended).
- ``signups``: their confirmed sign-ups (one per person who signed up, however
  many people each brings; waiting and cancelled ones are not counted).
- ``attended``: 人次, the sum of the completed ones' ``attended`` (the
  checked-in sign-ups' attendees plus the walk-ins staff counted).
- ``unique_people``: the distinct residents with a confirmed sign-up checked
  in at any of them (a person who came to three counts once in the row; rows
  are not additive).
- ``average_rating``: the mean of the ratings participants gave them
  (``app/activities/ratings.py``), to two places; null without any.

One grouped statement computes every figure in the database: the activities'
figures and the sign-ups' are aggregated apart (so a sign-up cannot multiply
an activity's ``attended``) and added up by group key.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, case, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from app.activities.categories import CATEGORY_LABELS
from app.centers.service import get_center_in_scope
from app.core.clock import SHANGHAI, local_midnight
from app.core.errors import Lang
from app.core.spreadsheets import Cell, csv_bytes, safe_cell, xlsx_bytes
from app.identity.principals import StaffPrincipal
from app.models import (
    Activity,
    ActivityCategory,
    ActivitySignup,
    ActivityStatus,
    Center,
    Organization,
    SignupStatus,
    subtree_ids,
)
from app.reports.service import EARLIEST, LATEST, MAX_DAYS, InvalidReportRange

COUNTED = (ActivityStatus.published, ActivityStatus.completed)
# A group's key: a center's or an organisation's id, a category, a month, a
# district, or a district and a street joined by STREET_SEPARATOR.
Key = int | str | None
# Joins a street's district and name into one key: no printable text holds it.
STREET_SEPARATOR = "\x1f"


class ActivityGroupBy(StrEnum):
    # Named apart from their values: ``center`` is a method of every str.
    by_center = "center"
    by_street = "street"
    by_district = "district"
    by_category = "category"
    by_month = "month"
    by_organization = "organization"


class ActivityReportRow(BaseModel):
    """One group; the keys the report is not grouped by are null."""

    center_id: int | None = None
    center_name: str | None = None
    district: str | None = None  # grouped by street or district
    street: str | None = None  # grouped by street
    category: ActivityCategory | None = None
    category_label: str | None = None
    month: str | None = None  # "2026-12", the Shanghai month the activities start in
    organization_id: int | None = None  # null when grouped by organiser: the center's own
    organization_name: str | None = None
    activities: int = 0  # published or completed, starting in the range
    sessions: int = 0  # of them, completed (held)
    signups: int = 0  # their confirmed sign-ups
    attended: int = 0  # 人次: the completed ones' attended (checked-in attendees + walk-ins)
    unique_people: int = 0  # distinct residents with a confirmed sign-up checked in
    average_rating: float | None = None


class ActivityReport(BaseModel):
    group_by: ActivityGroupBy
    from_: date
    to: date
    rows: list[ActivityReportRow]

    model_config = ConfigDict(
        populate_by_name=True,
        alias_generator=lambda name: "from" if name == "from_" else name,
    )


@dataclass(frozen=True)
class _Figures:
    activities: int
    sessions: int
    attended: int
    signups: int
    people: int
    rating_sum: int
    ratings: int


async def report(
    session: AsyncSession,
    staff: StaffPrincipal,
    *,
    center_id: int | None,
    first_day: date,
    last_day: date,
    group_by: ActivityGroupBy,
    ancestor_id: int | None = None,
) -> ActivityReport:
    if (
        last_day < first_day
        or (last_day - first_day).days >= MAX_DAYS
        or first_day < EARLIEST
        or last_day > LATEST
    ):
        raise InvalidReportRange(max_days=MAX_DAYS)
    if center_id is not None:
        await get_center_in_scope(session, staff, center_id)
    scope = [staff.center_clause()]
    if center_id is not None:
        scope.append(Center.id == center_id)
    if ancestor_id is not None:
        await get_center_in_scope(session, staff, ancestor_id)
        below = subtree_ids([ancestor_id])
        scope.append(Center.id.in_(select(below.c.id)))
    figures = await _figures(session, scope, group_by, first_day, last_day)
    rows = await _rows(session, scope, group_by, first_day, last_day, figures)
    return ActivityReport(group_by=group_by, from_=first_day, to=last_day, rows=rows)


def _month(dialect: str) -> ColumnElement[str]:
    """The Shanghai month an activity starts in, as ``YYYY-MM``."""
    if dialect == "postgresql":
        return func.to_char(func.timezone(SHANGHAI.key, Activity.starts_at), "YYYY-MM")
    # SQLite keeps UTC text; Shanghai has kept one offset since 1991.
    offset = datetime(2000, 1, 1, tzinfo=SHANGHAI).utcoffset()
    assert offset is not None
    return func.strftime("%Y-%m", Activity.starts_at, f"+{int(offset.total_seconds())} seconds")


def _key(group_by: ActivityGroupBy, dialect: str) -> ColumnElement[Any] | QueryableAttribute[Any]:
    match group_by:
        case ActivityGroupBy.by_center:
            return Activity.center_id
        case ActivityGroupBy.by_street:
            return Center.district + literal(STREET_SEPARATOR) + Center.street
        case ActivityGroupBy.by_district:
            return Center.district
        case ActivityGroupBy.by_category:
            return Activity.category
        case ActivityGroupBy.by_month:
            return _month(dialect)
        case ActivityGroupBy.by_organization:
            return Activity.organization_id


async def _figures(
    session: AsyncSession,
    scope: list[ColumnElement[bool]],
    group_by: ActivityGroupBy,
    first_day: date,
    last_day: date,
) -> dict[Key, _Figures]:
    """Every group's figures, from one statement."""
    dialect = session.get_bind().dialect.name
    counted = (
        select(
            Activity.id.label("id"),
            Activity.status.label("status"),
            Activity.attended.label("attended"),
            _key(group_by, dialect).label("k"),
        )
        .join(Center, Center.id == Activity.center_id)
        .where(
            *scope,
            Activity.status.in_(COUNTED),
            Activity.starts_at >= local_midnight(first_day),
            Activity.starts_at < local_midnight(last_day + timedelta(days=1)),
        )
        .cte("counted")
    )
    held = counted.c.status == ActivityStatus.completed
    zero = literal(0)
    per_activity = select(
        counted.c.k,
        func.count().label("activities"),
        func.sum(case((held, 1), else_=0)).label("sessions"),
        func.sum(case((held, func.coalesce(counted.c.attended, 0)), else_=0)).label("attended"),
        zero.label("signups"),
        zero.label("people"),
        zero.label("rating_sum"),
        zero.label("ratings"),
    ).group_by(counted.c.k)
    confirmed = ActivitySignup.status == SignupStatus.confirmed
    came = confirmed & ActivitySignup.checked_in_at.is_not(None)
    per_signup = (
        select(
            counted.c.k,
            zero,
            zero,
            zero,
            func.count(case((confirmed, 1))),
            func.count(func.distinct(case((came, ActivitySignup.user_id)))),
            func.coalesce(func.sum(ActivitySignup.rating), 0),
            func.count(ActivitySignup.rating),
        )
        .select_from(counted.join(ActivitySignup, ActivitySignup.activity_id == counted.c.id))
        .group_by(counted.c.k)
    )
    parts = union_all(per_activity, per_signup).subquery()
    names = ("activities", "sessions", "attended", "signups", "people", "rating_sum", "ratings")
    totals = select(parts.c.k, *(func.sum(parts.c[name]) for name in names)).group_by(parts.c.k)
    found: dict[Key, _Figures] = {}
    for key, *values in await session.execute(totals):
        if group_by is ActivityGroupBy.by_category and key is not None:
            key = ActivityCategory(key)
        found[key] = _Figures(*(int(value or 0) for value in values))
    return found


async def _rows(
    session: AsyncSession,
    scope: list[ColumnElement[bool]],
    group_by: ActivityGroupBy,
    first_day: date,
    last_day: date,
    figures: dict[Key, _Figures],
) -> list[ActivityReportRow]:
    """A row per group: every center in scope, every category, every month of
    the range (with zeros where nothing happened); the organisers that held any."""
    match group_by:
        case ActivityGroupBy.by_center:
            centers = await session.execute(
                select(Center.id, Center.name).where(*scope).order_by(Center.id)
            )
            return [
                _row(figures.get(center), center_id=center, center_name=name)
                for center, name in centers
            ]
        case ActivityGroupBy.by_street:
            streets = await session.execute(
                select(Center.district, Center.street)
                .distinct()
                .where(*scope)
                .order_by(Center.district, Center.street)
            )
            return [
                _row(
                    figures.get(f"{district}{STREET_SEPARATOR}{street}"),
                    district=district,
                    street=street,
                )
                for district, street in streets
            ]
        case ActivityGroupBy.by_district:
            districts = await session.scalars(
                select(Center.district).distinct().where(*scope).order_by(Center.district)
            )
            return [_row(figures.get(district), district=district) for district in districts.all()]
        case ActivityGroupBy.by_category:
            return [
                _row(figures.get(category), category=category, category_label=label)
                for category, label in CATEGORY_LABELS.items()
            ]
        case ActivityGroupBy.by_month:
            return [_row(figures.get(month), month=month) for month in _months(first_day, last_day)]
        case ActivityGroupBy.by_organization:
            ids = sorted(key for key in figures if isinstance(key, int))
            names = dict(
                (
                    await session.execute(
                        select(Organization.id, Organization.name).where(Organization.id.in_(ids))
                    )
                ).all()
            )
            rows = [_row(figures[None], organization_id=None)] if None in figures else []
            return rows + [
                _row(figures[key], organization_id=key, organization_name=names.get(key))
                for key in ids
            ]


def _months(first_day: date, last_day: date) -> list[str]:
    months = []
    cursor = first_day.replace(day=1)
    while cursor <= last_day:
        months.append(f"{cursor:%Y-%m}")
        cursor = (cursor + timedelta(days=32)).replace(day=1)
    return months


def _row(figures: _Figures | None, **keys: object) -> ActivityReportRow:
    row = ActivityReportRow.model_validate(keys)
    if figures is None:
        return row
    row.activities, row.sessions, row.attended = (
        figures.activities,
        figures.sessions,
        figures.attended,
    )
    row.signups, row.unique_people = figures.signups, figures.people
    if figures.ratings:
        row.average_rating = round(figures.rating_sum / figures.ratings, 2)
    return row


# --- spreadsheets (as app/reports/exports.py: a BOM for Excel, every cell guarded) ----

KEYS = {
    ActivityGroupBy.by_center: ["center_id", "center_name"],
    ActivityGroupBy.by_street: ["district", "street"],
    ActivityGroupBy.by_district: ["district"],
    ActivityGroupBy.by_category: ["category", "category_label"],
    ActivityGroupBy.by_month: ["month"],
    ActivityGroupBy.by_organization: ["organization_id", "organization_name"],
}
FIGURES = ["activities", "sessions", "signups", "attended", "unique_people", "average_rating"]
HEADERS_ZH = {
    "center_id": "中心编号",
    "center_name": "中心名称",
    "district": "区",
    "street": "街镇",
    "category": "类别代码",
    "category_label": "类别",
    "month": "月份",
    "organization_id": "组织编号",
    "organization_name": "主办组织",
    "activities": "活动数",
    "sessions": "举办场次",
    "signups": "报名数",
    "attended": "参与人次",
    "unique_people": "参与人数",
    "average_rating": "平均评分",
}
SHEET_TITLE = {"zh": "活动情况", "en": "Activities"}


def _columns(report: ActivityReport) -> list[str]:
    return KEYS[report.group_by] + FIGURES


def _table(report: ActivityReport, lang: Lang) -> list[list[Cell]]:
    columns = _columns(report)
    header: list[Cell] = list(columns if lang == "en" else [HEADERS_ZH[c] for c in columns])
    body = []
    for row in report.rows:
        values = row.model_dump(mode="json")
        body.append([safe_cell(values[column]) for column in columns])
    return [header, *body]


def _filename(report: ActivityReport, extension: str) -> str:
    return f"activities-{report.group_by}-{report.from_}-{report.to}.{extension}"


def as_csv(report: ActivityReport, lang: Lang = "zh") -> tuple[bytes, str]:
    return csv_bytes(_table(report, lang)), _filename(report, "csv")


def as_xlsx(report: ActivityReport, lang: Lang = "zh") -> tuple[bytes, str]:
    return xlsx_bytes(_table(report, lang), SHEET_TITLE[lang]), _filename(report, "xlsx")
