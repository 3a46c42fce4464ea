"""Centers: public search and staff edits within scope."""

import json

import pytest

from app.models import StaffRole
from tests.factories import Api, center_body
from tests.test_errors import assert_problem

CHANGFENG = (31.2236, 121.3982)
LIHU = (31.2412, 121.3877)
BAIYULAN = (31.2490, 121.5015)  # Hongkou, ~10 km east


async def test_staff_creates_and_updates_a_center(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin, name="长风湾党群服务中心", phone=None)
    assert center["id"] > 0
    assert center["phone"] is None
    assert center["created_at"].endswith("+08:00")

    response = await api.client.patch(
        f"/api/v1/admin/centers/{center['id']}",
        json={"phone": "021-1234567", "description": "毗邻苏州河"},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    assert response.json()["phone"] == "021-1234567"
    assert response.json()["name"] == "长风湾党群服务中心"

    public = await api.client.get(f"/api/v1/centers/{center['id']}")
    assert public.json()["description"] == "毗邻苏州河"
    assert public.json()["spaces"] == []


async def test_required_fields_cannot_be_nulled(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    response = await api.client.patch(
        f"/api/v1/admin/centers/{center['id']}", json={"name": None}, headers=admin
    )
    assert_problem(response, 422, "validation_failed")


async def test_duplicate_center_name_in_a_district_is_409(api: Api) -> None:
    admin = await api.staff()
    await api.center(admin, name="梅陇镇党群服务中心", district="闵行区")
    body = {
        "name": "梅陇镇党群服务中心",
        "kind": "street_center",
        "district": "闵行区",
        "address": "x",
        "lat": 31.1,
        "lng": 121.4,
    }
    response = await api.client.post("/api/v1/admin/centers", json=body, headers=admin)
    assert_problem(response, 409, "already_exists")
    await api.center(admin, name="梅陇镇党群服务中心", district="普陀区")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "   "),
        ("name", "a\x00b"),
        ("name", "x" * 101),
        ("lat", 90.5),
        ("lng", -181),
        ("kind", "palace"),
        ("phone", "call me"),
        ("district", "\ud800"),
    ],
)
async def test_bad_center_input_changes_nothing(api: Api, field: str, value: object) -> None:
    admin = await api.staff()
    body = {
        "name": "新中心",
        "kind": "post",
        "district": "普陀区",
        "address": "上海市普陀区",
        "lat": 31.2,
        "lng": 121.4,
        field: value,
    }
    # json.dumps escapes a lone surrogate as \ud800, as a real client's JSON would.
    response = await api.client.post(
        "/api/v1/admin/centers",
        content=json.dumps(body),
        headers={**admin, "Content-Type": "application/json"},
    )
    problem = assert_problem(response, 422, "validation_failed")
    assert field in {error["field"] for error in problem["errors"]}  # type: ignore[attr-defined]
    assert (await api.client.get("/api/v1/centers")).json()["total"] == 0


async def test_search_by_district_and_kind(api: Api) -> None:
    admin = await api.staff()
    await api.center(admin, district="闵行区", kind="street_center")
    await api.center(admin, district="闵行区", kind="residential_station")
    await api.center(admin, district="普陀区", kind="street_center")
    minhang = (await api.client.get("/api/v1/centers", params={"district": "闵行区"})).json()
    assert minhang["total"] == 2
    stations = await api.client.get(
        "/api/v1/centers", params={"district": "闵行区", "kind": "residential_station"}
    )
    assert stations.json()["total"] == 1


