"""The floor: the same database work as the hot paths, with raw asyncpg and nothing else.

Every project figure in RESULTS.md is a ratio to this app, measured in the same
run, because absolute numbers on these shared machines move 5-10 % between runs.
"""

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import asyncpg
from fastapi import FastAPI, Request, Response

DSN = os.environ.get("BENCH_FLOOR_DSN", "postgresql://postgres@127.0.0.1:5432/zhendi_bench")

INSERT = """
INSERT INTO floor_reservations
  (space_id, user_id, starts_at, ends_at, exclusive, status, purpose, attendees)
VALUES ($1, $2, $3, $4, true, 'confirmed', '', 1)
RETURNING id
"""
READ = """
SELECT id, space_id, user_id, starts_at, ends_at, status, attendees
FROM reservations
WHERE space_id = $1 AND starts_at >= $2 AND starts_at < $3
ORDER BY starts_at
LIMIT 20
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(DSN, min_size=10, max_size=10)
    yield
    await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.post("/floor/reservations")
async def insert(request: Request) -> Response:
    body = json.loads(await request.body())
    start = datetime.fromisoformat(body["start"])
    end = datetime.fromisoformat(body["end"])
    async with app.state.pool.acquire() as connection:
        row_id = await connection.fetchval(INSERT, body["space_id"], 1, start, end)
    return Response(json.dumps({"id": row_id}), status_code=201, media_type="application/json")


@app.get("/floor/spaces/{space_id}/reservations")
async def read(space_id: int, date: str) -> Response:
    day = datetime.fromisoformat(f"{date}T00:00:00+08:00")
    async with app.state.pool.acquire() as connection:
        rows = await connection.fetch(READ, space_id, day, day + timedelta(days=1))
    payload = [
        {
            "id": row["id"],
            "start": row["starts_at"].isoformat(),
            "end": row["ends_at"].isoformat(),
            "status": row["status"],
        }
        for row in rows
    ]
    return Response(json.dumps(payload), media_type="application/json")
