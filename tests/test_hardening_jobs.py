"""A ``zhendi worker`` killed mid-run (``kill -9``) leaves no job "doing" for
ever: another worker sees its heartbeat stop, runs the job again, and the
lost run is counted as a failure in /metrics. PostgreSQL only (the workers'
queue lives there); real worker processes, really killed."""

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import select

from app.models import JobStats
from tests.conftest import TemporaryDatabases, _asyncpg_dsn, make_settings, running
from tests.test_jobs import migrated, zhendi

# The workers run in their own processes, on the real clock.
pytestmark = pytest.mark.real_clock

KILLS = 3
STALLED_AFTER = "3"  # seconds without a heartbeat
# The jobs that need the reservations table, which the test keeps locked so
# that a worker's run of one of them is still going when it is killed
# (offer-waitlist reads it only when an offer lapses, so it finishes).
BLOCKED_JOBS = ("release-no-shows", "complete-finished", "expire-pending", "remind-upcoming")
WORKER_ENV = {
    "ZHENDI_JOBS_EVERY_SECONDS": "1",
    "ZHENDI_JOBS_STALLED_AFTER_SECONDS": STALLED_AFTER,
    # The killed runs wait on the lock for as long as the test holds it.
    "ZHENDI_DATABASE_STATEMENT_TIMEOUT_SECONDS": "300",
    "ZHENDI_LOG_LEVEL": "INFO",
}

# The jobs a worker registered after the others (id above $2) is running.
NEW_WORKERS_JOBS = """
SELECT id FROM procrastinate_jobs
WHERE status = 'doing' AND task_name = ANY($1::text[]) AND worker_id > $2
"""
LAST_WORKER = "SELECT coalesce(max(id), 0) FROM procrastinate_workers"


@asynccontextmanager
async def connected(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(_asyncpg_dsn(database_url), timeout=10)
    try:
        yield connection
    finally:
        await connection.close()


async def _until(condition: str, predicate: Callable[[], Awaitable[bool]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{condition} within {timeout:g} s")
        await asyncio.sleep(0.2)


async def kill_mid_run(admin: asyncpg.Connection, cwd: Path, database_url: str) -> list[int]:
    """Start a worker, wait until it runs one of the blocked jobs, SIGKILL it:
    the ids of the jobs it was running."""
    workers_before = await admin.fetchval(LAST_WORKER)
    worker = zhendi(cwd, "worker", database_url=database_url, env=WORKER_ENV)
    job_ids: list[int] = []

    async def running_a_blocked_job() -> bool:
        rows = await admin.fetch(NEW_WORKERS_JOBS, list(BLOCKED_JOBS), workers_before)
        job_ids[:] = [row["id"] for row in rows]
        return bool(job_ids) or worker.poll() is not None

    try:
        await _until("a worker runs a job", running_a_blocked_job, 90)
        assert worker.poll() is None, worker.communicate()[0]
    finally:
        worker.kill()  # SIGKILL: no goodbye, no heartbeat ever again
        await asyncio.to_thread(worker.communicate)
    return job_ids


async def test_a_worker_killed_mid_run_leaves_no_job_doing_and_counts_a_failure(
    tmp_path: Path, temporary_databases: TemporaryDatabases
) -> None:
    database_url = await asyncio.to_thread(migrated, temporary_databases, "postgresql")
    killed_jobs: list[int] = []
    async with running(make_settings(database_url)) as api, connected(database_url) as admin:
        lock = admin.transaction()
        await lock.start()
        await admin.execute("LOCK TABLE reservations IN ACCESS EXCLUSIVE MODE")
        try:
            for _ in range(KILLS):
                killed_jobs += await kill_mid_run(admin, tmp_path, database_url)
        finally:
            await lock.rollback()
        assert len(killed_jobs) == KILLS, killed_jobs

        survivor = zhendi(tmp_path, "worker", database_url=database_url, env=WORKER_ENV)
        try:

            async def none_doing() -> bool:
                return not await admin.fetchval(
                    "SELECT count(*) FROM procrastinate_jobs"
                    " WHERE id = ANY($1::bigint[]) AND status = 'doing'",
                    killed_jobs,
                )

            await _until("the killed runs are no longer 'doing'", none_doing, 60)
        finally:
            survivor.terminate()
            output, _ = await asyncio.to_thread(survivor.communicate, timeout=60)
        assert "Traceback" not in output, output

        async with api.database.reader() as session:
            stats = (await session.scalars(select(JobStats))).all()
        assert sum(row.failures for row in stats) == KILLS, [
            (row.job, row.failures, row.last_error) for row in stats
        ]
        assert {row.job for row in stats if row.failures} <= set(BLOCKED_JOBS)
        assert output.count("killed mid-run: its worker sent no heartbeat") <= KILLS, output
        metrics = (await api.client.get("/metrics")).text
        counted = re.findall(r'^zhendi_job_failures_total\{job="[^"]+"\} (\S+)$', metrics, re.M)
        assert sum(float(value) for value in counted) == KILLS, metrics
