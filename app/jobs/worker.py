"""``zhendi worker``: the periodic jobs on procrastinate, a task queue kept in
PostgreSQL. Run any number of workers, on any number of machines, against one
database: each minute's run of a job is deferred once whichever workers see
the minute come (procrastinate's periodic defers are unique per task and
tick) and one worker takes it. Two runs of one job may overlap (a slow run
and the next tick): each takes its rows with SKIP LOCKED and changes them by
compare-and-set, so every row changes once (app/reservations/lifecycle.py).
There is deliberately no procrastinate lock per job: a worker killed mid-run
would leave its job "doing", and procrastinate fetches nothing behind a held
lock, so the job would never run again.
"""

import logging
import os
import socket
from collections.abc import Awaitable, Callable

import procrastinate
from sqlalchemy.engine import make_url

from app.core.clock import utcnow
from app.core.config import Settings
from app.core.db import Database
from app.jobs.registry import JOBS, Job, run_job, schedule

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


async def run_worker(settings: Settings, *, concurrency: int) -> None:
    database = Database.connect(settings)
    await database.open()
    app = build_app(settings, database)
    try:
        async with app.open_async():
            await app.run_worker_async(
                queues=[QUEUE],
                concurrency=concurrency,
                name=f"{socket.gethostname()}:{os.getpid()}",
                delete_jobs="successful",  # failed ones stay, for inspection
            )
    finally:
        await database.dispose()
