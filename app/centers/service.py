"""Centers: public search (by district, kind, distance) and scoped staff edits."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.centers import tree
from app.centers.schemas import CenterCreate, CenterUpdate
from app.core.db import flush_unique
from app.core.errors import AlreadyExists, NotFound, OutOfScope, Text
from app.identity.principals import StaffPrincipal
from app.models import Center, CenterKind, Space, subtree_ids

CENTER = Text("中心", "center")
DISTRICT = Text("区", "district")
EARTH_RADIUS_M = 6_371_000.0
METERS_PER_DEGREE_LAT = 111_320.0


@dataclass(frozen=True)
class GeoPoint:
    lat: float
    lng: float


@dataclass(frozen=True)
class CenterSearch:
    district: str | None = None
    kind: CenterKind | None = None
    near: GeoPoint | None = None
    radius_m: float = 3000.0
    street: str | None = None
    q: str | None = None  # the name contains this
    parent_id: int | None = None


@dataclass(frozen=True)
class CenterHit:
    center: Center
    distance_m: int | None  # from ``near``, in whole metres


def distance_m(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle (haversine) distance; GCJ-02's offset is the same for both ends."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlng = math.radians(b.lng - a.lng)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def whole_metres(distance: float) -> int:
    """A distance as the API shows it: rounded half up, as ``whole_metres_sql``."""
    return math.floor(distance + 0.5)


def metres_from(origin: GeoPoint, center: Center) -> int:
    """A center's distance from ``origin`` as the API shows it."""
    return whole_metres(distance_m(origin, GeoPoint(center.lat, center.lng)))


def whole_metres_sql(distance: str) -> str:
    return f"CAST(floor({distance} + 0.5) AS INTEGER)"


def distance_sql(lat: str, lng: str) -> str:
    """``distance_m`` from ``(:origin_lat, :origin_lng)`` to the columns
    ``lat, lng`` in SQL, with ``:diameter_m`` = 2 × the earth's radius
    (``distance_values``): the same operations in the same order, on both
    engines' C math functions, so that SQL and Python agree to the bit. The
    ``min(1, …)`` is left out: the statements that use it cut a box of at
    most 50 km first, far from the antipodes where it matters."""
    return (
        f"(asin(sqrt(power(sin((radians({lat}) - radians(:origin_lat)) / 2), 2)"
        f" + cos(radians(:origin_lat)) * cos(radians({lat}))"
        f" * power(sin(radians({lng} - :origin_lng) / 2), 2))) * :diameter_m)"
    )


def distance_values(origin: GeoPoint) -> dict[str, float]:
    return {"origin_lat": origin.lat, "origin_lng": origin.lng, "diameter_m": 2 * EARTH_RADIUS_M}


async def search_centers(
    session: AsyncSession, search: CenterSearch, *, limit: int, offset: int
) -> tuple[list[CenterHit], int]:
    query = select(Center)
    if search.district:
        query = query.where(Center.district == search.district)
    if search.kind:
        query = query.where(Center.kind == search.kind)
    if search.street:
        query = query.where(Center.street == search.street)
    if search.q:
        query = query.where(Center.name.contains(search.q, autoescape=True))
    if search.parent_id is not None:
        query = query.where(Center.parent_id == search.parent_id)
    if search.near is None:
        total = await _count(session, query)
        rows = await session.scalars(query.order_by(Center.id).limit(limit).offset(offset))
        return [CenterHit(center, None) for center in rows], total
    origin = search.near
    hits = [
        CenterHit(center, metres_from(origin, center))
        for center in await session.scalars(query.where(near_box(origin, search.radius_m)))
    ]
    nearby = sorted(
        (hit for hit in hits if hit.distance_m is not None and hit.distance_m <= search.radius_m),
        key=lambda hit: (hit.distance_m, hit.center.id),
    )
    return nearby[offset : offset + limit], len(nearby)


@dataclass(frozen=True)
class Box:
    south: float
    north: float
    west: float
    east: float


def box_around(origin: GeoPoint, radius_m: float) -> Box:
    """The box around the circle: it narrows the rows in SQL; the exact
    distance is computed in Python."""
    dlat = radius_m / METERS_PER_DEGREE_LAT
    dlng = dlat / max(math.cos(math.radians(origin.lat)), 0.01)
    return Box(origin.lat - dlat, origin.lat + dlat, origin.lng - dlng, origin.lng + dlng)


