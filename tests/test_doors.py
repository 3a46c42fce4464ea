"""Doors and door codes: issued to the owner, checked by the lock, guessing bounded."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.access import keypad
from app.core.clock import SHANGHAI, utcnow
from app.models import AuditEvent, DoorAttempt
from tests.conftest import DOOR_LEEWAY_MINUTES, make_settings, running
from tests.factories import Api, Headers, book, days_ahead, door, verified_resident
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

LEEWAY_MINUTES = DOOR_LEEWAY_MINUTES


async def study_room(api: Api, **overrides: Any) -> int:
    settings: dict[str, Any] = {
        "kind": "study_room",
        "booking_mode": "shared",
        "capacity": 10,
        "open_24h": True,
        "opening_hours": [],
        "requires_real_name": True,
        "check_in_opens_minutes": LEEWAY_MINUTES,  # the next slot's code is live now
    }
    space = await api.space(**{**settings, **overrides})
    return int(space["id"])


def next_slot() -> tuple[datetime, datetime]:
    """The next half-hour slot starting at least a minute from now, in Shanghai time."""
    now = utcnow().astimezone(SHANGHAI) + timedelta(minutes=1)
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=(-now.minute) % 30)
    return start, start + timedelta(minutes=30)


async def book_now(api: Api, resident: Headers, space_id: int) -> dict[str, Any]:
    start, end = next_slot()
    body = {"space_id": space_id, "start": start.isoformat(), "end": end.isoformat()}
    response = await api.client.post("/api/v1/reservations", json=body, headers=resident)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def door_code(api: Api, resident: Headers, reservation_id: int) -> dict[str, Any]:
    response = await api.client.get(
        f"/api/v1/reservations/{reservation_id}/access", headers=resident
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def try_code(api: Api, door_id: int, device: Headers, code: str) -> Any:
    return await api.client.post(
        f"/api/v1/doors/{door_id}/verify", json={"code": code}, headers=device
    )


async def test_registering_a_door_shows_its_key_once(doors_api: Api) -> None:
    api = doors_api
    admin = await api.staff()
    room = await study_room(api)
    response = await api.client.post(
        "/api/v1/admin/doors", json={"space_id": room, "name": "正门"}, headers=admin
    )
    assert response.status_code == 201
    assert len(response.json()["device_key"]) >= 40
    listed = await api.client.get("/api/v1/admin/doors", params={"space_id": room}, headers=admin)
    assert "device_key" not in listed.text
    assert listed.json()["total"] == 1
    assert [item["name"] for item in listed.json()["items"]] == ["正门"]
    assert (await api.client.get(f"/api/v1/spaces/{room}")).json()["has_smart_lock"] is True


async def test_the_owner_gets_a_code_that_opens_the_door_in_its_window(doors_api: Api) -> None:
    api = doors_api
    room = await study_room(api)
    door_id, device = await door(api, room)
    resident = await verified_resident(api)
    reservation = await book_now(api, resident, room)

    access_info = await door_code(api, resident, reservation["id"])
    assert len(access_info["door_code"]) == 8
    assert access_info["door_code"].isdigit()
    assert access_info["door_ids"] == [door_id]
    start = datetime.fromisoformat(reservation["start"])
    assert datetime.fromisoformat(access_info["valid_from"]) == start - timedelta(
        minutes=LEEWAY_MINUTES
    )
    assert access_info["valid_until"] == reservation["end"]

    response = await try_code(api, door_id, device, access_info["door_code"])
    assert response.json() == {
        "granted": True,
        "reason": "granted",
        "reservation_id": reservation["id"],
    }
    checked_in = await api.client.get(f"/api/v1/reservations/{reservation['id']}", headers=resident)
    assert checked_in.json()["status"] == "checked_in"
    history = await api.client.get(
        f"/api/v1/reservations/{reservation['id']}/history", headers=resident
    )
    assert history.json()["items"][-1]["action"] == "check_in"
    # The door keeps opening for the rest of the booking.
    again = await try_code(api, door_id, device, access_info["door_code"])
    assert again.json()["granted"] is True

    async with api.database.reader() as session:
        attempts = (await session.scalars(select(DoorAttempt))).all()
    assert [attempt.outcome.value for attempt in attempts] == ["granted", "granted"]
    assert all(attempt.reservation_id == reservation["id"] for attempt in attempts)
    assert not hasattr(DoorAttempt, "code")


DENIED = {"granted": False, "reason": "denied", "reservation_id": None}


async def test_a_later_bookings_code_is_denied_like_a_wrong_one(doors_api: Api) -> None:
    """The lock must not tell a guesser that a code will work later: the answer
    is the same as for a wrong code, without the reservation, and it counts."""
    api = doors_api
    room = await study_room(api)
    door_id, device = await door(api, room)
    resident = await verified_resident(api)
    later = await book(api, resident, room, days_ahead(2), "10:00", "11:00")
    code = (await door_code(api, resident, later.json()["id"]))["door_code"]
    real = await try_code(api, door_id, device, code)
    wrong = await try_code(api, door_id, device, f"{(int(code) + 1) % 10**8:08d}")
    assert real.json() == wrong.json() == DENIED
    for _ in range(3):
        assert (await try_code(api, door_id, device, code)).json() == DENIED
    assert_problem(await try_code(api, door_id, device, code), 429, "door_locked_out")
    async with api.database.reader() as session:
        logged = [
            (attempt.outcome.value, attempt.reservation_id)
            for attempt in await session.scalars(select(DoorAttempt).order_by(DoorAttempt.id))
        ]
    # Staff still see which attempts were real codes at the wrong time.
    assert logged[:2] == [("outside_window", later.json()["id"]), ("unknown_code", None)]
    assert logged[-1] == ("locked_out", None)


@pytest.mark.parametrize(
    "authorization",
    [None, "Device wrong-key", "Bearer something", "Device ", "device"],
)
async def test_a_lock_must_prove_it_is_that_door(doors_api: Api, authorization: str | None) -> None:
    api = doors_api
    room = await study_room(api)
    door_id, _ = await door(api, room)
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await try_code(api, door_id, headers, "12345678")
    problem = assert_problem(response, 401, "invalid_device_key")
    assert problem["status"] == 401


async def test_a_key_opens_only_its_own_door_and_rotation_retires_it(doors_api: Api) -> None:
    api = doors_api
    admin = await api.staff()
    room = await study_room(api)
    first, first_device = await door(api, room, admin)
    second, _ = await door(api, room, admin)
    assert_problem(await try_code(api, second, first_device, "12345678"), 401, "invalid_device_key")
    assert_problem(await try_code(api, 999, first_device, "12345678"), 401, "invalid_device_key")

    rotated = await api.client.post(f"/api/v1/admin/doors/{first}/rotate-key", headers=admin)
    new_device = {"Authorization": f"Device {rotated.json()['device_key']}"}
    assert_problem(await try_code(api, first, first_device, "12345678"), 401, "invalid_device_key")
    assert (await try_code(api, first, new_device, "12345678")).status_code == 200


async def test_overlapping_reservations_get_distinct_codes(
    doors_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = doors_api
    room = await study_room(api)
    await door(api, room)
    draws = iter([4242, 4242, 4242, 777])  # the second booking first draws a taken code
    monkeypatch.setattr("app.access.codes.secrets.randbelow", lambda _: next(draws))
    codes = []
    for _ in range(2):
        resident = await verified_resident(api)
        reservation = (await book(api, resident, room, days_ahead(1), "10:00", "12:00")).json()
        codes.append((await door_code(api, resident, reservation["id"]))["door_code"])
    assert codes == ["00004242", "00000777"]


async def test_only_the_owner_reads_the_code(doors_api: Api) -> None:
    api = doors_api
    admin = await api.staff()
    room = await study_room(api)
    await door(api, room, admin)
    owner = await verified_resident(api)
    reservation = (await book(api, owner, room, days_ahead(1), "10:00", "11:00")).json()
    path = f"/api/v1/reservations/{reservation['id']}/access"
    assert_problem(await api.client.get(path, headers=await api.resident()), 404, "not_found")
    assert_problem(await api.client.get(path, headers=admin), 403, "forbidden")
    assert_problem(await api.client.get(path), 401, "not_authenticated")
    assert (await api.client.get(path, headers=owner)).status_code == 200


async def test_no_code_without_a_lock_or_before_approval(doors_api: Api) -> None:
    api = doors_api
    admin = await api.staff()
    resident = await verified_resident(api)
    no_lock = await study_room(api)
    reservation = (await book(api, resident, no_lock, days_ahead(1), "10:00", "11:00")).json()
    path = f"/api/v1/reservations/{reservation['id']}/access"
    assert_problem(await api.client.get(path, headers=resident), 404, "no_access_code")

    gated = await study_room(api, requires_approval=True)
    await door(api, gated, admin)
    pending = (await book(api, resident, gated, days_ahead(1), "14:00", "15:00")).json()
    path = f"/api/v1/reservations/{pending['id']}/access"
    assert_problem(await api.client.get(path, headers=resident), 404, "no_access_code")
    await api.client.post(f"/api/v1/reservations/{pending['id']}/approve", headers=admin)
    assert len((await api.client.get(path, headers=resident)).json()["door_code"]) == 8


async def test_cancelling_revokes_and_staff_can_reissue(doors_api: Api) -> None:
    api = doors_api
    admin = await api.staff()
    room = await study_room(api)
    door_id, device = await door(api, room, admin)
    resident = await verified_resident(api)
    reservation = await book_now(api, resident, room)
    old_code = (await door_code(api, resident, reservation["id"]))["door_code"]

    reissued = await api.client.post(
        f"/api/v1/reservations/{reservation['id']}/access/reissue", headers=admin
    )
    assert reissued.status_code == 200, reissued.text
    new_code = (await door_code(api, resident, reservation["id"]))["door_code"]
    assert new_code != old_code
    assert (await try_code(api, door_id, device, old_code)).json() == DENIED
    assert (await try_code(api, door_id, device, new_code)).json()["granted"] is True

    other = await verified_resident(api)
    second = await book(api, other, room, days_ahead(1), "10:00", "11:00")
    second_code = (await door_code(api, other, second.json()["id"]))["door_code"]
    await api.client.post(f"/api/v1/reservations/{second.json()['id']}/cancel", headers=other)
    path = f"/api/v1/reservations/{second.json()['id']}/access"
    assert_problem(await api.client.get(path, headers=other), 404, "no_access_code")
    assert (await try_code(api, door_id, device, second_code)).json() == DENIED
    cancelled_reissue = await api.client.post(
        f"/api/v1/reservations/{second.json()['id']}/access/reissue", headers=admin
    )
    assert_problem(cancelled_reissue, 409, "invalid_transition")


async def test_brute_force_locks_the_keypad_even_across_a_restart(database_url: str) -> None:
    settings = make_settings(database_url)
    async with running(settings, clean_up=False) as api:
        room = await study_room(api, booking_mode="exclusive", capacity=4)
        door_id, device = await door(api, room)
        resident = await verified_resident(api)
        reservation = await book_now(api, resident, room)
        code = (await door_code(api, resident, reservation["id"]))["door_code"]
        wrong = f"{(int(code) + 1) % 10**8:08d}"
        outcomes = [(await try_code(api, door_id, device, wrong)).json() for _ in range(5)]
        assert outcomes == [DENIED] * 5
        locked = await try_code(api, door_id, device, code)  # even the right code waits
        problem = assert_problem(locked, 429, "door_locked_out")
        assert 14 * 60 <= int(locked.headers["retry-after"]) <= 15 * 60
        assert "minutes" not in str(problem.get("detail", ""))  # Chinese by default

    async with running(settings) as restarted:  # a new process, the same database
        assert_problem(await try_code(restarted, door_id, device, code), 429, "door_locked_out")
        cleared = await restarted.client.post(
            f"/api/v1/admin/doors/{door_id}/clear-lockout", headers=await restarted.staff()
        )
        assert cleared.json()["locked_until"] is None
        assert (await try_code(restarted, door_id, device, code)).json()["granted"] is True
        async with restarted.database.reader() as session:
            outcomes_logged = [
                attempt.outcome.value for attempt in (await session.scalars(select(DoorAttempt)))
            ]
        assert outcomes_logged == ["unknown_code"] * 5 + ["locked_out"] * 2 + ["granted"]


class Clock:
    """Moves the access service's clock forward, as if time had passed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = timedelta()
        monkeypatch.setattr("app.access.router.utcnow", lambda: utcnow() + self.offset)

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


