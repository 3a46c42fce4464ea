"""Races, in the style of pretix's locking tests: many real concurrent requests,
repeated trials, an invariant query over the whole table after each, and a
negative control that proves the race double-books without the guard.

Requests go through the ASGI app concurrently (asyncio.gather); each one runs
in its own database transaction on its own pooled connection.
"""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime

import httpx
import pytest
from sqlalchemy import text

from app.core.db import Database, OverlapGuard
from app.models import HOLDING_STATUSES
from app.spaces.calendar import peak_load
from tests.conftest import make_settings, running
from tests.factories import (
    Api,
    Headers,
    days_ahead,
    member_of,
    organization,
    slot,
    verified_resident,
)

pytestmark = pytest.mark.dates

RACERS = 50
TRIALS = 5
DAY = days_ahead(2)

_HOLDING = ", ".join(f"'{status.value}'" for status in HOLDING_STATUSES)
OVERLAPPING_HOLDERS = text(
    f"""
    SELECT count(*) FROM reservations a
    JOIN reservations b
      ON a.space_id = b.space_id AND a.id < b.id
     AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at
    JOIN spaces s ON s.id = a.space_id
    WHERE s.booking_mode = 'exclusive'
      AND a.status IN ({_HOLDING}) AND b.status IN ({_HOLDING})
    """
)


async def overlapping_holders(database: Database) -> int:
    """The invariant, checked over the whole table: no two holders overlap."""
    async with database.reader() as session:
        return int(await session.scalar(OVERLAPPING_HOLDERS) or 0)


async def residents(api: Api, count: int) -> list[Headers]:
    return [await api.resident() for _ in range(count)]


async def race(api: Api, attempts: list[tuple[Headers, dict[str, object]]]) -> list[httpx.Response]:
    return list(
        await asyncio.gather(
            *(
                api.client.post("/api/v1/reservations", json=body, headers=headers)
                for headers, body in attempts
            )
        )
    )


def tally(responses: list[httpx.Response]) -> Counter[str]:
    return Counter(
        f"{response.status_code} {response.json().get('code', '')}".strip()
        for response in responses
    )


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def one_slot(space_id: int, day: date, start: str, end: str) -> dict[str, object]:
    return {"space_id": space_id, **slot(day, start, end)}


