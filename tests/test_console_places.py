"""The console's centers, created and edited, and new spaces: the API's
schemas check the forms and its services the scope (tests/test_centers.py,
tests/test_spaces.py)."""

import re

from app.models import StaffRole
from tests.factories import Api, center_body
from tests.test_console import console, post, staff_member
from tests.test_docs import EXTERNAL


def center_form(**overrides: str) -> dict[str, str]:
    body = center_body(**{"phone": "", **overrides})
    return {name: str(value) for name, value in body.items()}


async def test_a_district_admin_creates_and_edits_a_center_in_the_district(api: Api) -> None:
    admin = await console(api, await staff_member(api, StaffRole.district_admin, district="普陀区"))
    page = await admin.get("/console/centers")
    assert page.status_code == 200, page.text
    assert EXTERNAL.findall(page.text) == []
    assert 'id="center-form"' in page.text

    elsewhere = await post(admin, "/console/centers", **center_form(district="黄浦区"))
    assert "error=out_of_scope" in elsewhere.headers["location"]
    no_place = await post(admin, "/console/centers", **center_form(lat="北纬"))
    assert "error=invalid_form" in no_place.headers["location"]
    created = await post(admin, "/console/centers", **center_form(name="长风党群服务中心"))
    assert "notice=center_created" in created.headers["location"], created.headers
    center_id = re.search(r"ref=(\d+)", created.headers["location"])
    assert center_id
    staff = await api.staff()
    url = f"/api/v1/admin/centers/{center_id.group(1)}"
    assert (await api.client.get(url, headers=staff)).json()["name"] == "长风党群服务中心"

    edit = await admin.get(f"/console/centers/{center_id.group(1)}")
    assert 'value="长风党群服务中心"' in edit.text
    saved = await post(
        admin,
        f"/console/centers/{center_id.group(1)}",
        **center_form(name="长风新村党群服务中心", phone="021-62220000"),
    )
    assert "notice=center_saved" in saved.headers["location"], saved.headers
    read = (await api.client.get(url, headers=staff)).json()
    assert (read["name"], read["phone"]) == ("长风新村党群服务中心", "021-62220000")


async def test_a_new_space_is_created_at_a_center_in_scope(api: Api) -> None:
    center = await api.center()
    admin = await console(
        api, await staff_member(api, StaffRole.center_admin, center_ids=[center["id"]])
    )
    form = await admin.get("/console/spaces/new")
    assert form.status_code == 200, form.text
    assert f'<option value="{center["id"]}">' in form.text
    hours = "\n".join(f"{day} 08:00-20:00" for day in range(1, 8))
    fields = {
        "center_id": str(center["id"]),
        "name": "一楼自习室",
        "kind": "study_room",
        "booking_mode": "shared",
        "opening_hours": hours,
        "requires_real_name": "on",
    }
    no_capacity = await post(admin, "/console/spaces/new", **fields, capacity="许多")
    assert "error=invalid_form" in no_capacity.headers["location"]
    other = await api.center()
    refused = await post(
        admin, "/console/spaces/new", **{**fields, "center_id": str(other["id"])}, capacity="30"
    )
    assert "error=" in refused.headers["location"]
    assert "/console/spaces/new" in refused.headers["location"]
    created = await post(admin, "/console/spaces/new", **fields, capacity="30")
    location = created.headers["location"]
    assert "notice=space_created" in location, location
    space_id = re.search(r"/console/spaces/(\d+)", location)
    assert space_id
    space = await api.client.get(
        f"/api/v1/admin/spaces/{space_id.group(1)}", headers=await api.staff()
    )
    read = space.json()
    assert (read["name"], read["capacity"], read["requires_real_name"]) == ("一楼自习室", 30, True)
    assert len(read["opening_hours"]) == 7
