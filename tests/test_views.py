"""Views that spare a mini-program a second call: a reservation names its
center, address, doors and deadlines; spaces and centers are found near a
point, by street, open now or by name; every kind has its Chinese label."""

from typing import Any

import pytest
import time_machine

from tests.factories import Api, book, local, next_open_day

pytestmark = pytest.mark.dates


async def test_a_reservation_names_its_center_doors_and_deadlines(api: Api) -> None:
    staff = await api.staff()
    center = await api.center(staff, name="长风湾党群服务中心", address="普陀区长风路1号")
    space = await api.space(
        center["id"],
        staff,
        cancel_before_minutes=120,
        requires_check_in=True,
        no_show_after_minutes=20,
    )
    for name in ("正门", "侧门"):
        created = await api.client.post(
            "/api/v1/admin/doors", json={"space_id": space["id"], "name": name}, headers=staff
        )
        assert created.status_code == 201, created.text
    plain = await api.space(center["id"], staff)  # no doors, no check-in
    resident = await api.resident()
    day = await next_open_day(api, space["id"])

    booked = await book(api, resident, space["id"], day, "10:00", "11:00")
    assert booked.status_code == 201, booked.text
    expected: dict[str, Any] = {
        "center_name": "长风湾党群服务中心",
        "center_address": "普陀区长风路1号",
        "door_names": ["正门", "侧门"],
        "cancel_before": local(day, "08:00").isoformat(),
        "no_show_at": local(day, "10:20").isoformat(),
    }
    reservation_id = booked.json()["id"]
    read = await api.client.get(f"/api/v1/reservations/{reservation_id}", headers=resident)
    listed = await api.client.get("/api/v1/reservations", headers=resident)
    [from_list] = listed.json()["items"]
    for view in (booked.json(), read.json(), from_list):
        assert {key: view[key] for key in expected} == expected

    other = await book(api, resident, plain["id"], day, "10:00", "11:00")
    assert other.status_code == 201, other.text
    assert other.json()["door_names"] == []
    assert other.json()["no_show_at"] is None
    assert other.json()["cancel_before"] == local(day, "10:00").isoformat()
    again = await api.client.get(f"/api/v1/reservations/{other.json()['id']}", headers=resident)
    assert {k: again.json()[k] for k in ("door_names", "no_show_at", "cancel_before")} == {
        k: other.json()[k] for k in ("door_names", "no_show_at", "cancel_before")
    }


