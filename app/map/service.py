"""The map of positions: every center in a box, as GeoJSON, in one statement.

``GET /map`` is polled by every open map, so it is read like the hot paths:
one statement (centers in the box, each with its active spaces as JSON: kind,
seats, hours, whether a closure covers now, and for a study room the seats
its holding bookings take now; and the staff's calendar overrides of today
at the center), on PostgreSQL through a bare driver connection and on SQLite
on the reader thread, no ORM. Whether a space is open now is then decided by
the rules the bookings use: its weekly hours (``spaces.calendar``) as the
holiday calendar changes them (``holidays.days``), and its closures.

Coordinates are GCJ-02, as the centers store them and WeChat's map component
draws them, written ``[lng, lat]`` as RFC 7946 orders them.
"""

import re
import sqlite3
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

import orjson
from fastapi.exceptions import RequestValidationError

from app.core.clock import local_today
from app.core.db import Database
from app.core.errors import AppError, Text
from app.core.sql import Statement
from app.core.sqlite import stamp
from app.holidays import sql as holidays
from app.holidays.days import Override, plan_for
from app.models import HOLDERS_OVERLAPPING, CenterKind, SpaceKind
from app.spaces import calendar
from app.spaces.calendar import WeeklyWindow

# The widest box answered, in degrees of longitude and of latitude: about
# 50 × 55 km around Shanghai, a district or several. A whole city's positions
# at once would be a few megabytes no map can draw.
MAX_SPAN_DEGREES = 0.5
# Coordinates are read to this many decimals (about 0.1 m), which is also
# what makes two boxes the same query for the cache.
DECIMALS = 6
_NUMBER = re.compile(r"^-?\d{1,3}(\.\d{1,15})?$")
# A space's state is asked of this instant: the half-open [now, now + 1 µs).
INSTANT = timedelta(microseconds=1)


class BboxMalformed(AppError):
    status = 422
    code = "bbox_malformed"
    title = Text("地图范围格式有误", "Malformed bbox")
    detail = Text(
        "地图范围须为“最小经度,最小纬度,最大经度,最大纬度”四个十进制数，"
        "经度在 ±180、纬度在 ±90 以内",
        "bbox must be four decimal numbers minLng,minLat,maxLng,maxLat, "
        "longitudes within ±180 and latitudes within ±90",
    )


class BboxInverted(AppError):
    status = 422
    code = "bbox_inverted"
    title = Text("地图范围颠倒", "Inverted bbox")
    detail = Text(
        "地图范围的最小经度、最小纬度须分别小于最大经度、最大纬度",
        "bbox's minimum must lie below its maximum (minLng < maxLng, minLat < maxLat)",
    )


class BboxTooLarge(AppError):
    status = 422
    code = "bbox_too_large"
    title = Text("地图范围过大", "bbox too large")
    detail = Text(
        "地图范围的经度和纬度跨度均不能超过 {degrees} 度，请放大地图",
        "bbox may span at most {degrees} degrees of longitude and of latitude: zoom in",
    )


@dataclass(frozen=True, order=True)
class BBox:
    west: float
    south: float
    east: float
    north: float


