"""Bench data: fresh databases, spaces, users, and reservations by the hundred thousand."""

import asyncio
import os
import secrets
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import asyncpg

from app.access.doors import device_key_hash
from app.core.clock import local_midnight, local_today
from app.core.config import Settings
from app.core.migrate import upgrade
from app.organizations import uscc

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
# The bench drops and recreates this database on every run.
PG_DATABASE = os.environ.get("BENCH_PG_DATABASE", "zhendi_bench")
SLOT = timedelta(minutes=30)
AVAILABILITY_SPACES = 20
BOOKING_SPACES = 200
QUOTA_SPACES = 20
SEAT_SPACES = 20
# Meeting rooms only bench/acts.py books: a series and a move beside a booking.
ACT_SPACES = 20
# Bookings per Shanghai week the bench company may make: the quota is checked
# on every booking, and the bench never reaches it.
QUOTA_PER_WEEK = 1_000
# Companies booking under the quota: many, as around a real center, so that each
# one's weekly count stays the size a company's is.
COMPANIES = 200


def company_uscc(n: int) -> str:
    body = f"91310107MA{n:07d}"
    return body + uscc.check_character(body)


def pg_dsn(database: str = PG_DATABASE) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{database}"


@dataclass
class Seeded:
    """What the scenarios need to know about the data."""

    availability_space_ids: list[int] = field(default_factory=list)
    booking_space_ids: list[int] = field(default_factory=list)
    study_room_id: int = 0
    # 10-seat study rooms with a door: every booking of a seat gets a door code.
    seat_space_ids: list[int] = field(default_factory=list)
    # Meeting rooms of a center whose bookings on a company's account count
    # against a weekly quota; the booker owns the verified companies.
    quota_space_ids: list[int] = field(default_factory=list)
    organization_ids: list[int] = field(default_factory=list)
    act_space_ids: list[int] = field(default_factory=list)
    door_space_id: int = 0
    door_id: int = 0
    filler_space_ids: list[int] = field(default_factory=list)
    booker_id: int = 0
    surge_user_ids: list[int] = field(default_factory=list)
    busy_day: date = field(default_factory=local_today)
    reservations: int = 0


def bench_settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        jwt_secret=os.environ.setdefault("ZHENDI_JWT_SECRET", secrets.token_urlsafe(48)),
        pii_key=os.environ.setdefault("ZHENDI_PII_KEY", secrets.token_hex(32)),
        env="development",
        dev_login=False,
    )


async def fresh_postgres() -> str:
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    finally:
        await admin.close()
    url = pg_dsn().replace("postgresql://", "postgresql+asyncpg://")
    await upgrade(url)
    connection = await asyncpg.connect(pg_dsn())
    try:
        await connection.execute(
            "CREATE TABLE floor_reservations (LIKE reservations INCLUDING DEFAULTS); "
            "CREATE SEQUENCE floor_reservations_id_seq OWNED BY floor_reservations.id; "
            "ALTER TABLE floor_reservations"
            " ALTER COLUMN id SET DEFAULT nextval('floor_reservations_id_seq'),"
            " ADD PRIMARY KEY (id)"
        )
    finally:
        await connection.close()
    return url


def fresh_sqlite(path: str) -> str:
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    url = f"sqlite+aiosqlite:///{path}"
    asyncio.run(upgrade(url))
    db = sqlite3.connect(path)
    try:  # the SQLite floor's own table, shaped like reservations (bench/floor_sqlite.py)
        schema = db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'reservations'"
        ).fetchone()[0]
        db.execute(schema.replace("reservations", "floor_reservations", 1))
        db.commit()
    finally:
        db.close()
    return url


# --- rows ---------------------------------------------------------------------


