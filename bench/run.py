"""Run every bench scenario against real server processes and print a table.

    python -m bench.run                 # the full bench; writes bench/.work/latest.md
    python -m bench.run --smoke         # seconds: proves the harness still works
    python -m bench.run --quick         # the main scenarios only, for an A/B of one path

See bench/README.md for the scenarios, the floor and the targets.
"""

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from app.core import tokens
from app.core.clock import SHANGHAI, local_midnight, local_today
from bench import activities, acts, seed
from bench.loadgen import Measurement, Request, burst, run_load
from bench.seed import SLOT

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
DOOR_KEY = "bench-door-key"
PY_SPY = Path(sys.executable).with_name("py-spy")


@dataclass(frozen=True)
class Options:
    seconds: float
    repeats: int
    connections: int
    reservations: int
    scale_levels: tuple[int, ...]
    surge: int
    memory_bookings: int
    sqlite: bool
    profile: bool
    loadgen: str
    write: Path | None
    act_samples: int = 30  # bench/acts.py: series and moves beside single bookings


FULL = Options(
    seconds=10,
    repeats=3,
    connections=64,
    reservations=100_000,
    scale_levels=(10_000, 100_000, 1_000_000),
    surge=1000,
    memory_bookings=100_000,
    sqlite=True,
    profile=True,
    loadgen="auto",
    write=WORK / "latest.md",
)
SMOKE = Options(
    seconds=1,
    repeats=1,
    connections=8,
    reservations=2_000,
    scale_levels=(1_000, 2_000),
    surge=30,
    memory_bookings=200,
    sqlite=True,
    profile=False,
    loadgen="auto",
    write=None,
    act_samples=2,
)


@dataclass
class Row:
    scenario: str
    engine: str
    measurement: Measurement | None = None
    floor: float | None = None  # floor req/s measured in the same run
    note: str = ""
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.measurement is None or not self.floor:
            return None
        return self.measurement.rps / self.floor


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


# --- servers ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str

    @property
    def pid(self) -> int:
        return self.process.pid


@contextmanager
def server(app: str, env: dict[str, str], ready_path: str, *, factory: bool) -> Iterator[Server]:
    port = _free_port()
    command = [
        sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--no-access-log", "--log-level", "warning",
        "--loop", "uvloop", "--http", "httptools",
    ]  # fmt: skip
    if factory:
        command.append("--factory")
    log = open(WORK / f"server-{port}.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, env={**os.environ, **env}, stdout=log, stderr=log, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + ready_path, timeout=1).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{app} did not start; see {log.name}")
            time.sleep(0.2)
        yield Server(process, base)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def app_env(database_url: str) -> dict[str, str]:
    settings = seed.bench_settings(database_url)
    return {
        "ZHENDI_DATABASE_URL": database_url,
        "ZHENDI_JWT_SECRET": settings.jwt_key,
        "ZHENDI_PII_KEY": settings.pii_key_bytes.hex(),
        "ZHENDI_ENV": "development",
        "ZHENDI_DEV_LOGIN": "false",
        "ZHENDI_DOOR_CODE_LEEWAY_MINUTES": "60",
        "ZHENDI_LOG_LEVEL": "INFO",
        # One booker books every series of bench/acts.py.
        "ZHENDI_RATE_LIMIT_SERIES_PER_USER": "100000 per hour",
    }


