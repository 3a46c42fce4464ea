"""Building the city on PostgreSQL: positions, spaces, doors, residents and a
year of past bookings, written with COPY, and the manifest the load reads.

Deterministic (fixed random seeds), so two builds at one scale are the same
city (but for the dates: bookings and activities are laid around today). The
positions are one tree (``centers.parent_id``): each district hub above its
street centers, each street center above its street's grid stations, each
grid station above some of its street's residential stations and posts.
"""

import json
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from app.access.doors import device_key_hash
from app.core.clock import SHANGHAI, local_today
from app.core.migrate import upgrade
from bench.city.figures import DISTRICT_HALF_SPAN, DISTRICTS, City
from bench.seed import PG_ADMIN, RESERVATION_COLUMNS

DATABASE = "zhendi_city"
# Each door's device key, from the study room's id (bench only).
DOOR_KEY = "city-door-{space_id}"
SPACE_KINDS = ("meeting_room", "activity_room", "meeting_room", "theater", "gym")
SPACE_COLUMNS = (
    "center_id", "name", "kind", "booking_mode", "capacity", "slot_minutes", "min_minutes",
    "max_minutes", "advance_days", "cancel_before_minutes", "open_24h", "holiday_policy",
    "requires_approval", "requires_real_name", "requires_organization",
    "check_in_opens_minutes", "facilities", "description", "is_active",
)  # fmt: skip
CENTER_COLUMNS = (
    "id", "parent_id", "name", "kind", "district", "street", "address", "lat", "lng",
    "description",
)  # fmt: skip
ACTIVITY_COLUMNS = (
    "center_id", "place_text", "title", "description", "category", "audience",
    "requires_real_name", "starts_at", "ends_at", "capacity", "status", "published_at",
    "confirmed_attendees", "walk_ins", "check_in_token", "created_at", "updated_at",
)  # fmt: skip
# Activities each street center publishes for the coming week, and their places.
ACTIVITIES_PER_STREET_CENTER = 4
ACTIVITY_CAPACITY = 20
# Study rooms open their last bookable day at 08:00 (Shanghai): the release.
RELEASE_MINUTE = 8 * 60
# A study room's code is live from an hour before its booking's start, so a
# seat booked from the next half hour on opens its door at once.
STUDY_CHECK_IN_MINUTES = 60


def dsn(database: str = DATABASE) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{database}"


@dataclass
class Manifest:
    """What the load needs to know about the city (``manifest.json``)."""

    scale: float
    city: dict[str, int]
    # The middle of each district: the map boxes are drawn around them.
    district_points: list[tuple[float, float]] = field(default_factory=list)
    study_room_ids: list[int] = field(default_factory=list)
    space_ids: list[int] = field(default_factory=list)  # a sample of the other spaces
    first_resident_id: int = 0
    last_resident_id: int = 0
    # Each study room's door: (door id, space id); its key is ``DOOR_KEY``.
    doors: list[tuple[int, int]] = field(default_factory=list)
    activity_ids: list[int] = field(default_factory=list)
    # A district admin per district (staff ids): who reads the reports.
    staff_ids: list[int] = field(default_factory=list)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=1))

    @classmethod
    def read(cls, path: Path) -> "Manifest":
        return cls(**json.loads(path.read_text()))


@dataclass(frozen=True)
class Position:
    name: str
    kind: str
    district: str
    street: str
    lat: float
    lng: float
    parent: int | None = None  # the parent's index in ``positions()``


def positions(city: City) -> list[Position]:
    """Every position, district by district: its hub, then its street centers,
    grid stations and residential stations, scattered around its middle, each
    naming its parent one level up (the index of an earlier position).

    A street center's parent is its district's hub; a grid station's its
    street's center (the hub's where the district has no street at this
    scale); a residential station's or post's one of its street's grid
    stations in turn (its street's center when the street has none, the hub
    when the district has no street)."""
    return list(_positions(city))


