"""Buffer time: an exclusive space's ``buffer_minutes`` keeps that many free
minutes before and after each booking (cleaning, set-up), on both engines, by
the same guard that keeps bookings apart (docs/ARCHITECTURE.md, "Booking")."""

import asyncio
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from app.core.db import OverlapGuard
from tests.factories import Api, Headers, book, days_ahead, slot

pytestmark = pytest.mark.dates

DAY = days_ahead(3)
TRIALS = 4


def _codes(responses: list[httpx.Response]) -> Counter[str]:
    return Counter(
        f"{answer.status_code} {answer.json().get('code', '')}".strip() for answer in responses
    )


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("09:00", "09:15", 422),  # not on the space's 30-minute grid: the buffer is no slot
        ("09:00", "09:30", 201),  # ends 30 minutes before: free (needs 15)
        ("09:30", "10:00", 409),  # ends when it starts: inside the buffer
        ("11:00", "11:30", 409),  # starts when it ends: inside the buffer
        ("11:30", "12:00", 201),  # starts 30 minutes after
        ("10:30", "11:00", 409),  # overlaps
    ],
)
async def test_a_booking_keeps_the_buffer_free_around_it(
    api: Api, start: str, end: str, expected: int
) -> None:
    space = await api.space(buffer_minutes=15)
    assert space["buffer_minutes"] == 15
    first, second = await api.resident(), await api.resident()
    held = await book(api, first, space["id"], DAY, "10:00", "11:00")
    assert held.status_code == 201, held.text
    answer = await book(api, second, space["id"], DAY, start, end)
    assert answer.status_code == expected, answer.text
    if expected == 409:
        assert answer.json()["code"] == "slot_taken"
        assert answer.json()["conflict"]["start"].startswith(f"{DAY.isoformat()}T10:00")


async def test_without_a_buffer_back_to_back_bookings_fit(api: Api) -> None:
    space = await api.space()
    assert space["buffer_minutes"] == 0
    first, second = await api.resident(), await api.resident()
    assert (await book(api, first, space["id"], DAY, "10:00", "11:00")).status_code == 201
    assert (await book(api, second, space["id"], DAY, "11:00", "12:00")).status_code == 201


async def test_a_shared_space_ignores_the_buffer(api: Api) -> None:
    space = await api.space(booking_mode="shared", capacity=4, buffer_minutes=30)
    first, second = await api.resident(), await api.resident()
    assert (await book(api, first, space["id"], DAY, "10:00", "11:00")).status_code == 201
    assert (await book(api, second, space["id"], DAY, "11:00", "12:00")).status_code == 201


async def test_availability_shows_the_buffer_taken(api: Api) -> None:
    space = await api.space(buffer_minutes=15)
    assert (await book(api, await api.resident(), space["id"], DAY, "10:00", "11:00")).is_success
    answer = await api.client.get(
        f"/api/v1/spaces/{space['id']}/availability", params={"date": DAY.isoformat()}
    )
    statuses = {item["start"][11:16]: item["status"] for item in answer.json()["slots"]}
    assert statuses["09:00"] == "free"
    assert statuses["09:30"] == "taken"
    assert statuses["10:00"] == statuses["10:30"] == "taken"
    assert statuses["11:00"] == "taken"
    assert statuses["11:30"] == "free"


async def test_a_move_keeps_the_buffer_too(api: Api) -> None:
    space = await api.space(buffer_minutes=15)
    first, second = await api.resident(), await api.resident()
    assert (await book(api, first, space["id"], DAY, "10:00", "11:00")).status_code == 201
    mine = await book(api, second, space["id"], DAY, "13:00", "14:00")
    moved = await api.client.patch(
        f"/api/v1/reservations/{mine.json()['id']}",
        json=slot(DAY, "11:00", "12:00"),
        headers=second,
    )
    assert moved.status_code == 409, moved.text
    assert moved.json()["code"] == "slot_taken"
    after = await api.client.get(f"/api/v1/reservations/{mine.json()['id']}", headers=second)
    assert after.json()["start"].startswith(f"{DAY.isoformat()}T13:00")


@pytest.mark.parametrize("minutes", [-1, 241, "15"])
async def test_a_buffer_out_of_range_is_refused(api: Api, minutes: object) -> None:
    staff = await api.staff()
    space = await api.space(headers=staff)
    answer = await api.client.patch(
        f"/api/v1/admin/spaces/{space['id']}", json={"buffer_minutes": minutes}, headers=staff
    )
    assert answer.status_code == 422, answer.text
    unchanged = await api.client.get(f"/api/v1/spaces/{space['id']}")
    assert unchanged.json()["buffer_minutes"] == 0


async def test_staff_set_the_buffer(api: Api) -> None:
    staff = await api.staff()
    space = await api.space(headers=staff)
    answer = await api.client.patch(
        f"/api/v1/admin/spaces/{space['id']}", json={"buffer_minutes": 30}, headers=staff
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["buffer_minutes"] == 30


async def _race_neighbours(api: Api, users: list[Headers]) -> tuple[Counter[str], int]:
    """Two bookers each ask for an hour back to back with the other's, at once."""
    space = await api.space(buffer_minutes=15)
    bodies = [
        {"space_id": space["id"], **slot(DAY, "10:00", "11:00")},
        {"space_id": space["id"], **slot(DAY, "11:00", "12:00")},
    ]
    responses = await asyncio.gather(
        *(
            api.client.post("/api/v1/reservations", json=body, headers=user)
            for user, body in zip(users, bodies, strict=True)
        )
    )
    outcome = _codes(list(responses))
    return outcome, outcome["201"]


@pytest.mark.slow
async def test_neighbours_racing_into_each_others_buffer_exactly_one_wins(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    users = [await api.resident(), await api.resident()]
    for trial in range(TRIALS):
        outcome, _ = await _race_neighbours(api, users)
        record_property(f"trial {trial}", dict(outcome))
        assert outcome == Counter({"201": 1, "409 slot_taken": 1}), outcome


@pytest.mark.slow
async def test_without_the_guard_neighbours_both_win(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    """The negative control: with the guard off and a pause between deciding and
    writing, both neighbours are written, each inside the other's buffer."""
    guard = OverlapGuard(lock=False, exclusion_constraint=False, delay_seconds=0.2)
    api.guarded(guard)
    users = [await api.resident(), await api.resident()]
    winners = []
    for trial in range(TRIALS):
        outcome, won = await _race_neighbours(api, users)
        record_property(f"trial {trial}", dict(outcome))
        winners.append(won)
    assert max(winners) == 2, winners
