"""The SQLite hot paths' writer thread: bookings waiting together share one
COMMIT, and each stands or falls alone (app/core/sqlite.py)."""

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.core.sqlite import SqliteWorker


class Refused(Exception):
    pass


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[SqliteWorker]:
    path = str(tmp_path / "worker.db")
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE rows (n INTEGER PRIMARY KEY)")
    worker = SqliteWorker(path, 5_000, "test-writer")
    yield worker
    worker.close()


def _traced(worker_db: sqlite3.Connection, statements: list[str]) -> None:
    worker_db.set_trace_callback(statements.append)


async def test_waiting_transactions_share_a_commit_and_fail_alone(worker: SqliteWorker) -> None:
    statements: list[str] = []
    await worker.run(lambda db: _traced(db, statements))
    gate = threading.Event()
    # The first unit holds the thread until every other one is queued behind it.
    first = asyncio.ensure_future(worker.transaction(lambda db: gate.wait(5)))
    await asyncio.sleep(0.05)

    def insert(n: int) -> Callable[[sqlite3.Connection], int]:
        def work(db: sqlite3.Connection) -> int:
            db.execute("INSERT INTO rows (n) VALUES (?)", (n,))
            if n % 3 == 0:
                raise Refused(n)
            return n

        return work

    units = [asyncio.ensure_future(worker.transaction(insert(n))) for n in range(1, 31)]
    await asyncio.sleep(0.05)
    gate.set()
    await first
    outcomes = await asyncio.gather(*units, return_exceptions=True)

    for n, outcome in enumerate(outcomes, start=1):
        if n % 3 == 0:
            assert isinstance(outcome, Refused)
            assert outcome.args == (n,)
        else:
            assert outcome == n
    kept = await worker.run(lambda db: [n for (n,) in db.execute("SELECT n FROM rows ORDER BY n")])
    assert kept == [n for n in range(1, 31) if n % 3 != 0]
    # The 30 that queued together committed together.
    assert statements.count("COMMIT") == 2


async def test_a_failed_commit_fails_every_unit_of_the_batch(worker: SqliteWorker) -> None:
    def insert_deferred_violation(db: sqlite3.Connection) -> None:
        db.execute("PRAGMA foreign_keys = ON")

    await worker.run(
        lambda db: db.executescript(
            "CREATE TABLE parents (id INTEGER PRIMARY KEY);"
            "CREATE TABLE children (parent INTEGER REFERENCES parents (id)"
            " DEFERRABLE INITIALLY DEFERRED);"
        )
    )
    await worker.run(insert_deferred_violation)
    gate = threading.Event()
    first = asyncio.ensure_future(worker.transaction(lambda db: gate.wait(5)))
    await asyncio.sleep(0.05)
    fine = asyncio.ensure_future(
        worker.transaction(lambda db: db.execute("INSERT INTO rows (n) VALUES (1)").rowcount)
    )
    # A deferred foreign key fails only at COMMIT: the whole batch with it.
    orphan = asyncio.ensure_future(
        worker.transaction(lambda db: db.execute("INSERT INTO children VALUES (7)").rowcount)
    )
    await asyncio.sleep(0.05)
    gate.set()
    await first
    results = await asyncio.gather(fine, orphan, return_exceptions=True)
    assert all(isinstance(result, sqlite3.IntegrityError) for result in results)
    assert await worker.run(lambda db: db.execute("SELECT count(*) FROM rows").fetchone()[0]) == 0