def parse_bbox(text: str) -> BBox:
    """``minLng,minLat,maxLng,maxLat``, read to ``DECIMALS`` places."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 4 or not all(_NUMBER.match(part) for part in parts):
        raise BboxMalformed
    west, south, east, north = (round(float(part), DECIMALS) for part in parts)
    if not all(-180 <= lng <= 180 for lng in (west, east)):
        raise BboxMalformed
    if not all(-90 <= lat <= 90 for lat in (south, north)):
        raise BboxMalformed
    if west >= east or south >= north:
        raise BboxInverted
    if east - west > MAX_SPAN_DEGREES or north - south > MAX_SPAN_DEGREES:
        raise BboxTooLarge(degrees=MAX_SPAN_DEGREES)
    return BBox(west, south, east, north)


Kind = TypeVar("Kind", bound=StrEnum)


def parse_kinds(text: str | None, kinds: type[Kind], name: str) -> tuple[Kind, ...]:
    """``a|b|c`` as kinds, sorted; an unknown or empty one is refused as the
    validation of a query parameter is."""
    if text is None:
        return ()
    known = {kind.value: kind for kind in kinds}
    wanted = [part.strip() for part in text.split("|")]
    unknown = [part for part in wanted if part not in known]
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "enum",
                    "loc": ("query", name),
                    "msg": f"Unknown {name} {unknown[0]!r}: give one or more of "
                    + ", ".join(known)
                    + " separated by |",
                    "input": text,
                }
            ]
        )
    return tuple(sorted({known[part] for part in wanted}))


@dataclass(frozen=True)
class MapQuery:
    """A map request, normalized: equal queries share one cached answer."""

    bbox: BBox
    kinds: tuple[CenterKind, ...] = ()  # any of these; none: every kind
    has: tuple[SpaceKind, ...] = ()  # with an active space of any of these
    open_now: bool = False  # only positions open now


HELD_NOW = "FROM reservations r WHERE " + HOLDERS_OVERLAPPING.format(space="s.id")
# The center's own columns, read by name (``feature``) on both engines.
_CENTER = "c.id, c.name, c.kind, c.district, c.street, c.address, c.lat, c.lng, c.parent_id"
_WHERE = """FROM centers c
WHERE c.lat BETWEEN :south AND :north AND c.lng BETWEEN :west AND :east"""
_POSTGRES = Statement.of(
    f"""
SELECT {_CENTER},
  {holidays.POSTGRES} AS days,
  (SELECT json_agg(json_build_array(
     s.kind, s.booking_mode = 'exclusive', s.capacity, s.open_24h, s.holiday_policy,
     (SELECT json_agg(json_build_array(h.weekday, h.opens_minute, h.closes_minute))
      FROM opening_hours h WHERE h.space_id = s.id),
     EXISTS (SELECT 1 FROM closures x
             WHERE x.space_id = s.id AND x.starts_at < :end AND x.ends_at > :start),
     CASE WHEN s.kind = 'study_room' THEN (SELECT coalesce(sum(r.attendees), 0) {HELD_NOW}) END)
     ORDER BY s.id)
   FROM spaces s WHERE s.center_id = c.id AND s.is_active)::text AS spaces
{_WHERE}
  AND (:kinds::varchar[] IS NULL OR c.kind = ANY(:kinds::varchar[]))
  AND (:has::varchar[] IS NULL OR EXISTS (
    SELECT 1 FROM spaces k
    WHERE k.center_id = c.id AND k.is_active AND k.kind = ANY(:has::varchar[])))
ORDER BY c.id
"""
)
# The same on SQLite; kinds as JSON arrays. json() keeps a subquery's array an
# array inside the space's (a subquery's value loses its JSON subtype).
_SQLITE = f"""
SELECT {_CENTER},
  {holidays.SQLITE} AS days,
  (SELECT json_group_array(json_array(
     s.kind, s.booking_mode = 'exclusive', s.capacity, s.open_24h, s.holiday_policy,
     json((SELECT json_group_array(json_array(h.weekday, h.opens_minute, h.closes_minute))
           FROM opening_hours h WHERE h.space_id = s.id)),
     EXISTS (SELECT 1 FROM closures x
             WHERE x.space_id = s.id AND x.starts_at < :end AND x.ends_at > :start),
     CASE WHEN s.kind = 'study_room' THEN (SELECT coalesce(sum(r.attendees), 0) {HELD_NOW}) END))
   FROM spaces s WHERE s.center_id = c.id AND s.is_active) AS spaces
{_WHERE}
  AND (:kinds IS NULL OR c.kind IN (SELECT value FROM json_each(:kinds)))
  AND (:has IS NULL OR EXISTS (
    SELECT 1 FROM spaces k WHERE k.center_id = c.id AND k.is_active
      AND k.kind IN (SELECT value FROM json_each(:has))))
