"""The screen at a space's door (门口屏, app/kiosk): staff in scope issue its
key; the page and its state answer only to the current key; the state tells
the timeline, the places free, who is expected next (masked) and the check-in
code, and nothing of another host. The page in Chromium: test_kiosk_browser.py.
"""

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import time_machine

from app.models import StaffRole
from tests.factories import Api, Headers, book, local, verified_resident
from tests.test_errors import assert_problem
from tests.test_occupancy import STUDY_ROOM

DAY = date(2026, 11, 18)


@pytest.fixture
def travel() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(local(DAY, "13:00"), tick=False) as traveller:
        yield traveller


async def issue(api: Api, space_id: int, staff: Headers | None = None) -> dict[str, Any]:
    response = await api.client.post(
        f"/api/v1/admin/spaces/{space_id}/kiosk-key", headers=staff or await api.staff()
    )
    assert response.status_code == 201, response.text
    issued: dict[str, Any] = response.json()
    return issued


async def state(api: Api, space_id: int, key: str) -> Any:
    return await api.client.get(f"/kiosk/spaces/{space_id}/state", headers={"X-Kiosk-Key": key})


async def test_the_page_and_its_state_answer_to_the_current_key_only(
    api: Api, travel: time_machine.Traveller
) -> None:
    room = await api.space(**STUDY_ROOM, description="保持安静，离开请签退")
    first = await issue(api, room["id"])
    assert first["url"] == f"/kiosk/spaces/{room['id']}?key={first['key']}"
    page = await api.client.get(first["url"])
    assert page.status_code == 200
    assert room["name"] in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "connect-src 'self'" in policy
    # Every address the page names is its own host's, and so is its script's.
    script = await api.client.get("/kiosk/static/kiosk.js")
    assert script.status_code == 200
    for text in (page.text, script.text):
        assert "//" not in text.replace("// ", "")  # no scheme-relative or absolute URL

    second = await issue(api, room["id"])
    assert_problem(await state(api, room["id"], first["key"]), 401, "invalid_kiosk_key")
    assert_problem(await api.client.get(first["url"]), 401, "invalid_kiosk_key")
    assert (await state(api, room["id"], second["key"])).status_code == 200
    other = await api.space(**STUDY_ROOM)
    assert_problem(await state(api, other["id"], second["key"]), 401, "invalid_kiosk_key")
    assert_problem(await state(api, 999_999, second["key"]), 401, "invalid_kiosk_key")


async def test_the_state_tells_the_day_the_places_and_who_comes_next_masked(
    api: Api, travel: time_machine.Traveller
) -> None:
    room = await api.space(**STUDY_ROOM, description="保持安静，离开请签退")
    resident = await verified_resident(api)
    booked = await book(api, resident, room["id"], DAY, "14:00", "15:00")
    assert booked.status_code == 201, booked.text
    key = (await issue(api, room["id"]))["key"]
    answer = await state(api, room["id"], key)
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    found = answer.json()
    assert found["space"] == {
        "id": room["id"],
        "name": room["name"],
        "rules": "保持安静，离开请签退",
    }
    assert found["now"] == local(DAY, "13:00").isoformat()
    assert found["occupancy"]["free_now"] == 3
    assert len(found["timeline"]) == 48
    assert {slot["status"] for slot in found["timeline"][:26]} == {"past"}
    assert found["next"]["start"] == local(DAY, "14:00").isoformat()
    assert "*" in found["next"]["who"]  # masked, never the full name
    assert found["check_in_qr"].startswith("<svg")


async def test_only_staff_covering_the_space_issue_its_key(api: Api) -> None:
    room = await api.space(**STUDY_ROOM)
    elsewhere = await api.staff(StaffRole.center_admin, center_ids=[(await api.center())["id"]])
    response = await api.client.post(
        f"/api/v1/admin/spaces/{room['id']}/kiosk-key", headers=elsewhere
    )
    assert_problem(response, 403, "out_of_scope")
    resident = await api.resident()
    response = await api.client.post(
        f"/api/v1/admin/spaces/{room['id']}/kiosk-key", headers=resident
    )
    assert response.status_code == 403  # a resident's token is no staff token
