"""Scale-out: two real ``zhendi serve`` processes on one PostgreSQL database.

The races of tests/test_concurrency.py, split between two servers: nothing a
server keeps in memory may be what stops a double booking. Rate limits with
``ZHENDI_REDIS_URL`` hold across the servers (and, without Redis, do not: the
control). And while every backend of the database is terminated every 0.3 s,
keyed bookings answer 201 or a retryable 503, never a 500 or a dropped
connection, and retrying the 503s with the same keys books each exactly once.
Below those, the pieces that make it so: pooled connections the server closed
are not handed out again, and only a lost connection answers 503 (a driver
error that is a bug stays a 500).

PostgreSQL only (but for the last, which needs no database): SQLite is a
single-node database. Outside CI a missing PostgreSQL (or Redis, for the shared
rate limits) skips with a reason; with ``CI=true`` it fails.
"""

import asyncio
import os
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
import redis
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.core.db import Database, connection_lost, create_engine
from app.main import create_app
from app.models import StaffRole
from tests.conftest import (
    PG_ADMIN_URL,
    TemporaryDatabases,
    _asyncpg_dsn,
    make_settings,
    require_service,
    running,
)
from tests.factories import (
    SENT_PERSONAL_DATA,
    STAFF_PASSWORD,
    Api,
    Headers,
    days_ahead,
    door,
    member_of,
    organization,
    verified_resident,
)
from tests.servers import Servers, servers
from tests.test_concurrency import (
    one_slot,
    overlapping_holders,
    seats_over_capacity,
    study_room,
    tally,
)

# The servers run in their own processes, on the real clock.
pytestmark = pytest.mark.real_clock

REDIS_URL = os.environ.get("ZHENDI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DAY = days_ahead(2)
TRIALS = 3
BOOK = "/api/v1/reservations"

Property = Callable[[str, object], None]


# --- fixtures ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_url(temporary_databases: TemporaryDatabases) -> str:
    return temporary_databases.new("postgresql")


@pytest.fixture
def fresh_pg_url(temporary_databases: TemporaryDatabases) -> str:
    return temporary_databases.new("postgresql")


@pytest.fixture(scope="module")
def redis_prefix() -> Iterator[str]:
    """A key prefix of this module's own on the test Redis, emptied afterwards."""
    prefix = f"zhendi-test-{secrets.token_hex(4)}"
    yield prefix
    with suppress(redis.RedisError), redis.Redis.from_url(REDIS_URL, socket_timeout=2) as store:
        for key in store.scan_iter(f"{prefix}*"):
            store.delete(key)


@pytest.fixture
def redis_store() -> Iterator[redis.Redis]:
    """The test Redis, which the shared rate limits need (skipped without it, or
    failed under CI)."""
    address = urlsplit(REDIS_URL)
    require_service("Redis", address.hostname or "127.0.0.1", address.port or 6379)
    with redis.Redis.from_url(REDIS_URL, socket_timeout=2) as store:
        yield store


LOGIN_LIMIT = 6
LIMITS = {"ZHENDI_RATE_LIMIT_LOGIN_PER_USERNAME": f"{LOGIN_LIMIT} per 15 minutes"}


@pytest.fixture(scope="module")
def pair(
    pg_url: str, redis_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Servers]:
    """Two servers on one database, sharing rate limits through Redis (if it is
    down they let every request through, which the races do not mind)."""
    env = {"ZHENDI_REDIS_URL": REDIS_URL, "ZHENDI_REDIS_KEY_PREFIX": redis_prefix, **LIMITS}
    with servers(pg_url, 2, tmp_path_factory.mktemp("pair"), env) as started:
        yield started
    assert_no_personal_data(started)


def assert_no_personal_data(started: Servers) -> None:
    output = started.output()
    leaked = [secret[:4] + "…" for secret in SENT_PERSONAL_DATA.values if secret in output]
    assert not leaked, f"personal data in the servers' output: {leaked}"


# httpx keeps an idle connection for 5 s, exactly as long as ``zhendi serve``
# (``--keep-alive``): a request sent on one just as the server closes it is
# lost in transit, which is the client's race, not a dropped answer. Like a
# proxy in front (README), the client gives idle connections up well before.
CLIENT_LIMITS = httpx.Limits(keepalive_expiry=2.0)


@asynccontextmanager
async def on_servers(
    database_url: str, urls: Sequence[str]
) -> AsyncIterator[tuple[Api, list[httpx.AsyncClient]]]:
    """The app in process on the same database (for staff rows and their tokens,
    and the invariant queries), with factory calls sent to the first server,
    and a client per server."""
    async with AsyncExitStack() as stack:
        local = await stack.enter_async_context(running(make_settings(database_url)))
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=url, timeout=60, limits=CLIENT_LIMITS)
            )
            for url in urls
        ]
        yield Api(app=local.app, client=clients[0]), clients