async def test_near_orders_by_distance_within_the_radius(api: Api) -> None:
    admin = await api.staff()
    far = await api.center(admin, name="白玉兰", lat=BAIYULAN[0], lng=BAIYULAN[1])
    lihu = await api.center(admin, name="丽湖", lat=LIHU[0], lng=LIHU[1])
    changfeng = await api.center(admin, name="长风湾", lat=CHANGFENG[0], lng=CHANGFENG[1])
    near = f"{CHANGFENG[0] + 0.001},{CHANGFENG[1]}"  # ~110 m north of Changfengwan

    page = (await api.client.get("/api/v1/centers", params={"near": near})).json()
    assert [item["id"] for item in page["items"]] == [changfeng["id"], lihu["id"]]
    assert page["total"] == 2
    assert 100 < page["items"][0]["distance_m"] < 125
    assert 2000 < page["items"][1]["distance_m"] < 2300

    wide = await api.client.get("/api/v1/centers", params={"near": near, "radius_m": 20000})
    assert [item["id"] for item in wide.json()["items"]] == [
        changfeng["id"],
        lihu["id"],
        far["id"],
    ]
    second_page = await api.client.get(
        "/api/v1/centers", params={"near": near, "radius_m": 20000, "limit": 1, "offset": 1}
    )
    assert [item["id"] for item in second_page.json()["items"]] == [lihu["id"]]


@pytest.mark.parametrize("near", ["31.2", "abc,def", "91,121", "31.2,181", "31.2;121.4"])
async def test_bad_near_is_422(api: Api, near: str) -> None:
    response = await api.client.get("/api/v1/centers", params={"near": near})
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"][0]["field"] == "near"  # type: ignore[index]


async def test_pagination_is_bounded(api: Api) -> None:
    response = await api.client.get("/api/v1/centers", params={"limit": 1000})
    assert_problem(response, 422, "validation_failed")


async def test_unknown_center_is_404(api: Api) -> None:
    assert_problem(await api.client.get("/api/v1/centers/999"), 404, "not_found")
    assert_problem(await api.client.get("/api/v1/centers/99999999999"), 422, "validation_failed")


# --- scope ------------------------------------------------------------------


async def test_district_admin_acts_only_in_their_district(api: Api) -> None:
    putuo_admin = await api.staff(StaffRole.district_admin, district="普陀区")
    putuo = await api.center(putuo_admin, district="普陀区")
    minhang = await api.center(district="闵行区")

    response = await api.client.patch(
        f"/api/v1/admin/centers/{minhang['id']}", json={"phone": "021-1"}, headers=putuo_admin
    )
    assert_problem(response, 403, "out_of_scope")
    response = await api.client.post(
        "/api/v1/admin/centers", json=center_body(district="闵行区"), headers=putuo_admin
    )
    assert_problem(response, 403, "out_of_scope")
    response = await api.client.patch(
        f"/api/v1/admin/centers/{putuo['id']}", json={"district": "闵行区"}, headers=putuo_admin
    )
    assert_problem(response, 403, "out_of_scope")

    listing = await api.client.get("/api/v1/admin/centers", headers=putuo_admin)
    assert [item["id"] for item in listing.json()["items"]] == [putuo["id"]]


async def test_center_admin_cannot_touch_another_center(api: Api) -> None:
    mine = await api.center()
    other = await api.center()
    admin = await api.staff(StaffRole.center_admin, center_ids=[mine["id"]])

    ok = await api.client.patch(
        f"/api/v1/admin/centers/{mine['id']}", json={"phone": "021-2"}, headers=admin
    )
    assert ok.status_code == 200
    for method, path, body in [
        ("GET", f"/api/v1/admin/centers/{other['id']}", None),
        ("PATCH", f"/api/v1/admin/centers/{other['id']}", {"phone": "021-3"}),
    ]:
        response = await api.client.request(method, path, json=body, headers=admin)
        assert_problem(response, 403, "out_of_scope")
    response = await api.client.post("/api/v1/admin/centers", json=center_body(), headers=admin)
    assert_problem(response, 403, "out_of_scope")
    listing = await api.client.get("/api/v1/admin/centers", headers=admin)
    assert [item["id"] for item in listing.json()["items"]] == [mine["id"]]
    unchanged = await api.client.get(f"/api/v1/centers/{other['id']}")
    assert unchanged.json()["phone"] == "021-52560000"
