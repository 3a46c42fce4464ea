"""The periodic jobs inside ``zhendi serve``, for the SQLite default: one node,
no queue. The same functions on the same schedules as ``zhendi worker``; a
run that fails is logged and counted, and the next tick runs again."""

import asyncio
import logging
from datetime import datetime

from app.core.clock import utcnow
from app.core.config import Settings
from app.core.db import Database
from app.jobs.registry import JOBS, Job, next_run, run_job

log = logging.getLogger("zhendi.jobs")


def _next(job: Job, settings: Settings, after: datetime) -> datetime:
    return next_run(job, settings, after)


async def run_periodically(database: Database, settings: Settings) -> None:
    """Until cancelled."""
    now = utcnow()
    due = {job.name: _next(job, settings, now) for job in JOBS.values()}
    while True:
        soonest = min(due.values())
        await asyncio.sleep(max((soonest - utcnow()).total_seconds(), 0))
        now = utcnow()
        for job in JOBS.values():
            if due[job.name] <= now:
                due[job.name] = _next(job, settings, now)
                try:
                    await run_job(database, settings, job, now)
                except Exception:  # counted and logged by run_job; the next tick retries
                    continue
