"""The public list of activities, fast: one statement that writes the JSON.

``GET /activities`` is what every resident opens ("this week's near me"), so it
skips the ORM and Python's objects: one statement picks the page from narrow
rows (with ``near``, the centers in the box with their distance, computed in
SQL as ``distance_m`` computes it, the circle cut and the nearest first), then
writes each of the page's items as JSON text (activities JOIN centers, LEFT
JOIN the venue's space and booking), on PostgreSQL through a bare driver
connection and on SQLite through the reader thread (app/core/sqlite.py). The
answer is exactly ``Page[ActivityOut]`` as the models build it (the reference
in tests/activity_reference.py; tests/test_activities.py holds them equal on
both engines).
"""

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from operator import itemgetter
from typing import Any

import orjson

from app.activities.categories import CATEGORY_LABELS
from app.activities.finding import ActivitySearch
from app.centers.service import box_around, distance_sql, distance_values, whole_metres_sql
from app.core.clock import SHANGHAI, SHANGHAI_SUFFIX, SHANGHAI_UTC_HOURS, local_midnight
from app.core.db import Database
from app.core.sql import Statement
from app.core.sqlite import stamp

_LISTED = """a.status IN ('published', 'completed')
  AND a.starts_at < :before AND a.ends_at > :after"""
# With ``near``: the centers in the box around the circle, each with its
# distance (computed once a center, not once an activity).
_NEAR = f"""near AS (
  SELECT id, {distance_sql("lat", "lng")} AS distance FROM centers
  WHERE lat BETWEEN :south AND :north AND lng BETWEEN :west AND :east
)"""


def _conditions(search: ActivitySearch) -> tuple[str, dict[str, object]]:
    """The matching rows' FROM and WHERE, and their values (times as datetimes)."""
    sql = ["FROM activities a JOIN centers c ON c.id = a.center_id"]
    if search.near is not None:
        sql.append("JOIN near ON near.id = a.center_id")
    sql.append(f"WHERE {_LISTED}")
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
        sql.append("AND near.distance <= :radius_m")
        values.update(south=box.south, north=box.north, west=box.west, east=box.east)
        values.update(distance_values(search.near), radius_m=float(search.radius_m))
    if search.q:
        pattern = "%" + search.q.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        sql.append(
            "AND (a.title LIKE :pattern ESCAPE '\\' OR a.description LIKE :pattern ESCAPE '\\')"
        )
        values["pattern"] = pattern + "%"
    return "\n".join(sql), values


class _Dialect(ABC):
    """How an engine writes the page: the same fields, in equal values."""

    greater: str  # the larger of two values
    boolean: str  # a stored boolean as the answer shows it ({} is the column)

    @abstractmethod
    def local(self, column: str) -> str:
        """An instant as the API shows it (``LocalInstant``): Shanghai's wall
        time, microseconds only when there are any, and the offset."""

    @abstractmethod
    def label(self, column: str) -> str:
        """A category code's Chinese label."""

    @abstractmethod
    def statement(self, near: bool, matching: str, item: Mapping[str, str]) -> str:
        """The page: its rows in order, each with ``total`` (a window count)."""


def _order(near: bool, table: str) -> str:
    return f"{'near.distance, ' if near else ''}{table}.starts_at, {table}.id"


class _Sqlite(_Dialect):
    """SQLite writes each item's JSON itself. Its sorter would carry every
    column of every match to keep a page, so the page is chosen from narrow
    rows first, then its few rows are written in full."""

    greater = "max"
    boolean = "json(CASE WHEN {} THEN 'true' ELSE 'false' END)"

    def local(self, column: str) -> str:
        # Stored as UTC text 'YYYY-MM-DD HH:MM:SS.ffffff' (app/core/sqlite.py).
        wall = f"strftime('%Y-%m-%dT%H:%M:%S', {column}, '+{SHANGHAI_UTC_HOURS} hours')"
        micro = f"substr({column}, 21, 6)"
        return (
            f"({wall} || CASE WHEN {micro} <> '000000' THEN '.' || {micro} ELSE '' END"
            f" || '{SHANGHAI_SUFFIX}')"
        )

    def label(self, column: str) -> str:
        cases = " ".join(
            f"WHEN {_literal(code)} THEN {_literal(text)}" for code, text in CATEGORY_LABELS.items()
        )
        return f"CASE {column} {cases} END"

    def statement(self, near: bool, matching: str, item: Mapping[str, str]) -> str:
        venue = {key[len(_VENUE) :]: value for key, value in item.items() if _in_venue(key)}
        top = {key: value for key, value in item.items() if not _in_venue(key)}
        top["venue"] = _json_object(venue)
        distance = "near.distance" if near else "NULL"
        return f"""WITH {f"{_NEAR}, " if near else ""}page AS (
  SELECT a.id, a.starts_at, {distance} AS distance, count(*) OVER () AS total
  {matching}
  ORDER BY {_order(near, "a")} LIMIT :limit OFFSET :offset
)
SELECT {_json_object(top).replace("near.distance", "page.distance")} AS item, page.total
FROM page JOIN activities a ON a.id = page.id JOIN centers c ON c.id = a.center_id
{_VENUE_JOINS}
ORDER BY {_order(near, "page").replace("near.", "page.")}"""