def _positions(city: City) -> Iterator[Position]:
    places = random.Random(2026)
    index = 0  # of the next position

    def spread(count: int, district: int) -> int:
        return count // city.districts + (1 if district < count % city.districts else 0)

    def around(lat: float, lng: float) -> tuple[float, float]:
        return (
            round(lat + places.uniform(-DISTRICT_HALF_SPAN, DISTRICT_HALF_SPAN), 6),
            round(lng + places.uniform(-DISTRICT_HALF_SPAN, DISTRICT_HALF_SPAN), 6),
        )

    for number, (district, lat, lng) in enumerate(DISTRICTS[: city.districts]):
        hub = index
        yield Position(f"{district}党群服务中心", "district_hub", district, "", lat, lng)
        index += 1
        streets = [f"{district}第{n + 1}街道" for n in range(spread(city.street_centers, number))]
        street_centers: list[int] = []
        for street in streets:
            street_centers.append(index)
            yield Position(
                f"{street}党群服务中心",
                "street_center",
                district,
                street,
                *around(lat, lng),
                parent=hub,
            )
            index += 1
        # The grid stations of each street (by the street's place in ``streets``).
        grids: list[list[int]] = [[] for _ in streets] or [[]]
        for n in range(spread(city.grid_stations, number)):
            street = streets[n % len(streets)] if streets else ""
            grids[n % len(grids)].append(index)
            yield Position(
                f"{street or district}片区党群服务站{n + 1}",
                "grid_station",
                district,
                street,
                *around(lat, lng),
                parent=street_centers[n % len(streets)] if streets else hub,
            )
            index += 1
        for n in range(spread(city.residential_stations, number)):
            street = streets[n % len(streets)] if streets else ""
            kind = "post" if n % 10 == 9 else "residential_station"
            name = f"{street or district}居民区党群服务站{n + 1}"
            own = grids[n % len(grids)]
            if own:
                parent = own[(n // len(grids)) % len(own)]
            else:
                parent = street_centers[n % len(streets)] if streets else hub
            yield Position(name, kind, district, street, *around(lat, lng), parent=parent)
            index += 1


def _space(center_id: int, name: str, kind: str, study: bool) -> tuple[Any, ...]:
    return (
        center_id, name, kind, "shared" if study else "exclusive", 10 if study else 12, 30, 30,
        240, 7, 0, study, "open" if study else "closed", False, study, False, 15, "[]", "", True,
    )  # fmt: skip


async def drop(database: str = DATABASE) -> None:
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await admin.close()


async def build(city: City, scale: float, database: str = DATABASE) -> Manifest:
    await drop(database)
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    await upgrade(dsn(database).replace("postgresql://", "postgresql+asyncpg://"))
    manifest = Manifest(scale=scale, city=asdict(city))
    manifest.district_points = [(lat, lng) for _, lat, lng in DISTRICTS[: city.districts]]
    db = await asyncpg.connect(dsn(database))
    try:
        await _build(db, city, manifest)
        await db.execute("ANALYZE")
    finally:
        await db.close()
    return manifest


async def _build(db: asyncpg.Connection, city: City, manifest: Manifest) -> None:
    # Ids are given (1, 2, …), so a parent's id is known before it is written;
    # parents come before their children, so one COPY satisfies the foreign key.
    rows = [
        (
            n + 1, None if p.parent is None else p.parent + 1, p.name, p.kind, p.district,
            p.street, f"上海市{p.district}", p.lat, p.lng, "",
        )
        for n, p in enumerate(positions(city))
    ]  # fmt: skip
    await db.copy_records_to_table("centers", records=rows, columns=CENTER_COLUMNS)
    await db.execute("SELECT setval(pg_get_serial_sequence('centers', 'id'), $1)", len(rows))
    centers = [
        (row["id"], row["kind"])
        for row in await db.fetch("SELECT id, kind FROM centers ORDER BY id")
    ]
    # Study rooms at the street centers and grid stations first, then every
    # position gets its share of the other rooms.
    hosts = [center for center, kind in centers if kind in ("street_center", "grid_station")]
    spaces = [
        _space(hosts[n % len(hosts)], f"自习室{n + 1}", "study_room", True)
        for n in range(city.study_rooms)
    ]
    spaces += [
        _space(centers[n % len(centers)][0], f"活动空间{n + 1}", SPACE_KINDS[n % 5], False)
        for n in range(max(city.spaces - city.study_rooms, 0))
    ]
    await db.copy_records_to_table("spaces", records=spaces, columns=SPACE_COLUMNS)
    await db.execute(
        "UPDATE spaces SET release_minute = $1, check_in_opens_minutes = $2"
        " WHERE kind = 'study_room'",
        RELEASE_MINUTE,
        STUDY_CHECK_IN_MINUTES,
    )
    await db.execute(
        "INSERT INTO opening_hours (space_id, weekday, opens_minute, closes_minute)"
        " SELECT s.id, d, 540, 1260 FROM spaces s CROSS JOIN generate_series(0, 6) d"
        " WHERE NOT s.open_24h"
    )
    manifest.study_room_ids = [
        row["id"]
        for row in await db.fetch("SELECT id FROM spaces WHERE kind = 'study_room' ORDER BY id")
    ]
    doors = [
        (space_id, "正门", device_key_hash(DOOR_KEY.format(space_id=space_id)), True)
        for space_id in manifest.study_room_ids
    ]
    await db.copy_records_to_table(
        "doors", records=doors, columns=("space_id", "name", "device_key_hash", "is_active")
    )
    await db.execute(
        "INSERT INTO keypads (space_id) SELECT id FROM spaces WHERE kind = 'study_room'"
    )
    manifest.doors = [
        (row["id"], row["space_id"])
        for row in await db.fetch("SELECT id, space_id FROM doors ORDER BY id")
    ]
    street_centers = [center for center, kind in centers if kind == "street_center"]
    await db.copy_records_to_table(
        "activities", records=_activities(street_centers), columns=ACTIVITY_COLUMNS
    )
    manifest.activity_ids = [
        row["id"] for row in await db.fetch("SELECT id FROM activities ORDER BY id")
    ]
    for district, _, _ in DISTRICTS[: city.districts]:
        manifest.staff_ids.append(
            await db.fetchval(
                "INSERT INTO staff (username, password_hash, role, district, is_active)"
                " VALUES ($1, '!', 'district_admin', $2, true) RETURNING id",
                f"city-{district}",
                district,
            )
        )
    others = [
        row["id"]
        for row in await db.fetch("SELECT id FROM spaces WHERE kind <> 'study_room' ORDER BY id")
    ]
    manifest.space_ids = random.Random(7).sample(others, min(len(others), 2_000))
    residents = [(f"city-{n}", True) for n in range(city.residents)]
    await db.copy_records_to_table(
        "users", records=residents, columns=("openid", "real_name_verified")
    )
    first, last = await db.fetchrow("SELECT min(id), max(id) FROM users")
    manifest.first_resident_id, manifest.last_resident_id = first, last
    await _past(db, city, manifest.study_room_ids + others, first, last)


def _activities(center_ids: list[int]) -> list[tuple[Any, ...]]:
    """Each street center's activities of the coming week, published, their
    sign-ups open until they start."""
    today = local_today()
    now = datetime.now(UTC)
    rows: list[tuple[Any, ...]] = []
    for center_id in center_ids:
        for n in range(ACTIVITIES_PER_STREET_CENTER):
            day = today + timedelta(days=1 + (center_id + n) % 6)
            start = datetime.combine(day, time(9 + 2 * n), tzinfo=SHANGHAI)
            rows.append(
                (center_id, "多功能厅", f"社区活动{center_id}-{n + 1}", "", "culture_sports",
                 "public", False, start, start + timedelta(minutes=90), ACTIVITY_CAPACITY,
                 "published", now, 0, 0, f"city-{center_id}-{n}", now, now)
            )  # fmt: skip
    return rows


async def _past(
    db: asyncpg.Connection, city: City, space_ids: list[int], first_user: int, last_user: int
) -> None:
    """A year of completed bookings before today, an hour each at 10:00 and on,
    never overlapping within a space, by residents at random."""
    people = random.Random(11)
    today = local_today()
    now = datetime.now(UTC)
    per_space = max(city.past_reservations // len(space_ids), 1)
    batch: list[tuple[Any, ...]] = []
    for index, space_id in enumerate(space_ids):
        for k in range(per_space):
            day = today - timedelta(days=1 + k % 365)
            hour = 10 + k // 365
            start = datetime.combine(day, time(hour), tzinfo=SHANGHAI)
            user = people.randint(first_user, last_user)
            batch.append(
                (space_id, user, start, start + timedelta(hours=1), index >= city.study_rooms,
                 "completed", "", 1, now, now)
            )  # fmt: skip
        if len(batch) >= 50_000:
            await db.copy_records_to_table(
                "reservations", records=batch, columns=RESERVATION_COLUMNS
            )
            batch = []
    if batch:
        await db.copy_records_to_table("reservations", records=batch, columns=RESERVATION_COLUMNS)
