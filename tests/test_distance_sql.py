"""The distance and the local time as the hand-written statements compute them
(app/centers/service.py, app/activities/listing.py) equal Python's to the bit,
on both engines: an order or a circle cut in SQL is the one the ORM paths cut."""

import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from app.centers.service import (
    GeoPoint,
    distance_m,
    distance_sql,
    distance_values,
    whole_metres,
    whole_metres_sql,
)
from app.core.clock import SHANGHAI, SHANGHAI_SUFFIX, SHANGHAI_UTC_HOURS
from app.core.sql import Statement
from tests.factories import Api


def _pairs(count: int) -> list[tuple[GeoPoint, GeoPoint]]:
    """Points across Shanghai and pairs up to about 50 km apart."""
    draw = random.Random(11)
    pairs = []
    for _ in range(count):
        a = GeoPoint(draw.uniform(30.7, 31.5), draw.uniform(121.0, 121.9))
        b = GeoPoint(a.lat + draw.uniform(-0.4, 0.4), a.lng + draw.uniform(-0.4, 0.4))
        pairs.append((a, b))
    return pairs


async def _scalar(api: Api, sql: str, values: Mapping[str, object]) -> object:
    database = api.database
    if database.sqlite_reader is not None:
        return await database.sqlite_reader.run(lambda db: db.execute(sql, values).fetchone()[0])
    statement = Statement.of(sql)
    async with database.driver() as driver:
        return await driver.fetchval(statement.text, *statement.args(values))


async def test_the_distance_in_sql_is_the_distance_in_python(api: Api) -> None:
    # Typed as the columns are (PostgreSQL cannot type ``:lng - :origin_lng``).
    lat, lng = "CAST(:lat AS double precision)", "CAST(:lng AS double precision)"
    sql = f"SELECT {distance_sql(lat, lng)}"
    for origin, point in _pairs(200):
        values = {**distance_values(origin), "lat": point.lat, "lng": point.lng}
        assert await _scalar(api, sql, values) == distance_m(origin, point), (origin, point)


async def test_whole_metres_round_half_up_alike(api: Api) -> None:
    sql = f"SELECT {whole_metres_sql('CAST(:d AS double precision)')}"
    for distance in (0.0, 0.49, 0.5, 1.5, 2.5, 2999.5, 3000.4999, 12345.5):
        assert await _scalar(api, sql, {"d": distance}) == whole_metres(distance)
    assert whole_metres(2.5) == 3  # half up, not Python's half to even


def test_shanghai_keeps_one_offset_over_the_years_the_service_holds() -> None:
    """The statements add a fixed offset; the zone database must agree."""
    day = datetime(1992, 1, 1, tzinfo=UTC)
    while day.year < 2100:
        local = day.astimezone(SHANGHAI)
        assert local.utcoffset() == timedelta(hours=SHANGHAI_UTC_HOURS)
        assert local.isoformat().endswith(SHANGHAI_SUFFIX)
        day += timedelta(days=61)
