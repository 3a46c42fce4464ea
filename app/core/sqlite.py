"""SQLite for the hot paths: one thread that owns the database's write lock.

SQLite takes one writer at a time. The ORM reaches it through aiosqlite, which
hands every statement to a thread and back (a round trip of the event loop
per statement); a booking is a dozen statements. The hot paths instead give
the whole of their work, reads and writes, to one thread as a single call,
which runs it inside ``BEGIN IMMEDIATE`` with the standard ``sqlite3``
module: one hop per request, and since the thread is the only writer of its
process the hot paths never wait on each other for the lock (other writers,
the ORM's or another process's, queue on SQLite's busy timeout as before).
Reads run on a second thread with its own connection (WAL lets them go on
while the writer writes).

Values follow SQLAlchemy's storage on SQLite (``app/models/base.py``): times
are UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``, booleans 0/1, enums their values.
"""

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TypeVar

T = TypeVar("T")


def stamp(instant: datetime) -> str:
    """An instant as SQLAlchemy stores it on SQLite (UTC, no offset)."""
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def connect(path: str, busy_timeout_ms: int) -> sqlite3.Connection:
    connection = sqlite3.connect(
        path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
    )
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


class SqliteWorker:
    """A thread with its own connection; ``run`` hands it one unit of work."""

    def __init__(self, path: str, busy_timeout_ms: int, name: str) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = connect(self._path, self._busy_timeout_ms)
            self._local.connection = connection
        return connection

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: work(self._connection()))

    async def transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` inside ``BEGIN IMMEDIATE``: committed if it returns, rolled back
        if it raises."""
        return await self.run(lambda connection: in_transaction(connection, work))

    def close(self) -> None:
        def close_connection() -> None:
            connection = getattr(self._local, "connection", None)
            if connection is not None:
                connection.close()
                self._local.connection = None

        self._executor.submit(close_connection).result()
        self._executor.shutdown(wait=True)


def in_transaction(connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = work(connection)
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return result
