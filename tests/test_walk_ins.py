"""Walk-ins and one seat per person: a booking may start at the boundary of the
slot running now while at least half of it remains, and its code opens the
door at once; a shared space that requires a real name books one seat per
verified person.

The clock travels to exact instants (``time_machine``, not ticking), so the
edges are met to the second on any day.
"""

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import time_machine

from tests.factories import Api, Headers, book, door, local, verified_resident
from tests.test_errors import assert_problem

DAY = date(2026, 11, 18)  # a Wednesday; the rooms below are open around the clock

ROUND_THE_CLOCK: dict[str, Any] = {
    "kind": "activity_room",
    "open_24h": True,
    "opening_hours": [],
    "slot_minutes": 30,
    "min_minutes": 30,
    "max_minutes": 240,
}


def at(clock: str, seconds: int = 0) -> datetime:
    return local(DAY, clock) + timedelta(seconds=seconds)


@pytest.fixture
def travel() -> Iterator[time_machine.Traveller]:
    """The clock at 12:30:26 on ``DAY``, standing still until a test moves it."""
    with time_machine.travel(at("12:30", 26), tick=False) as traveller:
        yield traveller


async def room(api: Api, **overrides: Any) -> int:
    return int((await api.space(**{**ROUND_THE_CLOCK, **overrides}))["id"])


async def walk_in(api: Api, who: Headers, space_id: int, start: str, end: str) -> Any:
    return await book(api, who, space_id, DAY, start, end)


async def test_a_walk_in_books_the_slot_running_now_and_its_code_opens_at_once(
    api: Api, travel: time_machine.Traveller
) -> None:
    space_id = await room(api)
    door_id, device = await door(api, space_id)
    resident = await api.resident()

    booked = await walk_in(api, resident, space_id, "12:30", "13:30")
    assert booked.status_code == 201, booked.text
    assert booked.json()["status"] == "confirmed"
    access = await api.client.get(
        f"/api/v1/reservations/{booked.json()['id']}/access", headers=resident
    )
    assert access.status_code == 200, access.text
    assert datetime.fromisoformat(access.json()["valid_from"]) <= at("12:30", 26)
    opened = await api.client.post(
        f"/api/v1/doors/{door_id}/verify", json={"code": access.json()["door_code"]},
        headers=device,
    )  # fmt: skip
    assert opened.json() == {
        "granted": True,
        "reason": "granted",
        "reservation_id": booked.json()["id"],
    }


async def test_a_walk_in_is_taken_while_half_the_slot_remains(
    api: Api, travel: time_machine.Traveller
) -> None:
    space_id = await room(api)
    first, second = await api.resident(), await api.resident()
    # A slot that began before the one running now is past.
    assert_problem(await walk_in(api, first, space_id, "12:00", "13:00"), 422, "in_the_past")

    travel.move_to(at("12:45"))  # exactly half of 12:30–13:00 remains
    accepted = await walk_in(api, first, space_id, "12:30", "13:00")
    assert accepted.status_code == 201, accepted.text
    cancelled = await api.client.post(
        f"/api/v1/reservations/{accepted.json()['id']}/cancel",
        json={"reason": "腾出时段"},
        headers=await api.staff(),
    )
    assert cancelled.status_code == 200, cancelled.text

    travel.move_to(at("12:45", 1))  # less than half remains
    problem = assert_problem(
        await walk_in(api, second, space_id, "12:30", "13:00"), 422, "in_the_past"
    )
    assert problem["title"] == "不能预约过去的时间"


async def test_a_walk_in_that_needs_a_check_in_is_taken_before_the_no_show_deadline(
    api: Api, travel: time_machine.Traveller
) -> None:
    """It would be released as a no-show the moment it was booked."""
    space_id = await room(api, requires_check_in=True, no_show_after_minutes=10)
    resident = await api.resident()
    travel.move_to(at("12:40"))
    assert_problem(await walk_in(api, resident, space_id, "12:30", "13:00"), 422, "in_the_past")
    travel.move_to(at("12:39", 59))
    booked = await walk_in(api, resident, space_id, "12:30", "13:00")
    assert booked.status_code == 201, booked.text


