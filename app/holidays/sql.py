"""The staff overrides of the days ``[:start, :end)`` touches at center ``c``,
as one scalar subquery the hot paths add to the statement they already send
(a booking's snapshot, a space's day), and how to read its answer."""

from datetime import date

import orjson

from app.holidays.days import Override
from app.models import DayKind

SCOPES = "d.scope IN ('', 'd:' || c.district, 'c:' || c.id)"
POSTGRES = f"""(SELECT json_agg(json_build_array(d.day, d.scope, d.kind, d.name))
   FROM calendar_days d
   WHERE d.day BETWEEN (:start AT TIME ZONE 'Asia/Shanghai')::date
                   AND (:end AT TIME ZONE 'Asia/Shanghai')::date
     AND {SCOPES})::text"""
# Instants are stored as UTC text on SQLite; Shanghai has kept +08:00 all year
# since 1991, so its date is the UTC text's shifted by eight hours.
SQLITE = f"""(SELECT json_group_array(json_array(d.day, d.scope, d.kind, d.name))
   FROM calendar_days d
   WHERE d.day BETWEEN date(:start, '+8 hours') AND date(:end, '+8 hours')
     AND {SCOPES})"""


def overrides(found: str | None) -> dict[date, list[Override]]:
    by_day: dict[date, list[Override]] = {}
    for day, scope, kind, name in orjson.loads(found or "[]"):
        by_day.setdefault(date.fromisoformat(day), []).append(Override(scope, DayKind(kind), name))
    return by_day