async def race(
    clients: Sequence[httpx.AsyncClient], attempts: Sequence[tuple[Headers, dict[str, object]]]
) -> list[httpx.Response]:
    """Every attempt at once, alternating between the servers."""
    return list(
        await asyncio.gather(
            *(
                clients[index % len(clients)].post(BOOK, json=body, headers=headers)
                for index, (headers, body) in enumerate(attempts)
            )
        )
    )


def per_server(
    responses: Sequence[httpx.Response], clients: Sequence[httpx.AsyncClient]
) -> dict[str, dict[str, int]]:
    return {
        str(client.base_url): dict(tally(list(responses[index :: len(clients)])))
        for index, client in enumerate(clients)
    }


# --- 1. races across two servers ----------------------------------------------------


@pytest.mark.slow
async def test_sixty_residents_on_two_servers_one_slot_one_winner(
    pg_url: str, pair: Servers, record_property: Property
) -> None:
    async with on_servers(pg_url, pair.urls) as (api, clients):
        users = [await api.resident() for _ in range(60)]
        admin = await api.staff()
        center = (await api.center(admin))["id"]
        for trial in range(TRIALS):
            room = (await api.space(center, admin))["id"]
            body = one_slot(room, DAY, f"{10 + trial:02d}:00", f"{10 + trial:02d}:30")
            responses = await race(clients, [(user, body) for user in users])
            outcome = tally(responses)
            record_property(f"trial {trial}", per_server(responses, clients))
            assert outcome == Counter({"201": 1, "409 slot_taken": 59}), (trial, outcome)
            assert await overlapping_holders(api.database) == 0


@pytest.mark.slow
async def test_forty_verified_residents_on_two_servers_ten_seats(
    pg_url: str, pair: Servers, record_property: Property
) -> None:
    async with on_servers(pg_url, pair.urls) as (api, clients):
        users = [await verified_resident(api) for _ in range(40)]
        for trial in range(TRIALS):
            room = await study_room(api)
            body = one_slot(room, DAY, "19:00", "21:00")
            responses = await race(clients, [(user, body) for user in users])
            outcome = tally(responses)
            record_property(f"trial {trial}", per_server(responses, clients))
            assert outcome == Counter({"201": 10, "409 space_full": 30}), (trial, outcome)
            assert await seats_over_capacity(api.database) == 0


@pytest.mark.slow
async def test_twenty_colleagues_on_two_servers_stay_within_the_quota(
    pg_url: str, pair: Servers, record_property: Property
) -> None:
    async with on_servers(pg_url, pair.urls) as (api, clients):
        admin = await api.staff()
        owner = await api.resident()
        org = (await organization(api, owner))["id"]
        colleagues = [await member_of(api, owner, org) for _ in range(20)]
        for trial in range(TRIALS):
            center = await api.center(admin)
            rooms = [(await api.space(center["id"], admin))["id"] for _ in range(2)]
            rules = [{"subject": "organization", "metric": "bookings_per_week", "max_value": 5}]
            quota = await api.client.put(
                f"/api/v1/admin/centers/{center['id']}/quotas", json=rules, headers=admin
            )
            assert quota.status_code == 200, quota.text
            attempts = []
            for index, colleague in enumerate(colleagues):
                hour = 9 + index // 2
                body = one_slot(rooms[index % 2], DAY, f"{hour:02d}:00", f"{hour:02d}:30")
                attempts.append((colleague, {**body, "organization_id": org}))
            responses = await race(clients, attempts)
            outcome = tally(responses)
            record_property(f"trial {trial}", per_server(responses, clients))
            assert outcome == Counter({"201": 5, "409 quota_exceeded": 15}), (trial, outcome)
            assert await overlapping_holders(api.database) == 0