def peak_rss_mb(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    values = {
        line.split(":")[0]: int(line.split()[1]) / 1024
        for line in status.splitlines()
        if line.startswith(("VmHWM", "VmRSS"))
    }
    return values["VmHWM"], values["VmRSS"]


# --- requests ----------------------------------------------------------------------


def user_token(database_url: str, user_id: int) -> str:
    settings = seed.bench_settings(database_url)
    return tokens.issue(settings, tokens.Audience.user, user_id).access_token


def availability_requests(seeded: seed.Seeded) -> list[Request]:
    day = seeded.busy_day.isoformat()
    return [
        Request("GET", f"/api/v1/spaces/{space}/availability?date={day}")
        for space in seeded.availability_space_ids
    ]


def floor_read_requests(seeded: seed.Seeded) -> list[Request]:
    day = seeded.busy_day.isoformat()
    return [
        Request("GET", f"/floor/spaces/{space}/reservations?date={day}")
        for space in seeded.availability_space_ids
    ]


def booking_bodies(
    space_ids: Sequence[int], first_day: date, days: int, organizations: Sequence[int]
) -> Iterator[str]:
    """Distinct half-hour slots: every body books a different (space, slot),
    on the organizations' accounts in turn if there are any."""
    count = 0
    for offset in range(days):
        midnight = local_midnight(first_day + timedelta(days=offset)).astimezone(SHANGHAI)
        for slot in range(48):
            start = midnight + timedelta(minutes=30 * slot)
            end = start + timedelta(minutes=30)
            for space in space_ids:
                body: dict[str, object] = {
                    "space_id": space,
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                }
                if organizations:
                    body["organization_id"] = organizations[count % len(organizations)]
                count += 1
                yield json.dumps(body)


class Slots:
    """Hands out distinct booking bodies across scenarios and repeats."""

    def __init__(self, space_ids: Sequence[int], organizations: Sequence[int] = ()) -> None:
        first = local_today() + timedelta(days=1)
        self._bodies = booking_bodies(space_ids, first, 360, organizations)

    def take(self, count: int) -> list[str]:
        return [next(self._bodies) for _ in range(count)]


def median_of(runs: Sequence[Measurement]) -> Measurement:
    middle = sorted(runs, key=lambda run: run.rps)[len(runs) // 2]
    return Measurement(
        rps=statistics.median(run.rps for run in runs),
        p50_ms=middle.p50_ms,
        p99_ms=middle.p99_ms,
        requests=sum(run.requests for run in runs),
        non_2xx=sum(run.non_2xx for run in runs),
        server_errors=sum(run.server_errors for run in runs),
        server_cpu_us=_median_or_none([run.server_cpu_us for run in runs]),
        postgres_cpu_us=_median_or_none([run.postgres_cpu_us for run in runs]),
    )


def _median_or_none(values: Sequence[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def process_cpu_seconds(pid: int | str, reaped_children: bool = False) -> float:
    """User + system CPU time of one process, from /proc; with ``reaped_children``
    also that of the children it has waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time of every local PostgreSQL process, and of the backends that
    exited (the postmaster reaps them, so their time moves to its children's
    count instead of vanishing from the sum when a pool closes a connection)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and "(postgres)" in (entry / "stat").read_text():
                total += process_cpu_seconds(entry.name, reaped_children=True)
        except OSError:
            continue  # exited meanwhile
    return total


async def settle_postgres() -> None:
    """What autovacuum would have done by now: each run adds tens of thousands
    of rows, and this PostgreSQL runs with autovacuum off, so without it a run
    would be planned on the statistics of a table a tenth its size (or empty:
    the first keyed run finds no Idempotency-Keys, and a plan cached then
    scans the table they fill)."""
    connection = await asyncpg.connect(seed.pg_dsn())
    try:
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


def measure(
    options: Options,
    target: Server,
    make_requests: Callable[[int], list[Request]],
    authorization: str = "",
    connections: int | None = None,
    postgres: bool = True,
) -> Measurement:
    """Median of ``options.repeats`` runs, with the CPU each request cost the
    server process and (when it is the database) PostgreSQL."""
    runs = []
    for _ in range(options.repeats):
        if postgres:
            asyncio.run(settle_postgres())
        requests = make_requests(int(options.seconds * 4000) + 100)
        server_before = process_cpu_seconds(target.pid)
        postgres_before = postgres_cpu_seconds() if postgres else 0.0
        measured = run_load(
            target.base_url,
            requests,
            seconds=options.seconds,
            connections=connections or options.connections,
            authorization=authorization,
            loadgen=options.loadgen,
        )
        served = max(measured.requests, 1)
        server_cpu = process_cpu_seconds(target.pid) - server_before
        postgres_cpu = postgres_cpu_seconds() - postgres_before if postgres else None
        runs.append(
            dataclasses.replace(
                measured,
                server_cpu_us=server_cpu / served * 1e6,
                postgres_cpu_us=None if postgres_cpu is None else postgres_cpu / served * 1e6,
            )
        )
    return median_of(runs)


# --- the bench ---------------------------------------------------------------------


def run(options: Options) -> Report:
    WORK.mkdir(parents=True, exist_ok=True)
    report = Report()
    pg_url = asyncio.run(seed.fresh_postgres())
    seeder = seed.PostgresSeeder(seed.pg_dsn())
    seeded = asyncio.run(seeder.seed(options.scale_levels[0], options.surge, DOOR_KEY))
    programme = asyncio.run(
        activities.seed_postgres(
            seed.pg_dsn(), activities.signups_needed(options.seconds, options.repeats)
        )
    )
    booker = f"Bearer {user_token(pg_url, seeded.booker_id)}"
    slots = Slots(seeded.booking_space_ids)
    floor_env = {"BENCH_FLOOR_DSN": seed.pg_dsn()}

    with (
        server("app.main:create_app", app_env(pg_url), "/readyz", factory=True) as project,
        server("bench.floor:app", floor_env, "/docs", factory=False) as floor,
    ):
        scale: list[tuple[int, Measurement]] = []
        for level in options.scale_levels:
            asyncio.run(seeder.grow_to(seeded, level))
            point = measure(
                options, project, lambda n: availability_requests(seeded), connections=8
            )
            scale.append((seeded.reservations, point))
            if level == options.reservations:
                _main_scenarios(
                    options, report, project, floor, seeded, programme, slots, booker, pg_url
                )
        _scale_rows(report, scale)
        hwm, rss = peak_rss_mb(project.pid)
        report.rows.append(
            Row(
                "memory, every scenario",
                "postgresql",
                note=f"peak RSS {hwm:.0f} MB (now {rss:.0f} MB) of the worker that served "
                "every scenario above, the surge's burst of connections included",
            )
        )
    if options.memory_bookings:
        report.rows.append(_memory_after_bookings(options, pg_url, slots, booker))
    if options.sqlite:
        _sqlite_scenarios(options, report)
    return report


def _main_scenarios(
    options: Options,
    report: Report,
    project: "Server",
    floor: "Server",
    seeded: seed.Seeded,
    programme: activities.ActivitySeed,
    slots: Slots,
    booker: str,
    pg_url: str,
) -> None:
    floor_read = measure(options, floor, lambda n: floor_read_requests(seeded))
    availability = measure(options, project, lambda n: availability_requests(seeded))
    report.rows.append(
        Row("floor: 20-row read", "postgresql", floor_read, floor_read.rps, "raw asyncpg")
    )
    report.rows.append(
        _judged(Row("availability", "postgresql", availability, floor_read.rps), 0.6)
    )

    floor_bodies = Slots(seeded.booking_space_ids)
    floor_insert = measure(
        options,
        floor,
        lambda n: [Request("POST", "/floor/reservations", body) for body in floor_bodies.take(n)],
    )
    book = measure(
        options,
        project,
        lambda n: [Request("POST", "/api/v1/reservations", body) for body in slots.take(n)],
        authorization=booker,
    )
    report.rows.append(
        Row("floor: one INSERT", "postgresql", floor_insert, floor_insert.rps, "raw asyncpg")
    )
    report.rows.append(
        _judged(Row("book: exclusive meeting room", "postgresql", book, floor_insert.rps), 0.45)
    )
    if book.non_2xx:
        report.failures.append(f"book: {book.non_2xx} non-2xx answers")
    seats = Slots(seeded.seat_space_ids)
    seat = measure(
        options,
        project,
        lambda n: [Request("POST", "/api/v1/reservations", body) for body in seats.take(n)],
        authorization=booker,
    )
    report.rows.append(
        _judged(
            Row(
                "book: study-room seat with a door code",
                "postgresql",
                seat,
                floor_insert.rps,
                "a 10-seat room with a door; each booking draws and seals a code",
            ),
            0.40,
        )
    )
    if seat.non_2xx:
        report.failures.append(f"book a seat: {seat.non_2xx} non-2xx answers")
    company = Slots(seeded.quota_space_ids, seeded.organization_ids)
    quota = measure(
        options,
        project,
        lambda n: [Request("POST", "/api/v1/reservations", body) for body in company.take(n)],
        authorization=booker,
    )
    report.rows.append(
        _judged(
            Row(
                "book: company account under a quota rule",
                "postgresql",
                quota,
                floor_insert.rps,
                f"{len(seeded.organization_ids)} verified companies in turn, each under a"
                f" weekly quota of {seed.QUOTA_PER_WEEK} bookings over the center's rooms",
            ),
            0.35,
        )
    )
    if quota.non_2xx:
        report.failures.append(f"book under a quota: {quota.non_2xx} non-2xx answers")
    keyed = measure(
        options,
        project,
        lambda n: [
            Request("POST", "/api/v1/reservations", body, f"bench-{uuid.uuid4().hex}")
            for body in slots.take(n)
        ],
        authorization=booker,
    )
    report.rows.append(
        Row(
            "book with Idempotency-Key",
            "postgresql",
            keyed,
            floor_insert.rps,
            "a fresh key per request, claimed in the booking's own write",
        )
    )
    if keyed.non_2xx:
        report.failures.append(f"book with Idempotency-Key: {keyed.non_2xx} non-2xx answers")

    code = asyncio.run(_live_code(project.base_url, seeded, booker))
    verify = measure(
        options,
        project,
        lambda n: [
            Request("POST", f"/api/v1/doors/{seeded.door_id}/verify", json.dumps({"code": code}))
        ],
        authorization=f"Device {DOOR_KEY}",
    )
    report.rows.append(
        _judged(Row("verify", "postgresql", verify, floor_insert.rps, "a granted code"), 0.40)
    )

    report.rows += _act_rows(options, "postgresql", project, seeded, booker)
    report.rows += _activity_rows(
        options, report, "postgresql", project, programme, pg_url, (floor_read, floor_insert)
    )

    if options.profile and PY_SPY.exists():
        report.extra += _profile(options, project, slots, booker)

    _surge(options, report, project, seeded, pg_url)


async def _live_code(base_url: str, seeded: seed.Seeded, booker: str) -> str:
    now = datetime.now(UTC).astimezone(SHANGHAI) + timedelta(minutes=1)
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=(-now.minute) % 30)
    body = {
        "space_id": seeded.door_space_id,
        "start": start.isoformat(),
        "end": (start + timedelta(hours=2)).isoformat(),
    }
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": booker}) as client:
        booked = await client.post("/api/v1/reservations", json=body)
        booked.raise_for_status()
        access = await client.get(f"/api/v1/reservations/{booked.json()['id']}/access")
        access.raise_for_status()
        return str(access.json()["door_code"])


def _activity_rows(
    options: Options,
    report: Report,
    engine: str,
    project: "Server",
    programme: activities.ActivitySeed,
    database_url: str,
    floors: tuple[Measurement, Measurement],
) -> list[Row]:
    """Signing up for an activity and listing this week's near me, each against
    its engine's floor measured in this run (``floors``: the 20-row read and the
    INSERT; bench/activities.py)."""
    read_floor, insert_floor = (floor.rps for floor in floors)
    postgres = engine == "postgresql"
    signups = activities.Signups(seed.bench_settings(database_url), programme)
    probe = activities.probe(project.base_url, signups, programme)
    rows: list[Row] = []
    name = "sign up for an activity"
    if not probe.signup_route:
        rows.append(
            Row(
                name,
                engine,
                note=f"not measured: no POST {activities.SIGNUP_PATH} here "
                f"(it answered {probe.signup_status})",
            )
        )
    else:
        if probe.signup_status != 201:
            answered = f"the first sign-up answered {probe.signup_status}"
            report.failures.append(f"{engine} {name}: {answered}")
        signed = measure(options, project, signups.take, postgres=postgres)
        note = (
            f"each a different resident, round robin over {activities.SIGNUP_TARGETS} "
            "activities with places never filled"
        )
        rows.append(
            _judged(Row(name, engine, signed, insert_floor, note), activities.SIGNUP_TARGET)
        )
        if signed.non_2xx:
            report.failures.append(f"{engine} {name}: {signed.non_2xx} non-2xx answers")
    near = "list this week's activities near me"
    listed = measure(
        options, project, lambda n: activities.list_requests(programme), postgres=postgres
    )
    note = (
        f"{activities.LIST_ACTIVITIES:,} activities over {activities.LIST_CENTERS} centers, "
        f"within {activities.RADIUS_M} m of {activities.NEAR_POINTS} places in turn; "
        f"items/total of the first five: {probe.listed}"
    )
    rows.append(_judged(Row(near, engine, listed, read_floor, note), activities.LIST_TARGET))
    if listed.non_2xx:
        report.failures.append(f"{engine} {near}: {listed.non_2xx} non-2xx answers")
    polled = "poll the map around me"
    mapped = measure(
        options, project, lambda n: activities.map_requests(programme), postgres=postgres
    )
    note = (
        f"GET /map of a {2 * activities.MAP_HALF_SPAN}° box around "
        f"{activities.NEAR_POINTS} places in turn, each answer kept "
        "ZHENDI_MAP_CACHE_SECONDS (5 s)"
    )
    rows.append(Row(polled, engine, mapped, read_floor, note))
    if mapped.non_2xx:
        report.failures.append(f"{engine} {polled}: {mapped.non_2xx} non-2xx answers")
    return rows


def _act_rows(
    options: Options, engine: str, project: "Server", seeded: seed.Seeded, booker: str
) -> list[Row]:
    """A 52-week series and a move, each against one booking's latency (bench/acts.py)."""
    times = asyncio.run(
        acts.measure_acts(project.base_url, booker, seeded.act_space_ids, options.act_samples)
    )
    single = f"one booking {times.single * 1000:.1f} ms (median of {times.samples})"
    rows = [
        Row(
            f"series of {acts.SERIES_OCCURRENCES} weekly occurrences",
            engine,
            note=f"{times.series * 1000:.1f} ms = {times.series_ratio:.1f}× {single}",
            target=f"≤ {acts.SERIES_TARGET:g}× a booking",
            met=times.series_ratio <= acts.SERIES_TARGET,
        )
    ]
    move_ratio = times.move_ratio
    if times.move is None or move_ratio is None:
        rows.append(Row("move a booking", engine, note="no PATCH /reservations/{id} here"))
    else:
        rows.append(
            Row(
                "move a booking",
                engine,
                note=f"{times.move * 1000:.1f} ms = {move_ratio:.2f}× {single}",
                target=f"≤ {acts.MOVE_TARGET:g}× a booking",
                met=move_ratio <= acts.MOVE_TARGET,
            )
        )
    return rows


def _judged(row: Row, target_ratio: float) -> Row:
    row.target = f"≥ {target_ratio:.0%} of floor"
    row.met = row.ratio is not None and row.ratio >= target_ratio
    return row


def _surge(
    options: Options,
    report: Report,
    project: Server,
    seeded: seed.Seeded,
    pg_url: str,
) -> None:
    users = [user_token(pg_url, user_id) for user_id in seeded.surge_user_ids[: options.surge]]
    # The uncontended baseline books the same study room the same way, each
    # resident a different half hour (from the day after the surge's slot).
    first = local_midnight(local_today() + timedelta(days=2))
    calm_bodies = [
        json.dumps(
            {
                "space_id": seeded.study_room_id,
                "start": (first + SLOT * index).astimezone(SHANGHAI).isoformat(),
                "end": (first + SLOT * (index + 1)).astimezone(SHANGHAI).isoformat(),
            }
        )
        for index in range(len(users))
    ]
    calm = burst(
        project.base_url, "/api/v1/reservations", list(zip(calm_bodies, users, strict=True))
    )
    day = local_today() + timedelta(days=1)
    seat = json.dumps(
        {
            "space_id": seeded.study_room_id,
            "start": datetime.combine(
                day, datetime.min.time().replace(hour=19), SHANGHAI
            ).isoformat(),
            "end": datetime.combine(
                day, datetime.min.time().replace(hour=21), SHANGHAI
            ).isoformat(),
        }
    )
    surge = burst(project.base_url, "/api/v1/reservations", [(seat, token) for token in users])
    winners = surge.statuses.get("201", 0)
    errors = sum(count for status, count in surge.statuses.items() if status[:1] not in "24")
    ratio = surge.seconds / calm.seconds
    report.rows.append(
        Row(
            "surge",
            "postgresql",
            note=f"{len(users)} requests for one 10-seat slot: {winners} won, "
            f"{surge.statuses}, drained in {surge.seconds:.2f} s vs {calm.seconds:.2f} s "
            f"uncontended ({calm.statuses}): {ratio:.2f}×",
            target="10 winners, 0 errors, < 2× uncontended",
            met=winners == 10 and errors == 0 and ratio < 2,
        )
    )
    if winners != min(10, len(users)) or errors:
        report.failures.append(f"surge: {surge.statuses}")


def _scale_rows(report: Report, scale: list[tuple[int, Measurement]]) -> None:
    base = scale[0][1]
    for total, point in scale:
        growth = point.p50_ms / base.p50_ms if base.p50_ms else 0
        report.rows.append(
            Row(
                f"scale: {total:,} reservations",
                "postgresql",
                point,
                note=f"availability p50 {point.p50_ms:.2f} ms, {growth:.2f}× the smallest",
                target="≤ 1.5× from 10k to 1M" if total == scale[-1][0] else "",
                met=growth <= 1.5 if total == scale[-1][0] else None,
            )
        )


def _memory_after_bookings(options: Options, pg_url: str, slots: Slots, booker: str) -> Row:
    """The target's own terms: a fresh worker, ``memory_bookings`` bookings, its peak RSS."""
    with server("app.main:create_app", app_env(pg_url), "/readyz", factory=True) as worker:
        start, _ = peak_rss_mb(worker.pid)
        booked = _drive_bookings(options, worker, slots, booker, options.memory_bookings)
        hwm, rss = peak_rss_mb(worker.pid)
    return Row(
        "memory",
        "postgresql",
        note=f"peak RSS {hwm:.0f} MB (now {rss:.0f} MB, {start:.0f} MB at start) of a fresh "
        f"worker after {booked:,} bookings",
        target="≤ 150 MB",
        met=hwm <= 150,
    )


def _drive_bookings(
    options: Options, project: Server, slots: Slots, booker: str, total: int
) -> int:
    """Book until ``total`` bookings succeeded; short runs, so that no body repeats."""
    done = 0
    while done < total:
        bodies = slots.take(min(20_000, total - done) + 5_000)
        measured = run_load(
            project.base_url,
            [Request("POST", "/api/v1/reservations", body) for body in bodies],
            seconds=min(5.0, (total - done) / 1_000 + 1),
            connections=options.connections,
            authorization=booker,
            loadgen=options.loadgen,
        )
        done += measured.requests - measured.non_2xx
    return done


def _profile(options: Options, project: Server, slots: Slots, booker: str) -> list[str]:
    """Where a booking's CPU time goes: py-spy samples during booking load."""
    raw = WORK / "book-profile.txt"
    spy = subprocess.Popen(
        [str(PY_SPY), "record", "--pid", str(project.pid), "--duration", "8", "--format", "raw",
         "--output", str(raw), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.5)
    run_load(
        project.base_url,
        [Request("POST", "/api/v1/reservations", body) for body in slots.take(40_000)],
        seconds=8,
        connections=options.connections,
        authorization=booker,
        loadgen=options.loadgen,
    )
    spy.wait(timeout=60)
    return summarize_profile(raw)


def summarize_profile(path: Path, top: int = 12) -> list[str]:
    """Self time by library (where the CPU actually goes), and the project's own
    functions by inclusive share. SQLAlchemy's async layer runs statements on
    greenlets, so stacks are cut there and inclusive shares undercount."""
    by_library: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        frames = stack.split(";")
        if "threading.py" in frames[-1]:
            continue  # idle worker threads waiting for work
        count = int(count_text)
        total += count
        by_library[_library(frames[-1])] += count
        for label in {_label(frame) for frame in frames if "app/" in frame}:
            ours[label] += count
    if not total:
        return ["py-spy recorded no samples"]
    lines = [f"py-spy: {total} samples of the server under booking load", "self time by library:"]
    lines += [f"  {count / total:6.1%}  {name}" for name, count in by_library.most_common(top)]
    lines += ["project functions, inclusive:"]
    lines += [f"  {count / total:6.1%}  {name}" for name, count in ours.most_common(top)]
    return lines


def _library(frame: str) -> str:
    where = frame.rsplit("(", 1)[-1].split("site-packages/")[-1]
    parts = where.split(":")[0].split("/")
    if parts[0] == "app":
        return "app (project code)"
    if parts[0] == "sqlalchemy" and len(parts) > 2:
        return f"sqlalchemy/{parts[1]}"
    return parts[0].removesuffix(".py") or "other"


def _label(frame: str) -> str:
    name, _, where = frame.partition(" (")
    return f"{name} ({_short(where.rstrip(')'))})"


def _short(where: str) -> str:
    for marker in ("site-packages/", "/app/", "/bench/"):
        if marker in where:
            return where.split(marker, 1)[1]
    return where


def _sqlite_scenarios(options: Options, report: Report) -> None:
    """The embedded default against its own floor: FastAPI and aiosqlite doing the
    same INSERT and 20-row read (bench/floor_sqlite.py), on the same file."""
    path = str(WORK / "bench.db")
    url = seed.fresh_sqlite(path)
    seeded = seed.seed_sqlite(path, options.reservations)
    programme = activities.seed_sqlite(
        path, activities.signups_needed(options.seconds, options.repeats)
    )
    booker = f"Bearer {user_token(url, seeded.booker_id)}"
    slots = Slots(seeded.booking_space_ids)
    seats = Slots(seeded.seat_space_ids)
    floor_env = {"BENCH_FLOOR_SQLITE": path}
    with (
        server("app.main:create_app", app_env(url), "/readyz", factory=True) as project,
        server("bench.floor_sqlite:app", floor_env, "/docs", factory=False) as floor,
    ):
        floor_read = measure(options, floor, lambda n: floor_read_requests(seeded), postgres=False)
        availability = measure(
            options, project, lambda n: availability_requests(seeded), postgres=False
        )
        floor_bodies = Slots(seeded.booking_space_ids)
        floor_insert = measure(
            options,
            floor,
            lambda n: [
                Request("POST", "/floor/reservations", body) for body in floor_bodies.take(n)
            ],
            postgres=False,
        )
        book = measure(
            options,
            project,
            lambda n: [Request("POST", "/api/v1/reservations", body) for body in slots.take(n)],
            authorization=booker,
            postgres=False,
        )
        seat = measure(
            options,
            project,
            lambda n: [Request("POST", "/api/v1/reservations", body) for body in seats.take(n)],
            authorization=booker,
            postgres=False,
        )
        company = Slots(seeded.quota_space_ids, seeded.organization_ids)
        quota = measure(
            options,
            project,
            lambda n: [Request("POST", "/api/v1/reservations", body) for body in company.take(n)],
            authorization=booker,
            postgres=False,
        )
        act_rows = _act_rows(options, "sqlite", project, seeded, booker)
        act_rows += _activity_rows(
            options, report, "sqlite", project, programme, url, (floor_read, floor_insert)
        )
    report.rows += [
        Row("floor: 20-row read", "sqlite", floor_read, floor_read.rps, "raw aiosqlite"),
        _judged(Row("availability", "sqlite", availability, floor_read.rps), 0.5),
        Row("floor: one INSERT", "sqlite", floor_insert, floor_insert.rps, "raw aiosqlite"),
        _judged(Row("book: exclusive meeting room", "sqlite", book, floor_insert.rps), 0.35),
        _judged(
            Row("book: study-room seat with a door code", "sqlite", seat, floor_insert.rps), 0.35
        ),
        _judged(
            Row(
                "book: company account under a quota rule",
                "sqlite",
                quota,
                floor_insert.rps,
                f"with {seeded.reservations:,} reservations in the table",
            ),
            0.35,
        ),
        *act_rows,
    ]
    for name, measured in (("book", book), ("book a seat", seat), ("book under a quota", quota)):
        if measured.non_2xx:
            report.failures.append(f"sqlite {name}: {measured.non_2xx} non-2xx answers")


# --- output ------------------------------------------------------------------------


def table(report: Report) -> str:
    lines = [
        "| scenario | engine | req/s | p50 ms | p99 ms | floor ratio | non-2xx"
        " | server CPU µs/req | PostgreSQL CPU µs/req | target | met |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for row in report.rows:
        m = row.measurement
        cells = [
            row.scenario,
            row.engine,
            f"{m.rps:,.0f}" if m else "",
            f"{m.p50_ms:.1f}" if m else "",
            f"{m.p99_ms:.1f}" if m else "",
            f"{row.ratio:.0%}" if row.ratio is not None else "",
            str(m.non_2xx) if m else "",
            f"{m.server_cpu_us:,.0f}" if m and m.server_cpu_us is not None else "",
            f"{m.postgres_cpu_us:,.0f}" if m and m.postgres_cpu_us is not None else "",
            row.target,
            {True: "yes", False: "**no**", None: ""}[row.met],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- {row.scenario} ({row.engine}): {row.note}" for row in report.rows if row.note]
    return "\n".join(lines + [""] + notes)


def environment() -> str:
    versions = {}
    for package in ("fastapi", "uvicorn", "sqlalchemy", "asyncpg", "aiosqlite", "pydantic"):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:  # noqa: BLE001 - informational only
            versions[package] = "?"
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    wrk = "wrk" if shutil.which("wrk") else "python (httpx)"
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.platform()}; "
        f"{os.cpu_count()} CPUs; Python {platform.python_version()}; {pg}; load: {wrk}; "
        + ", ".join(f"{name} {value}" for name, value in versions.items())
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny and fast; writes nothing")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the main scenarios at 100k reservations only: no scale, memory, SQLite or profile",
    )
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--memory-bookings", type=int)
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"])
    parser.add_argument("--write", type=Path, help="where to write the results (markdown)")
    args = parser.parse_args(argv)
    options = SMOKE if args.smoke else FULL
    changes: dict[str, object] = {}
    if args.quick:
        changes.update(
            scale_levels=(options.reservations,), memory_bookings=0, sqlite=False, profile=False
        )
    if args.seconds:
        changes["seconds"] = args.seconds
    if args.repeats:
        changes["repeats"] = args.repeats
    if args.no_sqlite:
        changes["sqlite"] = False
    if args.memory_bookings is not None:
        changes["memory_bookings"] = args.memory_bookings
    if args.loadgen:
        changes["loadgen"] = args.loadgen
    if args.write:
        changes["write"] = args.write
    options = Options(**{**options.__dict__, **changes})

    report = run(options)
    text = table(report)
    print(text)
    for line in report.extra:
        print(line)
    if options.write is not None:
        options.write.write_text(
            f"# Bench results\n\n{environment()}\n\n{text}\n\n```\n"
            + "\n".join(report.extra)
            + "\n```\n"
        )
    for failure in report.failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