async def four_hours_from_now(api: Api, resident: Headers, space_id: int) -> dict[str, Any]:
    start, _ = next_slot()
    body = {
        "space_id": space_id,
        "start": start.isoformat(),
        "end": (start + timedelta(hours=4)).isoformat(),
    }
    response = await api.client.post("/api/v1/reservations", json=body, headers=resident)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def retry_after(response: Any) -> int:
    assert response.status_code == 429, response.text
    return int(response.headers["retry-after"])


async def test_a_strangers_typos_shut_a_holder_out_only_for_short_lockouts(
    doors_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a 10-seat study room five wrong codes used to shut the door for a day
    (Retry-After 86399). Now they cost a short lockout, each further wrong code
    doubles it up to an hour, and the holder's code works again when each one
    ends."""
    api = doors_api
    clock = Clock(monkeypatch)
    room = await study_room(api)  # 10 seats, like 阅心书斋
    door_id, device = await door(api, room)
    holder = await verified_resident(api)
    code = (await door_code(api, holder, (await four_hours_from_now(api, holder, room))["id"]))[
        "door_code"
    ]
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for _ in range(5):
        assert (await try_code(api, door_id, device, wrong)).json() == DENIED
    waits = []
    for minutes in (15, 30, 60):
        waits.append(retry_after(await try_code(api, door_id, device, code)))
        clock.advance(minutes=minutes, seconds=1)
        assert (await try_code(api, door_id, device, code)).json()["granted"] is True
        assert (await try_code(api, door_id, device, wrong)).json() == DENIED
    assert [round(wait / 60) for wait in waits] == [15, 30, 60]
    assert round(retry_after(await try_code(api, door_id, device, code)) / 60) == 60


async def test_extra_doors_buy_no_guesses(doors_api: Api) -> None:
    """The budget is the space's, and it is checked before the code: wrong codes
    spread over two doors lock both, and a locked keypad tries no code at all."""
    api = doors_api
    room = await study_room(api)
    front, front_device = await door(api, room)
    back, back_device = await door(api, room)
    holder = await verified_resident(api)
    reservation = await book_now(api, holder, room)
    code = (await door_code(api, holder, reservation["id"]))["door_code"]
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for attempt in range(5):
        door_id, device = (front, front_device) if attempt % 2 else (back, back_device)
        assert (await try_code(api, door_id, device, wrong)).json() == DENIED
    for door_id, device in ((front, front_device), (back, back_device)):
        assert_problem(await try_code(api, door_id, device, code), 429, "door_locked_out")
    status = await api.client.get(f"/api/v1/reservations/{reservation['id']}", headers=holder)
    assert status.json()["status"] == "confirmed"  # the right code was not even looked at
    listed = await api.client.get(
        "/api/v1/admin/doors", params={"space_id": room}, headers=await api.staff()
    )
    assert all(item["locked_until"] is not None for item in listed.json()["items"])


async def test_clearing_the_lockout_forgets_the_wrong_codes_before_it(doors_api: Api) -> None:
    api = doors_api
    admin = await api.staff()
    room = await study_room(api)
    door_id, device = await door(api, room, admin)
    holder = await verified_resident(api)
    code = (await door_code(api, holder, (await book_now(api, holder, room))["id"]))["door_code"]
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for _ in range(5):
        await try_code(api, door_id, device, wrong)
    assert_problem(await try_code(api, door_id, device, code), 429, "door_locked_out")
    cleared = await api.client.post(f"/api/v1/admin/doors/{door_id}/clear-lockout", headers=admin)
    assert cleared.status_code == 200
    # One more typo after the clear is the first of a fresh count, not the sixth.
    assert (await try_code(api, door_id, device, wrong)).json() == DENIED
    assert (await try_code(api, door_id, device, code)).json()["granted"] is True
    for _ in range(3):
        await try_code(api, door_id, device, wrong)
    assert (await try_code(api, door_id, device, code)).json()["granted"] is True
    await try_code(api, door_id, device, wrong)  # the fifth since the clear
    assert round(retry_after(await try_code(api, door_id, device, code)) / 60) == 15
    async with api.database.reader() as session:
        actions = (await session.scalars(select(AuditEvent.action))).all()
    assert "clear_lockout" in actions


@pytest.mark.parametrize(
    ("failures", "minutes"),
    [(1, None), (4, None), (5, 15), (6, 30), (7, 60), (8, 60), (11, 60), (12, 60), (40, 60)],
)
def test_lockouts_start_short_and_double(failures: int, minutes: int | None) -> None:
    lockout = keypad.lockout_after(failures)
    assert (lockout / timedelta(minutes=1) if lockout else None) == minutes


def test_a_tireless_guesser_gets_at_most_thirty_wrong_codes_a_day() -> None:
    """The bound the README states: type a wrong code the moment each lockout
    ends, for three days; count the wrong codes in every 24-hour window."""
    start = datetime(2026, 12, 1, tzinfo=UTC)
    now, locked_until = start, start
    failures: list[datetime] = []
    while now < start + timedelta(days=3):
        now = max(now, locked_until)
        window = [at for at in failures if at > now - keypad.FAILURE_WINDOW]
        failures.append(now)
        lockout = keypad.lockout_after(len(window) + 1)
        if lockout is not None:
            locked_until = now + lockout
    most = max(
        sum(1 for at in failures if first <= at < first + keypad.FAILURE_WINDOW)
        for first in failures
    )
    assert most == keypad.MOST_FAILURES_PER_DAY == 30
