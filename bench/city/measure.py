"""What the city's run measures besides Locust: live door codes before it,
PostgreSQL sampled during it, the 08:00 release-time surge after the mix,
and the checks on the database once the load is over."""

import asyncio
import json
import math
import os
import resource
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
from croniter import croniter

from app.core import tokens
from app.core.clock import SHANGHAI, local_today, utcnow
from app.core.config import Settings
from app.jobs.registry import JOBS, schedule
from app.models import HOLDING_SQL
from app.spaces.calendar import booking_window_end
from bench.city import build
from bench.seed import PG_ADMIN

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ADVANCE_DAYS = 7  # the study rooms' (build._space)
# Holding bookings of one space overlapping beyond what it holds: an exclusive
# space's two holders at once, or a shared one's seats over its capacity at
# the start of any of its bookings (where a peak begins).
OVER_CAPACITY = f"""
SELECT count(*) FROM reservations r JOIN spaces s ON s.id = r.space_id
WHERE r.status IN ({HOLDING_SQL})
  AND (SELECT coalesce(sum(o.attendees), 0) FROM reservations o
       WHERE o.space_id = r.space_id AND o.status IN ({HOLDING_SQL})
         AND o.starts_at <= r.starts_at AND o.ends_at > r.starts_at)
      > CASE WHEN s.booking_mode = 'exclusive' THEN 1 ELSE s.capacity END
"""
# Activities with more confirmed people than places, counted either way: the
# sign-ups themselves, and the activity's running count.
ACTIVITIES_OVER = """
SELECT count(*) FROM activities a
WHERE a.confirmed_attendees > a.capacity
   OR (SELECT coalesce(sum(s.attendees), 0) FROM activity_signups s
       WHERE s.activity_id = a.id AND s.status = 'confirmed') > a.capacity
"""
JOB_STATES = "SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY 1"
DATABASE_STATS = """
SELECT xact_commit, xact_rollback, deadlocks, blks_read, blks_hit, tup_inserted,
       tup_updated, pg_database_size(datname) AS size
FROM pg_stat_database WHERE datname = $1
"""
SAMPLE = """
SELECT count(*) AS connections,
       count(*) FILTER (WHERE state = 'active') AS active,
       count(*) FILTER (WHERE wait_event_type = 'Lock') AS waiting,
       coalesce(array_agg(pid), '{}') AS pids
FROM pg_stat_activity WHERE datname = $1
"""


def cpu_seconds(pid: int) -> float | None:
    """A process's CPU time so far (user + system), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Phase:
    samples: int = 0
    max_connections: int = 0
    max_active: int = 0
    max_waiting: int = 0
    samples_waiting: int = 0


@dataclass
class Sampler:
    """PostgreSQL's connections to the city and the backends waiting on a
    lock, twice a second, per phase of the run; and the CPU time of those
    backends (when PostgreSQL runs on this machine)."""

    database: str
    phase: str = "mix"
    phases: dict[str, Phase] = field(default_factory=dict)
    backend_cpu: dict[int, tuple[float, float]] = field(default_factory=dict)  # first, last
    # Each job run seen in ``job_stats`` (successful runs leave no row in
    # procrastinate's tables): (job, when it started).
    job_runs: list[tuple[str, datetime]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def postgres_cpu(self) -> float | None:
        """CPU seconds the city's backends spent while sampled."""
        if not self.backend_cpu:
            return None
        return sum(last - first for first, last in self.backend_cpu.values())

    async def _run(self) -> None:
        db = await asyncpg.connect(PG_ADMIN)
        city = await asyncpg.connect(build.dsn(self.database))
        jobs = "SELECT job, last_started_at FROM job_stats"
        seen: dict[str, datetime] = dict(await city.fetch(jobs))  # runs before the load
        try:
            while not self._stop.is_set():
                for job, started in await city.fetch(jobs):
                    if seen.get(job) != started:
                        self.job_runs.append((job, started))
                    seen[job] = started
                row = await db.fetchrow(SAMPLE, self.database)
                phase = self.phases.setdefault(self.phase, Phase())
                phase.samples += 1
                phase.max_connections = max(phase.max_connections, row["connections"])
                phase.max_active = max(phase.max_active, row["active"])
                phase.max_waiting = max(phase.max_waiting, row["waiting"])
                phase.samples_waiting += 1 if row["waiting"] else 0
                for pid in row["pids"]:
                    if (seconds := cpu_seconds(pid)) is not None:
                        first, _ = self.backend_cpu.get(pid, (seconds, seconds))
                        self.backend_cpu[pid] = (first, seconds)
                await asyncio.sleep(0.5)
        finally:
            await db.close()
            await city.close()