class _Postgres(_Dialect):
    """PostgreSQL returns the fields as columns (its JSON functions cost more
    than the driver's decoding) from one statement: it keeps a page by a
    bounded sort and reads the fields after it."""

    greater = "greatest"
    boolean = "{}"

    # The times and the label are written in Python (``_read``): to_char and
    # a CASE of labels cost the server more, and lengthen every plan, than a
    # cached lookup here.
    def local(self, column: str) -> str:
        return column

    def label(self, column: str) -> str:
        return column

    def statement(self, near: bool, matching: str, item: Mapping[str, str]) -> str:
        columns = ",\n  ".join(f'{value} AS "{key}"' for key, value in item.items())
        joined = matching.replace(_MATCHED, f"{_MATCHED}\n{_VENUE_JOINS}", 1)
        return f"""{f"WITH {_NEAR}" if near else ""}
SELECT {columns}, count(*) OVER () AS total
{joined}
ORDER BY {_order(near, "a")} LIMIT :limit OFFSET :offset"""


_SQLITE = _Sqlite()
_POSTGRES = _Postgres()
_MATCHED = "FROM activities a JOIN centers c ON c.id = a.center_id"
_VENUE_JOINS = """LEFT JOIN spaces s ON s.id = a.space_id
LEFT JOIN reservations r ON r.id = a.reservation_id"""
_VENUE = "venue."  # the fields of the item's ``venue``, flat in the statement


def _in_venue(key: str) -> bool:
    return key.startswith(_VENUE)


def _json_object(fields: Mapping[str, str]) -> str:
    pairs = ", ".join(f"'{key}', {value}" for key, value in fields.items())
    return f"json_object({pairs})"


# The item's instants and their columns.
_TIMES = {
    "start": "a.starts_at",
    "end": "a.ends_at",
    "signup_opens_at": "a.signup_opens_at",
    "signup_closes_at": "a.signup_closes_at",
}


@lru_cache(maxsize=4096)
def _local(value: datetime | None) -> str | None:
    """An instant as the API shows it; a page's times repeat (activities start
    on the hour and half hour), each is written once."""
    return None if value is None else value.astimezone(SHANGHAI).isoformat()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@lru_cache(maxsize=4)
def _item(dialect: _Dialect, near: bool) -> dict[str, str]:
    """An item of ``Page[ActivityOut]`` field by field, each as SQL, the
    venue's flat under ``venue.`` (tests/test_activities.py holds the answer
    equal to the models' on both engines)."""
    local = dialect.local
    return {
        "id": "a.id",
        "title": "a.title",
        "description": "a.description",
        "category": "a.category",
        "category_label": dialect.label("a.category"),
        "center_id": "a.center_id",
        "center_name": "c.name",
        "district": "c.district",
        "street": "c.street",
        "venue.space_id": "a.space_id",
        "venue.name": "coalesce(nullif(s.name, ''), a.place_text)",
        "venue.address": "c.address",
        "venue.reservation_id": "a.reservation_id",
        "venue.reservation_status": "CASE WHEN a.reservation_id IS NOT NULL THEN r.status END",
        "start": local(_TIMES["start"]),
        "end": local(_TIMES["end"]),
        "capacity": "a.capacity",
        "signed_up": "a.confirmed_attendees",
        "remaining": f"{dialect.greater}(a.capacity - a.confirmed_attendees, 0)",
        "signup_opens_at": local(_TIMES["signup_opens_at"]),
        "signup_closes_at": local(_TIMES["signup_closes_at"]),
        "audience": "a.audience",
        "requires_real_name": dialect.boolean.format("a.requires_real_name"),
        "organization_id": "a.organization_id",
        "course_id": "a.course_id",
        "status": "a.status",
        "status_reason": "a.status_reason",
        "attended": "a.attended",
        "walk_ins": "a.walk_ins",
        "distance_m": whole_metres_sql("near.distance") if near else "NULL",
    }


