"""The public list of activities, fast: one statement, the JSON written by hand.

``GET /activities`` is what every resident opens ("this week's near me"), so it
skips the ORM: one statement reads only the columns the answer shows
(activities JOIN centers, LEFT JOIN the venue's space and booking), on
PostgreSQL through a bare driver connection and on SQLite through the reader
thread (app/core/sqlite.py), and the page is serialized once with orjson. The
answer is exactly ``Page[ActivityOut]`` as the models build it (the reference
in tests/activity_reference.py; tests/test_activities.py holds them equal):
published and completed activities in the days asked, soonest first; with
``near``, the box is cut in SQL and the circle and the order (nearest first)
here.
"""

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson

from app.activities.categories import CATEGORY_LABELS
from app.activities.finding import ActivitySearch
from app.centers.service import GeoPoint, box_around, distance_m
from app.core.clock import SHANGHAI, local_midnight
from app.core.db import Database
from app.core.sql import Statement
from app.core.sqlite import instant, stamp

_COLUMNS = """a.id, a.title, a.description, a.category, a.center_id, a.space_id, a.place_text,
  a.reservation_id, a.starts_at, a.ends_at, a.capacity, a.confirmed_attendees,
  a.signup_opens_at, a.signup_closes_at, a.audience, a.requires_real_name,
  a.organization_id, a.course_id, a.status, a.status_reason, a.attended, a.walk_ins,
  c.name AS center_name, c.district, c.street, c.address, c.lat, c.lng,
  s.name AS space_name, r.status AS venue_status"""
_FROM = """FROM activities a JOIN centers c ON c.id = a.center_id
LEFT JOIN spaces s ON s.id = a.space_id
LEFT JOIN reservations r ON r.id = a.reservation_id
WHERE a.status IN ('published', 'completed')
  AND a.starts_at < :before AND a.ends_at > :after"""


def _conditions(search: ActivitySearch) -> tuple[str, dict[str, object]]:
    """The WHERE clause and its values (times as datetimes)."""
    sql = [_FROM]
    values: dict[str, object] = {
        "before": local_midnight(search.last_day + timedelta(days=1)),
        "after": local_midnight(search.first_day),
    }
    if search.center_id is not None:
        sql.append("AND a.center_id = :center_id")
        values["center_id"] = search.center_id
    if search.district:
        sql.append("AND c.district = :district")
        values["district"] = search.district
    if search.street:
        sql.append("AND c.street = :street")
        values["street"] = search.street
    if search.category is not None:
        sql.append("AND a.category = :category")
        values["category"] = search.category.value
    if search.near is not None:
        box = box_around(search.near, search.radius_m)
        # The centers in the box first, then their activities by the center
        # index: a city's week is never scanned for the few centers near one.
        sql.append(
            "AND a.center_id IN (SELECT id FROM centers WHERE lat BETWEEN :south AND :north"
            " AND lng BETWEEN :west AND :east)"
        )
        values.update(south=box.south, north=box.north, west=box.west, east=box.east)
    if search.q:
        pattern = "%" + search.q.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        sql.append(
            "AND (a.title LIKE :pattern ESCAPE '\\' OR a.description LIKE :pattern ESCAPE '\\')"
        )
        values["pattern"] = pattern + "%"
    return "\n".join(sql), values


def _statements(search: ActivitySearch) -> tuple[str, str | None, dict[str, object]]:
    """The page's statement (with the total as a window count unless ``near``
    reads every row in the box), and the count to run when the page is empty."""
    where, values = _conditions(search)
    if search.near is not None:
        return f"SELECT {_COLUMNS}\n{where}", None, values
    page = (
        f"SELECT {_COLUMNS}, count(*) OVER () AS total\n{where}\n"
        "ORDER BY a.starts_at, a.id LIMIT :limit OFFSET :offset"
    )
    return page, f"SELECT count(*) AS total\n{where}", values


# A page's times repeat (activities start on the hour and half hour): each is
# written once.
@lru_cache(maxsize=4096)
def _local(value: datetime | None) -> str | None:
    """A PostgreSQL instant as the API shows it: Shanghai time with its offset."""
    return None if value is None else value.astimezone(SHANGHAI).isoformat()