# --- 2. rate limits shared through Redis --------------------------------------------


async def wrong_passwords(
    clients: Sequence[httpx.AsyncClient], username: str, attempts: int
) -> list[httpx.Response]:
    """``attempts`` failed logins for ``username``, alternating between the servers."""
    responses = []
    for attempt in range(attempts):
        client = clients[attempt % len(clients)]
        form = {"username": username, "password": f"not the password {attempt}"}
        responses.append(await client.post("/api/v1/auth/token", data=form))
    return responses


def codes(responses: Sequence[httpx.Response]) -> list[str]:
    return [f"{response.status_code} {response.json().get('code', '')}" for response in responses]


def assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1


@pytest.mark.slow
async def test_login_limit_is_shared_by_the_servers_through_redis(
    redis_store: redis.Redis, redis_prefix: str, pg_url: str, pair: Servers
) -> None:
    async with on_servers(pg_url, pair.urls) as (api, clients):
        username = f"limited-{secrets.token_hex(3)}"
        await api.create_staff_row(StaffRole.super_admin, username=username)
        failed = await wrong_passwords(clients, username, LOGIN_LIMIT)
        assert codes(failed) == ["401 invalid_credentials"] * LOGIN_LIMIT
        counters = [key.decode() for key in redis_store.scan_iter(f"{redis_prefix}*")]
        assert any(username in key for key in counters), counters  # the count is in Redis
        # The seventh attempt is refused whichever server it reaches, even with
        # the right password: both count in the same Redis window.
        for client in clients:
            assert_rate_limited(
                await client.post(
                    "/api/v1/auth/token", data={"username": username, "password": STAFF_PASSWORD}
                )
            )


@pytest.mark.slow
async def test_control_without_redis_each_server_counts_alone(pg_url: str, tmp_path: Path) -> None:
    with servers(pg_url, 2, tmp_path, LIMITS) as alone:
        async with on_servers(pg_url, alone.urls) as (api, clients):
            username = f"unshared-{secrets.token_hex(3)}"
            await api.create_staff_row(StaffRole.super_admin, username=username)
            failed = await wrong_passwords(clients, username, 2 * LOGIN_LIMIT)
            assert codes(failed) == ["401 invalid_credentials"] * (2 * LOGIN_LIMIT)
            for client in clients:
                assert_rate_limited(
                    await client.post(
                        "/api/v1/auth/token", data={"username": username, "password": "wrong"}
                    )
                )


# --- 3. backends killed under load --------------------------------------------------

BOOKINGS = 400
READS = 100
CONCURRENCY = 16
KILL_EVERY_SECONDS = 0.3
# The load is spread over at least this long, so that kills land on it however
# fast the machine is.
MIN_LOAD_SECONDS = 3.0
MEETING_ROOMS = 10
STUDY_ROOMS = 2
SEATS = 10
STUDY_WINDOWS = ("08:00", "10:00", "12:00", "14:00")
RESIDENTS = 40
RETRY_ROUNDS = 20

# The backends are chosen first, in a materialized CTE: a condition beside
# pg_terminate_backend() in one WHERE may be evaluated after it, on every backend.
_KILL = """
WITH victims AS MATERIALIZED (
  SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()
)
SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM victims
"""


@dataclass
class Killer:
    """Terminates every backend of one database (but its own, which is on
    another) every ``interval`` seconds until stopped."""

    database: str
    interval: float
    rounds: int = 0
    killed: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def kill_once(self, connection: asyncpg.Connection) -> None:
        self.killed += int(await connection.fetchval(_KILL, self.database))
        self.rounds += 1

    async def run(self) -> None:
        async with _admin() as connection:
            while not self.stop.is_set():
                await self.kill_once(connection)
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), self.interval)


