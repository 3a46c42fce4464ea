"""What a database failure means: the connection was lost, refused or timed
out (the request may be retried, README: Operations), or a statement failed.
``app/core/db.py`` uses it to drop broken connections, ``app/core/handlers.py``
to answer 503 or 409, and the job worker to retry on the next pass."""

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout


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


# What a database failure reaches the app as: SQLAlchemy's wrapper, or (from the
# hot paths' bare driver pool, ``Database.driver``) asyncpg's own
# exceptions, and a socket error or timeout from under either (TimeoutError is
# an OSError); SQLAlchemy's pool timing out. app/core/handlers.py answers
# those it recognizes and treats the rest as the bugs they are.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    DBAPIError,
    PoolTimeout,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
)


# The server cancelled a statement that ran past ``statement_timeout``.
QUERY_CANCELED = "57014"


def database_unavailable(exc: BaseException) -> bool:
    """Whether the request got no answer from the database in time, so that
    it may be retried: a lost, refused or timed-out connection
    (``connection_lost``), no pooled connection free within the pool timeout,
    or a statement the server cancelled at ``statement_timeout``. Unlike a
    lost connection, the last two leave the connection usable."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, PoolTimeout) or sqlstate(error) == QUERY_CANCELED:
            return True
        pending += [getattr(error, "orig", None), error.__cause__]
    return connection_lost(exc)


def _raised_by_the_driver(error: BaseException) -> bool:
    """An OSError (refused, reset, timed out) that came through asyncpg's code,
    i.e. from the database socket, not from anything else the request did."""
    frame = error.__traceback__
    while frame is not None:
        if str(frame.tb_frame.f_globals.get("__name__", "")).startswith("asyncpg"):
            return True
        frame = frame.tb_next
    return False