def _space_row(center_id: int, name: str, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "center_id": center_id,
        "name": name,
        "kind": "meeting_room",
        "booking_mode": "exclusive",
        "capacity": 12,
        "slot_minutes": 30,
        "min_minutes": 30,
        "max_minutes": 1440,
        "advance_days": 365,
        "cancel_before_minutes": 0,
        "open_24h": True,
        # Open on statutory holidays too: the bench books from tomorrow on, and
        # a 52-week series from any day, so that on every day of the year it
        # times writes, never a holiday's refusal.
        "holiday_policy": "open",
        "requires_approval": False,
        "requires_real_name": False,
        "requires_organization": False,
        # Check-in, and so a door code, opens an hour before the start: the code
        # of the next half-hour slot, which the verify bench types, is live now.
        "check_in_opens_minutes": 60,
        "facilities": "[]",
        "description": "",
        "is_active": True,
    }
    row.update(overrides)
    return row


ReservationRow = tuple[int, int, datetime, datetime, bool, str, str, int, datetime, datetime]


def _reservation_rows(
    space_ids: list[int], per_space: int, first: datetime, user_id: int
) -> list[ReservationRow]:
    """Back-to-back half-hour bookings from ``first`` on: never overlapping."""
    now = datetime.now(UTC)
    return [
        (
            space_id,
            user_id,
            first + SLOT * k,
            first + SLOT * (k + 1),
            True,
            "confirmed",
            "",
            1,
            now,
            now,
        )
        for space_id in space_ids
        for k in range(per_space)
    ]


RESERVATION_COLUMNS = (
    "space_id",
    "user_id",
    "starts_at",
    "ends_at",
    "exclusive",
    "status",
    "purpose",
    "attendees",
    "created_at",
    "updated_at",
)