ORDER BY c.id
"""


@dataclass(frozen=True)
class SpaceNow:
    kind: SpaceKind
    exclusive: bool
    capacity: int
    open_24h: bool
    holiday_policy: str
    windows: list[WeeklyWindow]
    closed: bool  # a closure covers now
    held: int | None  # seats holding bookings take now (study rooms only)


def _spaces(found: str | None) -> list[SpaceNow]:
    return [
        SpaceNow(
            kind=SpaceKind(kind),
            exclusive=bool(exclusive),
            capacity=capacity,
            open_24h=bool(open_24h),
            holiday_policy=policy,
            windows=[WeeklyWindow(*window) for window in hours or ()],
            closed=bool(closed),
            held=None if held is None else int(held),
        )
        for kind, exclusive, capacity, open_24h, policy, hours, closed, held in orjson.loads(
            found or "[]"
        )
    ]


def is_open(
    space: SpaceNow,
    now: datetime,
    days: Mapping[date, Sequence[Override]],
    district: str,
    center_id: int,
) -> bool:
    """Open at ``now``: not closed, and within the hours the day keeps (a
    holiday keeps the space's policy, a moved workday Monday's hours)."""
    if space.closed:
        return False
    plan = plan_for(now, now + INSTANT, days, district, center_id, space.holiday_policy)
    today = local_today(now)
    opening = calendar.opening_intervals(
        space.open_24h, space.windows, today, today, plan.hours_of if plan else None
    )
    return any(interval.start <= now < interval.end for interval in opening)


def free_seats(space: SpaceNow) -> int:
    """Seats of an open study room no booking holds now (an exclusive one is
    held whole by one booking)."""
    held = space.held or 0
    if space.exclusive:
        return 0 if held else space.capacity
    return max(space.capacity - held, 0)


def feature(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    center_id, district = row["id"], row["district"]
    days = holidays.overrides(row["days"])
    counts: Counter[str] = Counter()
    open_now = False
    free: int | None = None
    for space in _spaces(row["spaces"]):
        counts[space.kind.value] += 1
        space_open = is_open(space, now, days, district, center_id)
        open_now = open_now or space_open
        if space.kind is SpaceKind.study_room:
            free = (free or 0) + (free_seats(space) if space_open else 0)
    kind = CenterKind(row["kind"])
    return {
        "type": "Feature",
        "id": center_id,
        "geometry": {"type": "Point", "coordinates": [row["lng"], row["lat"]]},
        "properties": {
            "name": row["name"],
            "kind": kind.value,
            "kind_label": kind.label,
            "district": district,
            "street": row["street"],
            "address": row["address"],
            "open_now": open_now,
            "spaces": dict(sorted(counts.items())),
            "free_now": free,
            "parent_id": row["parent_id"],
        },
    }


def _values(query: MapQuery, now: datetime) -> dict[str, Any]:
    box = query.bbox
    return {
        "west": box.west,
        "south": box.south,
        "east": box.east,
        "north": box.north,
        "start": now,
        "end": now + INSTANT,
        "day_before": now - timedelta(days=1),
    }


async def _rows(database: Database, query: MapQuery, now: datetime) -> Sequence[Mapping[str, Any]]:
    values = _values(query, now)
    kinds = [kind.value for kind in query.kinds] or None
    has = [kind.value for kind in query.has] or None
    if database.sqlite_reader is not None:
        stored = {key: stamp(v) if isinstance(v, datetime) else v for key, v in values.items()}
        stored["kinds"] = None if kinds is None else orjson.dumps(kinds).decode()
        stored["has"] = None if has is None else orjson.dumps(has).decode()

        def read(db: sqlite3.Connection) -> list[dict[str, Any]]:
            cursor = db.execute(_SQLITE, stored)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, found, strict=True)) for found in cursor.fetchall()]

        return await database.sqlite_reader.run(read)
    async with database.driver() as driver:
        rows: Sequence[Mapping[str, Any]] = await driver.fetch(
            _POSTGRES.text, *_POSTGRES.args({**values, "kinds": kinds, "has": has})
        )
    return rows


async def map_json(database: Database, query: MapQuery, now: datetime) -> bytes:
    """The positions in the box as a GeoJSON FeatureCollection, as of ``now``."""
    features = [feature(row, now) for row in await _rows(database, query, now)]
    if query.open_now:
        features = [found for found in features if found["properties"]["open_now"]]
    return orjson.dumps({"type": "FeatureCollection", "features": features})
