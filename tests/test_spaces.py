"""Spaces: booking rules, opening hours, closures, public search, staff scope."""

from datetime import timedelta

import pytest

from app.models import StaffRole
from tests.factories import Api, days_ahead, local
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates


async def test_space_defaults_and_public_view(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin, name="长风湾")
    body = {
        "center_id": center["id"],
        "name": "苏河会议室",
        "kind": "meeting_room",
        "capacity": 16,
        "opening_hours": [{"weekday": 0, "opens": "09:00", "closes": "21:00"}],
        "facilities": ["空调", "投影"],
    }
    response = await api.client.post("/api/v1/admin/spaces", json=body, headers=admin)
    assert response.status_code == 201, response.text
    space = response.json()
    assert space["booking_mode"] == "exclusive"
    assert space["slot_minutes"] == 30
    assert space["min_minutes"] == 30
    assert space["max_minutes"] == 240
    assert space["center_name"] == "长风湾"
    assert space["opening_hours"] == [{"weekday": 0, "opens": "09:00", "closes": "21:00"}]

    public = await api.client.get(f"/api/v1/spaces/{space['id']}")
    assert public.json() == space
    detail = await api.client.get(f"/api/v1/centers/{center['id']}")
    assert [item["name"] for item in detail.json()["spaces"]] == ["苏河会议室"]


async def test_search_spaces_by_center_kind_and_capacity(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    other = await api.center(admin)
    small = await api.space(center["id"], admin, capacity=6)
    await api.space(center["id"], admin, capacity=20, kind="activity_room")
    await api.space(other["id"], admin, capacity=30)

    def ids(page: dict[str, list[dict[str, int]]]) -> list[int]:
        return [item["id"] for item in page["items"]]

    in_center = (await api.client.get("/api/v1/spaces", params={"center_id": center["id"]})).json()
    assert in_center["total"] == 2
    rooms = await api.client.get(
        "/api/v1/spaces", params={"kind": "meeting_room", "min_capacity": 10}
    )
    assert rooms.json()["total"] == 1
    assert small["id"] not in ids(rooms.json())


async def test_inactive_space_disappears_from_public_views(api: Api) -> None:
    admin = await api.staff()
    space = await api.space(headers=admin)
    response = await api.client.patch(
        f"/api/v1/admin/spaces/{space['id']}", json={"is_active": False}, headers=admin
    )
    assert response.json()["is_active"] is False
    assert_problem(await api.client.get(f"/api/v1/spaces/{space['id']}"), 404, "not_found")
    assert (await api.client.get("/api/v1/spaces")).json()["total"] == 0
    still_admin = await api.client.get(f"/api/v1/admin/spaces/{space['id']}", headers=admin)
    assert still_admin.status_code == 200


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"slot_minutes": 7}, "invalid_space_rules"),
        ({"min_minutes": 45}, "invalid_space_rules"),
        ({"min_minutes": 120, "max_minutes": 60}, "invalid_space_rules"),
        ({"max_minutes": 100}, "invalid_space_rules"),
        (
            {"opening_hours": [{"weekday": 0, "opens": "10:00", "closes": "09:00"}]},
            "invalid_opening_hours",
        ),
        (
            {"opening_hours": [{"weekday": 0, "opens": "09:15", "closes": "12:00"}]},
            "invalid_opening_hours",
        ),
        (
            {
                "opening_hours": [
                    {"weekday": 2, "opens": "09:00", "closes": "12:00"},
                    {"weekday": 2, "opens": "11:00", "closes": "14:00"},
                ]
            },
            "invalid_opening_hours",
        ),
        (
            {
                "open_24h": True,
                "opening_hours": [{"weekday": 0, "opens": "09:00", "closes": "12:00"}],
            },
            "invalid_opening_hours",
        ),
        (
            {"opening_hours": [{"weekday": 7, "opens": "09:00", "closes": "12:00"}]},
            "validation_failed",
        ),
        (
            {"opening_hours": [{"weekday": 0, "opens": "9:00", "closes": "12:00"}]},
            "validation_failed",
        ),
        (
            {"opening_hours": [{"weekday": 0, "opens": "24:30", "closes": "12:00"}]},
            "validation_failed",
        ),
        ({"capacity": 0}, "validation_failed"),
        ({"booking_mode": "first-come"}, "validation_failed"),
        ({"advance_days": 400}, "validation_failed"),
        ({"center_id": 2**31}, "validation_failed"),
    ],
)
async def test_invalid_space_rules_are_422(
    api: Api, overrides: dict[str, object], code: str
) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    body = {"center_id": center["id"], "name": "会议室", "kind": "meeting_room", "capacity": 10}
    body.update(overrides)
    response = await api.client.post("/api/v1/admin/spaces", json=body, headers=admin)
    assert_problem(response, 422, code)
    assert (await api.client.get("/api/v1/spaces")).json()["total"] == 0


async def test_space_in_unknown_center_is_404(api: Api) -> None:
    admin = await api.staff()
    body = {"center_id": 4242, "name": "会议室", "kind": "meeting_room", "capacity": 10}
    response = await api.client.post("/api/v1/admin/spaces", json=body, headers=admin)
    assert_problem(response, 404, "not_found")