@dataclass(frozen=True)
class _Row:
    """Where each field of a PostgreSQL row is (the same with and without
    ``near``): read by position, the dearest part of the answer otherwise."""

    top_keys: tuple[str, ...]
    top: "itemgetter[Any]"
    venue_keys: tuple[str, ...]
    venue: "itemgetter[Any]"
    times: tuple[int, ...]
    label: int

    @classmethod
    def of(cls, keys: Sequence[str]) -> "_Row":
        top = [at for at, key in enumerate(keys) if not _in_venue(key)]
        venue = [at for at, key in enumerate(keys) if _in_venue(key)]
        return cls(
            top_keys=tuple(keys[at] for at in top),
            top=itemgetter(*top),
            venue_keys=tuple(keys[at][len(_VENUE) :] for at in venue),
            venue=itemgetter(*venue),
            times=tuple(at for at, key in enumerate(keys) if key in _TIMES),
            label=keys.index("category_label"),
        )


_ROW = _Row.of(list(_item(_POSTGRES, near=False)))


def _statements(search: ActivitySearch, dialect: _Dialect) -> tuple[str, str, dict[str, object]]:
    """The page's statement, and the count to run when a page past the first
    is empty (its total unknown), with their values."""
    matching, values = _conditions(search)
    near = search.near is not None
    page = dialect.statement(near, matching, _item(dialect, near))
    count = f"{'WITH ' + _NEAR if near else ''}\nSELECT count(*) AS total\n{matching}"
    return page, count, values


async def page_json(
    database: Database, search: ActivitySearch, *, limit: int, offset: int
) -> bytes:
    """``Page[ActivityOut]`` as JSON: ``{"items", "total", "limit", "offset"}``."""
    sqlite = database.sqlite_reader
    page_sql, count_sql, values = _statements(search, _SQLITE if sqlite else _POSTGRES)
    paged = {**values, "limit": limit, "offset": offset}
    items: list[object]
    if sqlite is not None:
        stored = {key: stamp(v) if isinstance(v, datetime) else v for key, v in paged.items()}

        def read(db: sqlite3.Connection) -> tuple[list[object], int | None]:
            rows = db.execute(page_sql, stored).fetchall()
            total = _total(rows, offset)
            if total is None:
                counted = {key: stored[key] for key in values}
                total = int(db.execute(count_sql, counted).fetchone()[0])
            return [orjson.Fragment(item) for item, _ in rows], total

        items, total = await sqlite.run(read)
    else:
        page = _numbered(page_sql)
        async with database.driver() as driver:
            records = await driver.fetch(page.text, *page.args(paged))
            total = _total(records, offset)
            if total is None:
                count = _numbered(count_sql)
                total = int(await driver.fetchval(count.text, *count.args(values)))
        items = [_read(record) for record in records]
    return orjson.dumps({"items": items, "total": total, "limit": limit, "offset": offset})


def _total(rows: Sequence[Any], offset: int) -> int | None:
    """The total the page's rows tell (each carries it), or None: count apart."""
    if rows:
        return int(rows[0][-1])
    return 0 if offset == 0 else None


# A list's statement depends only on which filters it has: each is numbered once.
_numbered = lru_cache(maxsize=128)(Statement.of)


def _read(record: Sequence[Any]) -> dict[str, object]:
    """A PostgreSQL row as the item: the ``venue.`` fields in their object,
    the times and the label written here (``_Postgres``), by position."""
    values = list(record)
    for at in _ROW.times:
        values[at] = _local(values[at])
    values[_ROW.label] = CATEGORY_LABELS[values[_ROW.label]]
    item = dict(zip(_ROW.top_keys, _ROW.top(values), strict=True))
    item["venue"] = dict(zip(_ROW.venue_keys, _ROW.venue(values), strict=True))
    return item
