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
import math
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

T = TypeVar("T")


def stamp(instant: datetime) -> str:
    """An instant as SQLAlchemy stores it on SQLite (UTC, no offset)."""
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def named(cursor: Any) -> dict[str, Any] | None:
    """The cursor's next row by column name (the statement names each column,
    ``AS`` for an expression), or None. Any DB-API cursor: the writer thread's
    own, or the ORM session's for an act inside its transaction."""
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([column[0] for column in cursor.description], row, strict=True))


def connect(path: str, busy_timeout_ms: int) -> sqlite3.Connection:
    connection = sqlite3.connect(
        path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
    )
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA synchronous=NORMAL")
    _ensure_math(connection)
    return connection


# The math functions the hand-written statements use (a distance, in
# app/centers/service.py). SQLite builds them in since 3.35 unless compiled
# without; where they are missing, Python's (the same C library) stand in.
_MATH: dict[str, tuple[int, Callable[..., float]]] = {
    "radians": (1, math.radians),
    "sin": (1, math.sin),
    "cos": (1, math.cos),
    "asin": (1, math.asin),
    "sqrt": (1, math.sqrt),
    "power": (2, math.pow),
}


def _ensure_math(connection: sqlite3.Connection) -> None:
    try:
        connection.execute("SELECT asin(sqrt(power(sin(radians(1)), 2)))").fetchone()
    except sqlite3.OperationalError:
        for name, (arity, function) in _MATH.items():
            connection.create_function(name, arity, function, deterministic=True)


# Units of work that queued together and share one COMMIT, at most.
GROUP_COMMIT_LIMIT = 64


@dataclass(frozen=True)
class _Unit:
    work: Callable[[sqlite3.Connection], Any]
    transactional: bool
    loop: asyncio.AbstractEventLoop
    future: "asyncio.Future[Any]"


_CLOSE = object()
# (unit, succeeded, result or exception)
_Outcome = tuple[_Unit, bool, Any]


class SqliteWorker:
    """A thread with its own connection that runs units of work in order.

    ``transaction`` units waiting together share one ``BEGIN IMMEDIATE …
    COMMIT`` (group commit): each runs inside its own savepoint, so one that
    raises leaves no trace and the others stand, and each caller is answered
    only after the COMMIT that made its work durable. A COMMIT costs more than
    a booking's inserts; when bookings queue, a batch of them pays it once.
    """

    def __init__(self, path: str, busy_timeout_ms: int, name: str) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` on the thread's connection, in no transaction of ours."""
        return cast(T, await self._submit(work, transactional=False))

    async def transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` inside ``BEGIN IMMEDIATE``: committed if it returns, rolled back
        if it raises."""
        return cast(T, await self._submit(work, transactional=True))

    async def _submit(self, work: Callable[[sqlite3.Connection], Any], transactional: bool) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if self._thread is None:
            self._start()
        self._queue.put(_Unit(work, transactional, loop, future))
        return await future

    def _start(self) -> None:
        """The thread and its connection come with the first unit of work."""
        with self._starting:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
                self._thread.start()

    def close(self) -> None:
        with self._starting:
            if self._thread is not None:
                self._queue.put(_CLOSE)
                self._thread.join()
                self._thread = None

    def _serve(self) -> None:
        connection = connect(self._path, self._busy_timeout_ms)
        try:
            waiting: list[Any] = []
            while True:
                unit = waiting.pop(0) if waiting else self._queue.get()
                if unit is _CLOSE:
                    return
                if not unit.transactional:
                    _answer([_run_alone(connection, unit)])
                    continue
                batch = [unit]
                while len(batch) < GROUP_COMMIT_LIMIT:
                    try:
                        following = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if following is _CLOSE or not following.transactional:
                        waiting.append(following)
                        break
                    batch.append(following)
                _answer(_commit_together(connection, batch))
        finally:
            connection.close()


def _run_alone(connection: sqlite3.Connection, unit: _Unit) -> _Outcome:
    try:
        return unit, True, unit.work(connection)
    except BaseException as exc:  # the caller's to handle
        return unit, False, exc


def _commit_together(connection: sqlite3.Connection, batch: list[_Unit]) -> list[_Outcome]:
    """Each unit in its savepoint, all in one transaction; a failed BEGIN or
    COMMIT (or a rollback that took the whole transaction with it) fails every
    unit that was in it."""
    try:
        connection.execute("BEGIN IMMEDIATE")
    except BaseException as exc:
        return [(unit, False, exc) for unit in batch]
    outcomes: list[_Outcome] = []
    for unit in batch:
        connection.execute("SAVEPOINT unit")
        try:
            result = unit.work(connection)
        except BaseException as exc:
            if not _undo(connection):
                return [(done, False, exc) for done, _, _ in outcomes] + [
                    (rest, False, exc) for rest in batch[len(outcomes) :]
                ]
            outcomes.append((unit, False, exc))
            continue
        connection.execute("RELEASE unit")
        outcomes.append((unit, True, result))
    try:
        connection.execute("COMMIT")
    except BaseException as exc:
        _undo_all(connection)
        return [(unit, False, exc) for unit in batch]
    return outcomes


def _undo(connection: sqlite3.Connection) -> bool:
    """Back to the unit's savepoint; False if the transaction is gone already."""
    try:
        connection.execute("ROLLBACK TO unit")
        connection.execute("RELEASE unit")
    except sqlite3.Error:
        _undo_all(connection)
        return False
    return True


def _undo_all(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        connection.execute("ROLLBACK")


def _answer(outcomes: list[_Outcome]) -> None:
    """Hand each caller its outcome on its own loop, one wake-up per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, mine in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, mine)
        except RuntimeError:  # that loop has closed; nobody is waiting
            pass


def _settle(outcomes: list[_Outcome]) -> None:
    for unit, succeeded, value in outcomes:
        if unit.future.done():  # the caller was cancelled
            continue
        if succeeded:
            unit.future.set_result(value)
        else:
            unit.future.set_exception(value)
