"""One window at the door: a booking's code opens as its check-in does, the
booking says when, a code typed a little early is told when it opens and
costs the keypad nothing, and checking in twice changes nothing.

The clock travels to exact instants (``time_machine``, not ticking).
"""

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import select

from app.access import keypad
from app.models import DoorAttempt
from tests.factories import Api, Headers, book, door, local, verified_resident
from tests.test_errors import assert_problem

DAY = date(2026, 11, 18)  # a Wednesday; the rooms below are open around the clock
OPENS = "13:45"  # check-in of the 14:00 booking, 15 minutes before

STUDY_ROOM: dict[str, Any] = {
    "kind": "study_room",
    "booking_mode": "shared",
    "capacity": 10,
    "open_24h": True,
    "opening_hours": [],
    "requires_real_name": True,
    "requires_check_in": True,
    "check_in_opens_minutes": 15,
    "no_show_after_minutes": 15,
}


def at(clock: str, seconds: int = 0) -> datetime:
    return local(DAY, clock) + timedelta(seconds=seconds)


def iso(clock: str) -> str:
    return at(clock).isoformat()


@pytest.fixture
def travel() -> Iterator[time_machine.Traveller]:
    """The clock at 13:00 on ``DAY``, standing still until a test moves it."""
    with time_machine.travel(at("13:00"), tick=False) as traveller:
        yield traveller


async def room(api: Api, **overrides: Any) -> int:
    return int((await api.space(**{**STUDY_ROOM, **overrides}))["id"])


async def booked(api: Api, resident: Headers, space_id: int) -> dict[str, Any]:
    response = await book(api, resident, space_id, DAY, "14:00", "15:00")
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def code_of(api: Api, resident: Headers, reservation_id: int) -> dict[str, Any]:
    response = await api.client.get(
        f"/api/v1/reservations/{reservation_id}/access", headers=resident
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def type_code(api: Api, door_id: int, device: Headers, code: str) -> Any:
    return await api.client.post(
        f"/api/v1/doors/{door_id}/verify", json={"code": code}, headers=device
    )


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**8:08d}"


async def test_the_code_opens_when_check_in_opens_and_the_booking_says_when(
    api: Api, travel: time_machine.Traveller
) -> None:
    space_id = await room(api)
    door_id, device = await door(api, space_id)
    resident = await verified_resident(api)
    reservation = await booked(api, resident, space_id)
    # The booking's answer and its view both state the one window.
    assert reservation["check_in_opens_at"] == iso(OPENS)
    assert reservation["code_valid_from"] == iso(OPENS)
    read = await api.client.get(f"/api/v1/reservations/{reservation['id']}", headers=resident)
    assert (read.json()["check_in_opens_at"], read.json()["code_valid_from"]) == (
        iso(OPENS),
        iso(OPENS),
    )
    access = await code_of(api, resident, reservation["id"])
    assert access["valid_from"] == iso(OPENS)

    travel.move_to(at("13:44", 59))
    early = await type_code(api, door_id, device, access["door_code"])
    assert early.json()["granted"] is False
    travel.move_to(at(OPENS))
    opened = await type_code(api, door_id, device, access["door_code"])
    assert opened.json() == {
        "granted": True,
        "reason": "granted",
        "reservation_id": reservation["id"],
    }
    checked_in = await api.client.get(f"/api/v1/reservations/{reservation['id']}", headers=resident)
    assert checked_in.json()["status"] == "checked_in"
    assert checked_in.json()["checked_in_at"] == iso(OPENS)


