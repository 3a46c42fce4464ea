"""The console adds a door (its keys shown once), reissues a booking's door
code, and books for someone at the counter, as the API's
(tests/test_doors.py, tests/test_staff_bookings.py)."""

import re

from app.models import StaffRole
from tests.factories import Api, days_ahead, door, verified_resident
from tests.test_console import audit_actions, console, post, staff_member
from tests.test_doors import book_now, door_code, study_room, try_code
from tests.test_staff_bookings import caller_name, caller_phone

DAY = days_ahead(2)


async def test_a_door_is_added_with_its_keys_shown_once(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    space = await api.space(center["id"], staff, name="书画室")
    client = await console(
        api, await staff_member(api, StaffRole.center_admin, center_ids=[center["id"]])
    )
    page = await client.get("/console/doors")
    assert f'<option value="{space["id"]}">' in page.text

    nameless = await post(client, "/console/doors", space_id=str(space["id"]), name="")
    assert "error=invalid_form" in nameless.headers["location"]
    other = await api.space(name="别处的房间")
    refused = await post(client, "/console/doors", space_id=str(other["id"]), name="正门")
    assert "error=" in refused.headers["location"]

    added = await post(client, "/console/doors", space_id=str(space["id"]), name="书画室正门")
    assert added.status_code == 200, added.text
    key = re.search(r'<code id="new-key">([^<]+)</code>', added.text)
    assert key
    door_id = re.search(r'id="door-(\d+)"', added.text)
    assert door_id
    device = {"Authorization": f"Device {key.group(1)}"}
    assert (await try_code(api, int(door_id.group(1)), device, "12345678")).status_code == 200
    assert "new-key" not in (await client.get("/console/doors")).text  # shown once


async def test_a_bookings_door_code_is_reissued(api: Api) -> None:
    room = await study_room(api)
    await door(api, room)
    resident = await verified_resident(api)
    booking = await book_now(api, resident, room)
    before = (await door_code(api, resident, booking["id"]))["door_code"]
    client = await console(api, await staff_member(api))
    page = await client.get(f"/console/bookings/{booking['id']}")
    assert "/reissue-code" in page.text
    reissued = await post(client, f"/console/bookings/{booking['id']}/reissue-code")
    assert "notice=code_reissued" in reissued.headers["location"], reissued.headers
    assert (await door_code(api, resident, booking["id"]))["door_code"] != before
    assert ("reissue_code", "staff") in await audit_actions(api, "reservation", booking["id"])


async def test_staff_book_for_a_resident_and_for_a_caller_without_the_app(api: Api) -> None:
    center = await api.center()
    space = await api.space(center["id"], name="接待室")
    client = await console(
        api, await staff_member(api, StaffRole.center_admin, center_ids=[center["id"]])
    )
    page = await client.get("/console/book")
    assert page.status_code == 200, page.text
    assert f'<option value="{space["id"]}">' in page.text
    resident = await api.resident()
    me = (await api.client.get("/api/v1/me", headers=resident)).json()
    slot = {"space_id": str(space["id"]), "day": DAY.isoformat()}

    no_time = await post(client, "/console/book", **slot, start="", end="", user_id=str(me["id"]))
    assert "error=invalid_form" in no_time.headers["location"]
    booked = await post(
        client, "/console/book", **slot, start="10:00", end="11:00", user_id=str(me["id"])
    )
    location = booked.headers["location"]
    assert "notice=booked_for" in location, location
    reservation_id = int(location.split("/console/bookings/")[1].split("?")[0])
    mine = await api.client.get(f"/api/v1/reservations/{reservation_id}", headers=resident)
    assert mine.json()["status"] == "confirmed"
    taken = await post(
        client, "/console/book", **slot, start="10:00", end="11:00", user_id=str(me["id"])
    )
    assert "error=" in taken.headers["location"]

    caller = await post(
        client, "/console/book", **slot, start="14:00", end="15:00",
        name=caller_name(), phone=caller_phone(),
    )  # fmt: skip
    assert "notice=booked_for" in caller.headers["location"], caller.headers
    waived = await post(
        client, "/console/book", **slot, start="16:00", end="17:00", user_id=str(me["id"]),
        override="quota",
    )  # fmt: skip
    assert "error=reason_required" in waived.headers["location"]
