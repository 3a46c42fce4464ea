"""Engine, sessions and the per-request unit of work.

Every request runs in one transaction that is committed before the response
is sent; services only ``flush()``. On SQLite the driver's own transaction
handling is switched off so that we issue ``BEGIN`` ourselves: requests that
write start with ``BEGIN IMMEDIATE`` and take the database's write lock up
front, which serializes writers (SQLite ignores ``SELECT ... FOR UPDATE``,
so a deferred transaction would let two check-then-insert writers interleave).
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection, ExceptionContext
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from app.core.config import Settings
from app.core.db_errors import connection_lost as connection_lost  # re-exported: it lived here
from app.core.db_errors import sqlstate as sqlstate  # re-exported: it lived here
from app.core.sqlite import SqliteWorker

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def create_engine(settings: Settings, **overrides: Any) -> AsyncEngine:
    if settings.is_sqlite:
        engine = create_async_engine(
            settings.database_url,
            connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000},
            **overrides,
        )
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        return engine
    options: dict[str, Any] = {
        "pool_size": settings.database_pool_size,
        # No overflow: under load, extra connections were opened and closed for
        # every burst (measured in bench/); waiting for a pooled one is cheaper.
        "max_overflow": 0,
        "pool_pre_ping": False,
        "pool_timeout": settings.database_pool_timeout_seconds,
        "connect_args": postgresql_timeouts(settings),
    }
    options.update(overrides)
    engine = create_async_engine(settings.database_url, **options)
    _configure_postgresql(engine)
    return engine


def postgresql_timeouts(settings: Settings) -> dict[str, Any]:
    """asyncpg's connection arguments that bound every wait on the server.

    A server behind a network partition neither answers nor refuses: without
    these, a connection attempt waits a minute and a statement on an open
    connection as long as the partition lasts. ``timeout`` bounds connecting
    (TCP, TLS and authentication); ``statement_timeout`` makes the server
    cancel a statement that runs too long, and ``command_timeout`` makes the
    client give up on one whose answer does not come (the server may be
    unreachable), after the same time. Either failure is a 503
    (app/core/handlers.py)."""
    statement = settings.database_statement_timeout_seconds
    return {
        "timeout": settings.database_connect_timeout_seconds,
        "command_timeout": statement,
        "server_settings": {"statement_timeout": f"{round(statement * 1000)}ms"},
    }


def _configure_postgresql(engine: AsyncEngine) -> None:
    """Never hand out, or keep, a connection the server has dropped.

    Without a pre-ping (a round trip per checkout), a pooled connection whose
    backend was terminated while it sat idle was handed to the next request,
    which failed ("connection is closed"). Such a connection is now refused at
    checkout, for free, and the pool opens another. A failure that
    ``connection_lost`` recognizes counts as a disconnect even where
    SQLAlchemy's own test (is the socket closed yet?) would not: the connection
    is invalidated rather than returned to the pool, and the error says so.
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _refuse_closed(dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
        if dbapi_connection._connection.is_closed():
            raise DisconnectionError("the server closed this pooled connection")

    @event.listens_for(engine.sync_engine, "handle_error")
    def _invalidate_broken(context: ExceptionContext) -> None:
        if not context.is_disconnect and connection_lost(context.original_exception):
            context.is_disconnect = True
        if context.is_disconnect and context.connection is not None:
            # Abort at once: SQLAlchemy's invalidation would first try a polite
            # close, which on a connection that stopped answering waits 2 s.
            _abort(context.connection)


def _abort(connection: Connection) -> None:
    if connection.invalidated or connection.closed:
        return
    driver = connection.connection.driver_connection
    if isinstance(driver, asyncpg.Connection) and not driver.is_closed():
        driver.terminate()


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return  # each statement commits on its own
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get("zhendi_write") else "BEGIN")