async def test_a_room_without_a_lock_or_a_cancelled_booking_has_no_code_window(
    api: Api, travel: time_machine.Traveller
) -> None:
    resident = await verified_resident(api)
    without_lock = await booked(api, resident, await room(api, check_in_opens_minutes=30))
    assert without_lock["check_in_opens_at"] == iso("13:30")
    assert without_lock["code_valid_from"] is None

    space_id = await room(api)
    await door(api, space_id)
    other = await verified_resident(api)
    reservation = await booked(api, other, space_id)
    cancelled = await api.client.post(
        f"/api/v1/reservations/{reservation['id']}/cancel", headers=other
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["check_in_opens_at"] == iso(OPENS)
    assert cancelled.json()["code_valid_from"] is None


async def test_an_early_code_is_told_when_it_opens_and_never_locks_the_keypad(
    api: Api, travel: time_machine.Traveller
) -> None:
    space_id = await room(api)
    door_id, device = await door(api, space_id)
    resident = await verified_resident(api)
    reservation = await booked(api, resident, space_id)
    code = (await code_of(api, resident, reservation["id"]))["door_code"]

    # From 30 minutes before the window: not yet, with when; typed again and
    # again (more than the keypad forgives), it locks nothing.
    for minute in range(15, 45, 3):
        travel.move_to(at(f"13:{minute:02d}"))
        answer = await type_code(api, door_id, device, code)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "granted": False,
            "reason": "not_yet",
            "reservation_id": None,
            "opens_at": iso(OPENS),
        }
    travel.move_to(at("13:44", 59))
    assert (await type_code(api, door_id, device, code)).json()["reason"] == "not_yet"
    # Nothing was counted: the keypad still forgives four wrong codes.
    for _ in range(keypad.FAILURES_BEFORE_LOCKOUT - 1):
        assert (await type_code(api, door_id, device, wrong(code))).json()["reason"] == "denied"
    travel.move_to(at(OPENS))
    assert (await type_code(api, door_id, device, code)).json()["granted"] is True

    async with api.database.reader() as session:
        outcomes = [
            (attempt.outcome.value, attempt.reservation_id)
            for attempt in (await session.scalars(select(DoorAttempt).order_by(DoorAttempt.id)))
        ]
    assert outcomes[:11] == [("not_yet", reservation["id"])] * 11  # staff see whose it was
    assert [outcome for outcome, _ in outcomes[11:]] == ["unknown_code"] * 4 + ["granted"]


async def test_a_code_typed_earlier_than_that_is_a_wrong_code(
    api: Api, travel: time_machine.Traveller
) -> None:
    space_id = await room(api)
    door_id, device = await door(api, space_id)
    resident = await verified_resident(api)
    reservation = await booked(api, resident, space_id)
    code = (await code_of(api, resident, reservation["id"]))["door_code"]

    travel.move_to(at("13:14", 59))
    for _ in range(keypad.FAILURES_BEFORE_LOCKOUT - 1):
        answer = await type_code(api, door_id, device, code)
        assert answer.json() == {"granted": False, "reason": "denied", "reservation_id": None}
    answer = await type_code(api, door_id, device, code)
    assert answer.json()["reason"] == "denied"
    # The fifth counted: locked out, as for any wrong code.
    assert_problem(await type_code(api, door_id, device, code), 429, "door_locked_out")


async def test_checking_in_a_booking_already_checked_in_is_200_and_changes_nothing(
    api: Api, travel: time_machine.Traveller
) -> None:
    space_id = await room(api)
    door_id, device = await door(api, space_id)
    resident = await verified_resident(api)
    reservation = await booked(api, resident, space_id)
    code = (await code_of(api, resident, reservation["id"]))["door_code"]
    travel.move_to(at("13:50"))
    assert (await type_code(api, door_id, device, code)).json()["granted"] is True

    # The app's 签到 after the door let them in: without a scan, and later, with
    # a token rotated since, or after the check-in closed.
    url = f"/api/v1/reservations/{reservation['id']}/check-in"
    travel.move_to(at("13:55"))
    again = await api.client.post(url, headers=resident)
    assert again.status_code == 200, again.text
    assert (again.json()["status"], again.json()["checked_in_at"]) == ("checked_in", iso("13:50"))
    travel.move_to(at("14:30"))
    staff = await api.staff()
    rotated = await api.client.post(f"/api/v1/admin/spaces/{space_id}/check-in-qr/rotate",
                                    headers=staff)  # fmt: skip
    assert rotated.status_code == 200, rotated.text
    stale = await api.client.post(url, json={"token": "x" * 22}, headers=resident)
    assert stale.status_code == 200, stale.text
    by_staff = await api.client.post(url, headers=staff)
    assert by_staff.status_code == 200, by_staff.text
    assert by_staff.json()["checked_in_at"] == iso("13:50")

    history = await api.client.get(
        f"/api/v1/reservations/{reservation['id']}/history", headers=resident
    )
    body = history.json()
    entries = body["items"] if isinstance(body, dict) else body
    assert [entry["action"] for entry in entries].count("check_in") == 1
