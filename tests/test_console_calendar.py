"""The console's holiday calendar: a day's official kind and its overrides,
set and cleared per center or district within one's scope, as the API's
(tests/test_holidays.py)."""

import pytest

from app.models import StaffRole
from tests.factories import Api, days_ahead
from tests.test_console import console, post, staff_member
from tests.test_docs import EXTERNAL

pytestmark = pytest.mark.dates

DAY = days_ahead(20)


async def overrides(api: Api, day: str) -> list[dict[str, object]]:
    found = await api.client.get(f"/api/v1/admin/calendar/days/{day}", headers=await api.staff())
    assert found.status_code == 200, found.text
    rows: list[dict[str, object]] = found.json()["set"]
    return rows


async def test_a_center_sets_and_clears_its_own_holiday(api: Api) -> None:
    center = await api.center(district="静安区")
    admin = await console(
        api, await staff_member(api, StaffRole.center_admin, center_ids=[center["id"]])
    )
    day = DAY.isoformat()
    page = await admin.get("/console/calendar", params={"day": day})
    assert page.status_code == 200, page.text
    assert EXTERNAL.findall(page.text) == []
    assert f'value="center:{center["id"]}"' in page.text
    assert '<option value="">全市</option>' not in page.text  # super admins only

    nameless = await post(
        admin, f"/console/calendar/{day}", scope=f"center:{center['id']}", kind="holiday", name=""
    )
    assert "error=invalid_form" in nameless.headers["location"]
    assert await overrides(api, day) == []
    saved = await post(
        admin,
        f"/console/calendar/{day}",
        scope=f"center:{center['id']}",
        kind="holiday",
        name="设备检修",
    )
    assert "notice=day_set" in saved.headers["location"], saved.headers
    [row] = await overrides(api, day)
    assert (row["center_id"], row["kind"], row["name"]) == (center["id"], "holiday", "设备检修")
    shown = await admin.get(saved.headers["location"])
    assert f'id="override-{row["id"]}"' in shown.text
    assert "设备检修" in shown.text

    everywhere = await post(admin, f"/console/calendar/{day}", scope="", kind="holiday", name="x")
    assert "error=" in everywhere.headers["location"]
    other = await api.center()
    elsewhere = await post(
        admin, f"/console/calendar/{day}", scope=f"center:{other['id']}", kind="holiday", name="x"
    )
    assert "error=" in elsewhere.headers["location"]
    bad_day = await post(admin, "/console/calendar/2026-13-40", scope="", kind="holiday", name="x")
    assert "error=invalid_form" in bad_day.headers["location"]

    cleared = await post(admin, f"/console/calendar/{day}/clear", scope=f"center:{center['id']}")
    assert "notice=day_cleared" in cleared.headers["location"]
    assert await overrides(api, day) == []