@dataclass(frozen=True)
class OverlapGuard:
    """The layers that keep concurrent bookings of a space apart
    (``app/reservations/store.py``), and concurrent sign-ups within an
    activity's places (``lock``: ``app/activities/signup_store.py``). A value
    the ``Database`` handle carries and hands to every writer that makes a
    reservation hold time: the booking
    store's acts, the acts on a caller's session (``store.hold``) and the jobs,
    which reach only the ``Database`` (``app/jobs/registry.py``). Always fully on
    in production; a test's negative control opens its app's database with a
    layer off to show that each race really double-books without it."""

    lock: bool = True  # the guard function (PostgreSQL); one BEGIN IMMEDIATE (SQLite)
    exclusion_constraint: bool = True  # PostgreSQL's backstop for exclusive spaces
    delay_seconds: float = 0.0  # a pause between the read and the write


@dataclass
class Database:
    engine: AsyncEngine
    reader: async_sessionmaker[AsyncSession]
    writer: async_sessionmaker[AsyncSession]
    # Single-statement reads on PostgreSQL skip BEGIN/COMMIT: two round trips saved.
    autocommit: AsyncEngine
    # PostgreSQL only, opened by ``open()``: bare driver connections for the hot
    # paths' single statements (see ``driver``).
    driver_pool: "asyncpg.Pool[asyncpg.Record] | None" = None
    pool_size: int = 0
    driver_options: dict[str, Any] = field(default_factory=dict)
    pool_timeout: float | None = None
    # SQLite only: the hot paths' threads, one that writes and one that reads
    # (app/core/sqlite.py).
    sqlite_writer: SqliteWorker | None = None
    sqlite_reader: SqliteWorker | None = None
    sqlite_busy_timeout_ms: int = 0
    guard: OverlapGuard = field(default_factory=OverlapGuard)

    @classmethod
    def connect(
        cls, settings: Settings, guard: OverlapGuard | None = None, **engine_overrides: Any
    ) -> "Database":
        engine = create_engine(settings, **engine_overrides)
        write_engine = engine.execution_options(zhendi_write=True)
        autocommit = (
            engine if settings.is_sqlite else engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        return cls(
            engine=engine,
            reader=async_sessionmaker(engine, expire_on_commit=False),
            writer=async_sessionmaker(write_engine, expire_on_commit=False),
            autocommit=autocommit,
            pool_size=settings.database_pool_size,
            driver_options={} if settings.is_sqlite else postgresql_timeouts(settings),
            pool_timeout=settings.database_pool_timeout_seconds,
            sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            guard=guard or OverlapGuard(),
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    async def open(self) -> None:
        """Open the driver pool (PostgreSQL) or the hot paths' threads (SQLite);
        connections are made as needed."""
        if self.is_sqlite:
            path = self.engine.url.database or ":memory:"
            timeout = self.sqlite_busy_timeout_ms
            self.sqlite_writer = SqliteWorker(path, timeout, "zhendi-sqlite-writer")
            self.sqlite_reader = SqliteWorker(path, timeout, "zhendi-sqlite-reader")
            return
        dsn = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.driver_pool = await asyncpg.create_pool(
            dsn,
            min_size=0,
            max_size=self.pool_size,
            connect=_connect_to_the_end,
            reset=_nothing_to_reset,
            **self.driver_options,
        )

    @asynccontextmanager
    async def driver(self) -> AsyncIterator[asyncpg.Connection]:
        """A bare asyncpg connection, outside any transaction, for one statement at a
        time. Checking one out costs a third of an SQLAlchemy checkout (measured:
        27 against 89 µs), which the hot paths pay on every request."""
        assert self.driver_pool is not None, "driver() is for PostgreSQL, after open()"
        async with self.driver_pool.acquire(timeout=self.pool_timeout) as connection:
            try:
                yield connection
            except BaseException as exc:
                if not _still_usable(exc):
                    # Closed, never released: its protocol may be wedged or a
                    # statement may still run on it. (asyncpg 0.32 aborts a wedged
                    # connection and waits out a cancelled statement itself; this
                    # does not depend on it.) The pool reconnects when needed. If
                    # the socket already closed, asyncpg has freed the slot and the
                    # proxy refuses every call: nothing is left to do.
                    with suppress(asyncpg.InterfaceError):
                        connection.terminate()
                raise

    async def dispose(self) -> None:
        if self.driver_pool is not None:
            await self.driver_pool.close()
        for worker in (self.sqlite_writer, self.sqlite_reader):
            if worker is not None:
                worker.close()
        await self.engine.dispose()


async def _connect_to_the_end(*args: Any, **kwargs: Any) -> asyncpg.Connection:
    """``asyncpg.connect`` that a caller who stops waiting does not interrupt.

    A request gives up on the pool after the pool timeout, often just as a
    slot frees up and its connection attempt begins. Cancelled in its first
    moments, asyncpg's TLS negotiation leaves an error nobody retrieves,
    which asyncio logs as one. So the attempt runs on, bounded by the connect
    timeout, and a connection it makes after its caller left is closed."""
    attempt = asyncio.ensure_future(asyncpg.connect(*args, **kwargs))
    try:
        return await asyncio.shield(attempt)
    except asyncio.CancelledError:
        attempt.add_done_callback(_close_unwanted)
        raise


def _close_unwanted(attempt: "asyncio.Future[asyncpg.Connection]") -> None:
    if attempt.cancelled() or attempt.exception() is not None:
        return  # retrieved: nothing to log, nothing to close
    attempt.result().terminate()


async def _nothing_to_reset(connection: asyncpg.Connection) -> None:
    """The driver pool's connections run single autocommit statements and change
    no session state, so the default reset (a round trip per release) is skipped."""


def _still_usable(exc: BaseException) -> bool:
    """Whether a driver connection may go back to the pool after ``exc`` escaped
    while it was checked out. After an error the server reported for a statement
    (a constraint, a deadlock) the connection is ready for the next one, and an
    exception of ours (a refused booking) is raised between statements. Anything
    else (a broken connection, a client-side driver error, a cancelled or timed
    out statement) leaves it in a state nobody should inherit."""
    if isinstance(exc, asyncpg.PostgresError):
        return not connection_lost(exc)
    return isinstance(exc, Exception) and not isinstance(
        exc, asyncpg.InterfaceError | asyncpg.exceptions.InternalClientError | OSError
    )


class DatabaseUnreachable(RuntimeError):
    """The database could not be reached when a command started."""


async def check_reachable(settings: Settings) -> None:
    """Connect and run ``SELECT 1`` within the configured timeouts, so that a
    command started while the database is down, refusing or silent says so in
    one line (``DatabaseUnreachable``) instead of a traceback, a minute later."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (OSError, DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        where = make_url(settings.database_url).render_as_string(hide_password=True)
        raise DatabaseUnreachable(
            f"cannot reach the database at {where}: {_unreachable_reason(exc, settings)}"
        ) from None
    finally:
        await engine.dispose()


def _unreachable_reason(exc: Exception, settings: Settings) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {settings.database_connect_timeout_seconds:g} s"
    error = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]


async def get_guard(request: Request) -> OverlapGuard:
    database: Database = request.app.state.database
    return database.guard


GuardDep = Annotated[OverlapGuard, Depends(get_guard)]


async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: commit on success, roll back on any error."""
    database: Database = request.app.state.database
    sessions = database.reader if request.method in SAFE_METHODS else database.writer
    async with sessions.begin() as session:
        yield session


# scope="function": the commit happens when the endpoint returns, before the
# response is sent, so a client never sees a 201 for a write that failed.
SessionDep = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]


async def read_only(request: Request) -> AsyncIterator[AsyncSession]:
    """A read transaction even for a POST: for work that must not hold SQLite's
    write lock while it runs (checking a password takes tens of milliseconds)."""
    database: Database = request.app.state.database
    async with database.reader.begin() as session:
        yield session


ReadSessionDep = Annotated[AsyncSession, Depends(read_only, scope="function")]


async def flush_unique(session: AsyncSession, conflict: Exception) -> None:
    """Flush; a unique-constraint violation (a duplicate that raced past the
    service's own check) becomes ``conflict``. Other integrity errors are bugs."""
    try:
        await session.flush()
    except IntegrityError as exc:
        if is_unique_violation(exc):
            raise conflict from None
        raise


def is_unique_violation(exc: IntegrityError) -> bool:
    if sqlstate(exc) == "23505":
        return True
    return "UNIQUE constraint failed" in str(getattr(exc, "orig", ""))