@lru_cache(maxsize=4096)
def _local_stamp(text: str | None) -> str | None:
    """The same of an instant as SQLite stores it (app/core/sqlite.py)."""
    return None if text is None else _local(instant(text))


Shown = Callable[[Any], str | None]


def _item(row: Mapping[str, Any], distance: float | None, local: Shown) -> dict[str, object]:
    reservation_id = row["reservation_id"]
    return {
        "id": row["id"],
        "title": row["title"],
        "description": row["description"],
        "category": row["category"],
        "category_label": CATEGORY_LABELS[row["category"]],
        "center_id": row["center_id"],
        "center_name": row["center_name"],
        "district": row["district"],
        "street": row["street"],
        "venue": {
            "space_id": row["space_id"],
            "name": row["space_name"] or row["place_text"],
            "address": row["address"],
            "reservation_id": reservation_id,
            "reservation_status": row["venue_status"] if reservation_id else None,
        },
        "start": local(row["starts_at"]),
        "end": local(row["ends_at"]),
        "capacity": row["capacity"],
        "signed_up": row["confirmed_attendees"],
        "remaining": max(row["capacity"] - row["confirmed_attendees"], 0),
        "signup_opens_at": local(row["signup_opens_at"]),
        "signup_closes_at": local(row["signup_closes_at"]),
        "audience": row["audience"],
        "requires_real_name": bool(row["requires_real_name"]),
        "organization_id": row["organization_id"],
        "course_id": row["course_id"],
        "status": row["status"],
        "status_reason": row["status_reason"],
        "attended": row["attended"],
        "walk_ins": row["walk_ins"],
        "distance_m": None if distance is None else round(distance),
    }


def _page(
    rows: Sequence[Any], search: ActivitySearch, limit: int, offset: int, local: Shown
) -> tuple[list[dict[str, object]], int | None]:
    """The page's items, and its total when the rows tell it (None: count apart).
    Times are read as the engine gives them (``local`` shows them): on SQLite
    the stored text, which orders as its instants do."""
    origin = search.near
    if origin is None:
        total = rows[0]["total"] if rows else (0 if offset == 0 else None)
        return [_item(row, None, local) for row in rows], total
    within = []
    distances: dict[tuple[float, float], float] = {}  # a center's activities share one
    for row in rows:
        place = (row["lat"], row["lng"])
        distance = distances.get(place)
        if distance is None:
            distance = distances[place] = distance_m(origin, GeoPoint(*place))
        if distance <= search.radius_m:
            within.append((distance, row["starts_at"], row["id"], row))
    within.sort(key=lambda hit: hit[:3])
    page = within[offset : offset + limit]
    return [_item(hit[3], hit[0], local) for hit in page], len(within)


def _sqlite_rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


async def page_json(
    database: Database, search: ActivitySearch, *, limit: int, offset: int
) -> bytes:
    """``Page[ActivityOut]`` as JSON: ``{"items", "total", "limit", "offset"}``."""
    page_sql, count_sql, values = _statements(search)
    paged = {**values, "limit": limit, "offset": offset} if count_sql else values
    if database.sqlite_reader is not None:
        stored = {key: stamp(v) if isinstance(v, datetime) else v for key, v in paged.items()}

        def read(db: sqlite3.Connection) -> tuple[list[dict[str, Any]], int | None]:
            rows = _sqlite_rows(db.execute(page_sql, stored))
            items, total = _page(rows, search, limit, offset, _local_stamp)
            if total is None and count_sql is not None:
                counted = {key: stored[key] for key in values}
                total = int(db.execute(count_sql, counted).fetchone()[0])
            return items, total

        items, total = await database.sqlite_reader.run(read)
    else:
        page = Statement.of(page_sql)
        async with database.driver() as driver:
            records = await driver.fetch(page.text, *page.args(paged))
            items, total = _page(records, search, limit, offset, _local)
            if total is None and count_sql is not None:
                count = Statement.of(count_sql)
                total = int(await driver.fetchval(count.text, *count.args(values)))
    return orjson.dumps({"items": items, "total": total, "limit": limit, "offset": offset})