def settings_from(env: dict[str, str]) -> Settings:
    return Settings(
        database_url=env["ZHENDI_DATABASE_URL"],
        jwt_secret=env["ZHENDI_JWT_SECRET"],
        pii_key=env["ZHENDI_PII_KEY"],
        env="development",
        dev_login=False,
    )


def _bearer(settings: Settings, user_id: int) -> dict[str, str]:
    token = tokens.issue(settings, tokens.Audience.user, user_id).access_token
    return {"Authorization": f"Bearer {token}"}


async def live_codes(
    hosts: list[str], manifest: build.Manifest, settings: Settings
) -> list[list[Any]]:
    """A seat booked in every study room from the next half hour on, by a
    resident of its own, and the door code it opens: [door id, space id, code]."""
    now = utcnow().astimezone(SHANGHAI) + timedelta(minutes=1)
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=(-now.minute) % 30)
    codes: list[list[Any]] = []
    async with httpx.AsyncClient(base_url=hosts[0], timeout=60) as client:
        for n, (door_id, space_id) in enumerate(manifest.doors):
            headers = _bearer(settings, manifest.first_resident_id + n)
            body = {
                "space_id": space_id,
                "start": start.isoformat(),
                "end": (start + timedelta(hours=2)).isoformat(),
                "purpose": "自习",
            }
            booked = await client.post("/api/v1/reservations", json=body, headers=headers)
            booked.raise_for_status()
            access = await client.get(
                f"/api/v1/reservations/{booked.json()['id']}/access", headers=headers
            )
            access.raise_for_status()
            codes.append([door_id, space_id, access.json()["door_code"]])
    return codes


def release_day() -> datetime:
    """08:00 of the day the study rooms' booking window opens at 08:00 (the
    last bookable day once today's release is past)."""
    end = booking_window_end(ADVANCE_DAYS, utcnow(), build.RELEASE_MINUTE)
    last_day = (end - timedelta(seconds=1)).astimezone(SHANGHAI).date()
    return datetime.combine(last_day, datetime.min.time().replace(hour=8), SHANGHAI)


