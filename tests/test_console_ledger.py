"""The console's ledger of suggestions (台账) and a space's screen link over
HTTP: the same service, scope and audit as the API's
(tests/test_suggestions.py, tests/test_kiosk.py)."""

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine

from app.core.clock import utcnow
from app.models import StaffRole
from tests.conftest import make_settings, running
from tests.factories import Api
from tests.test_console import audit_actions, console, post, staff_member
from tests.test_docs import EXTERNAL
from tests.test_occupancy import STUDY_ROOM
from tests.test_suggestions import raise_one


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with running(make_settings(database_url, upload_dir=tmp_path)) as running_api:
        yield running_api


async def test_the_ledger_flags_overdue_items_and_closes_them(api: Api) -> None:
    center = await api.center()
    with time_machine.travel(utcnow() - timedelta(days=30)):  # long past any time limit
        late = await raise_one(api, await api.resident(), center["id"], text="路灯不亮")
    fresh = await raise_one(api, await api.resident(), center["id"], text="希望增加书架")
    admin = await console(api, await staff_member(api))

    page = await admin.get("/console/suggestions")
    assert page.status_code == 200, page.text
    assert EXTERNAL.findall(page.text) == []
    assert re.search(r'id="overdue-count">1<', page.text)
    assert re.search(rf'id="suggestion-{late["id"]}" class="overdue"', page.text)
    assert f'id="suggestion-{fresh["id"]}" class=""' in page.text
    only_late = await admin.get("/console/suggestions", params={"overdue": "true"})
    assert f'id="suggestion-{fresh["id"]}"' not in only_late.text
    assert f'id="suggestion-{late["id"]}"' in only_late.text

    item = f"/console/suggestions/{late['id']}"
    assert "路灯不亮" in (await admin.get(item)).text
    taken = await post(admin, f"{item}/take")
    assert "notice=suggestion_taken" in taken.headers["location"], taken.headers
    answered = await post(admin, f"{item}/answer", answer="已报修", public="on")
    assert "notice=suggestion_answered" in answered.headers["location"]
    empty = await post(admin, f"{item}/close", outcome="done", answer=" ")
    assert "error=invalid_form" in empty.headers["location"]
    closed = await post(admin, f"{item}/close", outcome="done", answer="路灯已修好")
    assert "notice=suggestion_closed" in closed.headers["location"]
    again = await post(admin, f"{item}/close", outcome="done", answer="再次销项")
    assert "error=invalid_transition" in again.headers["location"]
    shown = (await admin.get(item)).text
    assert "已销项（已办结）" in shown
    assert "路灯已修好" in shown
    actions = [action for action, _ in await audit_actions(api, "suggestion", late["id"])]
    assert actions[-3:] == ["assign", "answer", "close"]


async def test_staff_see_only_the_items_of_the_centers_they_cover(api: Api) -> None:
    here, there = await api.center(), await api.center()
    theirs = await raise_one(api, await api.resident(), there["id"])
    local = await console(
        api, await staff_member(api, StaffRole.center_admin, center_ids=[here["id"]])
    )
    page = await local.get("/console/suggestions")
    assert f'id="suggestion-{theirs["id"]}"' not in page.text
    assert (await local.get(f"/console/suggestions/{theirs['id']}")).status_code == 404
    refused = await post(local, f"/console/suggestions/{theirs['id']}/take")
    assert "error=not_found" in refused.headers["location"]


async def test_a_space_page_issues_its_screen_link_shown_once(api: Api) -> None:
    room = await api.space(**STUDY_ROOM)
    admin = await console(api, await staff_member(api))
    assert 'id="kiosk-key"' in (await admin.get(f"/console/spaces/{room['id']}")).text
    issued = await post(admin, f"/console/spaces/{room['id']}/kiosk-key")
    assert issued.status_code == 200, issued.text
    found = re.search(r'id="kiosk-address">[^<]*?(/kiosk/spaces/\d+\?key=[^<]+)<', issued.text)
    assert found, issued.text
    screen = await api.client.get(found.group(1))
    assert screen.status_code == 200
    assert room["name"] in screen.text
    newer = await post(admin, f"/console/spaces/{room['id']}/kiosk-key")
    assert newer.status_code == 200
    assert (await api.client.get(found.group(1))).status_code == 401
