"""Activities on the bench: signing up for one, and listing this week's near me.

The data, seeded beside bench/seed.py's on each engine:

- ``LIST_CENTERS`` centers scattered over central Shanghai (a box of about
  19 × 20 km around People's Square), with ``LIST_ACTIVITIES`` published
  activities among them (10 a center) over the 14 days from today, 09:00 to
  21:00: a 3 km circle around a point near one of them holds about 7 % of the
  centers, some 70 activities of this week, more than a page of 50;
- ``SIGNUP_TARGETS`` published activities at a center of their own, far from
  the others and 20 days ahead (so that no list sees them), each with places
  the bench can never fill (``TARGET_CAPACITY``);
- one resident per sign-up a run sends: each sign-up is a different person's,
  round robin over the targets, so it never meets ``already_signed_up``.

The scenarios:

- **sign up for an activity**: ``POST /api/v1/activities/{id}/signups {}``
  (201), each request with its own resident's token: against the INSERT
  floor, target ≥ 35 %. The endpoint comes with the sign-up module; where a
  tree has none (the POST answers 405, or 404 for a route the OpenAPI
  document does not list) the row says "not measured", never a figure.
- **list this week's activities near me**: ``GET /api/v1/activities?near=
  lat,lng&radius_m=3000&from=<today>&to=<today+6>`` from ``NEAR_POINTS``
  places near the centers in turn: against the 20-row read floor, target
  ≥ 50 %.
"""

import asyncio
import random
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from app.core import tokens
from app.core.clock import local_midnight, local_today
from app.core.config import Settings
from bench.loadgen import Request

LIST_CENTERS = 200
LIST_ACTIVITIES = 2_000
LIST_DAYS = 14
RADIUS_M = 3000
NEAR_POINTS = 50
SIGNUP_TARGETS = 100
TARGET_CAPACITY = 10_000_000
SIGNUP_TARGET = 0.35
LIST_TARGET = 0.50
SIGNUP_PATH = "/api/v1/activities/{id}/signups"
SIGNUP_ROUTE = re.compile(r"/api/v1/activities/\{[a-z_]+\}/signups")
# Central Shanghai: the box the list's centers are scattered over.
SOUTH, NORTH, WEST, EAST = 31.14, 31.31, 121.37, 121.58
CATEGORIES = ("party_lecture", "lecture", "training", "culture_sports", "parent_child")
ACTIVITY_COLUMNS = (
    "center_id", "place_text", "title", "description", "category", "audience",
    "requires_real_name", "starts_at", "ends_at", "capacity", "status", "published_at",
    "confirmed_attendees", "walk_ins", "check_in_token", "created_at", "updated_at",
)  # fmt: skip


@dataclass
class ActivitySeed:
    signup_activity_ids: list[int] = field(default_factory=list)
    signup_user_ids: list[int] = field(default_factory=list)
    near_points: list[tuple[float, float]] = field(default_factory=list)


def _centers() -> list[tuple[str, float, float]]:
    places = random.Random(2026)
    return [
        (f"活动中心{n}", places.uniform(SOUTH, NORTH), places.uniform(WEST, EAST))
        for n in range(LIST_CENTERS)
    ]


def _near_points(centers: list[tuple[str, float, float]]) -> list[tuple[float, float]]:
    """Places within a few hundred metres of a center: where people live."""
    places = random.Random(7)
    return [
        (
            round(lat + places.uniform(-0.004, 0.004), 5),
            round(lng + places.uniform(-0.004, 0.004), 5),
        )
        for _, lat, lng in places.sample(centers, NEAR_POINTS)
    ]