@dataclass(frozen=True)
class Call:
    """One request: a keyed booking (``body``) or a read (a GET of ``path``)."""

    name: str
    path: str
    headers: Headers
    body: dict[str, object] | None = None
    kind: str = "read"  # "read", "direct" (a plain meeting room), "transactional" (a seat)


@dataclass(frozen=True)
class Answer:
    outcome: str  # "201", "200", "503 database_unavailable", "500 internal_error", "dropped …"
    reservation_id: int | None = None
    retry_after: str | None = None
    problem_json: bool = False
    replayed: bool = False


async def send(client: httpx.AsyncClient, call: Call) -> Answer:
    try:
        if call.body is None:
            response = await client.get(call.path, headers=call.headers)
        else:
            headers = {**call.headers, "Idempotency-Key": call.name}
            response = await client.post(call.path, json=call.body, headers=headers)
    except httpx.TransportError as exc:
        return Answer(f"dropped {type(exc).__name__}")
    if response.status_code in (200, 201):
        booked = response.status_code == 201
        return Answer(
            str(response.status_code),
            reservation_id=int(response.json()["id"]) if booked else None,
            replayed=response.headers.get("Idempotent-Replayed") == "true",
        )
    problem = response.headers.get("content-type") == "application/problem+json"
    code = response.json().get("code", "") if problem else response.text[:60]
    return Answer(
        f"{response.status_code} {code}",
        retry_after=response.headers.get("Retry-After"),
        problem_json=problem,
    )


def is_retryable(answer: Answer) -> bool:
    return (
        answer.outcome == "503 database_unavailable"
        and answer.problem_json
        and answer.retry_after is not None
        and answer.retry_after.isdigit()
    )


def succeeded(answer: Answer) -> bool:
    return answer.outcome in ("200", "201")


async def send_all(
    clients: Sequence[httpx.AsyncClient],
    calls: Sequence[Call],
    *,
    concurrency: int = CONCURRENCY,
    spread_seconds: float = 0.0,
) -> list[Answer]:
    """Every call, alternating between the servers, at most ``concurrency`` at
    once, the i-th not before ``i / len(calls) * spread_seconds``."""
    gate = asyncio.Semaphore(concurrency)
    started = time.perf_counter()

    async def one(index: int, call: Call) -> Answer:
        async with gate:
            not_before = started + index / len(calls) * spread_seconds
            await asyncio.sleep(max(0.0, not_before - time.perf_counter()))
            return await send(clients[index % len(clients)], call)

    return list(await asyncio.gather(*(one(index, call) for index, call in enumerate(calls))))


