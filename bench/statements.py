"""Single statements of the booking path, timed apart from HTTP on the bench
database that ``python -m bench.run`` leaves behind (``zhendi_bench``).

    .venv/bin/python -m bench.statements

- the booking guard, as migration 0010 left it (one generic plan per session)
  and as before it (planned again on every call), beside a bare row lock;
- the booking's write (reservation and audit event) with and without the
  notification it now writes in the same statement;
- the booking's snapshot read, as the pipeline sends it, with and without the
  day's holiday overrides it reads since the holiday calendar.

Each is run on one connection in a loop; the write inside a transaction rolled
back each time (no commit, so no WAL flush in the figure). It prints wall
time and the CPU time of the connection's PostgreSQL backend, per statement.
"""

import argparse
import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

DEFAULT_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/zhendi_bench")
TICKS = os.sysconf("SC_CLK_TCK")
FAR = datetime(2031, 1, 1, tzinfo=UTC)  # bookings of the loop: past anything seeded

GUARD = """SELECT zhendi_booking_guard($1, $2, $3, 1, $4, NULL, NULL, '{}'::text[],
  '{}'::int[], '{}'::int[], '{}'::int[], '{}'::float8[], $2, $3, $2)"""
ROW_LOCK = "SELECT id FROM spaces WHERE id = $1 AND is_active FOR UPDATE"
WRITE = """WITH booked AS (
  INSERT INTO reservations (space_id, user_id, starts_at, ends_at, exclusive, status, purpose,
                            attendees, created_at, updated_at)
  SELECT $1, $2, $3, $4, false, 'confirmed', '', 1, now(), now() RETURNING id
), logged AS (
  INSERT INTO audit_events (occurred_at, actor_kind, actor_id, entity, entity_id, action,
                            to_status)
  SELECT now(), 'user', $2, 'reservation', booked.id, 'create', 'confirmed' FROM booked
){told}
SELECT count(*) FROM booked"""
TOLD = """, told AS (
  INSERT INTO notifications (user_id, kind, title, body, reservation_id, center_id, fields,
                             created_at, delivery, attempts, next_attempt_at)
  SELECT $2, 'booking_confirmed', $5, $6, booked.id, $7, $8::json, now(), 'queued', 0, now()
  FROM booked
)"""
FIELDS = {
    "space_name": "阅心书斋",
    "center_name": "长风新村街道党群服务中心",
    "start": "2031年1月1日 09:00",
    "end": "2031年1月1日 10:00",
    "status": "已确认",
}


def backend_seconds(pid: int) -> float:
    """User + system CPU of one PostgreSQL backend, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def timed(
    connection: asyncpg.Connection, label: str, runs: int, once: Callable[[int], Awaitable[object]]
) -> None:
    pid = connection.get_server_pid()
    cpu, wall = backend_seconds(pid), time.perf_counter()
    for run in range(runs):
        await once(run)
    wall, cpu = time.perf_counter() - wall, backend_seconds(pid) - cpu
    print(f"{label:<58} {wall / runs * 1e6:6.0f} µs wall {cpu / runs * 1e6:6.0f} µs backend CPU")


async def guard(connection: asyncpg.Connection, runs: int) -> None:
    """Inside one transaction, rolled back: the ALTERs that undo migration 0010
    for the second measurement are undone with it."""
    space = await connection.fetchval(
        "SELECT id FROM spaces WHERE booking_mode = 'shared' AND is_active ORDER BY id LIMIT 1"
    )
    end = FAR + timedelta(hours=1)
    nobody = 2_000_000_000  # holds no seat, so "one seat each" does not refuse
    transaction = connection.transaction()
    await transaction.start()
    try:
        lock, call = await connection.prepare(ROW_LOCK), await connection.prepare(GUARD)
        await timed(connection, "row lock on the space", runs, lambda _: lock.fetchval(space))
        await timed(
            connection,
            "guard, one generic plan per session (migration 0010)",
            runs,
            lambda _: call.fetchval(space, FAR, end, nobody),
        )
        for function in ("zhendi_booking_guard", "zhendi_quota_used"):
            await connection.execute(f"ALTER FUNCTION {function} RESET plan_cache_mode")
        again = await connection.prepare(GUARD)
        await timed(
            connection,
            "guard, planned on every call (before migration 0010)",
            runs,
            lambda _: again.fetchval(space, FAR, end, nobody),
        )
    finally:
        await transaction.rollback()


async def write(connection: asyncpg.Connection, runs: int) -> None:
    row = await connection.fetchrow(
        "SELECT r.space_id, r.user_id, s.center_id FROM reservations r"
        " JOIN spaces s ON s.id = r.space_id ORDER BY r.id DESC LIMIT 1"
    )
    space, user, center = row
    fields = json.dumps(FIELDS, ensure_ascii=False)
    body = "您已预约长风新村街道党群服务中心阅心书斋，时间2031年1月1日 09:00-10:00。"
    for label, told, extra in (
        ("booking write: reservation + audit event", "", ()),
        ("booking write + its notification", TOLD, ("预约成功", body, center, fields)),
    ):
        statement = await connection.prepare(WRITE.format(told=told))
        await timed(
            connection, label, runs, _rolled_back(connection, statement, space, user, extra)
        )


def _rolled_back(
    connection: asyncpg.Connection,
    statement: "asyncpg.prepared_stmt.PreparedStatement[asyncpg.Record]",
    space: int,
    user: int,
    extra: tuple[object, ...],
) -> Callable[[int], Awaitable[None]]:
    """One booking write per run, each in a transaction rolled back."""

    async def once(run: int) -> None:
        start = FAR + timedelta(minutes=30 * run)
        transaction = connection.transaction()
        await transaction.start()
        try:
            await statement.fetchval(space, user, start, start + timedelta(minutes=30), *extra)
        finally:
            await transaction.rollback()

    return once


async def snapshot_read(connection: asyncpg.Connection, runs: int) -> None:
    from app.reservations.postgres_read import READ

    row = await connection.fetchrow(
        "SELECT r.space_id, r.user_id FROM reservations r ORDER BY r.id DESC LIMIT 1"
    )
    values = {
        "space": row["space_id"],
        "user": row["user_id"],
        "start": FAR,
        "end": FAR + timedelta(hours=1),
        "day_before": FAR - timedelta(days=1),
        "key": None,
        "organization": None,
    }
    begins = READ.text.index("(SELECT json_agg(json_build_array(d.day")
    ends = READ.text.index("::text", begins) + len("::text")
    without = READ.text[:begins] + "NULL" + READ.text[ends:]
    arguments = READ.args(values)
    for label, text in (
        ("snapshot read, without the day's overrides", without),
        ("snapshot read, with them (the pipeline's)", READ.text),
    ):
        statement = await connection.prepare(text)
        await timed(connection, label, runs, _reads(statement, arguments))


def _reads(
    statement: "asyncpg.prepared_stmt.PreparedStatement[asyncpg.Record]",
    arguments: Sequence[object],
) -> Callable[[int], Awaitable[object]]:
    async def once(_: int) -> object:
        return await statement.fetchrow(*arguments)

    return once


async def main(url: str, runs: int) -> None:
    connection = await asyncpg.connect(url)
    try:
        await guard(connection, runs)
        await write(connection, runs)
        await snapshot_read(connection, runs)
    finally:
        await connection.close()


def cli(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--runs", type=int, default=3000)
    options = parser.parse_args(argv)
    asyncio.run(main(options.url, options.runs))


if __name__ == "__main__":
    cli()
