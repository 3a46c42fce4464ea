"""Availability tells the truth: a slot past the booking window is
``not_yet_bookable`` with the instant it opens (and booking it is refused,
while booking a ``free`` one is not), the caller's own booking is ``mine``,
a closed slot says why."""

from datetime import date, datetime, timedelta
from typing import Any

import pytest
import time_machine

from app.core.clock import local_today
from tests.factories import Api, Headers, book, days_ahead, local, next_open_day
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates


async def slots(
    api: Api, space_id: int, day: date, headers: Headers | None = None
) -> list[dict[str, Any]]:
    response = await api.client.get(
        f"/api/v1/spaces/{space_id}/availability",
        params={"date": day.isoformat()},
        headers=headers or {},
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["slots"]
    return found


def at(found: list[dict[str, Any]], day: date, clock: str) -> dict[str, Any]:
    start = local(day, clock).isoformat()
    return next(slot for slot in found if slot["start"] == start)


async def test_slots_past_the_window_are_not_yet_bookable_and_say_when_they_open(
    api: Api,
) -> None:
    space = await api.space(advance_days=2)
    last, beyond = days_ahead(2), days_ahead(3)
    open_slots = [
        slot for slot in await slots(api, space["id"], last) if slot["status"] != "closed"
    ]
    assert {slot["status"] for slot in open_slots} == {"free"}
    assert all("opens_at" not in slot for slot in open_slots)

    found = await slots(api, space["id"], beyond)
    assert at(found, beyond, "08:30")["status"] == "closed"  # before 09:00: closed stays closed
    beyond_open = [slot for slot in found if slot["status"] != "closed"]
    assert len(beyond_open) == 24
    assert {slot["status"] for slot in beyond_open} == {"not_yet_bookable"}
    opens_at = local(days_ahead(1), "00:00").isoformat()
    assert {slot["opens_at"] for slot in beyond_open} == {opens_at}
    assert {slot["remaining"] for slot in beyond_open} == {1}
    # What it says is what booking answers.
    resident = await api.resident()
    refused = await book(api, resident, space["id"], beyond, "10:00", "11:00")
    assert_problem(refused, 409, "outside_booking_window")
    accepted = await book(api, resident, space["id"], last, "10:00", "11:00")
    assert accepted.status_code == 201, accepted.text


async def test_a_release_time_opens_the_last_day_at_that_time(api: Api) -> None:
    today = local_today()
    before_release = local(today, "07:00")
    with time_machine.travel(before_release, tick=False):
        space = await api.space(advance_days=2, release_time="08:00")
        resident = await api.resident()
        last = today + timedelta(days=2)
        found = await slots(api, space["id"], last)
        ten = at(found, last, "10:00")
        assert (ten["status"], ten["opens_at"]) == (
            "not_yet_bookable",
            local(today, "08:00").isoformat(),
        )
        refused = await book(api, resident, space["id"], last, "10:00", "11:00")
        assert_problem(refused, 409, "outside_booking_window")
        tomorrow = today + timedelta(days=1)
        assert at(await slots(api, space["id"], tomorrow), tomorrow, "10:00")["status"] == "free"
    with time_machine.travel(local(today, "08:00"), tick=False):
        ten = at(await slots(api, space["id"], last), last, "10:00")
        assert ten["status"] == "free"
        assert "opens_at" not in ten
        accepted = await book(api, resident, space["id"], last, "10:00", "11:00")
        assert accepted.status_code == 201, accepted.text


async def test_my_own_booking_is_mine_and_others_see_it_taken(api: Api) -> None:
    admin = await api.staff()
    room = await api.space(headers=admin)
    seats = await api.space(headers=admin, kind="study_room", booking_mode="shared", capacity=3)
    me, other = await api.resident(), await api.resident()
    day = days_ahead(2)
    assert (await book(api, me, room["id"], day, "10:00", "11:00")).status_code == 201
    assert (await book(api, me, seats["id"], day, "10:00", "10:30")).status_code == 201

    mine = await slots(api, room["id"], day, me)
    assert [at(mine, day, clock)["status"] for clock in ("09:30", "10:00", "10:30", "11:00")] == [
        "free",
        "mine",
        "mine",
        "free",
    ]
    for viewer in (other, admin, None):
        seen = await slots(api, room["id"], day, viewer)
        assert at(seen, day, "10:00")["status"] == "taken"
    shared = at(await slots(api, seats["id"], day, me), day, "10:00")
    assert (shared["status"], shared["remaining"]) == ("mine", 2)
    assert at(await slots(api, seats["id"], day, other), day, "10:00")["status"] == "free"
    # A cancelled booking is nobody's.
    [booking] = (await api.client.get("/api/v1/reservations", headers=me)).json()["items"][:1]
    cancelled = await api.client.post(f"/api/v1/reservations/{booking['id']}/cancel", headers=me)
    assert cancelled.status_code == 200, cancelled.text
    space_id = booking["space_id"]
    assert at(await slots(api, space_id, day, me), day, "10:00")["status"] == "free"
    # A token that is not one is refused, not ignored.
    response = await api.client.get(
        f"/api/v1/spaces/{room['id']}/availability",
        params={"date": day.isoformat()},
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert_problem(response, 401, "invalid_token")


async def test_a_closed_slot_says_why(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    room = await api.space(center["id"], admin, holiday_policy="closed")
    # Days the room keeps its hours on (not already a holiday).
    day = await next_open_day(api, room["id"], after=2)
    holiday = await next_open_day(api, room["id"], after=(day - local_today()).days + 1)
    closure = {
        "start": local(day, "12:00").isoformat(),
        "end": local(day, "13:00").isoformat(),
        "reason": "消防检查",
    }
    added = await api.client.post(
        f"/api/v1/admin/spaces/{room['id']}/closures", json=closure, headers=admin
    )
    assert added.status_code == 201, added.text
    found = await slots(api, room["id"], day)
    for clock in ("12:00", "12:30"):
        assert (at(found, day, clock)["status"], at(found, day, clock)["reason"]) == (
            "closed",
            "消防检查",
        )
    night = at(found, day, "08:00")
    assert night["status"] == "closed"
    assert "reason" not in night  # merely outside the opening hours
    assert "reason" not in at(found, day, "11:30")

    declared = await api.client.put(
        f"/api/v1/admin/calendar/days/{holiday.isoformat()}",
        json={"kind": "holiday", "name": "社区活动日", "center_id": center["id"]},
        headers=admin,
    )
    assert declared.status_code == 200, declared.text
    closed = await slots(api, room["id"], holiday)
    assert {(slot["status"], slot.get("reason")) for slot in closed} == {("closed", "社区活动日")}


def test_opens_at_is_the_window_read_backwards() -> None:
    from app.spaces.calendar import bookable_from, booking_window_end

    day = date(2026, 10, 1)
    opens = bookable_from(day, 7, 8 * 60)
    assert opens == local(date(2026, 9, 24), "08:00")
    slot_start = local(day, "00:00")
    assert slot_start >= booking_window_end(7, opens - timedelta(seconds=1), 8 * 60)
    assert slot_start < booking_window_end(7, opens, 8 * 60)
    assert isinstance(opens, datetime)