async def test_no_walk_in_where_staff_approve_first(
    api: Api, travel: time_machine.Traveller
) -> None:
    """A request whose start has passed could only lapse undecided."""
    space_id = await room(api, requires_approval=True)
    resident = await api.resident()
    assert_problem(await walk_in(api, resident, space_id, "12:30", "13:00"), 422, "in_the_past")
    assert (await walk_in(api, resident, space_id, "13:00", "13:30")).status_code == 201


async def test_a_walk_in_of_an_hour_long_slot_needs_half_an_hour_left(
    api: Api, travel: time_machine.Traveller
) -> None:
    space_id = await room(api, slot_minutes=60, min_minutes=60)
    resident = await api.resident()
    travel.move_to(at("12:30", 1))
    assert_problem(await walk_in(api, resident, space_id, "12:00", "13:00"), 422, "in_the_past")
    travel.move_to(at("12:30"))
    assert (await walk_in(api, resident, space_id, "12:00", "13:00")).status_code == 201


# --- one seat, one person ----------------------------------------------------------------


async def test_a_study_room_books_one_seat_per_verified_person(
    api: Api, travel: time_machine.Traveller
) -> None:
    space_id = await room(
        api, kind="study_room", booking_mode="shared", capacity=10, requires_real_name=True
    )
    resident = await verified_resident(api)
    problem = assert_problem(
        await book(api, resident, space_id, DAY, "14:00", "15:00", attendees=3),
        422,
        "one_seat_per_person",
    )
    assert "同行者" in str(problem["detail"])
    listed = await api.client.get("/api/v1/reservations", headers=resident)
    assert listed.json()["total"] == 0  # nothing was written

    one = await book(api, resident, space_id, DAY, "14:00", "15:00", attendees=1)
    assert one.status_code == 201, one.text
    companion = await verified_resident(api)
    assert (await book(api, companion, space_id, DAY, "14:00", "15:00")).status_code == 201


@pytest.mark.parametrize(
    "rules",
    [
        {"booking_mode": "shared", "capacity": 10, "requires_real_name": False},
        {"booking_mode": "exclusive", "capacity": 10, "requires_real_name": True},
    ],
    ids=["shared-without-real-name", "room-with-real-name"],
)
async def test_other_spaces_take_several_attendees(
    api: Api, travel: time_machine.Traveller, rules: dict[str, Any]
) -> None:
    space_id = await room(api, **rules)
    resident = await verified_resident(api)
    booked = await book(api, resident, space_id, DAY, "14:00", "15:00", attendees=3)
    assert booked.status_code == 201, booked.text
    assert booked.json()["attendees"] == 3


async def slot_at(api: Api, space_id: int, clock: str, who: Headers | None = None) -> str:
    answer = await api.client.get(
        f"/api/v1/spaces/{space_id}/availability",
        params={"date": DAY.isoformat()},
        headers=who or {},
    )
    assert answer.status_code == 200, answer.text
    [status] = [s["status"] for s in answer.json()["slots"] if s["start"] == at(clock).isoformat()]
    return str(status)


async def test_availability_offers_the_slot_a_walk_in_may_still_book(
    api: Api, travel: time_machine.Traveller
) -> None:
    """What availability calls free, a booking takes: the running slot while
    half of it remains, then past; the walk-in's own booking is mine."""
    space_id = await room(api)
    needs_approval = await room(api, requires_approval=True)
    resident = await api.resident()
    assert await slot_at(api, space_id, "12:00") == "past"
    assert await slot_at(api, space_id, "12:30") == "free"  # 12:30:26
    assert await slot_at(api, needs_approval, "12:30") == "past"

    booked = await walk_in(api, resident, space_id, "12:30", "13:00")
    assert booked.status_code == 201, booked.text
    assert await slot_at(api, space_id, "12:30", resident) == "mine"
    assert await slot_at(api, space_id, "12:30") == "taken"

    travel.move_to(at("12:45", 1))  # less than half remains
    assert await slot_at(api, space_id, "12:30") == "past"
