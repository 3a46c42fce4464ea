"""Engine, sessions and the per-request unit of work.

Every request runs in one transaction that is committed before the response
is sent; services only ``flush()``. On SQLite the driver's own transaction
handling is switched off so that we issue ``BEGIN`` ourselves: requests that
write start with ``BEGIN IMMEDIATE`` and take the database's write lock up
front, which serializes writers (SQLite ignores ``SELECT ... FOR UPDATE``,
so a deferred transaction would let two check-then-insert writers interleave).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import event
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
    }
    options.update(overrides)
    engine = create_async_engine(settings.database_url, **options)
    _configure_postgresql(engine)
    return engine


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
    # SQLite only: the hot paths' threads, one that writes and one that reads
    # (app/core/sqlite.py).
    sqlite_writer: SqliteWorker | None = None
    sqlite_reader: SqliteWorker | None = None
    sqlite_busy_timeout_ms: int = 0

    @classmethod
    def connect(cls, settings: Settings, **engine_overrides: Any) -> "Database":
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
            sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
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
            dsn, min_size=0, max_size=self.pool_size, reset=_nothing_to_reset
        )

    @asynccontextmanager
    async def driver(self) -> AsyncIterator[asyncpg.Connection]:
        """A bare asyncpg connection, outside any transaction, for one statement at a
        time. Checking one out costs a third of an SQLAlchemy checkout (measured:
        27 against 89 µs), which the hot paths pay on every request."""
        assert self.driver_pool is not None, "driver() is for PostgreSQL, after open()"
        async with self.driver_pool.acquire() as connection:
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


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]


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


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a PostgreSQL error, raw from asyncpg or wrapped by
    SQLAlchemy, or None (other errors, other engines)."""
    original = getattr(exc, "orig", None)
    for candidate in (exc, original, getattr(original, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if code:
            return str(code)
    return None


# Besides class 08 (connection exception): the server is shutting down or
# terminated this backend (57P01 admin_shutdown, 57P02 crash_shutdown), is not
# accepting connections yet (57P03 cannot_connect_now), or has no slot left
# (53300 too_many_connections).
CONNECTION_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
# asyncpg's own words for a connection (or the pool) that is gone. Its other
# InterfaceErrors (wrong arguments, concurrent use of one connection) are bugs.
_CLOSED_MESSAGES = frozenset({"connection is closed", "pool is closing", "pool is closed"})


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says that the database connection broke or could not be
    made, rather than that a statement failed: the request did not get an
    answer from the database and may be retried on another connection.

    It looks through SQLAlchemy's wrapping (``orig``) and explicit causes
    (``raise ... from``), not through ``__context__``: a bug raised while
    handling a lost connection stays a bug.

    One case needs asyncpg's internals: when a backend is terminated while its
    connection is idle (in a pool, or between two statements), asyncpg reads the
    FATAL message it cannot place, marks the protocol as consuming an error
    (state 2) and waits for a ReadyForQuery that never comes. Until the socket's
    end-of-file arrives, milliseconds later, the connection does not look
    closed, so a pool hands it out, and its next statement fails with
    ``InternalClientError: cannot switch to state …; another operation (2) is in
    progress`` before anything is sent (asyncpg then aborts the connection).
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        code = sqlstate(error)
        if code is not None and (code.startswith("08") or code in CONNECTION_SQLSTATES):
            return True
        if isinstance(error, asyncpg.PostgresConnectionError):
            return True
        if type(error) is asyncpg.InterfaceError and str(error) in _CLOSED_MESSAGES:
            return True
        if isinstance(error, asyncpg.exceptions.InternalClientError) and str(error).startswith(
            "cannot switch to state"
        ):
            return True
        if isinstance(error, OSError) and _raised_by_the_driver(error):
            return True
        pending += [getattr(error, "orig", None), error.__cause__]
    return False


def _raised_by_the_driver(error: BaseException) -> bool:
    """An OSError (refused, reset, timed out) that came through asyncpg's code,
    i.e. from the database socket, not from anything else the request did."""
    frame = error.__traceback__
    while frame is not None:
        if str(frame.tb_frame.f_globals.get("__name__", "")).startswith("asyncpg"):
            return True
        frame = frame.tb_next
    return False


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
