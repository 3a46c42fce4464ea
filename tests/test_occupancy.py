"""Live occupancy: the people checked in now, the places free now, and when
one frees (``GET /spaces/{id}/occupancy``, app/spaces/occupancy.py), and the
same ``free_now`` in the list of spaces.

The clock travels to exact instants (``time_machine``, not ticking).
"""

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import time_machine

from tests.factories import Api, Headers, book, local, verified_resident
from tests.test_errors import assert_problem
from tests.test_lifecycle import check_in, check_out, qr_token

DAY = date(2026, 11, 18)  # a Wednesday; the rooms below keep the hours they are given

STUDY_ROOM: dict[str, Any] = {
    "kind": "study_room",
    "booking_mode": "shared",
    "capacity": 3,
    "open_24h": True,
    "opening_hours": [],
    "requires_check_in": True,
    "check_in_opens_minutes": 15,
    "no_show_after_minutes": 15,
}


def at(clock: str, day: date = DAY) -> datetime:
    return local(day, clock)


@pytest.fixture
def travel() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(at("13:00"), tick=False) as traveller:
        yield traveller


async def occupancy(api: Api, space_id: int) -> dict[str, Any]:
    response = await api.client.get(f"/api/v1/spaces/{space_id}/occupancy")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def seat(api: Api, space_id: int) -> tuple[Headers, int]:
    resident = await verified_resident(api)
    response = await book(api, resident, space_id, DAY, "14:00", "15:00")
    assert response.status_code == 201, response.text
    return resident, int(response.json()["id"])


async def test_check_ins_and_outs_move_the_counts(api: Api, travel: time_machine.Traveller) -> None:
    room = await api.space(**STUDY_ROOM)
    first, booking = await seat(api, room["id"])
    await seat(api, room["id"])
    assert await occupancy(api, room["id"]) == {
        "space_id": room["id"],
        "checked_in": 0,
        "capacity": 3,
        "free_now": 3,  # 13:00: the bookings begin at 14:00
        "next_free_at": None,
    }
    await seat(api, room["id"])
    travel.move_to(at("14:05"))
    full = await occupancy(api, room["id"])
    assert (full["checked_in"], full["free_now"]) == (0, 0)
    assert full["next_free_at"] == at("15:00").isoformat()

    token = await qr_token(api, room["id"])
    assert (await check_in(api, first, booking, token=token)).status_code == 200
    assert (await occupancy(api, room["id"]))["checked_in"] == 1

    travel.move_to(at("14:40"))
    assert (await check_out(api, first, booking)).status_code == 200
    left = await occupancy(api, room["id"])
    assert (left["checked_in"], left["free_now"], left["next_free_at"]) == (0, 1, None)

    listed = await api.client.get("/api/v1/spaces", params={"center_id": room["center_id"]})
    item = next(item for item in listed.json()["items"] if item["id"] == room["id"])
    assert item["free_now"] == 1


async def test_a_closed_room_has_nothing_free_until_it_opens(
    api: Api, travel: time_machine.Traveller
) -> None:
    mornings = [{"weekday": day, "opens": "08:00", "closes": "12:00"} for day in range(7)]
    room = await api.space(**{**STUDY_ROOM, "open_24h": False, "opening_hours": mornings})
    closed = await occupancy(api, room["id"])  # 13:00
    assert (closed["free_now"], closed["checked_in"]) == (0, 0)
    assert closed["next_free_at"] == at("08:00", DAY + timedelta(days=1)).isoformat()
    travel.move_to(at("09:00", DAY + timedelta(days=1)))
    assert (await occupancy(api, room["id"]))["free_now"] == 3


async def test_an_exclusive_room_is_one_room_free_or_none(
    api: Api, travel: time_machine.Traveller
) -> None:
    room = await api.space(open_24h=True, opening_hours=[])
    resident = await verified_resident(api)
    assert (await occupancy(api, room["id"]))["free_now"] == 1
    response = await book(api, resident, room["id"], DAY, "13:00", "14:00")
    assert response.status_code == 201, response.text
    taken = await occupancy(api, room["id"])
    assert (taken["free_now"], taken["next_free_at"]) == (0, at("14:00").isoformat())


async def test_an_unknown_space_is_404(api: Api) -> None:
    response = await api.client.get("/api/v1/spaces/999999/occupancy")
    assert_problem(response, 404, "not_found")