async def plan_calls(api: Api) -> tuple[list[Call], list[Call]]:
    """400 bookings that cannot conflict, by 40 residents: 320 plain meeting-room
    bookings (the direct path of app/reservations/direct.py, on the bare driver
    pool) and 80 seats in study rooms with a door (the transactional path, on
    SQLAlchemy's pool, which also issues a door code); and 100 availability
    reads (the driver pool). Returns (bookings and reads mixed, reads alone)."""
    admin = await api.staff()
    center = (await api.center(admin))["id"]
    users = [await api.resident() for _ in range(RESIDENTS)]
    rooms = [(await api.space(center, admin))["id"] for _ in range(MEETING_ROOMS)]
    studies = []
    for _ in range(STUDY_ROOMS):
        study = await api.space(
            center,
            admin,
            kind="study_room",
            booking_mode="shared",
            capacity=SEATS,
            open_24h=True,
            opening_hours=[],
            max_minutes=480,
        )
        await door(api, study["id"], admin)
        studies.append(study["id"])
    run = secrets.token_hex(4)
    seats = [
        (
            users[(index * SEATS + seat) % RESIDENTS],
            one_slot(study, DAY, start, f"{int(start[:2]) + 2:02d}:00"),
        )
        for index, study in enumerate(studies)
        for start in STUDY_WINDOWS
        for seat in range(SEATS)  # ten different residents in each window
    ]
    halves = [
        (day, f"{9 + half // 2:02d}:{30 * (half % 2):02d}") for day in (2, 3) for half in range(16)
    ]
    meetings = []
    for index, room in enumerate(rooms):
        for offset, (day, start) in enumerate(halves):
            minutes = int(start[:2]) * 60 + int(start[3:]) + 30
            end = f"{minutes // 60:02d}:{minutes % 60:02d}"
            user = users[(index * len(halves) + offset) % RESIDENTS]
            meetings.append((user, one_slot(room, days_ahead(day), start, end)))
    assert len(seats) + len(meetings) == BOOKINGS
    per_seat = len(meetings) // len(seats)
    mixed: list[Call] = []  # mixed, so that kills land on every path
    for index, (user, body) in enumerate(seats):
        mixed.append(Call(f"kill-{run}-seat-{index}", BOOK, user, body, "transactional"))
        for number in range(index * per_seat, (index + 1) * per_seat):
            user, body = meetings[number]
            mixed.append(Call(f"kill-{run}-room-{number}", BOOK, user, body, "direct"))
    calls: list[Call] = []
    reads: list[Call] = []
    every = BOOKINGS // READS
    for index, call in enumerate(mixed):
        calls.append(call)
        if index % every == every - 1:
            space = (
                studies[len(reads) % STUDY_ROOMS]
                if len(reads) % 2
                else rooms[len(reads) % MEETING_ROOMS]
            )
            path = f"/api/v1/spaces/{space}/availability?date={DAY.isoformat()}"
            reads.append(Call(f"read-{len(reads)}", path, call.headers))
            calls.append(reads[-1])
    assert len(calls) == BOOKINGS + READS
    return calls, reads


async def database_counts(database_url: str) -> dict[str, Any]:
    """What was written, read on a fresh connection (the pooled ones were killed)."""
    connection = await asyncpg.connect(_asyncpg_dsn(database_url), timeout=5)
    try:
        return {
            "reservations": await connection.fetchval("SELECT count(*) FROM reservations"),
            "keys": dict(
                await connection.fetch(
                    "SELECT key, (response_body->>'id')::bigint FROM idempotency_keys"
                )
            ),
            "reservation_ids": {
                row[0] for row in await connection.fetch("SELECT id FROM reservations")
            },
            "created_events": await connection.fetchval(
                "SELECT count(DISTINCT entity_id) FROM audit_events "
                "WHERE entity = 'reservation' AND action = 'create'"
            ),
            "seats_without_code": await connection.fetchval(
                "SELECT count(*) FROM reservations r JOIN spaces s ON s.id = r.space_id "
                "WHERE s.booking_mode = 'shared' AND NOT EXISTS "
                "(SELECT FROM access_codes a WHERE a.reservation_id = r.id)"
            ),
        }
    finally:
        await connection.close()


