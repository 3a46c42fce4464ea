"""The owner's second way in: unlocking from the app, which no stranger's wrong
codes can exhaust, told to the door over MQTT."""

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiomqtt
import pytest
from sqlalchemy import select

from app.access.locks import command_signature
from app.models import DoorAttempt
from tests.conftest import make_settings, require_service, running
from tests.factories import (
    Api,
    Headers,
    book,
    days_ahead,
    member_of,
    organization,
    verified_resident,
)
from tests.test_doors import book_now, door_code, study_room, try_code
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883


@pytest.fixture
def topic_prefix() -> str:
    return f"zhendi-test/{secrets.token_hex(6)}/doors"


@pytest.fixture
async def unlock_api(database_url: str, topic_prefix: str) -> AsyncIterator[Api]:
    require_service("Mosquitto (MQTT)", MQTT_HOST, MQTT_PORT)
    settings = make_settings(
        database_url,
        lock_adapter="mqtt",
        mqtt_url=f"mqtt://{MQTT_HOST}:{MQTT_PORT}",
        mqtt_topic_prefix=topic_prefix,
    )
    async with running(settings) as api:
        yield api


async def unlock(api: Api, headers: Headers, reservation_id: int, door_id: int) -> Any:
    return await api.client.post(
        f"/api/v1/reservations/{reservation_id}/unlock", json={"door_id": door_id}, headers=headers
    )


async def registered_door(api: Api, space_id: int) -> tuple[int, Headers, str]:
    """A door: its id, the lock's Authorization header and its command key."""
    response = await api.client.post(
        "/api/v1/admin/doors",
        json={"space_id": space_id, "name": "正门"},
        headers=await api.staff(),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return body["id"], {"Authorization": f"Device {body['device_key']}"}, body["command_key"]


async def test_the_owner_opens_from_the_app_even_while_the_keypad_is_locked(
    unlock_api: Api, topic_prefix: str
) -> None:
    api = unlock_api
    room = await study_room(api)
    door_id, device, command_key = await registered_door(api, room)
    holder = await verified_resident(api)
    reservation = await book_now(api, holder, room)
    code = (await door_code(api, holder, reservation["id"]))["door_code"]
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for _ in range(5):  # a stranger shuts the keypad
        await try_code(api, door_id, device, wrong)
    assert_problem(await try_code(api, door_id, device, code), 429, "door_locked_out")

    async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as subscriber:
        await subscriber.subscribe(f"{topic_prefix}/{door_id}/command", qos=1)
        response = await unlock(api, holder, reservation["id"], door_id)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "granted": True,
            "reason": "granted",
            "reservation_id": reservation["id"],
        }
        message = await asyncio.wait_for(anext(aiomqtt_messages(subscriber)), timeout=5)
    assert isinstance(message.payload, bytes)
    command = json.loads(message.payload)
    assert command["command"] == "open"
    assert (command["door_id"], command["reservation_id"]) == (door_id, reservation["id"])
    assert datetime.fromisoformat(command["expires_at"]) > datetime.fromisoformat(
        command["issued_at"]
    )
    # The lock checks the signature with the command key it was given.
    assert command["signature"] == command_signature(command, bytes.fromhex(command_key))
    assert command["signature"] != command_signature(command, secrets.token_bytes(32))

    read = await api.client.get(f"/api/v1/reservations/{reservation['id']}", headers=holder)
    assert read.json()["status"] == "checked_in"
    async with api.database.reader() as session:
        last = await session.scalar(select(DoorAttempt).order_by(DoorAttempt.id.desc()).limit(1))
    assert last is not None
    assert (last.method.value, last.outcome.value, last.reservation_id) == (
        "app",
        "granted",
        reservation["id"],
    )


async def aiomqtt_messages(client: aiomqtt.Client) -> AsyncIterator[aiomqtt.Message]:
    async for message in client.messages:
        yield message


async def test_nobody_else_can_unlock(unlock_api: Api) -> None:
    api = unlock_api
    room = await study_room(api)
    door_id, _, _ = await registered_door(api, room)
    other_room = await study_room(api)
    other_door, _, _ = await registered_door(api, other_room)
    holder = await verified_resident(api)
    reservation = await book_now(api, holder, room)
    stranger = await verified_resident(api)
    assert_problem(await unlock(api, stranger, reservation["id"], door_id), 404, "not_found")
    staff = await api.staff()
    assert_problem(await unlock(api, staff, reservation["id"], door_id), 403, "forbidden")
    assert_problem(
        await api.client.post(
            f"/api/v1/reservations/{reservation['id']}/unlock", json={"door_id": door_id}
        ),
        401,
        "not_authenticated",
    )
    assert_problem(await unlock(api, holder, reservation["id"], other_door), 404, "not_found")
    await api.client.post(f"/api/v1/reservations/{reservation['id']}/cancel", headers=holder)
    assert_problem(await unlock(api, holder, reservation["id"], door_id), 404, "no_access_code")


