"""The SQLite floor: the same database work as bench/floor.py, on the embedded
default, with aiosqlite and nothing else (one connection, as SQLite has one
writer): one INSERT of a reservation-shaped row and its commit, and one indexed
20-row read. The project's SQLite figures are ratios to this app, measured in
the same run.
"""

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import aiosqlite
from fastapi import FastAPI, Request, Response

PATH = os.environ.get("BENCH_FLOOR_SQLITE", "bench/.work/bench.db")

INSERT = """
INSERT INTO floor_reservations
  (space_id, user_id, starts_at, ends_at, exclusive, status, purpose, attendees,
   created_at, updated_at)
VALUES (?, 1, ?, ?, 1, 'confirmed', '', 1, ?, ?)
RETURNING id
"""
READ = """
SELECT id, space_id, user_id, starts_at, ends_at, status, attendees
FROM reservations
WHERE space_id = ? AND starts_at >= ? AND starts_at < ?
ORDER BY starts_at
LIMIT 20
"""


def _stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    connection = await aiosqlite.connect(PATH, isolation_level=None)
    await connection.execute("PRAGMA journal_mode=WAL")
    await connection.execute("PRAGMA synchronous=NORMAL")
    await connection.execute("PRAGMA busy_timeout=30000")
    app.state.db = connection
    yield
    await connection.close()


app = FastAPI(lifespan=lifespan)


@app.post("/floor/reservations")
async def insert(request: Request) -> Response:
    body = json.loads(await request.body())
    start = datetime.fromisoformat(body["start"])
    end = datetime.fromisoformat(body["end"])
    now = _stamp(datetime.now(UTC))
    async with app.state.db.execute(
        INSERT, (body["space_id"], _stamp(start), _stamp(end), now, now)
    ) as cursor:
        row = await cursor.fetchone()
    return Response(json.dumps({"id": row[0]}), status_code=201, media_type="application/json")


@app.get("/floor/spaces/{space_id}/reservations")
async def read(space_id: int, date: str) -> Response:
    day = datetime.fromisoformat(f"{date}T00:00:00+08:00")
    async with app.state.db.execute(
        READ, (space_id, _stamp(day), _stamp(day + timedelta(days=1)))
    ) as cursor:
        rows = await cursor.fetchall()
    payload = [{"id": row[0], "start": row[3], "end": row[4], "status": row[5]} for row in rows]
    return Response(json.dumps(payload), media_type="application/json")
