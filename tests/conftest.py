"""Test fixtures: real databases built by Alembic, the app over ASGI, factories.

Every API test runs twice, on SQLite and on PostgreSQL. Each engine gets one
fresh database per run (a temporary file; a new PostgreSQL database created
from ``ZHENDI_TEST_PG_URL``), migrated with ``alembic upgrade head``; every
test leaves it empty again. Outside CI a missing PostgreSQL server skips its
half of the suite with a reason; with ``CI=true`` it fails the run.

``ZHENDI_TEST_NOW`` (an ISO instant with its offset) travels the clock: every
test starts at that instant and the clock ticks on from there, so CI can run
the ``dates`` tests on a Monday 00:05 or the eve of a holiday on any day.
"""

import asyncio
import logging
import os
import secrets
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import time_machine
from fastapi import FastAPI
from sqlalchemy import make_url, text

from app.core.config import Settings
from app.core.db import Database
from app.core.migrate import upgrade
from app.main import create_app
from app.models import Base
from tests.factories import SENT_PERSONAL_DATA, Api

PG_ADMIN_URL = os.environ.get(
    "ZHENDI_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ENGINES = ("sqlite", "postgresql")
TEST_PII_KEY = secrets.token_hex(32)
TEST_JWT_SECRET = secrets.token_urlsafe(48)


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_execute(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(url), timeout=5)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def require_service(name: str, host: str, port: int) -> None:
    """Skip (fail under CI) when a local service the test talks to is not running."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        message = f"{name} at {host}:{port} is not reachable: {exc}"
        if IN_CI:
            pytest.fail(f"{message} (CI=true requires it)", pytrace=False)
        pytest.skip(message)


def _postgres_unavailable(reason: str) -> None:
    message = f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {reason}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true requires it)", pytrace=False)
    pytest.skip(f"{message}; set ZHENDI_TEST_PG_URL to run the PostgreSQL half")


class TemporaryDatabases:
    """Creates throw-away databases and drops them at the end of the session."""

    def __init__(self, tmp_dir: Path, tag: str) -> None:
        self.tmp_dir = tmp_dir
        self.tag = tag
        self.created_pg: list[str] = []
        self.pg_error: str | None = None
        self.count = 0

    def new(self, engine: str) -> str:
        self.count += 1
        name = f"zhendi_test_{self.tag}_{self.count}"
        if engine == "sqlite":
            return f"sqlite+aiosqlite:///{self.tmp_dir / name}.db"
        if self.pg_error is not None:
            _postgres_unavailable(self.pg_error)
        try:
            asyncio.run(_pg_execute(PG_ADMIN_URL, f'CREATE DATABASE "{name}"'))
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            self.pg_error = f"{type(exc).__name__}: {exc}"
            _postgres_unavailable(self.pg_error)
        self.created_pg.append(name)
        return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for name in self.created_pg:
            asyncio.run(_pg_execute(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def temporary_databases(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[TemporaryDatabases]:
    tag = f"{os.getpid()}_{worker_id}_{secrets.token_hex(3)}"
    databases = TemporaryDatabases(tmp_path_factory.mktemp("databases"), tag)
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session", params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(engine_name: str, temporary_databases: TemporaryDatabases) -> str:
    """One migrated database per engine, shared by the session's tests."""
    url = temporary_databases.new(engine_name)
    asyncio.run(upgrade(url))
    return url


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "env": "development",
        "jwt_secret": TEST_JWT_SECRET,
        "pii_key": TEST_PII_KEY,
        "dev_login": True,
        "wechat_api_base": "http://127.0.0.1:9",
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


async def wipe(database: Database) -> None:
    """Empty every table so the next test starts from a clean, migrated schema."""
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    async with database.writer.begin() as session:
        if database.engine.dialect.name == "postgresql":
            quoted = ", ".join(f'"{name}"' for name in tables)
            await session.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                await session.execute(text(f'DELETE FROM "{name}"'))


class LogBook(logging.Handler):
    """Keeps every log line of the run, formatted as it would be written."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.scanned = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def unscanned(self) -> list[str]:
        lines, self.scanned = self.lines[self.scanned :], len(self.lines)
        return lines


LOG_BOOK = LogBook()


def _travelled_instant() -> datetime | None:
    value = os.environ.get("ZHENDI_TEST_NOW", "").strip()
    if not value:
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError as exc:
        raise pytest.UsageError(f"ZHENDI_TEST_NOW is not an ISO instant: {value!r}") from exc
    if instant.tzinfo is None:
        raise pytest.UsageError(f"ZHENDI_TEST_NOW needs an offset, e.g. +08:00: {value!r}")
    return instant


TRAVELLED_TO = _travelled_instant()


def pytest_configure(config: pytest.Config) -> None:
    root = logging.getLogger()
    root.addHandler(LOG_BOOK)
    root.setLevel(min(root.level or logging.INFO, logging.INFO))
    if TRAVELLED_TO is not None:
        # Already at collection, for dates the test modules compute on import.
        traveller = time_machine.travel(TRAVELLED_TO, tick=True)
        traveller.start()
        config.add_cleanup(traveller.stop)


def pytest_report_header() -> str | None:
    if TRAVELLED_TO is None:
        return None
    return f"clock travelled: every test starts at {TRAVELLED_TO.isoformat()} (ZHENDI_TEST_NOW)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if TRAVELLED_TO is None:
        return
    needs_real_clock = pytest.mark.skip(reason="needs the real clock; ZHENDI_TEST_NOW travels it")
    for item in items:
        if item.get_closest_marker("real_clock"):
            item.add_marker(needs_real_clock)


@pytest.fixture(autouse=True)
def _start_at_travelled_instant() -> Iterator[None]:
    """Each test starts at the same instant, whatever ran before it."""
    if TRAVELLED_TO is None:
        yield
        return
    with time_machine.travel(TRAVELLED_TO, tick=True):
        yield


async def _plaintext_personal_data(database: Database, sends_before: int) -> list[str]:
    """Where an ID number or birth date the tests sent sits in plaintext: in the
    log lines written since the last scan, or (if any was sent meanwhile) the database."""
    secrets_sent = SENT_PERSONAL_DATA.values
    found = [
        f"log: {secret[:4]}…"
        for line in LOG_BOOK.unscanned()
        for secret in secrets_sent
        if secret in line
    ]
    if SENT_PERSONAL_DATA.sends == sends_before:
        return found
    async with database.reader() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(text(f'SELECT * FROM "{table.name}"'))).all():
                for value in row:
                    haystack = value if isinstance(value, bytes) else str(value).encode()
                    found += [
                        f"{table.name}: {secret[:4]}…"
                        for secret in secrets_sent
                        if secret.encode() in haystack
                    ]
    return found


@asynccontextmanager
async def running(settings: Settings, *, clean_up: bool = True) -> AsyncIterator[Api]:
    """The app with its lifespan started and a client on it. Afterwards the
    database and the logs are scanned for plaintext personal data, and the
    tables are emptied."""
    application = create_app(settings)
    sends_before = SENT_PERSONAL_DATA.sends
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            try:
                yield Api(app=application, client=client)
            finally:
                if clean_up:
                    database = application.state.database
                    leaks = await _plaintext_personal_data(database, sends_before)
                    await wipe(database)
                    assert not leaks, f"plaintext personal data left behind: {leaks}"


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with running(settings) as running_api:
        yield running_api


# The door tests' rooms open check-in, and so their codes, this long before the
# start: wide enough that the code of the next half-hour slot is live now.
DOOR_LEEWAY_MINUTES = 60


@pytest.fixture
async def doors_api(database_url: str) -> AsyncIterator[Api]:
    """The app for the door tests (their rooms set ``check_in_opens_minutes``)."""
    settings = make_settings(database_url)
    async with running(settings) as running_api:
        yield running_api


@pytest.fixture
def app(api: Api) -> FastAPI:
    return api.app


@pytest.fixture
def client(api: Api) -> httpx.AsyncClient:
    return api.client


def _fuzz_counts() -> dict[str, int]:
    fuzzing = sys.modules.get("tests.test_schemathesis")
    return dict(getattr(fuzzing, "cases_run", {}))


_WORKER_FUZZ_COUNTS: dict[str, int] = {}


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker hands its counts to the controller
        workeroutput["fuzz_counts"] = _fuzz_counts()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    for engine, count in getattr(node, "workeroutput", {}).get("fuzz_counts", {}).items():
        _WORKER_FUZZ_COUNTS[engine] = _WORKER_FUZZ_COUNTS.get(engine, 0) + count


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts = _fuzz_counts() or _WORKER_FUZZ_COUNTS
    if counts:
        per_engine = ", ".join(f"{engine} {count}" for engine, count in sorted(counts.items()))
        terminalreporter.write_line(f"schemathesis cases run: {per_engine}")