async def test_duplicate_space_name_in_a_center_is_409(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    await api.space(center["id"], admin, name="阅心书斋")
    body = {"center_id": center["id"], "name": "阅心书斋", "kind": "study_room", "capacity": 10}
    response = await api.client.post("/api/v1/admin/spaces", json=body, headers=admin)
    assert_problem(response, 409, "already_exists")


async def test_opening_hours_are_replaced_and_rechecked_on_slot_change(api: Api) -> None:
    admin = await api.staff()
    space = await api.space(headers=admin)
    hours = [
        {"weekday": 5, "opens": "09:00", "closes": "12:00"},
        {"weekday": 5, "opens": "13:30", "closes": "17:00"},
    ]
    response = await api.client.put(
        f"/api/v1/admin/spaces/{space['id']}/opening-hours", json=hours, headers=admin
    )
    assert response.status_code == 200, response.text
    assert response.json()["opening_hours"] == hours

    # 13:30 is not on a one-hour grid: changing the slot length must be refused.
    response = await api.client.patch(
        f"/api/v1/admin/spaces/{space['id']}",
        json={"slot_minutes": 60, "min_minutes": 60, "max_minutes": 240},
        headers=admin,
    )
    assert_problem(response, 422, "invalid_opening_hours")
    unchanged = await api.client.get(f"/api/v1/spaces/{space['id']}")
    assert unchanged.json()["slot_minutes"] == 30

    response = await api.client.patch(
        f"/api/v1/admin/spaces/{space['id']}", json={"open_24h": True}, headers=admin
    )
    assert response.json()["open_24h"] is True
    assert response.json()["opening_hours"] == []


async def test_closures_are_added_listed_and_removed(api: Api) -> None:
    admin = await api.staff()
    space = await api.space(headers=admin)
    day = days_ahead(3)
    body = {
        "start": local(day, "18:00").isoformat(),
        "end": (local(day, "08:00") + timedelta(days=1)).isoformat(),
        "reason": "设备检修",
    }
    path = f"/api/v1/admin/spaces/{space['id']}/closures"
    created = await api.client.post(path, json=body, headers=admin)
    assert created.status_code == 201, created.text
    closure = created.json()
    assert closure["start"] == local(day, "18:00").isoformat()
    listed = (await api.client.get(path, headers=admin)).json()
    assert [item["id"] for item in listed["items"]] == [closure["id"]]
    deleted = await api.client.delete(f"{path}/{closure['id']}", headers=admin)
    assert deleted.status_code == 204
    assert (await api.client.get(path, headers=admin)).json()["items"] == []
    assert_problem(
        await api.client.delete(f"{path}/{closure['id']}", headers=admin), 404, "not_found"
    )


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [
        ("2030-01-02T10:00:00+08:00", "2030-01-02T09:00:00+08:00", "invalid_interval"),
        ("2030-01-02T10:00:00+08:00", "2030-01-02T10:00:00+08:00", "invalid_interval"),
        ("2030-01-02T10:00:00+08:00", "2032-01-02T10:00:00+08:00", "invalid_interval"),
        ("2030-01-02T10:00:00", "2030-01-02T12:00:00", "validation_failed"),
        ("tomorrow", "2030-01-02T12:00:00+08:00", "validation_failed"),
    ],
)
async def test_bad_closures_are_refused(api: Api, start: str, end: str, code: str) -> None:
    admin = await api.staff()
    space = await api.space(headers=admin)
    path = f"/api/v1/admin/spaces/{space['id']}/closures"
    response = await api.client.post(
        path, json={"start": start, "end": end, "reason": "x"}, headers=admin
    )
    assert_problem(response, 422, code)
    listed = await api.client.get(path, headers=admin, params={"include_past": True})
    assert listed.json()["total"] == 0


async def test_center_admin_manages_only_their_spaces(api: Api) -> None:
    admin = await api.staff()
    mine = await api.center(admin)
    theirs = await api.center(admin)
    my_space = await api.space(mine["id"], admin)
    their_space = await api.space(theirs["id"], admin)
    center_admin = await api.staff(StaffRole.center_admin, center_ids=[mine["id"]])

    await api.space(mine["id"], center_admin)
    body = {"center_id": theirs["id"], "name": "越权", "kind": "meeting_room", "capacity": 4}
    response = await api.client.post("/api/v1/admin/spaces", json=body, headers=center_admin)
    assert_problem(response, 403, "out_of_scope")

    closure = {
        "start": "2030-01-01T00:00:00+08:00",
        "end": "2030-01-02T00:00:00+08:00",
        "reason": "x",
    }
    base = f"/api/v1/admin/spaces/{their_space['id']}"
    attempts: list[tuple[str, str, object]] = [
        ("GET", base, None),
        ("PATCH", base, {"capacity": 1}),
        ("PUT", f"{base}/opening-hours", []),
        ("GET", f"{base}/closures", None),
        ("POST", f"{base}/closures", closure),
    ]
    for method, path, json_body in attempts:
        response = await api.client.request(method, path, json=json_body, headers=center_admin)
        assert_problem(response, 403, "out_of_scope")

    listing = await api.client.get("/api/v1/admin/spaces", headers=center_admin)
    assert my_space["id"] in [item["id"] for item in listing.json()["items"]]
    assert their_space["id"] not in [item["id"] for item in listing.json()["items"]]
    untouched = await api.client.get(f"/api/v1/spaces/{their_space['id']}")
    assert untouched.json()["capacity"] == 12
    assert untouched.json()["opening_hours"] != []


async def test_resident_cannot_manage_spaces(api: Api) -> None:
    space = await api.space()
    resident = await api.resident()
    response = await api.client.patch(
        f"/api/v1/admin/spaces/{space['id']}", json={"capacity": 1}, headers=resident
    )
    assert_problem(response, 403, "forbidden")