@pytest.mark.slow
async def test_backends_killed_under_load_answer_503_and_retries_book_exactly_once(
    fresh_pg_url: str, tmp_path: Path, record_property: Property
) -> None:
    database_url = fresh_pg_url
    with servers(database_url, 2, tmp_path) as pair:
        async with on_servers(database_url, pair.urls) as (api, clients):
            calls, reads = await plan_calls(api)
            bookings = [call for call in calls if call.body is not None]
            killer = Killer(_database_name(database_url), KILL_EVERY_SECONDS)
            killing = asyncio.create_task(killer.run())
            started = time.perf_counter()
            try:
                first = await send_all(clients, calls, spread_seconds=MIN_LOAD_SECONDS)
            finally:
                killer.stop.set()
                await killing
            load_seconds = time.perf_counter() - started
            await _forget_killed_connections(api.database)
            answers = dict(zip((call.name for call in calls), first, strict=True))
            first_outcomes = Counter(answer.outcome for answer in first)
            by_path = Counter(
                f"{call.kind} {answer.outcome}" for call, answer in zip(calls, first, strict=True)
            )

            # Retry every failed booking with its key, as a client would.
            pending = [call for call in bookings if not succeeded(answers[call.name])]
            retried: Counter[str] = Counter()
            rounds = 0
            retries: list[Answer] = []
            while pending and rounds < RETRY_ROUNDS:
                rounds += 1
                again = await send_all(clients, pending)
                retries += again
                retried.update(
                    answer.outcome + (" replayed" if answer.replayed else "") for answer in again
                )
                answers.update(zip((call.name for call in pending), again, strict=True))
                pending = [call for call in pending if not succeeded(answers[call.name])]
                await asyncio.sleep(0.2 if pending else 0)

            # Then kill every backend once more while the pools sit idle: no
            # request may meet a connection that was broken before it came.
            async with _admin() as admin:
                await killer.kill_once(admin)
                await _until_gone(admin, "datname = $1", killer.database)
            await asyncio.sleep(SETTLE_SECONDS)
            idle_kill = Counter(
                answer.outcome
                for answer in await send_all(clients, [*reads[:30], *_listings(bookings[:30])])
            )
            written = await database_counts(database_url)

            record_property("kill rounds", killer.rounds)
            record_property("backends terminated", killer.killed)
            record_property("load seconds", round(load_seconds, 2))
            record_property("first answers", dict(first_outcomes))
            record_property("first answers by path", dict(by_path))
            record_property("retry answers", dict(retried))
            record_property("retry rounds", rounds)
            record_property("after an idle kill", dict(idle_kill))
            record_property("reservations", written["reservations"])
            logs = pair.output()
            context = (
                f"first {dict(by_path)}, retries {dict(retried)}, after an idle kill "
                f"{dict(idle_kill)}\n{_error_lines(logs)}"
            )

            # The kills hit requests: otherwise this test proves nothing.
            assert killer.rounds >= 5, context
            assert first_outcomes["503 database_unavailable"] > 0, context
            # Under the kills every answer was a success or a retryable problem.
            assert all(succeeded(answer) or is_retryable(answer) for answer in first), context
            assert "unhandled error" not in logs, context
            # Retried with the same keys, each booking was made exactly once.
            assert all(succeeded(answer) or is_retryable(answer) for answer in retries), context
            assert not pending, context
            assert written["reservations"] == BOOKINGS, (written["reservations"], context)
            ids = {call.name: answers[call.name].reservation_id for call in bookings}
            assert written["keys"] == ids, context
            assert len(set(ids.values())) == BOOKINGS
            assert set(ids.values()) == written["reservation_ids"]
            # Nothing partial: each booking has its audit event, each seat its door code.
            assert written["created_events"] == BOOKINGS
            assert written["seats_without_code"] == 0
            assert await overlapping_holders(api.database) == 0
            assert await seats_over_capacity(api.database) == 0
            # Broken connections were dropped, not pooled for the next request.
            assert idle_kill == Counter({"200": 60}), context


# --- connections killed while idle are not handed out again ------------------------


# How long a server may take, once a backend has exited, to read the end of its
# socket (under a loaded machine too).
SETTLE_SECONDS = 0.5


async def _until_gone(admin: asyncpg.Connection, condition: str, argument: object) -> None:
    """Wait until no backend of pg_stat_activity matches ``condition``."""
    for _ in range(250):
        if not await admin.fetchval(
            f"SELECT count(*) FROM pg_stat_activity WHERE {condition}", argument
        ):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"backends matching {condition} ({argument}) outlived 5 s")


async def _terminate_and_wait(pids: Sequence[int]) -> None:
    """Terminate these backends, wait until they are gone, and give this
    process time to read the end of their sockets."""
    async with _admin() as admin:
        await admin.fetch("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", pids)
        await _until_gone(admin, "pid = ANY($1::int[])", pids)
    await asyncio.sleep(SETTLE_SECONDS)