@pytest.mark.slow
async def test_one_slot_many_bookers_exactly_one_wins(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    users = await residents(api, RACERS)
    for trial in range(TRIALS):
        space = await api.space()
        hour = f"{10 + trial:02d}"
        body = one_slot(space["id"], DAY, f"{hour}:00", f"{hour}:30")
        outcome = tally(await race(api, [(user, body) for user in users]))
        record_property(f"trial {trial}", dict(outcome))
        assert outcome == Counter({"201": 1, "409 slot_taken": RACERS - 1}), (trial, outcome)
        assert await overlapping_holders(api.database) == 0


@pytest.mark.slow
async def test_staggered_neighbours_never_both_win(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    """Hour-long requests starting every half hour: each overlaps its neighbours."""
    users = await residents(api, RACERS)
    starts = [
        "09:00",
        "09:30",
        "10:00",
        "10:30",
        "11:00",
        "11:30",
        "12:00",
        "12:30",
        "13:00",
        "13:30",
    ]
    winners_by_trial: list[int] = []
    for _ in range(TRIALS):
        space = await api.space()
        attempts = []
        for index, user in enumerate(users):
            start = starts[index % len(starts)]
            end = f"{int(start[:2]) + 1:02d}{start[2:]}"
            attempts.append((user, one_slot(space["id"], DAY, start, end)))
        responses = await race(api, attempts)
        outcome = tally(responses)
        record_property(f"trial {len(winners_by_trial)}", dict(outcome))
        winners_by_trial.append(outcome["201"])
        assert set(outcome) <= {"201", "409 slot_taken"}, outcome
        assert await overlapping_holders(api.database) == 0
        # And nobody lost for nothing: every refused request overlaps a winner.
        winners = [(r.json()["start"], r.json()["end"]) for r in responses if r.status_code == 201]
        for (_, body), response in zip(attempts, responses, strict=True):
            if response.status_code == 409:
                start, end = str(body["start"]), str(body["end"])
                assert any(
                    _instant(start) < _instant(won_end) and _instant(won_start) < _instant(end)
                    for won_start, won_end in winners
                ), (start, end, winners)


def without_guard(api: Api) -> None:
    """No lock or re-check in the write, no constraint, and a pause between the
    read and the write (on SQLite, two transactions instead of one)."""
    api.guarded(OverlapGuard(lock=False, exclusion_constraint=False, delay_seconds=0.2))


@pytest.mark.slow
async def test_negative_control_double_books_without_the_guard(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    users = await residents(api, 10)
    space = await api.space()
    body = one_slot(space["id"], DAY, "10:00", "10:30")
    without_guard(api)
    outcome = tally(await race(api, [(user, body) for user in users]))
    record_property("control", dict(outcome))
    assert outcome["201"] > 1, outcome  # the race is real: without the guard it double-books
    assert await overlapping_holders(api.database) > 0


@pytest.fixture
async def patient_api(database_url: str) -> AsyncIterator[Api]:
    """The app with database timeouts long enough for a chain of deadlocks.

    Without the guard's lock, simultaneous inserts into the exclusion
    constraint deadlock, and PostgreSQL resolves one deadlock per
    ``deadlock_timeout`` (1 s): twenty racers may wait in line for over ten
    seconds, past the production pool and statement timeouts, which would
    answer 503 and hide what the backstop decides."""
    settings = make_settings(
        database_url,
        database_pool_timeout_seconds=60,
        database_statement_timeout_seconds=120,
    )
    async with running(settings) as running_api:
        yield running_api


@pytest.mark.slow
async def test_the_backstop_alone_still_refuses_overlaps(
    patient_api: Api,
    record_property: Callable[[str, object], None],
) -> None:
    """With a pause between deciding and writing, each engine's last layer still
    lets exactly one booking win: PostgreSQL's exclusion constraint (23P01, or a
    detected deadlock) with the guard's lock and re-check switched off; on
    SQLite, where there is no other layer, the one writer inside BEGIN IMMEDIATE."""
    api = patient_api
    users = await residents(api, 20)
    guard = OverlapGuard(lock=api.database.is_sqlite, delay_seconds=0.05)
    api.guarded(guard)
    for trial in range(TRIALS):
        space = await api.space()
        body = one_slot(space["id"], DAY, "10:00", "11:00")
        outcome = tally(await race(api, [(user, body) for user in users]))
        record_property(f"trial {trial}", dict(outcome))
        assert outcome["201"] == 1, outcome
        assert set(outcome) <= {"201", "409 slot_taken", "409 concurrent_update"}, outcome
        assert await overlapping_holders(api.database) == 0


@pytest.mark.slow
async def test_two_staff_approving_at_once_exactly_one_wins(api: Api) -> None:
    admin = await api.staff()
    colleagues = [await api.staff() for _ in range(2)]
    space = await api.space(headers=admin, requires_approval=True)
    resident = await api.resident()
    for trial in range(TRIALS):
        hour = f"{10 + trial:02d}"
        pending = (
            await api.client.post(
                "/api/v1/reservations",
                json=one_slot(space["id"], DAY, f"{hour}:00", f"{hour}:30"),
                headers=resident,
            )
        ).json()
        path = f"/api/v1/reservations/{pending['id']}"
        responses = await asyncio.gather(
            api.client.post(f"{path}/approve", headers=colleagues[0]),
            api.client.post(f"{path}/approve", headers=colleagues[1]),
            api.client.post(f"{path}/reject", json={"reason": "冲突"}, headers=admin),
        )
        outcome = tally(list(responses))
        assert outcome == Counter({"200": 1, "409 invalid_transition": 2}), outcome
        history = (await api.client.get(f"{path}/history", headers=admin)).json()["items"]
        assert [entry["from_status"] for entry in history[1:]] == ["pending"]
        assert await overlapping_holders(api.database) == 0


@pytest.mark.slow
async def test_concurrent_duplicates_with_one_idempotency_key_book_once(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    resident = await api.resident()
    for trial in range(TRIALS):
        space = await api.space()
        headers = {**resident, "Idempotency-Key": f"tap-tap-tap-{trial}"}
        body = one_slot(space["id"], DAY, "15:00", "16:00")
        responses = await race(api, [(headers, body)] * 20)
        record_property(f"trial {trial}", dict(tally(responses)))
        # One behaviour on both engines: duplicates wait for the first write and
        # replay its answer.
        assert tally(responses) == Counter({"201": 20}), tally(responses)
        created = responses
        assert all(response.json() == created[0].json() for response in created)
        replayed = [r for r in responses if r.headers.get("Idempotent-Replayed") == "true"]
        assert len(replayed) == 19
        mine = await api.client.get(
            "/api/v1/reservations", params={"space_id": space["id"]}, headers=resident
        )
        assert mine.json()["total"] == 1
        assert mine.json()["items"][0] == created[0].json()
        assert await overlapping_holders(api.database) == 0


# --- shared spaces: seats ----------------------------------------------------------

SEATS = 10
SEAT_RACERS = 40


async def seats_over_capacity(database: Database) -> int:
    """The capacity invariant over the whole table, by a sweep per shared space:
    how many (space, instant) peaks exceed the space's capacity."""
    async with database.reader() as session:
        rows = (
            await session.execute(
                text(
                    f"""
                    SELECT s.id, s.capacity, r.starts_at, r.ends_at, r.attendees
                    FROM reservations r JOIN spaces s ON s.id = r.space_id
                    WHERE s.booking_mode = 'shared' AND r.status IN ({_HOLDING})
                    """
                )
            )
        ).all()
    by_space: dict[int, tuple[int, list[tuple[datetime, datetime, int]]]] = {}
    for space_id, capacity, start, end, seats in rows:
        start, end = (_as_utc(value) for value in (start, end))
        by_space.setdefault(space_id, (capacity, []))[1].append((start, end, seats))
    over = 0
    for capacity, bookings in by_space.values():
        first, last = min(b[0] for b in bookings), max(b[1] for b in bookings)
        over += peak_load(bookings, first, last) > capacity
    return over


def _as_utc(value: object) -> datetime:
    instant = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


async def study_room(api: Api, seats: int = SEATS) -> int:
    space = await api.space(
        kind="study_room",
        booking_mode="shared",
        capacity=seats,
        open_24h=True,
        opening_hours=[],
        requires_real_name=True,
        max_minutes=480,
    )
    return int(space["id"])


@pytest.mark.slow
async def test_forty_verified_residents_race_for_ten_seats(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    users = [await verified_resident(api) for _ in range(SEAT_RACERS)]
    for trial in range(TRIALS):
        room = await study_room(api)
        body = one_slot(room, DAY, "19:00", "21:00")
        outcome = tally(await race(api, [(user, body) for user in users]))
        record_property(f"trial {trial}", dict(outcome))
        assert outcome == Counter({"201": SEATS, "409 space_full": SEAT_RACERS - SEATS}), outcome
        assert await seats_over_capacity(api.database) == 0


@pytest.mark.slow
async def test_staggered_seat_requests_never_exceed_capacity(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    users = [await verified_resident(api) for _ in range(SEAT_RACERS)]
    for trial in range(TRIALS):
        room = await study_room(api)
        attempts = []
        for index, user in enumerate(users):
            start = 8 + index % 8  # two- to four-hour stays starting every hour
            attempts.append(
                (user, one_slot(room, DAY, f"{start:02d}:00", f"{start + 2 + index % 3:02d}:00"))
            )
        outcome = tally(await race(api, attempts))
        record_property(f"trial {trial}", dict(outcome))
        assert set(outcome) <= {"201", "409 space_full"}, outcome
        assert outcome["201"] >= SEATS
        assert await seats_over_capacity(api.database) == 0


@pytest.mark.slow
async def test_negative_control_overfills_seats_without_the_guard(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    # Fewer racers than pooled connections (10): none waits for a connection, so
    # all of them are inside the unguarded check-then-insert window at once.
    seats = 4
    users = [await verified_resident(api) for _ in range(2 * seats)]
    room = await study_room(api, seats)
    body = one_slot(room, DAY, "19:00", "21:00")
    without_guard(api)
    outcome = tally(await race(api, [(user, body) for user in users]))
    record_property("control", dict(outcome))
    assert outcome["201"] > seats, outcome
    assert await seats_over_capacity(api.database) > 0


# --- organizations: quotas ------------------------------------------------------------


@pytest.mark.slow
async def test_twenty_colleagues_racing_stay_within_the_weekly_quota(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    """Distinct slots in two rooms of one center, a center-wide quota of 5 a week:
    the organization's row lock, not the space lock, is what keeps this at 5."""
    admin = await api.staff()
    owner = await api.resident()
    org = (await organization(api, owner))["id"]
    colleagues = [await member_of(api, owner, org) for _ in range(20)]
    for trial in range(TRIALS):
        center = await api.center(admin)
        rooms = [(await api.space(center["id"], admin))["id"] for _ in range(2)]
        rules = [{"subject": "organization", "metric": "bookings_per_week", "max_value": 5}]
        await api.client.put(
            f"/api/v1/admin/centers/{center['id']}/quotas", json=rules, headers=admin
        )
        attempts = []
        for index, colleague in enumerate(colleagues):
            hour = 9 + index // 2
            body = one_slot(rooms[index % 2], DAY, f"{hour:02d}:00", f"{hour:02d}:30")
            attempts.append((colleague, {**body, "organization_id": org}))
        outcome = tally(await race(api, attempts))
        record_property(f"trial {trial}", dict(outcome))
        assert outcome == Counter({"201": 5, "409 quota_exceeded": 15}), outcome
