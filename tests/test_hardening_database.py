"""A silent database: PostgreSQL behind a network partition.

A partitioned server neither answers nor refuses (tests/partition.py cuts a
real TCP proxy between the app and PostgreSQL). Every request that needs the
database must still end quickly: a retryable ``503 database_unavailable``
with ``Retry-After`` once the connect, statement or pool-acquire timeout
passes, never a 500 and never a traceback; ``/readyz`` says so within 2 s;
and once the partition heals, the app serves again (the connections that
lived through it were not kept). PostgreSQL only: SQLite is a file.
"""

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.core.migrate import upgrade
from tests.conftest import TemporaryDatabases, make_settings, running
from tests.factories import Api, Headers, days_ahead, door, slot
from tests.partition import partition_in_front_of

# The app's connect, statement and pool-acquire timeouts in this test.
TIMEOUT = 1.0
# Each answer within this long (generous: the test machine may be loaded); a
# request still unanswered after HUNG_AFTER is counted as hung.
ANSWER_WITHIN = 5.0
HUNG_AFTER = 15.0
READY_WITHIN = 2.0
POOL_SIZE = 2
ROUNDS = 3  # requests of each kind at once, more than the pools hold


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    path: str
    headers: Headers
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Answer:
    call: str
    outcome: str  # "503 database_unavailable", "200", "hung", …
    seconds: float
    retry_after: str | None = None


async def send(client: httpx.AsyncClient, call: Call) -> Answer:
    started = time.perf_counter()
    try:
        response = await asyncio.wait_for(
            client.request(call.method, call.path, headers=call.headers, json=call.body),
            HUNG_AFTER,
        )
    except TimeoutError:
        return Answer(call.name, "hung", time.perf_counter() - started)
    seconds = time.perf_counter() - started
    outcome = str(response.status_code)
    if response.headers.get("content-type") == "application/problem+json":
        outcome += f" {response.json()['code']}"
    return Answer(call.name, outcome, seconds, response.headers.get("Retry-After"))


async def plan(api: Api) -> list[Call]:
    """One request of each kind: the three hot paths (the bare driver pool),
    two through the ORM (SQLAlchemy's pool), and the readiness probe."""
    staff = await api.staff()
    space_id = (await api.space(headers=staff))["id"]
    door_id, device = await door(api, space_id, staff)
    resident = await api.resident()
    day = days_ahead(2)
    booking = {"space_id": space_id, **slot(day, "10:00", "10:30"), "purpose": "部门例会"}
    return [
        Call("book", "POST", "/api/v1/reservations", resident, booking),
        Call(
            "availability",
            "GET",
            f"/api/v1/spaces/{space_id}/availability?date={day.isoformat()}",
            resident,
        ),
        Call("verify", "POST", f"/api/v1/doors/{door_id}/verify", device, {"code": "12345678"}),
        Call("space (ORM)", "GET", f"/api/v1/spaces/{space_id}", resident),
        Call("my reservations (ORM)", "GET", "/api/v1/reservations", resident),
        Call("readyz", "GET", "/readyz", {}),
    ]


async def wave(client: httpx.AsyncClient, calls: list[Call], rounds: int = ROUNDS) -> list[Answer]:
    return list(await asyncio.gather(*(send(client, call) for call in calls * rounds)))


def summary(answers: list[Answer]) -> dict[str, Any]:
    return {
        "outcomes": dict(Counter(f"{a.call}: {a.outcome}" for a in answers)),
        "slowest seconds": round(max(a.seconds for a in answers), 2),
    }


async def test_a_silent_database_answers_503_within_seconds(
    temporary_databases: TemporaryDatabases,
    caplog: pytest.LogCaptureFixture,
    record_property: Any,
) -> None:
    database_url = await asyncio.to_thread(temporary_databases.new, "postgresql")
    await upgrade(database_url)
    async with partition_in_front_of(database_url) as partition:
        settings = make_settings(
            partition.url_of(database_url),
            database_pool_size=POOL_SIZE,
            database_connect_timeout_seconds=TIMEOUT,
            database_statement_timeout_seconds=TIMEOUT,
            database_pool_timeout_seconds=TIMEOUT,
        )
        # A fresh database, dropped at the end of the run: no clean-up through
        # an app whose statements may take a second at most.
        async with running(settings, clean_up=False) as api:
            calls = await plan(api)
            before = await wave(api.client, calls, 1)  # and the pools hold connections now
            assert all(int(a.outcome[:3]) < 500 for a in before), summary(before)

            partition.cut()
            caplog.clear()
            caplog.set_level(logging.WARNING)
            try:
                # First on the pooled connections (statement and acquire
                # timeouts), then on new ones (the connect timeout): the first
                # wave's connections were closed.
                first = await wave(api.client, calls)
                second = await wave(api.client, calls)
            finally:
                partition.heal()
            logged = list(caplog.records)
            record_property("during the partition, pooled connections", summary(first))
            record_property("during the partition, new connections", summary(second))

            answers = first + second
            context = f"{summary(first)}\n{summary(second)}"
            assert partition.dropped_bytes > 0, "the partition dropped nothing: it proves nothing"
            assert {a.outcome for a in answers} == {"503 database_unavailable"}, context
            assert all(a.retry_after == "1" for a in answers), context
            assert max(a.seconds for a in answers) < ANSWER_WITHIN, context
            assert max(a.seconds for a in answers if a.call == "readyz") < READY_WITHIN, context
            tracebacks = [record.getMessage() for record in logged if record.exc_info]
            assert not tracebacks, tracebacks
            assert not [record for record in logged if "unhandled error" in record.getMessage()]

            deadline = time.monotonic() + 30
            while (await send(api.client, calls[-1])).outcome != "200":
                assert time.monotonic() < deadline, "not ready again 30 s after the partition"
                await asyncio.sleep(0.2)
            after = await wave(api.client, calls[1:], 1)  # (a second booking: 409)
            record_property("after the partition", summary(after))
            assert {a.outcome for a in after} == {"200"}, summary(after)
