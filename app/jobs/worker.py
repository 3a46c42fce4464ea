"""``zhendi worker``: the periodic jobs on procrastinate, a task queue kept in
PostgreSQL. Run any number of workers, on any number of machines, against one
database: each minute's run of a job is deferred once whichever workers see
the minute come (procrastinate's periodic defers are unique per task and
tick) and one worker takes it. Two runs of one job may overlap (a slow run
and the next tick): each takes its rows with SKIP LOCKED and changes them by
compare-and-set, so every row changes once (app/reservations/lifecycle.py).
There is deliberately no procrastinate lock per job: procrastinate fetches
nothing behind a held lock, so a job left "doing" would block its job for good.

A worker killed mid-run (``kill -9``, the OOM killer, a lost machine) leaves
its job "doing" for ever. Every worker sends procrastinate a heartbeat; each
one also looks, every half ``ZHENDI_JOBS_STALLED_AFTER_SECONDS``, for jobs
held by a worker whose heartbeat is older than that (procrastinate's
``get_stalled_jobs``), puts each back to run again (procrastinate's own
retry, under a row lock, so one worker does it once) and, in the same
transaction, counts the lost run as a failure in ``job_stats``, which
/metrics reads (``zhendi_job_failures_total``).
"""

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from contextlib import suppress

import procrastinate
from procrastinate.exceptions import ConnectorException
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.core.clock import utcnow
from app.core.config import Settings
from app.core.db import Database
from app.core.db_errors import DATABASE_ERRORS
from app.jobs.registry import JOBS, Job, count_lost_run, run_job, schedule

log = logging.getLogger("zhendi.worker")
QUEUE = "zhendi"


def conninfo(database_url: str) -> str:
    """The libpq connection string of the service's (SQLAlchemy) database URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def build_app(settings: Settings, database: Database) -> procrastinate.App:
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo(settings.database_url), min_size=1, max_size=4
    )
    app = procrastinate.App(connector=connector)
    for job in JOBS.values():
        task = app.task(name=job.name, queue=QUEUE, pass_context=False)(
            _task_for(job, settings, database)
        )
        app.periodic(cron=schedule(job, settings), periodic_id=job.name)(task)
    return app


def _task_for(job: Job, settings: Settings, database: Database) -> Callable[[int], Awaitable[str]]:
    async def run(timestamp: int) -> str:
        # ``timestamp`` is the tick the run was deferred for; the run is as of
        # when it starts, which is later if the workers were busy or down.
        report = await run_job(database, settings, job, utcnow())
        return report.summary

    run.__name__ = run.__qualname__ = job.name.replace("-", "_")
    return run


# Is the job still held? Locked, so that of two workers recovering it at once
# one puts it back and counts the lost run, and the other sees it is done.
STILL_DOING = text(
    "SELECT 1 FROM procrastinate_jobs WHERE id = :job AND status = 'doing' FOR UPDATE"
)
# procrastinate's own "retry_job" (its schema, installed by migration 0009),
# called in our transaction: putting the job back and counting the lost run
# are one change, so a worker killed between the two loses neither.
RETRY_JOB = text("SELECT procrastinate_retry_job_v2(:job, now(), NULL, NULL, NULL)")


async def recover_stalled_jobs(
    app: procrastinate.App, database: Database, stalled_after: float
) -> list[str]:
    """Put back the jobs of workers that stopped sending heartbeats, counting
    each lost run as a failure; the names of the jobs recovered."""
    error = f"killed mid-run: its worker sent no heartbeat for {stalled_after:g} s"
    recovered = []
    stalled = await app.job_manager.get_stalled_jobs(
        queue=QUEUE, seconds_since_heartbeat=stalled_after
    )
    for job in stalled:
        async with database.writer.begin() as session:
            if await session.scalar(STILL_DOING, {"job": job.id}) is None:
                continue  # another worker put it back first
            await session.execute(RETRY_JOB, {"job": job.id})
            await count_lost_run(session, job.task_name, error)
        log.warning("job %s[%s] %s; it runs again", job.task_name, job.id, error)
        recovered.append(job.task_name)
    return recovered


RECOVERY_ERRORS: tuple[type[Exception], ...] = (ConnectorException, *DATABASE_ERRORS)


async def _recover_stalled_jobs_periodically(
    app: procrastinate.App, database: Database, stalled_after: float
) -> None:
    while True:
        try:
            await recover_stalled_jobs(app, database, stalled_after)
        except RECOVERY_ERRORS as exc:  # the database is away: look again next pass
            log.warning("could not look for stalled jobs (%s)", type(exc).__name__)
        except Exception:  # a bug: said loudly, and the worker goes on with its jobs
            log.exception("looking for stalled jobs failed")
        await asyncio.sleep(stalled_after / 2)


async def run_worker(settings: Settings, *, concurrency: int) -> None:
    database = Database.connect(settings)
    await database.open()
    app = build_app(settings, database)
    stalled_after = settings.jobs_stalled_after_seconds
    try:
        async with app.open_async():
            recovery = asyncio.create_task(
                _recover_stalled_jobs_periodically(app, database, stalled_after)
            )
            try:
                await app.run_worker_async(
                    queues=[QUEUE],
                    concurrency=concurrency,
                    name=f"{socket.gethostname()}:{os.getpid()}",
                    delete_jobs="successful",  # failed ones stay, for inspection
                    # Three heartbeats per stall period: one late one is no death.
                    update_heartbeat_interval=stalled_after / 3,
                    stalled_worker_timeout=stalled_after,
                )
            finally:
                recovery.cancel()
                with suppress(asyncio.CancelledError):
                    await recovery
    finally:
        await database.dispose()