async def test_outside_the_codes_window_the_app_does_not_open(unlock_api: Api) -> None:
    api = unlock_api
    room = await study_room(api)
    door_id, _, _ = await registered_door(api, room)
    holder = await verified_resident(api)
    later = (await book(api, holder, room, days_ahead(2), "10:00", "11:00")).json()
    response = await unlock(api, holder, later["id"], door_id)
    assert response.json() == {
        "granted": False,
        "reason": "outside_window",
        "reservation_id": later["id"],
    }
    read = await api.client.get(f"/api/v1/reservations/{later['id']}", headers=holder)
    assert read.json()["status"] == "confirmed"


@pytest.mark.parametrize(
    ("adapter", "code"), [("none", "remote_unlock_unavailable"), ("mqtt", "lock_unreachable")]
)
async def test_a_door_that_cannot_be_told_opens_nothing_and_checks_no_one_in(
    database_url: str, adapter: str, code: str
) -> None:
    settings = make_settings(
        database_url,
        lock_adapter=adapter,
        mqtt_url="mqtt://127.0.0.1:9",  # nothing listens there
        mqtt_timeout_seconds=1,
    )
    async with running(settings) as api:
        room = await study_room(api)
        door_id, _, _ = await registered_door(api, room)
        holder = await verified_resident(api)
        reservation = await book_now(api, holder, room)
        response = await unlock(api, holder, reservation["id"], door_id)
        assert_problem(response, 503, code)
        assert "retry-after" in response.headers or code == "remote_unlock_unavailable"
        read = await api.client.get(f"/api/v1/reservations/{reservation['id']}", headers=holder)
        assert read.json()["status"] == "confirmed"
        async with api.database.reader() as session:
            assert (await session.scalars(select(DoorAttempt))).all() == []


async def test_unlocking_is_rate_limited_per_account(database_url: str) -> None:
    settings = make_settings(
        database_url,
        rate_limit_unlock_per_user="3 per minute",
    )
    async with running(settings) as api:
        room = await study_room(api)
        door_id, _, _ = await registered_door(api, room)
        holder = await verified_resident(api)
        reservation = await book_now(api, holder, room)
        for _ in range(3):
            assert (await unlock(api, holder, reservation["id"], door_id)).status_code == 200
        limited = await unlock(api, holder, reservation["id"], door_id)
        assert_problem(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["retry-after"]) <= 60


async def test_a_member_who_leaves_loses_the_companys_door(unlock_api: Api) -> None:
    """A member removed from an organization no longer reads the code of a
    booking they made on its account: the booking is cancelled, its code revoked."""
    api = unlock_api
    room = await study_room(api, requires_real_name=False, booking_mode="exclusive", capacity=8)
    door_id, device, _ = await registered_door(api, room)
    owner = await api.resident()
    company = await organization(api, owner)
    colleague = await member_of(api, owner, company["id"])
    booked = await book_now_for(api, colleague, room, company["id"])
    code = (await door_code(api, colleague, booked["id"]))["door_code"]

    removed = await api.client.delete(
        f"/api/v1/organizations/{company['id']}/members/{booked['user_id']}", headers=owner
    )
    assert removed.status_code == 204
    path = f"/api/v1/reservations/{booked['id']}/access"
    assert_problem(await api.client.get(path, headers=colleague), 404, "no_access_code")
    assert_problem(await unlock(api, colleague, booked["id"], door_id), 404, "no_access_code")
    assert (await try_code(api, door_id, device, code)).json()["granted"] is False
    seen_by_owner = await api.client.get(f"/api/v1/reservations/{booked['id']}", headers=owner)
    assert seen_by_owner.json()["status"] == "cancelled"
    assert seen_by_owner.json()["status_reason"] == "预约人已被移出组织"


async def book_now_for(
    api: Api, resident: Headers, space_id: int, organization_id: int
) -> dict[str, Any]:
    from tests.test_doors import next_slot

    start, end = next_slot()
    body = {
        "space_id": space_id,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "organization_id": organization_id,
    }
    response = await api.client.post("/api/v1/reservations", json=body, headers=resident)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result