async def _post(
    target: httpx.URL, path: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """One POST on a connection of its own, as a phone opening the app at
    08:00 would: a bare HTTP/1.1 exchange, so that the client's own pool does
    not queue the burst before the servers see it."""
    content = json.dumps(body).encode()
    head = "".join(
        f"{name}: {value}\r\n"
        for name, value in {
            "Host": f"{target.host}:{target.port}",
            "Content-Type": "application/json",
            "Content-Length": str(len(content)),
            "Connection": "close",
            **headers,
        }.items()
    )
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        writer.write(f"POST {path} HTTP/1.1\r\n{head}\r\n".encode() + content)
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    status = int(status_line.split()[1])
    _, _, payload = rest.partition(b"\r\n\r\n")
    try:
        parsed = json.loads(payload)
    except ValueError:
        parsed = {}
    return status, parsed if isinstance(parsed, dict) else {}


@dataclass
class Surge:
    requests: int = 0
    rooms: int = 0
    seconds: float = 0
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    rooms_full: int = 0  # study rooms whose every seat went, no more
    at_once: int = 0  # asks in flight at most (all of them unless open files run out)
    start: datetime | None = None

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return math.nan
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


async def surge(
    hosts: list[str], manifest: build.Manifest, settings: Settings, per_room: int, database: str
) -> Surge:
    """Every study room's 08:00–10:00 seats on the day the window opens, asked
    for by ``per_room`` residents each, all at the same instant, spread over
    the servers."""
    start = release_day()
    rooms = manifest.study_room_ids
    result = Surge(requests=len(rooms) * per_room, rooms=len(rooms), start=start)
    # Residents from the end of the range, apart from the door codes' first ones.
    asks = [
        (
            space_id,
            _bearer(settings, manifest.last_resident_id - n * per_room - k),
        )
        for n, space_id in enumerate(rooms)
        for k in range(per_room)
    ]
    targets = [httpx.URL(host) for host in hosts]
    # All at once as far as this process may open sockets (the full city's
    # 12,000 asks need a limit on open files above that).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result.at_once = max(1, min(len(asks), hard - 200))
    at_once = asyncio.Semaphore(result.at_once)

    async def ask(index: int, space_id: int, headers: dict[str, str]) -> None:
        body = {
            "space_id": space_id,
            "start": start.isoformat(),
            "end": (start + timedelta(hours=2)).isoformat(),
            "purpose": "自习",
        }
        target = targets[index % len(targets)]
        async with at_once:
            began = time.perf_counter()
            try:
                status, answer = await _post(target, "/api/v1/reservations", body, headers)
            except OSError as error:
                result.statuses[type(error).__name__] += 1
                return
        result.latencies.append(time.perf_counter() - began)
        code = str(answer.get("code", "")) if status >= 400 else ""
        result.statuses[f"{status} {code}".strip()] += 1

    began = time.perf_counter()
    await asyncio.gather(*(ask(n, space, headers) for n, (space, headers) in enumerate(asks)))
    result.seconds = time.perf_counter() - began
    db = await asyncpg.connect(build.dsn(database))
    try:
        result.rooms_full = await db.fetchval(
            f"SELECT count(*) FROM (SELECT r.space_id FROM reservations r"
            f" JOIN spaces s ON s.id = r.space_id"
            f" WHERE r.starts_at <= $1 AND r.ends_at > $1 AND r.status IN ({HOLDING_SQL})"
            f" AND s.id = ANY($2::int[])"
            f" GROUP BY r.space_id, s.capacity HAVING sum(r.attendees) = s.capacity) full_rooms",
            start,
            rooms,
        )
    finally:
        await db.close()
    return result


@dataclass
class JobLag:
    runs: int = 0
    p50: float = 0.0
    p95: float = 0.0
    max: float = 0.0


def job_lag(runs: list[tuple[str, datetime]], settings: Settings) -> JobLag:
    """How long after its tick (the cron's last one before its start) each job
    run started. Exact while a run starts within its tick's period, which
    ``job_states`` (nothing left ``todo``) bears out."""
    lags = sorted(
        (
            started - croniter(schedule(JOBS[job], settings), started).get_prev(datetime)
        ).total_seconds()
        for job, started in runs
        if job in JOBS
    )
    if not lags:
        return JobLag()
    return JobLag(
        runs=len(lags),
        p50=lags[len(lags) // 2],
        p95=lags[min(len(lags) - 1, int(0.95 * len(lags)))],
        max=lags[-1],
    )


@dataclass
class Checks:
    over_capacity: int = 0
    activities_over: int = 0
    jobs: JobLag = field(default_factory=JobLag)
    job_states: dict[str, int] = field(default_factory=dict)
    stats_before: dict[str, int] = field(default_factory=dict)
    stats_after: dict[str, int] = field(default_factory=dict)
    tables: list[tuple[str, int, int]] = field(default_factory=list)  # name, rows, bytes


async def database_stats(database: str) -> dict[str, int]:
    db = await asyncpg.connect(PG_ADMIN)
    try:
        return dict(await db.fetchrow(DATABASE_STATS, database))
    finally:
        await db.close()


async def checks(
    database: str, sampler: Sampler, settings: Settings, before: dict[str, int]
) -> Checks:
    found = Checks(stats_before=before, jobs=job_lag(sampler.job_runs, settings))
    db = await asyncpg.connect(build.dsn(database))
    try:
        found.over_capacity = int(await db.fetchval(OVER_CAPACITY))
        found.activities_over = int(await db.fetchval(ACTIVITIES_OVER))
        found.job_states = {row[0]: row[1] for row in await db.fetch(JOB_STATES)}
        found.tables = [
            (row["relname"], row["n_live_tup"], row["bytes"])
            for row in await db.fetch(
                "SELECT relname, n_live_tup, pg_total_relation_size(relid) AS bytes"
                " FROM pg_stat_user_tables ORDER BY bytes DESC LIMIT 6"
            )
        ]
    finally:
        await db.close()
    found.stats_after = await database_stats(database)
    return found


def today_text() -> str:
    return local_today().isoformat()
