"""What a 52-week series costs the database: its statements, counted as they
are sent (the ORM's through SQLAlchemy's events, the booking store's on
asyncpg's connection or on SQLite's writer thread). A series books through the
booking store's write: a statement or a few per occurrence, not the ORM's
snapshot of ~15 reads per occurrence it took before (docs/ARCHITECTURE.md,
"Booking")."""

import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event

from app.core.sqlite import SqliteWorker
from tests.factories import Api, door
from tests.test_series import book_series, next_tuesday

pytestmark = pytest.mark.dates

WEEKS = 52
# Per occurrence at most: PostgreSQL a savepoint, the write and its release;
# SQLite (in-process calls on the writer thread) a savepoint, the snapshot's
# reads, the reservation, audit event, series link and door code, the release.
MOST_PER_OCCURRENCE = {"postgresql": 3, "sqlite": 10}
FIXED = 12  # the read, the transaction, the key, the series row, its notification


@contextmanager
def counted(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    counts: Counter[str] = Counter()

    def orm(*_: Any) -> None:
        counts["orm"] += 1

    for name in ("execute", "fetch", "fetchrow", "fetchval"):
        original = getattr(asyncpg.Connection, name)

        def driver(*args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            counts["driver"] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(asyncpg.Connection, name, driver)
    submit = SqliteWorker._submit

    async def traced(self: SqliteWorker, work: Callable[[Any], Any], transactional: bool) -> Any:
        def tracing(connection: sqlite3.Connection) -> Any:
            connection.set_trace_callback(lambda _: counts.update(["driver"]))
            try:
                return work(connection)
            finally:
                connection.set_trace_callback(None)

        counts["driver"] += 2 if transactional else 0  # its BEGIN IMMEDIATE and COMMIT
        return await submit(self, tracing, transactional)

    monkeypatch.setattr(SqliteWorker, "_submit", traced)
    engine = api.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", orm)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", orm)


async def test_a_year_of_weekly_meetings_costs_a_few_statements_a_week(
    api: Api, monkeypatch: pytest.MonkeyPatch, record_property: Callable[[str, object], None]
) -> None:
    space = await api.space(advance_days=365)
    await door(api, space["id"])  # each occurrence gets its door code
    resident = await api.resident()
    first = next_tuesday()
    with counted(api, monkeypatch) as counts:
        answer = await book_series(
            api,
            {**resident, "Idempotency-Key": "a-year-of-tuesdays"},
            space["id"],
            first,
            f"FREQ=WEEKLY;COUNT={WEEKS}",
            mode="book_what_is_free",
        )
    assert answer.status_code == 201, answer.text
    occurrences = answer.json()["occurrences"]
    assert len(occurrences) == WEEKS
    booked = sum(item["reservation_id"] is not None for item in occurrences)
    assert booked >= WEEKS - 4, occurrences  # holidays may close a few Tuesdays
    engine = api.database.engine.dialect.name
    total = counts["orm"] + counts["driver"]
    record_property("statements", dict(counts))
    print(f"\n{engine}: {WEEKS} weeks, {booked} booked: {dict(counts)} = {total}")  # noqa: T201
    assert total <= FIXED + MOST_PER_OCCURRENCE[engine] * WEEKS, dict(counts)
