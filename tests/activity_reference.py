"""The list of activities as the models build it: the reference that
``GET /activities``'s hand-written answer (app/activities/listing.py) must
equal (tests/test_activities.py)."""

from datetime import timedelta

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.activities import finding
from app.activities.finding import ActivitySearch
from app.activities.schemas import ActivityOut
from app.centers.service import GeoPoint, distance_m, near_box
from app.core.clock import local_midnight
from app.models import Activity, ActivityStatus, Center


def published(search: ActivitySearch) -> Select[Activity, Center]:
    query = (
        select(Activity, Center)
        .join(Center, Center.id == Activity.center_id)
        .where(
            Activity.status.in_((ActivityStatus.published, ActivityStatus.completed)),
            Activity.starts_at < local_midnight(search.last_day + timedelta(days=1)),
            Activity.ends_at > local_midnight(search.first_day),
        )
    )
    if search.center_id is not None:
        query = query.where(Activity.center_id == search.center_id)
    if search.district:
        query = query.where(Center.district == search.district)
    if search.street:
        query = query.where(Center.street == search.street)
    if search.category is not None:
        query = query.where(Activity.category == search.category)
    if search.near is not None:
        query = query.where(near_box(search.near, search.radius_m))
    if search.q:
        pattern = "%" + search.q.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        pattern += "%"
        query = query.where(
            or_(
                Activity.title.like(pattern, escape="\\"),
                Activity.description.like(pattern, escape="\\"),
            )
        )
    return query


async def search(
    session: AsyncSession, search: ActivitySearch, *, limit: int, offset: int
) -> tuple[list[ActivityOut], int]:
    """Published (and completed) activities in the days asked, soonest first;
    with ``near``, those whose center lies within ``radius_m``, nearest first."""
    query = published(search)
    if search.near is None:
        total = await session.scalar(select(func.count()).select_from(query.subquery()))
        page = query.order_by(Activity.starts_at, Activity.id).limit(limit).offset(offset)
        rows = [(activity, center) for activity, center in await session.execute(page)]
        return await finding.rows_out(session, rows, search.near), int(total or 0)
    # The box is a square around the point; the circle is cut here, nearest first.
    found = [(activity, center) for activity, center in await session.execute(query)]
    origin = search.near
    within = [
        (activity, center)
        for activity, center in found
        if distance_m(origin, GeoPoint(center.lat, center.lng)) <= search.radius_m
    ]
    within.sort(
        key=lambda row: (
            distance_m(origin, GeoPoint(row[1].lat, row[1].lng)),
            row[0].starts_at,
            row[0].id,
        )
    )
    return await finding.rows_out(session, within[offset : offset + limit], origin), len(within)
