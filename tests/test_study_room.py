"""Shared spaces (a study room's seats): the exact peak rule, real names, one seat each."""

from typing import Any

import pytest

from tests.factories import Api, book, days_ahead, verified_resident
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

DAY = days_ahead(1)
STUDY_ROOM: dict[str, Any] = {
    "kind": "study_room",
    "booking_mode": "shared",
    "open_24h": True,
    "opening_hours": [],
    "requires_real_name": True,
    "min_minutes": 30,
    "max_minutes": 480,
}


async def study_room(api: Api, capacity: int = 3) -> dict[str, object]:
    return await api.space(capacity=capacity, **STUDY_ROOM)


async def test_unverified_residents_are_asked_to_verify(api: Api) -> None:
    room = await study_room(api)
    response = await book(api, await api.resident(), int(str(room["id"])), DAY, "10:00", "12:00")
    assert_problem(response, 403, "real_name_required")


@pytest.mark.parametrize(
    ("held", "wanted", "outcome"),
    [
        # capacity 2: two seats taken at some instant inside the request -> full
        ([("09:00", "11:00"), ("10:00", "12:00")], ("10:30", "11:30"), 409),
        # the two never overlap each other: the peak is 1, a seat is free throughout
        ([("09:00", "10:00"), ("10:00", "11:00")], ("09:00", "11:00"), 201),
        ([("09:00", "10:00"), ("10:30", "11:00")], ("09:30", "10:30"), 201),
        # touching is not overlapping
        ([("09:00", "10:00"), ("09:00", "10:00")], ("10:00", "11:00"), 201),
        ([("09:00", "10:00"), ("09:00", "10:00")], ("09:30", "10:30"), 409),
    ],
)
async def test_refused_only_if_some_instant_is_full(
    api: Api, held: list[tuple[str, str]], wanted: tuple[str, str], outcome: int
) -> None:
    room = await study_room(api, capacity=2)
    room_id = int(str(room["id"]))
    for start, end in held:
        response = await book(api, await verified_resident(api), room_id, DAY, start, end)
        assert response.status_code == 201, response.text
    response = await book(api, await verified_resident(api), room_id, DAY, *wanted)
    assert response.status_code == outcome, response.text
    if outcome == 409:
        problem = assert_problem(response, 409, "space_full")
        assert problem["capacity"] == 2
        assert problem["remaining"] == 0


async def test_one_seat_per_person_at_a_time(api: Api) -> None:
    room = await study_room(api)
    room_id = int(str(room["id"]))
    me = await verified_resident(api)
    assert (await book(api, me, room_id, DAY, "10:00", "12:00")).status_code == 201
    assert_problem(await book(api, me, room_id, DAY, "11:00", "13:00"), 409, "already_booked")
    assert (await book(api, me, room_id, DAY, "12:00", "13:00")).status_code == 201


async def test_availability_counts_remaining_seats(api: Api) -> None:
    room = await study_room(api, capacity=3)
    room_id = int(str(room["id"]))
    await book(api, await verified_resident(api), room_id, DAY, "10:00", "11:00")
    await book(api, await verified_resident(api), room_id, DAY, "10:30", "11:30")
    await book(api, await verified_resident(api), room_id, DAY, "10:30", "11:00")
    slots = (
        await api.client.get(
            f"/api/v1/spaces/{room_id}/availability", params={"date": DAY.isoformat()}
        )
    ).json()["slots"]
    by_start = {slot["start"][11:16]: (slot["status"], slot["remaining"]) for slot in slots}
    assert by_start["09:30"] == ("free", 3)
    assert by_start["10:00"] == ("free", 2)
    assert by_start["10:30"] == ("taken", 0)
    assert by_start["11:00"] == ("free", 2)
    assert by_start["11:30"] == ("free", 3)