def near_box(origin: GeoPoint, radius_m: float) -> ColumnElement[bool]:
    """Centers in the box around the circle (``box_around``)."""
    box = box_around(origin, radius_m)
    return and_(Center.lat.between(box.south, box.north), Center.lng.between(box.west, box.east))


async def _count(session: AsyncSession, query: Select[Center]) -> int:
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    return int(total or 0)


async def get_center(session: AsyncSession, center_id: int) -> Center:
    center = await session.get(Center, center_id)
    if center is None:
        raise NotFound(CENTER)
    return center


async def list_center_spaces(session: AsyncSession, center_id: int) -> Sequence[Space]:
    query = (
        select(Space)
        .where(Space.center_id == center_id, Space.is_active.is_(True))
        .order_by(Space.id)
    )
    return (await session.scalars(query)).all()


async def get_center_in_scope(
    session: AsyncSession, staff: StaffPrincipal, center_id: int, *, for_update: bool = False
) -> Center:
    query = select(Center).where(Center.id == center_id)
    if for_update:
        query = query.with_for_update()
    center = await session.scalar(query)
    if center is None:
        raise NotFound(CENTER)
    if not staff.covers_center(center):
        raise OutOfScope(what=CENTER)
    return center


async def list_centers_in_scope(
    session: AsyncSession, staff: StaffPrincipal, *, limit: int, offset: int
) -> tuple[Sequence[Center], int]:
    query = select(Center).where(staff.center_clause())
    total = await _count(session, query)
    rows = await session.scalars(query.order_by(Center.id).limit(limit).offset(offset))
    return rows.all(), total


async def create_center(session: AsyncSession, staff: StaffPrincipal, data: CenterCreate) -> Center:
    if not staff.covers_place(data.district, data.street):
        raise OutOfScope(what=DISTRICT)
    if data.parent_id is not None:
        await _parent_in_scope(session, staff, None, data.kind, data.parent_id)
    center = Center(**data.model_dump())
    session.add(center)
    await flush_unique(session, AlreadyExists(what=CENTER))
    return center


async def update_center(
    session: AsyncSession, staff: StaffPrincipal, center_id: int, data: CenterUpdate
) -> Center:
    center = await get_center_in_scope(session, staff, center_id, for_update=True)
    changes = data.changes()
    district = changes.get("district", center.district)
    street = changes.get("street", center.street)
    moved = (district, street) != (center.district, center.street)
    if moved and not staff.covers_place(district, street):
        raise OutOfScope(what=DISTRICT)
    kind = changes.get("kind", center.kind)
    parent_id = changes.get("parent_id", center.parent_id)
    if "parent_id" in changes and parent_id is not None:
        await _parent_in_scope(session, staff, center.id, kind, parent_id)
    elif kind is not center.kind and parent_id is not None:
        await tree.check_parent(session, center_id=center.id, kind=kind, parent_id=parent_id)
    if kind is not center.kind:
        await tree.check_children(session, center.id, kind)
    for field, value in changes.items():
        setattr(center, field, value)
    await flush_unique(session, AlreadyExists(what=CENTER))
    return center


async def _parent_in_scope(
    session: AsyncSession,
    staff: StaffPrincipal,
    center_id: int | None,
    kind: CenterKind,
    parent_id: int,
) -> None:
    """A parent is linked to only by staff who cover it."""
    parent = await tree.check_parent(session, center_id=center_id, kind=kind, parent_id=parent_id)
    if not staff.covers_center(parent):
        raise OutOfScope(what=CENTER)


async def centers_below(
    session: AsyncSession, staff: StaffPrincipal, ancestor_id: int | None
) -> list[ColumnElement[bool]]:
    """WHERE clauses on ``Center``: the centers in ``staff``'s scope, and with
    ``ancestor_id`` (a center they cover) only it and every center below it."""
    clauses = [staff.center_clause()]
    if ancestor_id is not None:
        await get_center_in_scope(session, staff, ancestor_id)
        clauses.append(Center.id.in_(select(subtree_ids([ancestor_id]).c.id)))
    return clauses