@pytest.mark.slow
async def test_pooled_connections_killed_while_idle_are_replaced(pg_url: str) -> None:
    """Both pools: a connection the server closed while it sat in the pool is
    replaced at checkout, without a round trip, instead of failing a request.
    (SQLAlchemy's pool, without a pre-ping, used to hand it out.)"""
    database = Database.connect(make_settings(pg_url, database_pool_size=3))
    await database.open()
    try:
        async with AsyncExitStack() as stack:  # fill both pools with three connections each
            orm = [await stack.enter_async_context(database.engine.connect()) for _ in range(3)]
            raw = [await stack.enter_async_context(database.driver()) for _ in range(3)]
            pids = [await c.scalar(text("SELECT pg_backend_pid()")) for c in orm] + [
                c.get_server_pid() for c in raw
            ]
        await _terminate_and_wait(pids)
        async with AsyncExitStack() as stack:
            orm = [await stack.enter_async_context(database.engine.connect()) for _ in range(3)]
            raw = [await stack.enter_async_context(database.driver()) for _ in range(3)]
            now = [await c.scalar(text("SELECT pg_backend_pid()")) for c in orm] + [
                await c.fetchval("SELECT pg_backend_pid()") for c in raw
            ]
        assert not set(now) & set(pids)
    finally:
        await database.dispose()


# When a backend is terminated while its connection is idle, asyncpg reads the
# FATAL message, cannot place it, and wedges the protocol until the socket's
# end-of-file arrives a few milliseconds later; a statement sent meanwhile fails
# with "cannot switch to state …; another operation (2) is in progress" (and
# asyncpg aborts the connection). These tests catch that window (a few tries at
# most): the failure counts as a lost connection (503), and the next request
# gets a new connection at once.

WINDOW_TRIES = 40
WINDOW_DELAYS = (0.0002, 0.0005, 0.001, 0.002)  # after the kill; measured: all inside it


@pytest.mark.slow
async def test_a_driver_connection_killed_while_idle_is_not_pooled_again(pg_url: str) -> None:
    database = Database.connect(make_settings(pg_url, database_pool_size=1))
    await database.open()
    try:
        async with _admin() as admin:
            for attempt in range(WINDOW_TRIES):
                async with database.driver() as connection:
                    victim = connection.get_server_pid()
                await admin.fetchval("SELECT pg_terminate_backend($1)", victim)
                await asyncio.sleep(WINDOW_DELAYS[attempt % len(WINDOW_DELAYS)])
                error: Exception | None = None
                try:
                    async with database.driver() as connection:  # the pool's only connection
                        await connection.fetchval("SELECT 1")
                except (asyncpg.exceptions.InternalClientError, asyncpg.InterfaceError) as exc:
                    error = exc  # wedged, or (too late) already closed
                except asyncpg.PostgresConnectionError:
                    continue  # too early: killed in the middle of the statement
                if isinstance(error, asyncpg.exceptions.InternalClientError):
                    break
            else:
                pytest.skip(f"never caught a connection wedged in {WINDOW_TRIES} tries")
        assert connection_lost(error)
        async with database.driver() as connection:  # at once: no time for it to close
            assert await connection.fetchval("SELECT pg_backend_pid()") != victim
    finally:
        await database.dispose()


@pytest.mark.slow
async def test_an_orm_connection_killed_while_idle_is_not_pooled_again(pg_url: str) -> None:
    engine = create_engine(make_settings(pg_url), pool_size=1)
    try:
        async with _admin() as admin:
            for attempt in range(WINDOW_TRIES):
                async with engine.connect() as connection:
                    victim = await connection.scalar(text("SELECT pg_backend_pid()"))
                await admin.fetchval("SELECT pg_terminate_backend($1)", victim)
                await asyncio.sleep(WINDOW_DELAYS[attempt % len(WINDOW_DELAYS)])
                error: DBAPIError | None = None
                try:
                    async with engine.connect() as connection:  # the pool's only connection
                        await connection.scalar(text("SELECT 1"))
                except DBAPIError as exc:
                    error = exc
                if error is not None and "cannot switch to state" in str(error.orig):
                    break  # wedged; otherwise too early (killed mid-statement) or too late
            else:
                pytest.skip(f"never caught a connection wedged in {WINDOW_TRIES} tries")
        assert error.connection_invalidated
        assert connection_lost(error)
        async with engine.connect() as connection:  # at once: no time for it to close
            assert await connection.scalar(text("SELECT pg_backend_pid()")) != victim
    finally:
        await engine.dispose()