class PostgresSeeder:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    async def seed(self, reservations: int, surge_users: int, door_key: str) -> Seeded:
        connection = await asyncpg.connect(self.dsn)
        try:
            seeded = await self._seed(connection, reservations, surge_users)
            seeded.door_id = await self._door(connection, seeded.door_space_id, door_key)
            for space_id in seeded.seat_space_ids:
                await self._door(connection, space_id, f"{door_key}-seats-{space_id}")
            await self._quota(connection, seeded)
            return seeded
        finally:
            await connection.close()

    async def _door(self, db: asyncpg.Connection, space_id: int, key: str) -> int:
        door_id: int = await db.fetchval(
            "INSERT INTO doors (space_id, name, device_key_hash, is_active, created_at,"
            " updated_at) VALUES ($1, 'bench', $2, true, now(), now()) RETURNING id",
            space_id,
            device_key_hash(key),
        )
        await db.execute(
            "INSERT INTO keypads (space_id) VALUES ($1) ON CONFLICT DO NOTHING", space_id
        )
        return door_id

    async def _quota(self, db: asyncpg.Connection, seeded: Seeded) -> None:
        """The booker's verified companies, and their weekly quota on the quota center."""
        for n in range(COMPANIES):
            organization_id = await db.fetchval(
                "INSERT INTO organizations (name, uscc, contact_name, contact_phone, status,"
                " created_at, updated_at) VALUES ($1, $2, '孙经理', '13800138000',"
                " 'verified', now(), now()) RETURNING id",
                f"基准科技有限公司{n}",
                company_uscc(n),
            )
            await db.execute(
                "INSERT INTO organization_members (organization_id, user_id, role, joined_at)"
                " VALUES ($1, $2, 'owner', now())",
                organization_id,
                seeded.booker_id,
            )
            seeded.organization_ids.append(organization_id)
        await db.execute(
            "INSERT INTO quota_rules (center_id, subject, metric, max_value)"
            " SELECT center_id, 'organization', 'bookings_per_week', $2 FROM spaces WHERE id = $1",
            seeded.quota_space_ids[0],
            QUOTA_PER_WEEK,
        )

    async def _seed(self, db: asyncpg.Connection, reservations: int, surge_users: int) -> Seeded:
        seeded = Seeded()
        center = await db.fetchval(
            "INSERT INTO centers (name, kind, district, street, address, lat, lng, description)"
            " VALUES ('基准测试中心', 'street_center', '普陀区', '', '上海', 31.22, 121.39, '')"
            " RETURNING id"
        )
        seeded.availability_space_ids = await self._spaces(db, center, "查询", AVAILABILITY_SPACES)
        seeded.booking_space_ids = await self._spaces(db, center, "预约", BOOKING_SPACES)
        seeded.act_space_ids = await self._spaces(db, center, "操作", ACT_SPACES)
        seeded.study_room_id = (
            await self._spaces(
                db,
                center,
                "自习室",
                1,
                kind="study_room",
                booking_mode="shared",
                capacity=10,
                requires_real_name=True,
            )
        )[0]
        seeded.door_space_id = (
            await self._spaces(db, center, "门禁", 1, booking_mode="shared", capacity=1000)
        )[0]
        seeded.seat_space_ids = await self._spaces(
            db,
            center,
            "座位",
            SEAT_SPACES,
            kind="study_room",
            booking_mode="shared",
            capacity=10,
            requires_real_name=True,
        )
        quota_center = await db.fetchval(
            "INSERT INTO centers (name, kind, district, street, address, lat, lng, description)"
            " VALUES ('限额中心', 'street_center', '普陀区', '', '上海', 31.22, 121.39, '')"
            " RETURNING id"
        )
        seeded.quota_space_ids = await self._spaces(db, quota_center, "限额", QUOTA_SPACES)
        seeded.booker_id = await db.fetchval(
            "INSERT INTO users (openid, real_name_verified) VALUES ('bench-booker', true)"
            " RETURNING id"
        )
        rows = [(f"bench-surge-{n}", True) for n in range(surge_users)]
        await db.copy_records_to_table(
            "users", records=rows, columns=("openid", "real_name_verified")
        )
        seeded.surge_user_ids = [
            row["id"]
            for row in await db.fetch(
                "SELECT id FROM users WHERE openid LIKE 'bench-surge-%' ORDER BY id"
            )
        ]
        # The availability spaces are fully booked around the day the bench reads.
        per_space = reservations // AVAILABILITY_SPACES
        first = local_midnight(seeded.busy_day) - SLOT * (per_space // 2)
        first -= timedelta(minutes=first.minute % 30)
        await self.add_reservations(db, seeded.availability_space_ids, per_space, first, seeded)
        return seeded

    async def _spaces(
        self, db: asyncpg.Connection, center: int, prefix: str, count: int, **overrides: object
    ) -> list[int]:
        ids = []
        for n in range(count):
            row = _space_row(center, f"{prefix}{n}", **overrides)
            columns = ", ".join(row)
            marks = ", ".join(f"${i + 1}" for i in range(len(row)))
            ids.append(
                await db.fetchval(
                    f"INSERT INTO spaces ({columns}) VALUES ({marks}) RETURNING id", *row.values()
                )
            )
        return ids

    async def add_reservations(
        self,
        db: asyncpg.Connection,
        space_ids: list[int],
        per_space: int,
        first: datetime,
        seeded: Seeded,
    ) -> None:
        rows = _reservation_rows(space_ids, per_space, first, seeded.booker_id)
        await db.copy_records_to_table("reservations", records=rows, columns=RESERVATION_COLUMNS)
        seeded.reservations += len(rows)

    async def grow_to(self, seeded: Seeded, total: int) -> None:
        """Add filler reservations in other spaces until the table holds ``total``."""
        missing = total - seeded.reservations
        if missing <= 0:
            return
        connection = await asyncpg.connect(self.dsn)
        try:
            center = await connection.fetchval("SELECT min(id) FROM centers")
            spaces = max(1, missing // 10_000)
            start = len(seeded.filler_space_ids)
            ids = await self._spaces(connection, center, f"填充{start}-", spaces)
            seeded.filler_space_ids += ids
            first = local_midnight(seeded.busy_day) - timedelta(days=365)
            await self.add_reservations(connection, ids, missing // spaces, first, seeded)
            await connection.execute("ANALYZE reservations")
        finally:
            await connection.close()


def _sqlite_quota(db: sqlite3.Connection, seeded: Seeded, center_id: int) -> None:
    """The booker's verified companies and their weekly quota, as on PostgreSQL."""
    for n in range(COMPANIES):
        cursor = db.execute(
            "INSERT INTO organizations (name, uscc, contact_name, contact_phone, status,"
            " created_at, updated_at) VALUES (?, ?, '孙经理', '13800138000', 'verified',"
            " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            (f"基准科技有限公司{n}", company_uscc(n)),
        )
        assert cursor.lastrowid is not None
        db.execute(
            "INSERT INTO organization_members (organization_id, user_id, role, joined_at)"
            " VALUES (?, ?, 'owner', CURRENT_TIMESTAMP)",
            (cursor.lastrowid, seeded.booker_id),
        )
        seeded.organization_ids.append(cursor.lastrowid)
    db.execute(
        "INSERT INTO quota_rules (center_id, subject, metric, max_value)"
        " VALUES (?, 'organization', 'bookings_per_week', ?)",
        (center_id, QUOTA_PER_WEEK),
    )


def seed_sqlite(path: str, reservations: int) -> Seeded:
    """The same shape on the embedded default, with the sqlite3 module (fast bulk inserts)."""
    seeded = Seeded()
    db = sqlite3.connect(path)
    try:
        cursor = db.execute(
            "INSERT INTO centers (name, kind, district, street, address, lat, lng, description,"
            " created_at, updated_at) VALUES ('基准测试中心', 'street_center', '普陀区', '',"
            " '上海', 31.22, 121.39, '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
        center = cursor.lastrowid
        assert center is not None

        def spaces(
            prefix: str, count: int, center_id: int = center, **overrides: object
        ) -> list[int]:
            ids = []
            for n in range(count):
                row = _space_row(center_id, f"{prefix}{n}", **overrides)
                row["created_at"] = row["updated_at"] = datetime.now(UTC).strftime(
                    "%Y-%m-%d %H:%M:%S.%f"
                )
                columns = ", ".join(row)
                marks = ", ".join("?" for _ in row)
                cursor = db.execute(
                    f"INSERT INTO spaces ({columns}) VALUES ({marks})", list(row.values())
                )
                assert cursor.lastrowid is not None
                ids.append(cursor.lastrowid)
            return ids

        seeded.availability_space_ids = spaces("查询", AVAILABILITY_SPACES)
        seeded.booking_space_ids = spaces("预约", BOOKING_SPACES)
        seeded.act_space_ids = spaces("操作", ACT_SPACES)
        seeded.seat_space_ids = spaces(
            "座位",
            SEAT_SPACES,
            kind="study_room",
            booking_mode="shared",
            capacity=10,
            requires_real_name=True,
        )
        for space_id in seeded.seat_space_ids:
            db.execute(
                "INSERT INTO doors (space_id, name, device_key_hash, is_active, created_at,"
                " updated_at) VALUES (?, 'bench', ?, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                (space_id, device_key_hash(f"bench-door-key-seats-{space_id}")),
            )
            db.execute("INSERT INTO keypads (space_id) VALUES (?)", (space_id,))
        cursor = db.execute(
            "INSERT INTO users (openid, real_name_verified, created_at, updated_at)"
            " VALUES ('bench-booker', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
        assert cursor.lastrowid is not None
        seeded.booker_id = cursor.lastrowid
        cursor = db.execute(
            "INSERT INTO centers (name, kind, district, street, address, lat, lng, description,"
            " created_at, updated_at) VALUES ('限额中心', 'street_center', '普陀区', '',"
            " '上海', 31.22, 121.39, '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
        quota_center = cursor.lastrowid
        assert quota_center is not None
        seeded.quota_space_ids = spaces("限额", QUOTA_SPACES, quota_center)
        _sqlite_quota(db, seeded, quota_center)
        per_space = reservations // AVAILABILITY_SPACES
        first = local_midnight(seeded.busy_day) - SLOT * (per_space // 2)

        def stamp(instant: datetime) -> str:
            return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

        rows = [
            (
                row[0],
                row[1],
                stamp(row[2]),
                stamp(row[3]),
                1,
                "confirmed",
                "",
                1,
                stamp(row[8]),
                stamp(row[9]),
            )
            for row in _reservation_rows(
                seeded.availability_space_ids, per_space, first, seeded.booker_id
            )
        ]
        db.executemany(
            f"INSERT INTO reservations ({', '.join(RESERVATION_COLUMNS)})"
            f" VALUES ({', '.join('?' for _ in RESERVATION_COLUMNS)})",
            rows,
        )
        seeded.reservations = len(rows)
        db.commit()
    finally:
        db.close()
    return seeded
