"""The periodic jobs: their names, schedules and functions, and the counting
of their runs. A job is a function of the database, the settings and the
instant it runs as of; ``zhendi worker`` (procrastinate, PostgreSQL), the
in-process runner of ``zhendi serve`` (SQLite) and ``zhendi jobs run`` all
call it through ``run_job`` here.
"""

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from croniter import croniter
from sqlalchemy import Executable, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.retention import purge_personal_data
from app.activities import attendance
from app.activities import reminders as activity_reminders
from app.core.clock import utcnow
from app.core.config import Settings
from app.core.db import Database
from app.core.jobs import Report
from app.models import JobStats
from app.notifications import reminders, sender
from app.reservations import lifecycle
from app.waitlist import offers
from app.webhooks import delivery

log = logging.getLogger("zhendi.jobs")
JobFunction = Callable[[Database, Settings, datetime], Awaitable[Report]]
EVERY_MINUTE = "* * * * *"


@dataclass(frozen=True)
class Job:
    name: str
    function: JobFunction
    cron: str  # in UTC, as procrastinate reads it
    description: str


async def _purge(database: Database, settings: Settings, now: datetime) -> Report:
    async with database.writer.begin() as session:
        purged = await purge_personal_data(session, settings, now)
    changed = (
        purged.door_attempts_deleted
        + purged.audit_events_cleared
        + purged.notifications_deleted
        + purged.suggestions_unlinked
        + purged.responses_unlinked
    )
    summary = (
        f"{purged.door_attempts_deleted} door attempts deleted, "
        f"{purged.audit_events_cleared} audit events stripped of personal details, "
        f"{purged.notifications_deleted} notifications deleted, "
        f"{purged.suggestions_unlinked} suggestions and "
        f"{purged.responses_unlinked} questionnaire answers unlinked from their authors"
    )
    return Report(changed, summary)


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "release-no-shows",
            lifecycle.release_no_shows,
            EVERY_MINUTE,
            "free the time of bookings not checked in by their deadline; record violations",
        ),
        Job(
            "complete-finished",
            lifecycle.complete_finished,
            EVERY_MINUTE,
            "mark ended bookings completed",
        ),
        Job(
            "expire-pending",
            lifecycle.expire_pending,
            EVERY_MINUTE,
            "expire requests nobody approved before their start",
        ),
        Job(
            "offer-waitlist",
            offers.offer_waitlist,
            EVERY_MINUTE,
            "lapse unaccepted offers; offer freed places to the first in each waitlist",
        ),
        Job(
            "remind-upcoming",
            reminders.remind_upcoming,
            EVERY_MINUTE,
            "remind bookers of confirmed bookings that start soon, once each",
        ),
        Job(
            "remind-activities",
            activity_reminders.remind_activities,
            EVERY_MINUTE,
            "remind people signed up for an activity that starts soon, once each",
        ),
        Job(
            "complete-activities",
            attendance.complete_activities,
            "*/5 * * * *",
            "end activities whose end has passed; count who came (check-ins and walk-ins)",
        ),
        Job(
            "send-notifications",
            sender.send_notifications,
            EVERY_MINUTE,
            "send queued notifications to WeChat as subscribe messages",
        ),
        Job(
            "send-webhooks",
            delivery.send_webhooks,
            EVERY_MINUTE,
            "send queued webhooks, signed, retrying for a day; then dead letters",
        ),
        Job(
            "purge-personal-data",
            _purge,
            "0 19 * * *",  # 03:00 in Shanghai
            "delete door attempts and strip audit details past their retention",
        ),
    )
}


def schedule(job: Job, settings: Settings) -> str:
    """The job's cron line; ``ZHENDI_JOBS_EVERY_SECONDS`` makes the every-minute
    jobs tick that many seconds apart (croniter's sixth field)."""
    if settings.jobs_every_seconds is not None and job.cron == EVERY_MINUTE:
        return f"{EVERY_MINUTE} */{settings.jobs_every_seconds}"
    return job.cron


def next_run(job: Job, settings: Settings, after: datetime) -> datetime:
    """The job's first tick after ``after`` (UTC)."""
    due: datetime = croniter(schedule(job, settings), after).get_next(datetime)
    return due.astimezone(UTC)


class UnknownJob(LookupError):
    pass


def jobs_named(names: Sequence[str]) -> list[Job]:
    """The named jobs in the order given, or every job when none is named."""
    if not names:
        return list(JOBS.values())
    unknown = [name for name in names if name not in JOBS]
    if unknown:
        raise UnknownJob(", ".join(unknown))
    return [JOBS[name] for name in dict.fromkeys(names)]


async def run_job(database: Database, settings: Settings, job: Job, now: datetime) -> Report:
    """Run ``job`` as of ``now`` and count the run (or its failure, re-raised)."""
    started = utcnow()
    try:
        report = await job.function(database, settings, now)
    except Exception as exc:
        log.exception("job %s failed", job.name)
        await _count(database, job.name, started, changed=0, error=f"{type(exc).__name__}: {exc}")
        raise
    log.info("job %s: %s", job.name, report.summary)
    await _count(database, job.name, started, changed=report.changed, error=None)
    return report


async def count_lost_run(session: AsyncSession, name: str, error: str) -> None:
    """Count a run of ``name`` that never finished (its worker was killed
    mid-run, app/jobs/worker.py) as a failed run, in ``session``'s transaction."""
    await session.execute(_counted(postgresql_insert, name, utcnow(), changed=0, error=error))


async def _count(
    database: Database, name: str, started: datetime, *, changed: int, error: str | None
) -> None:
    insert = sqlite_insert if database.is_sqlite else postgresql_insert
    async with database.writer.begin() as session:
        await session.execute(_counted(insert, name, started, changed=changed, error=error))


def _counted(
    insert: Callable[..., Any], name: str, started: datetime, *, changed: int, error: str | None
) -> Executable:
    run = insert(JobStats).values(
        job=name,
        runs=1,
        failures=int(error is not None),
        changed=changed,
        last_started_at=started,
        last_finished_at=utcnow(),
        last_error=error[:200] if error else None,
    )
    counted: Executable = run.on_conflict_do_update(
        index_elements=[JobStats.job],
        set_={
            "runs": JobStats.runs + 1,
            "failures": JobStats.failures + run.excluded.failures,
            "changed": JobStats.changed + run.excluded.changed,
            "last_started_at": run.excluded.last_started_at,
            "last_finished_at": run.excluded.last_finished_at,
            "last_error": run.excluded.last_error,
        },
    )
    return counted


async def job_stats(database: Database) -> list[JobStats]:
    async with database.reader.begin() as session:
        return list((await session.scalars(select(JobStats).order_by(JobStats.job))).all())
