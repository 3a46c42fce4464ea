"""Latency of the usage report, ``GET /api/v1/admin/reports/utilization``, over
a PostgreSQL database holding a million reservations.

    python -m bench.reports            # 1,000,000 reservations; writes bench/.work/reports.md
    python -m bench.reports --smoke    # 5,000 reservations, 3 timed calls: seconds

It recreates the database ``zhendi_bench_reports`` (``BENCH_REPORTS_DATABASE``)
on the server of ``BENCH_PG_ADMIN``, seeds a year of past bookings with SQL,
and calls the endpoint in-process (httpx over ASGI, no server process) as the
center's admin: each scenario is called twice to warm up, then timed. See
bench/README.md.
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from io import BytesIO
from pathlib import Path

import asyncpg
import httpx
from openpyxl import load_workbook
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.core import tokens
from app.core.clock import SHANGHAI, local_midnight, local_today
from app.core.config import Settings
from app.core.migrate import upgrade
from app.main import create_app
from app.models import sql_list
from app.reports import groups, sql
from app.reports.groups import GroupBy
from bench import seed
from bench.run import environment

DATABASE = os.environ.get("BENCH_REPORTS_DATABASE", "zhendi_bench_reports")
WORK = Path(__file__).resolve().parent / ".work"
PATH = "/api/v1/admin/reports/utilization"
# The month-by-weekday_hour query's plan is printed when its p50 is above this.
EXPLAIN_ABOVE_MS = 500.0

# The center the report is run for: meeting rooms open 09:00-21:00 every day,
# and shared study rooms open round the clock. The other center's bookings are
# in the same table, for the report's scoping to leave out.
MEETING_ROOMS = 18
STUDY_ROOMS = 2
OTHER_MEETING_ROOMS = 6
OTHER_STUDY_ROOMS = 1
STUDY_ROOM_SEATS = 20
# A study room takes this many times a meeting room's bookings.
STUDY_ROOM_WEIGHT = 4
DAYS = 365
ORGANIZATIONS = 50
OPENS, CLOSES = 9 * 60, 21 * 60


@dataclass(frozen=True)
class Options:
    reservations: int
    warmups: int
    calls: int
    write: Path | None


FULL = Options(reservations=1_000_000, warmups=2, calls=15, write=WORK / "reports.md")
SMOKE = Options(reservations=5_000, warmups=2, calls=3, write=None)


@dataclass
class Seeded:
    center_id: int = 0
    space_ids: list[int] = field(default_factory=list)  # the center's
    staff_id: int = 0
    reservations: int = 0
    feedback: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Scenario:
    name: str
    span: str  # "month" or "year"
    group_by: GroupBy
    format: str = "json"


SCENARIOS = (
    Scenario("month by space", "month", GroupBy.space),
    Scenario("month by day", "month", GroupBy.day),
    Scenario("month by weekday_hour", "month", GroupBy.weekday_hour),
    Scenario("year by space", "year", GroupBy.space),
    Scenario("month by day as CSV", "month", GroupBy.day, "csv"),
    Scenario("month by day as XLSX", "month", GroupBy.day, "xlsx"),
)


@dataclass(frozen=True)
class Timing:
    scenario: Scenario
    first_day: date
    last_day: date
    samples_ms: list[float]
    rows: int
    body_bytes: int

    @property
    def p50(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.samples_ms, n=20, method="inclusive")[18]


@dataclass(frozen=True)
class Scanned:
    """The reservations a range's query reads from the (space_id, starts_at)
    index, and those of them its other conditions keep."""

    first_day: date
    last_day: date
    read: int
    kept: int
    counted: int  # kept and starting within the range: the report's ``bookings``


@dataclass
class Result:
    timings: list[Timing] = field(default_factory=list)
    scanned: dict[str, Scanned] = field(default_factory=dict)
    explain: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


# --- the database ---------------------------------------------------------------


def dsn() -> str:
    return seed.pg_dsn(DATABASE)


async def fresh_database() -> str:
    """Drop and recreate the database, migrated to head; its SQLAlchemy URL."""
    admin = await asyncpg.connect(seed.PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    url = dsn().replace("postgresql://", "postgresql+asyncpg://")
    await upgrade(url)
    return url


# Pseudo-random draws from the row number: the same data on every run, and no
# volatile function, so each draw is taken once per row.
def _draw(salt: int, modulus: str) -> str:
    return f"(hashint8extended(g, {salt}) & 2147483647) % {modulus}"


# $1 rows, $2 weighted space ids, $3 whether each is shared, $4 users, $5 the
# first user's id, $6 organization ids, $7 today's Shanghai midnight, $8 days.
# Meeting rooms get bookings of 30 minutes to 3 hours between 09:00 and 21:00;
# study-room seats 1 to 8 hours at any time, so some run past midnight. Past
# bookings are completed, cancelled, no-shows, rejected or expired: none holds
# its time any more, so the exclusion constraint on exclusive rooms is not
# involved. Rows go in by start, as a live table fills.
RESERVATIONS_SQL = f"""
WITH draws AS (
    SELECT g,
           1 + {_draw(1, "cardinality($2::int[])")} AS pick,
           1 + {_draw(2, "$8::int")} AS days_ago,
           {_draw(3, "48")} AS slot,
           {_draw(4, "1000")} AS length_draw,
           {_draw(5, "1000")} AS status_draw,
           {_draw(6, "1000")} AS organization_draw,
           {_draw(7, "$4::int")} AS user_index,
           {_draw(8, "1000")} AS check_in_draw
    FROM generate_series(1, $1::int) g
),
placed AS (
    SELECT d.*, ($2::int[])[pick] AS space_id, ($3::bool[])[pick] AS shared,
           $7::timestamptz - days_ago * interval '1 day' AS midnight
    FROM draws d
),
timed AS (
    SELECT p.*,
           CASE WHEN shared THEN midnight + slot * interval '30 minutes'
                ELSE midnight + ({OPENS // 30} + slot % 22) * interval '30 minutes'
           END AS starts_at,
           CASE WHEN shared THEN midnight + (slot + 2 + length_draw % 15) * interval '30 minutes'
                ELSE midnight + least({OPENS // 30} + slot % 22 + 1 + length_draw % 6,
                                      {CLOSES // 30}) * interval '30 minutes'
           END AS ends_at,
           CASE WHEN status_draw < 110 THEN 'cancelled'
                WHEN status_draw < 160 THEN 'no_show'
                WHEN status_draw < 175 THEN 'rejected'
                WHEN status_draw < 185 THEN 'expired'
                ELSE 'completed'
           END AS status
    FROM placed p
)
INSERT INTO reservations (space_id, user_id, organization_id, starts_at, ends_at, exclusive,
                          status, purpose, attendees, checked_in_at, created_at, updated_at)
SELECT space_id, $5::int + user_index,
       CASE WHEN NOT shared AND organization_draw < 250
            THEN ($6::int[])[1 + organization_draw % cardinality($6::int[])] END,
       starts_at, ends_at, NOT shared, status, '',
       CASE WHEN shared THEN 1 ELSE 1 + length_draw % 12 END,
       CASE WHEN status = 'completed' AND check_in_draw < 700
            THEN starts_at + (check_in_draw % 20) * interval '1 minute' END,
       starts_at - (1 + check_in_draw % 14) * interval '1 day',
       ends_at
FROM timed
ORDER BY starts_at
"""

# One completed booking in seven is rated, mostly well.
FEEDBACK_SQL = """
INSERT INTO feedback (reservation_id, space_id, user_id, rating, comment, created_at)
SELECT id, space_id, user_id,
       (ARRAY[1, 2, 3, 4, 4, 4, 5, 5, 5, 5])[1 + (hashint8extended(id, 9) & 2147483647) % 10],
       NULL, ends_at + interval '2 hours'
FROM reservations
WHERE status = 'completed' AND (hashint8extended(id, 10) & 2147483647) % 7 = 0
"""


async def _center(db: asyncpg.Connection, name: str) -> int:
    center_id: int = await db.fetchval(
        "INSERT INTO centers (name, kind, district, street, address, lat, lng, description)"
        " VALUES ($1, 'street_center', '普陀区', '', '上海', 31.22, 121.39, '') RETURNING id",
        name,
    )
    return center_id


async def _rooms(
    seeder: seed.PostgresSeeder, db: asyncpg.Connection, center_id: int, meeting: int, study: int
) -> tuple[list[int], list[int]]:
    meeting_ids = await seeder._spaces(db, center_id, "会议室", meeting, open_24h=False)
    study_ids = await seeder._spaces(
        db,
        center_id,
        "自习室",
        study,
        kind="study_room",
        booking_mode="shared",
        capacity=STUDY_ROOM_SEATS,
        max_minutes=480,
    )
    await db.execute(
        "INSERT INTO opening_hours (space_id, weekday, opens_minute, closes_minute)"
        " SELECT space_id, weekday, $2, $3"
        " FROM unnest($1::int[]) AS space_id, generate_series(0, 6) AS weekday",
        meeting_ids,
        OPENS,
        CLOSES,
    )
    return meeting_ids, study_ids


async def seed_reports(reservations: int) -> Seeded:
    started = time.perf_counter()
    seeded = Seeded()
    seeder = seed.PostgresSeeder(dsn())
    db = await asyncpg.connect(dsn())
    try:
        seeded.center_id = await _center(db, "报表测试中心")
        meeting, study = await _rooms(seeder, db, seeded.center_id, MEETING_ROOMS, STUDY_ROOMS)
        seeded.space_ids = meeting + study
        other = await _center(db, "报表对照中心")
        other_meeting, other_study = await _rooms(
            seeder, db, other, OTHER_MEETING_ROOMS, OTHER_STUDY_ROOMS
        )
        # Three days of closure for the center's meeting rooms, some months back.
        closed = local_midnight(local_today() - timedelta(days=120))
        await db.execute(
            "INSERT INTO closures (space_id, starts_at, ends_at, reason)"
            " SELECT space_id, $2, $3, '设备检修' FROM unnest($1::int[]) AS space_id",
            meeting,
            closed,
            closed + timedelta(days=3),
        )
        seeded.staff_id = await db.fetchval(
            "INSERT INTO staff (username, password_hash, role, is_active)"
            " VALUES ('bench-reports', '!', 'center_admin', true) RETURNING id"
        )
        await db.execute(
            "INSERT INTO staff_centers (staff_id, center_id) VALUES ($1, $2)",
            seeded.staff_id,
            seeded.center_id,
        )
        users = max(100, min(20_000, reservations // 50))
        await db.execute(
            "INSERT INTO users (openid, real_name_verified)"
            " SELECT 'bench-reports-' || n, n % 3 = 0 FROM generate_series(1, $1::int) AS n",
            users,
        )
        first_user, last_user = await db.fetchrow("SELECT min(id), max(id) FROM users")
        assert last_user - first_user + 1 == users, "user ids are not contiguous"
        await db.copy_records_to_table(
            "organizations",
            records=[
                (f"报表科技有限公司{n}", seed.company_uscc(n), "孙经理", "13800138000", "verified")
                for n in range(ORGANIZATIONS)
            ],
            columns=("name", "uscc", "contact_name", "contact_phone", "status"),
        )
        organizations = [row["id"] for row in await db.fetch("SELECT id FROM organizations")]
        weighted = [
            (space_id, shared)
            for space_ids, shared in (
                (meeting + other_meeting, False),
                ((study + other_study) * STUDY_ROOM_WEIGHT, True),
            )
            for space_id in space_ids
        ]
        await db.execute(
            RESERVATIONS_SQL,
            reservations,
            [space_id for space_id, _ in weighted],
            [shared for _, shared in weighted],
            users,
            first_user,
            organizations,
            local_midnight(local_today()),
            DAYS,
        )
        await db.execute(FEEDBACK_SQL)
        # What autovacuum would have done by now (it is off on these machines):
        # statistics, hint bits and the visibility map.
        await db.execute("VACUUM (ANALYZE)")
        seeded.reservations = await db.fetchval("SELECT count(*) FROM reservations")
        seeded.feedback = await db.fetchval("SELECT count(*) FROM feedback")
    finally:
        await db.close()
    seeded.seconds = time.perf_counter() - started
    return seeded


# --- ranges ------------------------------------------------------------------------


def ranges(today: date) -> dict[str, tuple[date, date]]:
    """The last whole calendar month, and the last 365 days (all seeded)."""
    last_of_month = today.replace(day=1) - timedelta(days=1)
    return {
        "month": (last_of_month.replace(day=1), last_of_month),
        "year": (today - timedelta(days=DAYS), today - timedelta(days=1)),
    }


async def scanned(space_ids: list[int], first_day: date, last_day: date) -> Scanned:
    """The rows behind a range: those of the center's spaces the index range
    covers (from a day before the range), those the query keeps, and of those
    the bookings counted because they start within the range."""
    start, end = local_midnight(first_day), local_midnight(last_day + timedelta(days=1))
    counted = sql_list(groups.REPORTED)
    db = await asyncpg.connect(dsn())
    try:
        row = await db.fetchrow(
            f"""SELECT count(*),
                       count(*) FILTER (WHERE status IN ({counted}) AND ends_at > $2),
                       count(*) FILTER (WHERE status IN ({counted}) AND starts_at >= $2)
                FROM reservations
                WHERE space_id = ANY($1::int[]) AND starts_at < $3 AND starts_at > $4""",
            space_ids,
            start,
            end,
            start - timedelta(days=1),
        )
    finally:
        await db.close()
    return Scanned(first_day, last_day, row[0], row[1], row[2])


# --- timing --------------------------------------------------------------------------


def bench_settings(database_url: str) -> Settings:
    # The app logs each request at INFO; to stderr, and it would bury the table.
    return seed.bench_settings(database_url).model_copy(update={"log_level": "WARNING"})


def _rows(response: httpx.Response, format: str) -> int:
    if format == "json":
        return len(response.json()["rows"])
    if format == "csv":
        return len(response.content.decode("utf-8-sig").splitlines()) - 1
    workbook = load_workbook(BytesIO(response.content), read_only=True)
    return sum(1 for _ in workbook.worksheets[0].iter_rows()) - 1


async def time_scenario(
    client: httpx.AsyncClient,
    options: Options,
    scenario: Scenario,
    center_id: int,
    span: tuple[date, date],
) -> Timing:
    params = {
        "from": span[0].isoformat(),
        "to": span[1].isoformat(),
        "center_id": str(center_id),
        "group_by": scenario.group_by.value,
        "format": scenario.format,
    }
    for _ in range(options.warmups):
        (await client.get(PATH, params=params)).raise_for_status()
    samples = []
    response = None
    for _ in range(options.calls):
        started = time.perf_counter()
        response = await client.get(PATH, params=params)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    assert response is not None
    return Timing(
        scenario, span[0], span[1], samples, _rows(response, scenario.format), len(response.content)
    )


async def time_all(url: str, options: Options, seeded: Seeded, result: Result) -> None:
    settings = bench_settings(url)
    app = create_app(settings)
    spans = ranges(local_today())
    async with app.router.lifespan_context(app):
        token = tokens.issue(settings, tokens.Audience.staff, seeded.staff_id).access_token
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://bench",
            headers={"Authorization": f"Bearer {token}"},
            timeout=600,
        ) as client:
            for scenario in SCENARIOS:
                timing = await time_scenario(
                    client, options, scenario, seeded.center_id, spans[scenario.span]
                )
                result.timings.append(timing)
                if scenario.group_by is GroupBy.space and scenario.format == "json":
                    await _check_bookings(client, result, timing, seeded, spans[scenario.span])


async def _check_bookings(
    client: httpx.AsyncClient,
    result: Result,
    timing: Timing,
    seeded: Seeded,
    span: tuple[date, date],
) -> None:
    """The report's bookings add up to a plain count of the center's (so the
    timing is of a right answer, and the other center is left out)."""
    found = await scanned(seeded.space_ids, *span)
    result.scanned[timing.scenario.span] = found
    response = await client.get(
        PATH,
        params={
            "from": span[0].isoformat(),
            "to": span[1].isoformat(),
            "center_id": str(seeded.center_id),
        },
    )
    reported = sum(int(row["bookings"]) for row in response.json()["rows"])
    if reported != found.counted:
        result.failures.append(
            f"{timing.scenario.name}: the report counts {reported:,} bookings,"
            f" a plain count {found.counted:,}"
        )


# --- the plan ------------------------------------------------------------------------


def usage_parameters(space_ids: list[int], first_day: date, last_day: date) -> dict[str, object]:
    """The month-by-weekday_hour query's parameters, as app.reports.service binds them."""
    start, end = local_midnight(first_day), local_midnight(last_day + timedelta(days=1))
    origin = start - timedelta(days=1)
    offset = origin.astimezone(SHANGHAI).utcoffset()
    assert offset is not None
    return {
        "space_ids": space_ids,
        "statuses": [status.value for status in groups.REPORTED],
        "from_at": start,
        "to_at": end,
        "day_before": start - timedelta(days=1),
        "range_start": int(start.timestamp()),
        "range_end": int(end.timestamp()),
        "origin": int(origin.timestamp()),
        "width": groups.HOUR,
        "utc_offset": int(offset.total_seconds()),
    }


# The statement is prepared (asyncpg), and after five runs on a connection
# PostgreSQL may keep a generic plan for it, built without the parameters' values.
PLANNED_AFTER = 6
AUTO_EXPLAIN = (
    "LOAD 'auto_explain'",
    "SET auto_explain.log_min_duration = 0",
    "SET auto_explain.log_analyze = on",
    "SET auto_explain.log_buffers = on",
    "SET auto_explain.log_level = notice",
)


async def explain(url: str, space_ids: list[int], first_day: date, last_day: date) -> list[str]:
    """The month-by-weekday_hour query's plan as the endpoint runs it: the same
    prepared statement run six times on one connection, and the plan of the
    sixth with its actual rows and times (auto_explain, sent back as a notice)."""
    statement = text(sql.usage_sql("postgresql", GroupBy.weekday_hour)).bindparams(
        bindparam("space_ids", expanding=True), bindparam("statuses", expanding=True)
    )
    parameters = usage_parameters(space_ids, first_day, last_day)
    notices: list[str] = []
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            assert raw is not None
            raw.add_log_listener(lambda _, message: notices.append(str(message.message)))
            for setting in AUTO_EXPLAIN:
                await connection.exec_driver_sql(setting)
            for _ in range(PLANNED_AFTER):
                notices.clear()
                (await connection.execute(statement, parameters)).all()
            await asyncio.sleep(0.1)  # notices are handed to listeners on the next loop turns
            await connection.exec_driver_sql("SET auto_explain.log_min_duration = -1")
    finally:
        await engine.dispose()
    if not notices:
        return ["(auto_explain sent no plan)"]
    # "duration: … plan:", the query text, a blank line, then the plan.
    header, _, rest = notices[-1].partition("\n")
    return [header, *rest.split("\n\n", 1)[-1].splitlines()]


# --- output --------------------------------------------------------------------------


def table(result: Result) -> str:
    lines = [
        "| scenario | range | p50 ms | p95 ms | min ms | max ms | calls | rows | body |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for timing in result.timings:
        samples = timing.samples_ms
        lines.append(
            f"| {timing.scenario.name} | {timing.first_day} – {timing.last_day}"
            f" | {timing.p50:,.1f} | {timing.p95:,.1f} | {min(samples):,.1f}"
            f" | {max(samples):,.1f} | {len(samples)} | {timing.rows}"
            f" | {timing.body_bytes / 1024:,.1f} KiB |"
        )
    return "\n".join(lines)


def context(seeded: Seeded, result: Result, options: Options) -> list[str]:
    lines = [
        f"- {seeded.reservations:,} reservations and {seeded.feedback:,} ratings in the table,"
        f" seeded in {seeded.seconds:.1f} s; the report's center has {len(seeded.space_ids)}"
        f" of its {MEETING_ROOMS + STUDY_ROOMS + OTHER_MEETING_ROOMS + OTHER_STUDY_ROOMS}"
        " spaces.",
        f"- in-process over ASGI as the center's admin; {options.warmups} warm-up calls,"
        f" then {options.calls} timed calls per scenario. The app's statements are"
        " prepared, and from a statement's sixth run on a connection PostgreSQL may keep"
        " a generic plan for it: most timed calls run that plan.",
    ]
    for span, found in result.scanned.items():
        lines.append(
            f"- {span} ({found.first_day} – {found.last_day}): the query reads {found.read:,}"
            f" reservations of the center from the (space_id, starts_at) index, keeps"
            f" {found.kept:,}, and counts {found.counted:,} bookings that start in the range."
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny and fast; writes nothing")
    parser.add_argument("--reservations", type=int)
    parser.add_argument("--calls", type=int, help="timed calls per scenario")
    parser.add_argument("--explain", action="store_true", help="print the weekday_hour plan")
    parser.add_argument("--write", type=Path, help="where to write the results (markdown)")
    args = parser.parse_args(argv)
    options = SMOKE if args.smoke else FULL
    options = Options(
        reservations=args.reservations or options.reservations,
        warmups=options.warmups,
        calls=args.calls or options.calls,
        write=args.write or options.write,
    )

    started = time.perf_counter()
    url = asyncio.run(fresh_database())
    seeded = asyncio.run(seed_reports(options.reservations))
    result = Result()
    asyncio.run(time_all(url, options, seeded, result))
    slow = next(t for t in result.timings if t.scenario.group_by is GroupBy.weekday_hour)
    if args.explain or slow.p50 > EXPLAIN_ABOVE_MS:
        result.explain = asyncio.run(explain(url, seeded.space_ids, slow.first_day, slow.last_day))
    wall = time.perf_counter() - started

    text_table = table(result)
    notes = [*context(seeded, result, options), f"- wall time {wall:.1f} s in all."]
    print(text_table)
    print()
    print("\n".join(notes))
    title = (
        f"The plan of the {PLANNED_AFTER}th run of {slow.scenario.name}"
        f" ({slow.first_day} – {slow.last_day}), as the endpoint's connection keeps it:"
    )
    if result.explain:
        print(f"\n{title}")
        print("\n".join(result.explain))
    if options.write is not None:
        options.write.parent.mkdir(parents=True, exist_ok=True)
        plan = "\n".join(["", "", title, "", "```", *result.explain, "```"])
        options.write.write_text(
            f"# Usage report latency\n\n{environment()}\n\n{text_table}\n\n"
            + "\n".join(notes)
            + (plan if result.explain else "")
            + "\n"
        )
    for failure in result.failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