def _activity_rows(
    center_ids: list[int], count: int, first_day_offset: int, days: int, capacity: int, tag: str
) -> list[tuple[object, ...]]:
    today = local_today()
    now = datetime.now(UTC)
    rows: list[tuple[object, ...]] = []
    for n in range(count):
        center = center_ids[n % len(center_ids)]
        day = today + timedelta(days=first_day_offset + (n * 7 + n // len(center_ids)) % days)
        start = local_midnight(day) + timedelta(hours=9 + n % 12)
        rows.append(
            (
                center,
                "多功能厅",
                f"{tag}活动{n}",
                "",
                CATEGORIES[n % len(CATEGORIES)],
                "public",
                False,
                start,
                start + timedelta(minutes=90),
                capacity,
                "published",
                now,
                0,
                0,
                f"bench-{tag}-{n}",
                now,
                now,
            )
        )
    return rows


async def seed_postgres(dsn: str, signups: int) -> ActivitySeed:
    seeded = ActivitySeed()
    centers = _centers()
    db = await asyncpg.connect(dsn)
    try:
        rows = [
            (name, "street_center", "黄浦区", "", "上海", lat, lng, "")
            for name, lat, lng in centers
        ]
        rows.append(("报名中心", "street_center", "金山区", "", "上海", 30.74, 121.34, ""))
        columns = ("name", "kind", "district", "street", "address", "lat", "lng", "description")
        await db.copy_records_to_table("centers", records=rows, columns=columns)
        listed = [
            row["id"]
            for row in await db.fetch(
                "SELECT id FROM centers WHERE name LIKE '活动中心%' ORDER BY id"
            )
        ]
        target_center = await db.fetchval("SELECT id FROM centers WHERE name = '报名中心'")
        activities = _activity_rows(listed, LIST_ACTIVITIES, 0, LIST_DAYS, 30, "列表")
        activities += _activity_rows(
            [target_center], SIGNUP_TARGETS, 20, 1, TARGET_CAPACITY, "报名"
        )
        await db.copy_records_to_table("activities", records=activities, columns=ACTIVITY_COLUMNS)
        seeded.signup_activity_ids = [
            row["id"]
            for row in await db.fetch(
                "SELECT id FROM activities WHERE center_id = $1 ORDER BY id", target_center
            )
        ]
        users = [(f"bench-signup-{n}", True) for n in range(signups)]
        await db.copy_records_to_table(
            "users", records=users, columns=("openid", "real_name_verified")
        )
        seeded.signup_user_ids = [
            row["id"]
            for row in await db.fetch(
                "SELECT id FROM users WHERE openid LIKE 'bench-signup-%' ORDER BY id"
            )
        ]
        await db.execute("ANALYZE centers; ANALYZE activities; ANALYZE users")
    finally:
        await db.close()
    seeded.near_points = _near_points(centers)
    return seeded


def seed_sqlite(path: str, signups: int) -> ActivitySeed:
    """The same data on the embedded default."""

    def stamp(value: object) -> object:
        if isinstance(value, datetime):
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    seeded = ActivitySeed()
    centers = _centers()
    now = stamp(datetime.now(UTC))
    db = sqlite3.connect(path)
    try:
        insert_center = (
            "INSERT INTO centers (name, kind, district, street, address, lat, lng, description,"
            " created_at, updated_at) VALUES (?, 'street_center', ?, '', '上海', ?, ?, '', ?, ?)"
        )
        listed = []
        for name, lat, lng in centers:
            listed.append(db.execute(insert_center, (name, "黄浦区", lat, lng, now, now)).lastrowid)
        target_center = db.execute(
            insert_center, ("报名中心", "金山区", 30.74, 121.34, now, now)
        ).lastrowid
        assert target_center is not None
        rows = _activity_rows(
            [center for center in listed if center is not None],
            LIST_ACTIVITIES,
            0,
            LIST_DAYS,
            30,
            "列表",
        )
        rows += _activity_rows([target_center], SIGNUP_TARGETS, 20, 1, TARGET_CAPACITY, "报名")
        db.executemany(
            f"INSERT INTO activities ({', '.join(ACTIVITY_COLUMNS)})"
            f" VALUES ({', '.join('?' for _ in ACTIVITY_COLUMNS)})",
            [tuple(stamp(value) for value in row) for row in rows],
        )
        seeded.signup_activity_ids = [
            row[0]
            for row in db.execute(
                "SELECT id FROM activities WHERE center_id = ? ORDER BY id", (target_center,)
            )
        ]
        db.executemany(
            "INSERT INTO users (openid, real_name_verified, created_at, updated_at)"
            " VALUES (?, 1, ?, ?)",
            [(f"bench-signup-{n}", now, now) for n in range(signups)],
        )
        seeded.signup_user_ids = [
            row[0]
            for row in db.execute(
                "SELECT id FROM users WHERE openid LIKE 'bench-signup-%' ORDER BY id"
            )
        ]
        db.execute("ANALYZE")
        db.commit()
    finally:
        db.close()
    seeded.near_points = _near_points(centers)
    return seeded


def signups_needed(seconds: float, repeats: int) -> int:
    """Residents a run needs: one per sign-up it may send (bench/run.py hands each
    measured run ``seconds × 4000 + 100`` requests), and one for the probe."""
    return repeats * (int(seconds * 4000) + 100) + 1


class Signups:
    """Hands out sign-ups, each by a resident who has not signed up before."""

    def __init__(self, settings: Settings, seeded: ActivitySeed) -> None:
        self._settings = settings
        self._pairs = self._next(seeded)

    @staticmethod
    def _next(seeded: ActivitySeed) -> Iterator[tuple[int, int]]:
        targets = seeded.signup_activity_ids
        for n, user_id in enumerate(seeded.signup_user_ids):
            yield targets[n % len(targets)], user_id

    def _authorization(self, user_id: int) -> str:
        issued = tokens.issue(self._settings, tokens.Audience.user, user_id)
        return f"Bearer {issued.access_token}"

    def take(self, count: int) -> list[Request]:
        requests = []
        for _ in range(count):
            activity_id, user_id = next(self._pairs)
            requests.append(
                Request(
                    "POST",
                    SIGNUP_PATH.format(id=activity_id),
                    "{}",
                    authorization=self._authorization(user_id),
                )
            )
        return requests


def list_requests(seeded: ActivitySeed) -> list[Request]:
    today = local_today()
    week = f"from={today.isoformat()}&to={(today + timedelta(days=6)).isoformat()}"
    return [
        Request("GET", f"/api/v1/activities?near={lat},{lng}&radius_m={RADIUS_M}&{week}")
        for lat, lng in seeded.near_points
    ]


# The map a resident polls: a box of about 4 × 4.4 km around each near point.
MAP_HALF_SPAN = 0.02


def map_requests(seeded: ActivitySeed) -> list[Request]:
    """``GET /map`` of the box around each near point in turn: 50 boxes, each
    computed once per cache lifetime and answered from the cache in between,
    as a polling map meets it."""
    return [
        Request(
            "GET",
            "/api/v1/map?bbox="
            f"{lng - MAP_HALF_SPAN:.5f},{lat - MAP_HALF_SPAN:.5f},"
            f"{lng + MAP_HALF_SPAN:.5f},{lat + MAP_HALF_SPAN:.5f}",
        )
        for lat, lng in seeded.near_points
    ]


@dataclass(frozen=True)
class Probe:
    """What one request of each scenario answered before the runs."""

    signup_route: bool  # False: this tree has no sign-up endpoint
    signup_status: int
    listed: str  # the list's sizes, for the row's note


async def _probe(base_url: str, signups: Signups, seeded: ActivitySeed) -> Probe:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        [first] = signups.take(1)
        answer = await client.post(
            first.path,
            content=first.body,
            headers={"Authorization": first.authorization, "Content-Type": "application/json"},
        )
        route = answer.status_code not in (404, 405)
        if answer.status_code == 404:  # an unknown activity, or no such route at all?
            document = await client.get("/openapi.json")
            paths = document.json().get("paths", {}) if document.status_code == 200 else {}
            route = any(
                SIGNUP_ROUTE.fullmatch(path) and "post" in operations
                for path, operations in paths.items()
            )
        sizes = []
        for request in list_requests(seeded)[:5]:
            listed = await client.get(request.path)
            listed.raise_for_status()
            body = listed.json()
            sizes.append(f"{len(body['items'])}/{body['total']}")
        return Probe(route, answer.status_code, ", ".join(sizes))


def probe(base_url: str, signups: Signups, seeded: ActivitySeed) -> Probe:
    return asyncio.run(_probe(base_url, signups, seeded))
