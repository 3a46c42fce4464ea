"""The ``zhendi`` command: serve, run the job workers, run a job, migrate,
seed demo data, create staff."""

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import ValidationError

from app.core import logs, server
from app.core.clock import SHANGHAI, utcnow
from app.core.config import InsecureSettingsError, Settings
from app.core.db import Database, DatabaseUnreachable, check_reachable
from app.core.errors import AppError
from app.core.migrate import upgrade
from app.models import StaffRole, StaffScope


def _settings() -> Settings:
    from app.notifications.templates import TemplateSettingsError, check

    try:
        settings = Settings()
        check(settings)
    except ValidationError as exc:
        sys.exit(f"zhendi: configuration error: {_one_line(exc)}")
    except (InsecureSettingsError, TemplateSettingsError) as exc:
        sys.exit(f"zhendi: configuration error: {exc}")
    return settings


def _one_line(exc: ValidationError) -> str:
    """Each setting that failed and why, on one line, without the value given
    (pydantic's own message spans lines and repeats the value: a secret)."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:  # a rule across settings names them itself
            problems.append(message)
            continue
        field, *inside = (str(part) for part in error["loc"])
        name = f"ZHENDI_{field.upper()}" + (f" ({'.'.join(inside)})" if inside else "")
        problems.append(message if name in message else f"{name}: {message}")
    return "; ".join(problems)


def _migrate(settings: Settings, revision: str = "head") -> None:
    """Migrate, once the database answers; if it does not, one line and exit."""
    try:
        asyncio.run(check_reachable(settings))
    except DatabaseUnreachable as exc:
        sys.exit(f"zhendi: {exc}")
    asyncio.run(
        upgrade(
            settings.database_url,
            revision,
            connect_timeout=settings.database_connect_timeout_seconds,
        )
    )


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from app import demo, demo_data

    settings = _settings()
    if args.demo and settings.env == "production":
        sys.exit("zhendi: --demo is for development only")
    _one_process_runs_the_jobs(settings, args.workers)
    # Make sure every worker reads the same generated development secrets.
    _ = settings.jwt_key, settings.pii_key_bytes
    if settings.is_sqlite and "ZHENDI_JOBS_IN_PROCESS" not in os.environ:
        # One node: the periodic jobs run inside the server (app/jobs/inprocess.py).
        os.environ["ZHENDI_JOBS_IN_PROCESS"] = "true"
    _migrate(settings)
    if args.demo:
        report = asyncio.run(demo.seed_demo_database(settings))
        print(
            f"Demo data: {report.centers_created} centers and "
            f"{report.spaces_created} spaces added (existing ones kept)."
        )
        print(
            f"  Staff login:    {demo.DEMO_SUPER_ADMIN} / {demo.DEMO_STAFF_PASSWORD} (super admin)"
        )
        print(
            f"                  {demo.DEMO_CENTER_ADMIN} / {demo.DEMO_STAFF_PASSWORD} (one center)"
        )
        print(f'  Resident login: POST /api/v1/auth/wechat {{"code": "{demo.DEMO_RESIDENT_CODE}"}}')
        print(f"  Real name:      POST /api/v1/me/real-name (sample ID {demo.DEMO_ID_NUMBER})")
        door = demo_data.DEMO_DOOR_NAME
        print(f"  Door key:       Authorization: Device {demo.DEMO_DOOR_KEY} ({door})")
    print(f"  API docs:       http://{args.host}:{args.port}/docs")
    if not settings.is_sqlite and os.environ.get("ZHENDI_JOBS_IN_PROCESS") != "true":
        print("  Periodic jobs:  run `zhendi worker` (no-shows, completion, expiry)")
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,  # the app logs each request itself, without personal data
        log_level=settings.log_level.lower(),
        # Slow clients must not hold connections: see app/core/server.py.
        http=server.http_protocol(
            header_timeout=args.header_timeout, body_timeout=args.body_timeout
        ),
        timeout_keep_alive=args.keep_alive,
        limit_concurrency=args.limit_concurrency,
        backlog=args.backlog,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips,
    )


def _one_process_runs_the_jobs(settings: Settings, workers: int) -> None:
    """Where the server runs the periodic jobs itself, each worker process
    would run every job: on SQLite (which is one node, README: PostgreSQL)
    or with ZHENDI_JOBS_IN_PROCESS on PostgreSQL, serve with one process."""
    if workers == 1:
        return
    if settings.is_sqlite:
        sys.exit(
            f"zhendi: --workers {workers} needs PostgreSQL: on SQLite one process serves and "
            "runs the periodic jobs (set ZHENDI_DATABASE_URL to PostgreSQL, or use --workers 1)"
        )
    if settings.jobs_in_process:
        sys.exit(
            f"zhendi: --workers {workers} with ZHENDI_JOBS_IN_PROCESS=true would run every job "
            f"{workers} times: leave the jobs to `zhendi worker`, or use --workers 1"
        )


def _db_upgrade(args: argparse.Namespace) -> None:
    settings = _settings()
    _migrate(settings, args.revision)
    print(f"Database upgraded to {args.revision}.")


def _seed_demo(_args: argparse.Namespace) -> None:
    from app import demo

    settings = _settings()
    if settings.is_production:
        # The demo's staff password and door key are public: never in production.
        sys.exit("zhendi: seed-demo is for development only")
    _migrate(settings)
    report = asyncio.run(demo.seed_demo_database(settings))
    print(
        f"{report.centers_created} centers, {report.spaces_created} spaces and "
        f"{len(report.staff_created)} staff accounts added (existing ones kept)."
    )


def _create_staff(args: argparse.Namespace) -> None:
    from app.identity.staff import create_staff

    settings = _settings()
    password = args.password or getpass.getpass("Password: ")

    async def run() -> int:
        database = Database.connect(settings)
        try:
            async with database.writer.begin() as session:
                staff = await create_staff(
                    session,
                    username=args.username,
                    password=password,
                    role=StaffRole(args.role),
                    district=args.district,
                    street=args.street,
                    center_ids=args.center or (),
                    scope=StaffScope(args.scope),
                )
                return staff.id
        finally:
            await database.dispose()

    _migrate(settings)
    try:
        staff_id = asyncio.run(run())
    except AppError as exc:
        detail = exc.detail_text.render("en", exc.params) if exc.detail_text else exc.code
        sys.exit(f"zhendi: {exc.title.en}: {detail}")
    print(f"Created {args.role} {args.username!r} (id {staff_id}).")


def _purge_personal_data(_args: argparse.Namespace) -> None:
    """The ``purge-personal-data`` job, which workers also run daily, once now."""
    _jobs_run(argparse.Namespace(names=["purge-personal-data"], at=None))


def _worker(args: argparse.Namespace) -> None:
    from app.jobs.worker import run_worker

    settings = _settings()
    if settings.is_sqlite:
        sys.exit("zhendi: worker needs PostgreSQL; on SQLite `zhendi serve` runs the jobs itself")
    logs.configure(settings.log_level)
    _migrate(settings)
    asyncio.run(run_worker(settings, concurrency=args.concurrency))


def _jobs_list(_args: argparse.Namespace) -> None:
    """Each job, its schedule and its runs; times in Shanghai, as the centers
    keep them (the cron lines are UTC, as the queue reads them)."""
    from app.jobs.registry import JOBS, job_stats, next_run, schedule

    settings = _settings()

    async def stats() -> dict[str, str]:
        database = Database.connect(settings)
        try:
            rows = await job_stats(database)
        finally:
            await database.dispose()
        return {
            row.job: f"{row.runs} runs, {row.failures} failed,"
            f" last {_shanghai(row.last_finished_at)}"
            for row in rows
        }

    _migrate(settings)
    counted = asyncio.run(stats())
    now = utcnow()
    print(f"Times in Shanghai ({SHANGHAI.key}, +08:00); cron lines in UTC.")
    for job in JOBS.values():
        print(f"{job.name:<22} {schedule(job, settings) + ' UTC':<20} {job.description}")
        ran = counted.get(job.name, "never run")
        print(f"{'':<22} next {_shanghai(next_run(job, settings, now))}; {ran}")


def _shanghai(instant: datetime) -> str:
    if instant.tzinfo is None:  # SQLite hands back the UTC it stores, without the zone
        instant = instant.replace(tzinfo=UTC)
    return f"{instant.astimezone(SHANGHAI):%Y-%m-%d %H:%M:%S}"


def _jobs_run(args: argparse.Namespace) -> None:
    from app.jobs.registry import UnknownJob, jobs_named, run_job

    settings = _settings()
    if args.at is not None and settings.is_production:
        # Running as of another instant is for trying the lifecycle out.
        sys.exit("zhendi: jobs run --at is for development only")
    try:
        jobs = jobs_named(args.names)
    except UnknownJob as exc:
        sys.exit(f"zhendi: no such job: {exc}")
    now = args.at or utcnow()

    async def run() -> bool:
        database = Database.connect(settings)
        failed = False
        try:
            for job in jobs:
                try:
                    report = await run_job(database, settings, job, now)
                except Exception as exc:  # reported; the other jobs still run
                    print(f"{job.name}: failed: {type(exc).__name__}: {exc}")
                    failed = True
                else:
                    print(f"{job.name}: {report.summary}")
        finally:
            await database.dispose()
        return failed

    _migrate(settings)
    print(f"As of {now.astimezone(SHANGHAI).isoformat()}:")
    if asyncio.run(run()):
        sys.exit(1)


def _instant(value: str) -> datetime:
    """An RFC 3339 date-time with its offset, e.g. 2026-12-02T10:20:00+08:00."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 date-time: {value!r}") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the offset too, e.g. {value}+08:00")
    return parsed.astimezone(UTC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zhendi", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate the database, then serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers", type=server.positive_count, default=1, metavar="N",
        help="server processes; PostgreSQL only, where `zhendi worker` runs the jobs "
        "(default: %(default)s)",
    )  # fmt: skip
    serve.add_argument("--demo", action="store_true", help="load the demo centers and accounts")
    limits = serve.add_argument_group("server limits (README: Server limits and a reverse proxy)")
    limits.add_argument(
        "--header-timeout", type=server.positive_seconds, default=server.HEADER_TIMEOUT_SECONDS,
        metavar="SECONDS", help="close a connection whose request line and headers take longer, "
        "from their first byte (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--body-timeout", type=server.positive_seconds, default=server.BODY_TIMEOUT_SECONDS,
        metavar="SECONDS", help="answer 408 and close when a whole request body takes longer, "
        "from the end of the headers (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--keep-alive", type=server.positive_count, default=5, metavar="SECONDS",
        help="close a connection idle this long between requests (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--limit-concurrency", type=server.positive_count, default=1000, metavar="N",
        help="connections or requests at once per worker; 503 beyond (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--backlog", type=server.positive_count, default=2048, metavar="N",
        help="connections the OS queues before they are accepted (default: %(default)s)",
    )  # fmt: skip
    limits.add_argument(
        "--proxy-headers", action=argparse.BooleanOptionalAction, default=True,
        help="take the client address and scheme from X-Forwarded-For/-Proto when the "
        "connection comes from --forwarded-allow-ips (default: on)",
    )  # fmt: skip
    limits.add_argument(
        "--forwarded-allow-ips", metavar="IPS",
        help="comma-separated addresses or networks of the trusted reverse proxies, '*' for "
        "any (default: $FORWARDED_ALLOW_IPS, else 127.0.0.1,::1, the loopback addresses)",
    )  # fmt: skip
    serve.set_defaults(handler=_serve)

    worker = commands.add_parser(
        "worker", help="run the periodic jobs (PostgreSQL; start as many as you like)"
    )
    worker.add_argument(
        "--concurrency", type=server.positive_count, default=1, metavar="N",
        help="jobs this worker runs at once (default: %(default)s)",
    )  # fmt: skip
    worker.set_defaults(handler=_worker)

    jobs = commands.add_parser("jobs", help="list the periodic jobs, or run some once")
    jobs_commands = jobs.add_subparsers(dest="jobs_command", required=True)
    jobs_list = jobs_commands.add_parser("list", help="the jobs, their schedules and runs")
    jobs_list.set_defaults(handler=_jobs_list)
    jobs_run = jobs_commands.add_parser("run", help="run jobs once and print what they changed")
    jobs_run.add_argument("names", nargs="*", metavar="NAME", help="jobs to run (default: all)")
    jobs_run.add_argument(
        "--at", type=_instant, metavar="RFC3339",
        help="run as of this instant instead of now (not in production)",
    )  # fmt: skip
    jobs_run.set_defaults(handler=_jobs_run)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_upgrade = db_commands.add_parser("upgrade", help="apply migrations")
    db_upgrade.add_argument("revision", nargs="?", default="head")
    db_upgrade.set_defaults(handler=_db_upgrade)

    seed = commands.add_parser("seed-demo", help="load the demo data (idempotent)")
    seed.set_defaults(handler=_seed_demo)

    staff = commands.add_parser("create-staff", help="create a staff account")
    staff.add_argument("username")
    staff.add_argument("--password", help="prompted for when omitted")
    staff.add_argument("--role", required=True, choices=[role.value for role in StaffRole])
    staff.add_argument("--district", help="for district_admin and street_admin, e.g. 普陀区")
    staff.add_argument("--street", help="for street_admin, e.g. 长风新村街道")
    staff.add_argument(
        "--center", type=int, action="append", help="for center_admin; repeat for several"
    )
    staff.add_argument(
        "--scope",
        choices=[scope.value for scope in StaffScope],
        default=StaffScope.listed.value,
        help="for center_admin: subtree also covers every center below the listed ones",
    )
    staff.set_defaults(handler=_create_staff)

    purge = commands.add_parser(
        "purge-personal-data",
        help="delete door attempts and strip audit details past their retention now "
        "(the workers also do it daily)",
    )
    purge.set_defaults(handler=_purge_personal_data)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.handler(args)


if __name__ == "__main__":
    main()