async def test_the_same_booking_replayed_answers_the_same_view(api: Api) -> None:
    staff = await api.staff()
    space = await api.space(headers=staff, cancel_before_minutes=30)
    resident = await api.resident()
    day = await next_open_day(api, space["id"])
    body = {
        "space_id": space["id"],
        "start": local(day, "14:00").isoformat(),
        "end": local(day, "15:00").isoformat(),
    }
    headers = {**resident, "Idempotency-Key": "view-replay-1"}
    first = await api.client.post("/api/v1/reservations", json=body, headers=headers)
    replay = await api.client.post("/api/v1/reservations", json=body, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert first.json()["cancel_before"] == local(day, "13:30").isoformat()


# --- finding spaces and centers ------------------------------------------------------

HERE = "31.2236,121.3982"  # 长风新村街道


async def test_spaces_near_a_point_come_nearest_first_in_whole_metres(api: Api) -> None:
    staff = await api.staff()
    # About 0, 550 and 11 000 metres north of HERE.
    at_hand = await api.center(staff, lat=31.2236, lng=121.3982)
    nearby = await api.center(staff, lat=31.2286, lng=121.3982)
    far = await api.center(staff, lat=31.3236, lng=121.3982)
    rooms = {
        name: (await api.space(center["id"], staff))["id"]
        for name, center in (("at_hand", at_hand), ("nearby", nearby), ("far", far))
    }
    found = await api.client.get("/api/v1/spaces", params={"near": HERE, "radius_m": 2000})
    assert found.status_code == 200, found.text
    page = found.json()
    assert [item["id"] for item in page["items"]] == [rooms["at_hand"], rooms["nearby"]]
    assert page["total"] == 2
    distances = [item["distance_m"] for item in page["items"]]
    assert all(type(distance) is int for distance in distances)
    assert distances[0] == 0
    assert 540 <= distances[1] <= 570
    assert '"distance_m":0,' in found.text.replace(" ", "")  # not 0.0

    wide = await api.client.get("/api/v1/spaces", params={"near": HERE, "radius_m": 20000})
    assert [item["id"] for item in wide.json()["items"]][-1] == rooms["far"]
    plain = await api.client.get("/api/v1/spaces", params={"center_id": far["id"]})
    assert plain.json()["items"][0]["distance_m"] is None
    bad_searches: list[dict[str, str | int]] = [
        {"near": "91,121"},
        {"near": "x"},
        {"near": HERE, "radius_m": 0},
    ]
    for bad in bad_searches:
        refused = await api.client.get("/api/v1/spaces", params=bad)
        assert refused.status_code == 422, bad


async def test_spaces_by_the_centers_district_and_street_with_kind_labels(api: Api) -> None:
    staff = await api.staff()
    changfeng = await api.center(staff, district="普陀区", street="长风新村街道")
    caoyang = await api.center(staff, district="普陀区", street="曹杨新村街道")
    hongqiao = await api.center(staff, district="闵行区", street="虹桥镇")
    study = await api.space(changfeng["id"], staff, kind="study_room")
    meeting = await api.space(caoyang["id"], staff)
    gym = await api.space(hongqiao["id"], staff, kind="gym")

    async def ids(**params: str) -> list[int]:
        response = await api.client.get("/api/v1/spaces", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids(district="普陀区") == [study["id"], meeting["id"]]
    assert await ids(street="长风新村街道") == [study["id"]]
    assert await ids(district="闵行区", street="长风新村街道") == []
    assert await ids(district="闵行区") == [gym["id"]]

    listed = (await api.client.get("/api/v1/spaces", params={"district": "普陀区"})).json()
    by_id = {item["id"]: item for item in listed["items"]}
    assert by_id[study["id"]]["kind_label"] == "自习室"
    assert by_id[meeting["id"]]["kind_label"] == "会议室"
    assert by_id[study["id"]]["center_street"] == "长风新村街道"
    one = (await api.client.get(f"/api/v1/spaces/{gym['id']}")).json()
    assert (one["kind_label"], one["center_district"]) == ("健身房", "闵行区")


async def test_spaces_open_now(api: Api) -> None:
    staff = await api.staff()
    center = await api.center(staff)
    daytime = await api.space(center["id"], staff)  # 09:00-21:00 every day
    always = await api.space(
        center["id"], staff, kind="study_room", open_24h=True, opening_hours=[]
    )
    repaired = await api.space(center["id"], staff)
    day = await next_open_day(api, daytime["id"], after=2)
    closure = {
        "start": local(day, "10:00").isoformat(),
        "end": local(day, "12:00").isoformat(),
        "reason": "设备检修",
    }
    closed = await api.client.post(
        f"/api/v1/admin/spaces/{repaired['id']}/closures", json=closure, headers=staff
    )
    assert closed.status_code == 201, closed.text

    async def open_now() -> list[int]:
        response = await api.client.get(
            "/api/v1/spaces", params={"open_now": "true", "center_id": center["id"]}
        )
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    with time_machine.travel(local(day, "07:30"), tick=False):
        assert await open_now() == [always["id"]]
    with time_machine.travel(local(day, "10:30"), tick=False):
        assert await open_now() == [daytime["id"], always["id"]]
    with time_machine.travel(local(day, "12:00"), tick=False):
        assert await open_now() == [daytime["id"], always["id"], repaired["id"]]
        everything = await api.client.get("/api/v1/spaces", params={"center_id": center["id"]})
        assert everything.json()["total"] == 3


async def test_centers_by_street_and_name_with_whole_metres_and_kind_labels(api: Api) -> None:
    staff = await api.staff()
    made = [
        await api.center(staff, **body)
        for body in (
            {"name": "长风湾党群服务中心", "street": "长风新村街道", "kind": "street_center"},
            {"name": "半马苏河驿站·1690", "street": "长风新村街道", "kind": "post"},
            {"name": "曹杨新村党群服务中心", "street": "曹杨新村街道", "kind": "street_center"},
        )
    ]

    async def names(**params: str) -> list[str]:
        response = await api.client.get("/api/v1/centers", params=params)
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["items"]]

    assert await names(street="长风新村街道") == ["长风湾党群服务中心", "半马苏河驿站·1690"]
    assert await names(q="长风") == ["长风湾党群服务中心"]
    assert await names(q="党群服务中心", street="曹杨新村街道") == ["曹杨新村党群服务中心"]
    assert await names(q="100%") == []  # no wildcard
    assert await names(q="驿站", near=HERE) == ["半马苏河驿站·1690"]

    near = (await api.client.get("/api/v1/centers", params={"near": HERE})).json()
    assert [type(item["distance_m"]) for item in near["items"]] == [int, int, int]
    labels = {item["id"]: item["kind_label"] for item in near["items"]}
    assert labels[made[1]["id"]] == "党群驿站"
    assert labels[made[0]["id"]] == "街镇党群服务中心"
    detail = (await api.client.get(f"/api/v1/centers/{made[1]['id']}")).json()
    assert detail["kind_label"] == "党群驿站"
    assert (await api.client.get("/api/v1/centers", params={"q": ""})).status_code == 422