# --- what is, and is not, a lost connection -----------------------------------------


def _route_raising(error: Exception, database_url: str) -> FastAPI:
    app = create_app(make_settings(database_url))

    @app.get("/api/v1/test-only/database")
    async def fail() -> None:
        raise error

    return app


async def _refused_by_the_driver() -> OSError:
    """A real socket error from under asyncpg: nothing listens on port 9."""
    try:
        await asyncpg.connect("postgresql://nobody@127.0.0.1:9/none", timeout=2)
    except OSError as exc:
        return exc
    raise AssertionError("something listens on 127.0.0.1:9")


LOST = (503, "database_unavailable")
BUG = (500, "internal_error")


@pytest.mark.parametrize(
    ("make_error", "answer"),
    [
        pytest.param(lambda: asyncpg.exceptions.AdminShutdownError("x"), LOST, id="57P01"),
        pytest.param(lambda: asyncpg.exceptions.CannotConnectNowError("x"), LOST, id="57P03"),
        pytest.param(lambda: asyncpg.ConnectionDoesNotExistError("x"), LOST, id="08003"),
        pytest.param(lambda: asyncpg.InterfaceError("connection is closed"), LOST, id="closed"),
        pytest.param(
            lambda: asyncpg.exceptions.InternalClientError(
                "cannot switch to state 12; another operation (2) is in progress"
            ),
            LOST,
            id="wedged",
        ),
        pytest.param(_refused_by_the_driver, LOST, id="refused"),
        pytest.param(
            lambda: asyncpg.exceptions.DeadlockDetectedError("x"),
            (409, "concurrent_update"),
            id="40P01",
        ),
        # Bugs stay bugs: a logged 500.
        pytest.param(
            lambda: asyncpg.InterfaceError("the server expects 2 arguments"), BUG, id="args"
        ),
        pytest.param(lambda: asyncpg.exceptions.InternalClientError("no decoder"), BUG, id="codec"),
        pytest.param(lambda: asyncpg.exceptions.UndefinedColumnError("x"), BUG, id="42703"),
        pytest.param(lambda: ConnectionResetError("not the database's"), BUG, id="not-driver"),
    ],
)
async def test_only_a_lost_connection_answers_503(
    make_error: Callable[[], Any],
    answer: tuple[int, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    status, code = answer
    error = make_error()
    if asyncio.iscoroutine(error):
        error = await error
    app = _route_raising(error, f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/api/v1/test-only/database")
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    if status == 503:
        assert response.headers["Retry-After"] == "1"
        assert any("database connection lost" in record.message for record in caplog.records)
    if status == 500:
        assert any("unhandled error" in record.message for record in caplog.records)


def _listings(bookings: Sequence[Call]) -> list[Call]:
    """Each booker's list of reservations: a read through SQLAlchemy's pool."""
    return [Call(f"list-{index}", BOOK, call.headers) for index, call in enumerate(bookings)]


@asynccontextmanager
async def _admin() -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(_asyncpg_dsn(PG_ADMIN_URL), timeout=5)
    try:
        yield connection
    finally:
        await connection.close()


def _database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def _forget_killed_connections(database: Database) -> None:
    """The in-process app's pooled connections were killed too; its queries
    after the load (the invariants, the clean-up) use new ones."""
    await database.engine.dispose()
    if database.driver_pool is not None:
        await database.driver_pool.expire_connections()


def _error_lines(logs: str, limit: int = 40) -> str:
    """The servers' warnings and errors, for the failure message."""
    lines = [
        line
        for line in logs.splitlines()
        if " WARNING " in line or " ERROR " in line or line.startswith(("asyncpg", "sqlalchemy"))
    ]
    return "\n".join(lines[:limit])
