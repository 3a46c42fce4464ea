"""The public map (``GET /map``): positions in a box as GeoJSON, their filters,
whether they are open now (hours, holidays, closures) and the study-room seats
free now, the few seconds' cache, and the refusals, on both engines.

Every test travels the clock to a fixed instant, so "now" is the same on any
day the suite runs."""

import asyncio
from collections.abc import Iterator
from datetime import datetime
from typing import Any, cast

import httpx
import pytest
import time_machine

from app.core.clock import SHANGHAI
from app.map.schemas import PositionMap
from tests.factories import Api, Headers, book
from tests.test_errors import assert_problem
from tests.test_series_statements import counted

# A Wednesday in March: an ordinary working day.
WEDNESDAY = datetime(2026, 3, 11, 10, 5, tzinfo=SHANGHAI)
# National Day (a statutory holiday, a Thursday) and a Saturday moved to work.
NATIONAL_DAY = datetime(2026, 10, 1, 10, 5, tzinfo=SHANGHAI)
WORKING_SATURDAY = datetime(2026, 2, 14, 10, 5, tzinfo=SHANGHAI)
WEEKDAYS_9_TO_17 = [{"weekday": d, "opens": "09:00", "closes": "17:00"} for d in range(5)]
EVERY_DAY_9_TO_17 = [{"weekday": d, "opens": "09:00", "closes": "17:00"} for d in range(7)]

# The box around Changfeng (普陀区), and a point well outside it.
BOX = "121.38,31.20,121.42,31.24"
INSIDE = {"lat": 31.2236, "lng": 121.3982}
ALSO_INSIDE = {"lat": 31.2301, "lng": 121.4105}
OUTSIDE = {"lat": 31.1100, "lng": 121.3800}


@pytest.fixture
def at_wednesday() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(WEDNESDAY, tick=False) as traveller:
        yield traveller


async def positions(api: Api, *, fresh: bool = True, **params: Any) -> httpx.Response:
    """``GET /map`` without a token; ``fresh`` forgets the cached answers first."""
    if fresh:
        api.app.state.map_cache.clear()
    params.setdefault("bbox", BOX)
    return await api.client.get("/api/v1/map", params=params)


def features(response: httpx.Response) -> dict[int, dict[str, Any]]:
    assert response.status_code == 200, response.text
    collection = PositionMap.model_validate(response.json())  # the documented shape
    return {
        feature.id: response.json()["features"][index]
        for index, feature in enumerate(collection.features)
    }


def field_errors(problem: dict[str, object]) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], problem["errors"])


def locations(problem: dict[str, object]) -> list[Any]:
    return [error["location"] for error in field_errors(problem)]


async def study_room(api: Api, center_id: int, staff: Headers, **overrides: Any) -> Any:
    return await api.space(
        center_id,
        staff,
        name=overrides.pop("name", "阅心书斋"),
        kind="study_room",
        booking_mode="shared",
        open_24h=True,
        opening_hours=[],
        **{"capacity": 10, **overrides},
    )


async def test_a_box_is_a_geojson_feature_collection_of_its_positions(
    api: Api, at_wednesday: time_machine.Traveller
) -> None:
    staff = await api.staff()
    hub = await api.center(staff, name="长风党群服务中心", **INSIDE)
    post = await api.center(staff, name="苏河驿站", kind="post", parent_id=hub["id"], **ALSO_INSIDE)
    await api.center(staff, name="远处的服务站", kind="grid_station", **OUTSIDE)
    await study_room(api, hub["id"], staff)
    await api.space(hub["id"], staff, name="会议室一")
    await api.space(hub["id"], staff, name="会议室二")

    response = await positions(api)
    assert response.headers["content-type"] == "application/geo+json"
    assert response.headers["cache-control"] == "public, max-age=5"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    found = features(response)
    assert list(found) == [hub["id"], post["id"]]  # not the one outside the box
    assert found[hub["id"]] == {
        "type": "Feature",
        "id": hub["id"],
        "geometry": {"type": "Point", "coordinates": [INSIDE["lng"], INSIDE["lat"]]},
        "properties": {
            "name": "长风党群服务中心",
            "kind": "street_center",
            "kind_label": "街镇党群服务中心",
            "district": "普陀区",
            "street": "长风新村街道",
            "address": "上海市普陀区测试路1号",
            "open_now": True,
            "spaces": {"meeting_room": 2, "study_room": 1},
            "free_now": 10,
            "parent_id": None,
        },
    }
    post_properties = found[post["id"]]["properties"]
    assert post_properties["parent_id"] == hub["id"]
    assert post_properties["kind_label"] == "党群驿站"
    assert (post_properties["spaces"], post_properties["free_now"]) == ({}, None)
    assert post_properties["open_now"] is False  # no space to open


async def test_the_box_edges_count_and_the_box_is_read_as_lng_then_lat(
    api: Api, at_wednesday: time_machine.Traveller
) -> None:
    staff = await api.staff()
    corner = await api.center(staff, lat=31.20, lng=121.38)
    assert list(features(await positions(api, bbox="121.38,31.20,121.40,31.22"))) == [corner["id"]]
    # The same box written lat,lng first has latitudes off the earth.
    refused = await positions(api, bbox="31.20,121.38,31.22,121.40")
    assert_problem(refused, 422, "bbox_malformed")


async def test_kind_and_has_filter_with_any_of_the_kinds_given(
    api: Api, at_wednesday: time_machine.Traveller
) -> None:
    staff = await api.staff()
    street = await api.center(staff, **INSIDE)
    grid = await api.center(staff, kind="grid_station", **ALSO_INSIDE)
    post = await api.center(staff, kind="post", lat=31.21, lng=121.39)
    await study_room(api, street["id"], staff)
    await api.space(grid["id"], staff)
    inactive = await study_room(api, post["id"], staff)
    response = await api.client.patch(
        f"/api/v1/admin/spaces/{inactive['id']}", json={"is_active": False}, headers=staff
    )
    assert response.status_code == 200, response.text

    assert list(features(await positions(api, kind="grid_station"))) == [grid["id"]]
    assert list(features(await positions(api, kind="post|grid_station"))) == [
        grid["id"],
        post["id"],
    ]
    # An inactive study room is no study room.
    assert list(features(await positions(api, has="study_room"))) == [street["id"]]
    assert list(features(await positions(api, has="study_room|meeting_room"))) == [
        street["id"],
        grid["id"],
    ]
    assert features(await positions(api, kind="street_center", has="meeting_room")) == {}


async def test_open_now_follows_each_spaces_hours(
    api: Api, at_wednesday: time_machine.Traveller
) -> None:
    staff = await api.staff()
    day_only = await api.center(staff, **INSIDE)
    all_hours = await api.center(staff, **ALSO_INSIDE)
    await api.space(day_only["id"], staff, opening_hours=WEEKDAYS_9_TO_17)
    await study_room(api, all_hours["id"], staff)

    found = features(await positions(api))
    assert found[day_only["id"]]["properties"]["open_now"] is True
    assert list(features(await positions(api, open_now="true"))) == [
        day_only["id"],
        all_hours["id"],
    ]

    at_wednesday.move_to(WEDNESDAY.replace(hour=17, minute=0))  # closes at 17:00
    found = features(await positions(api))
    assert found[day_only["id"]]["properties"]["open_now"] is False
    assert found[all_hours["id"]]["properties"]["open_now"] is True
    assert list(features(await positions(api, open_now="true"))) == [all_hours["id"]]
    # open_now=false filters nothing, as on GET /spaces.
    assert len(features(await positions(api, open_now="false"))) == 2


async def test_a_closure_now_closes_the_position_and_its_free_seats(
    api: Api, at_wednesday: time_machine.Traveller
) -> None:
    staff = await api.staff()
    center = await api.center(staff, **INSIDE)
    room = await study_room(api, center["id"], staff)
    closure = {
        "start": WEDNESDAY.replace(hour=10, minute=0).isoformat(),
        "end": WEDNESDAY.replace(hour=12, minute=0).isoformat(),
        "reason": "设备检修",
    }
    response = await api.client.post(
        f"/api/v1/admin/spaces/{room['id']}/closures", json=closure, headers=staff
    )
    assert response.status_code == 201, response.text

    properties = features(await positions(api))[center["id"]]["properties"]
    assert (properties["open_now"], properties["free_now"]) == (False, 0)
    at_wednesday.move_to(WEDNESDAY.replace(hour=12, minute=0))  # [start, end): open again
    properties = features(await positions(api))[center["id"]]["properties"]
    assert (properties["open_now"], properties["free_now"]) == (True, 10)


@pytest.mark.parametrize(
    ("instant", "policy", "open_now"),
    [
        (NATIONAL_DAY, "closed", False),
        (NATIONAL_DAY, "open", True),
        (NATIONAL_DAY, "weekend_hours", True),
        (WORKING_SATURDAY, "closed", True),  # keeps Monday's hours
    ],
)
async def test_the_holiday_calendar_decides_the_days_hours(
    api: Api, instant: datetime, policy: str, open_now: bool
) -> None:
    with time_machine.travel(instant, tick=False):
        staff = await api.staff()
        center = await api.center(staff, **INSIDE)
        await api.space(center["id"], staff, opening_hours=EVERY_DAY_9_TO_17, holiday_policy=policy)
        if instant is WORKING_SATURDAY:  # a space open on weekdays only
            await api.space(
                center["id"], staff, opening_hours=WEEKDAYS_9_TO_17, holiday_policy="closed"
            )
        properties = features(await positions(api))[center["id"]]["properties"]
    assert properties["open_now"] is open_now


async def test_a_day_off_staff_declare_at_the_center_closes_it(
    api: Api, at_wednesday: time_machine.Traveller
) -> None:
    staff = await api.staff()
    center = await api.center(staff, **INSIDE)
    other = await api.center(staff, **ALSO_INSIDE)
    for position in (center, other):
        await api.space(position["id"], staff, holiday_policy="closed")
    response = await api.client.put(
        f"/api/v1/admin/calendar/days/{WEDNESDAY.date()}",
        json={"kind": "holiday", "name": "场馆休息", "center_id": center["id"]},
        headers=staff,
    )
    assert response.status_code == 200, response.text

    found = features(await positions(api))
    assert found[center["id"]]["properties"]["open_now"] is False
    assert found[other["id"]]["properties"]["open_now"] is True


async def test_free_now_drops_when_a_seat_is_booked_for_now_after_the_cache(
    api: Api, at_wednesday: time_machine.Traveller
) -> None:
    staff = await api.staff()
    center = await api.center(staff, **INSIDE)
    room = await study_room(api, center["id"], staff)
    other = await study_room(api, center["id"], staff, name="第二自习室", capacity=4)
    meeting = await api.space(center["id"], staff)
    before = features(await positions(api))[center["id"]]["properties"]
    assert before["free_now"] == 14

    today = WEDNESDAY.date()
    for _ in range(2):  # two residents, a seat each, from 10:00 (walk-in at 10:05)
        resident = await api.resident()
        booked = await book(api, resident, room["id"], today, "10:00", "11:00", attendees=1)
        assert booked.status_code == 201, booked.text
    later = await book(api, await api.resident(), other["id"], today, "11:00", "12:00")
    assert later.status_code == 201, later.text
    # A booking of a meeting room takes no study-room seat.
    held = await book(api, await api.resident(), meeting["id"], today, "10:00", "11:00")
    assert held.status_code == 201, held.text

    # Within its few seconds the cached answer is served as it was.
    cached = await positions(api, fresh=False)
    assert features(cached)[center["id"]]["properties"]["free_now"] == 14
    assert features(await positions(api))[center["id"]]["properties"]["free_now"] == 12

    at_wednesday.move_to(WEDNESDAY.replace(hour=11, minute=0))
    # 10:00–11:00 ended, 11:00–12:00 began: [start, end) on both.
    assert features(await positions(api))[center["id"]]["properties"]["free_now"] == 13


async def test_checking_out_frees_the_seat(api: Api, at_wednesday: time_machine.Traveller) -> None:
    staff = await api.staff()
    center = await api.center(staff, **INSIDE)
    room = await study_room(api, center["id"], staff, capacity=1)
    resident = await api.resident()
    booked = await book(api, resident, room["id"], WEDNESDAY.date(), "10:00", "11:00")
    assert booked.status_code == 201, booked.text
    assert features(await positions(api))[center["id"]]["properties"]["free_now"] == 0
    left = await api.client.post(
        f"/api/v1/reservations/{booked.json()['id']}/check-out", headers=resident
    )
    assert left.status_code == 200, left.text
    assert features(await positions(api))[center["id"]]["properties"]["free_now"] == 1


@pytest.mark.parametrize(
    ("bbox", "code"),
    [
        ("121.38,31.20,121.42", "bbox_malformed"),
        ("121.38,31.20,121.42,31.24,1", "bbox_malformed"),
        ("a,b,c,d", "bbox_malformed"),
        ("nan,31.20,121.42,31.24", "bbox_malformed"),
        ("1e2,31.20,121.42,31.24", "bbox_malformed"),
        ("121.38,31.20,,31.24", "bbox_malformed"),
        ("181,31.20,182,31.24", "bbox_malformed"),
        ("121.38,-91,121.42,-90.5", "bbox_malformed"),
        ("121.42,31.20,121.38,31.24", "bbox_inverted"),
        ("121.38,31.24,121.42,31.20", "bbox_inverted"),
        ("121.38,31.20,121.38,31.24", "bbox_inverted"),
        ("121.00,31.20,121.51,31.24", "bbox_too_large"),
        ("121.38,30.90,121.42,31.41", "bbox_too_large"),
    ],
)
async def test_a_bad_bbox_is_refused_with_its_code(api: Api, bbox: str, code: str) -> None:
    response = await positions(api, bbox=bbox)
    body = assert_problem(response, 422, code)
    assert isinstance(body.get("detail"), str)


async def test_the_largest_box_is_answered(api: Api) -> None:
    assert (await positions(api, bbox="121.00,31.00,121.50,31.50")).status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "community_center"}, "kind"),
        ({"kind": "post|"}, "kind"),
        ({"kind": ""}, "kind"),
        ({"has": "study_room|swimming_pool"}, "has"),
        ({"has": "STUDY_ROOM"}, "has"),
        ({"open_now": "maybe"}, "open_now"),
        ({"bbox_": BOX}, "bbox_"),
    ],
)
async def test_unknown_kinds_and_parameters_are_refused(
    api: Api, params: dict[str, str], field: str
) -> None:
    api.app.state.map_cache.clear()
    response = await api.client.get("/api/v1/map", params={"bbox": BOX, **params})
    assert locations(assert_problem(response, 422, "validation_failed")) == [["query", field]]


async def test_an_unknown_kind_is_named_with_the_known_ones(api: Api) -> None:
    api.app.state.map_cache.clear()
    response = await api.client.get(
        "/api/v1/map",
        params={"bbox": BOX, "has": "study_room|pool"},
        headers={"Accept-Language": "en"},
    )
    [error] = field_errors(assert_problem(response, 422, "validation_failed"))
    assert error["message"] == (
        "Unknown has 'pool': give one or more of meeting_room, study_room, activity_room, "
        "theater, gym, studio, photo_studio, other separated by |"
    )


async def test_a_map_without_a_box_is_refused(api: Api) -> None:
    response = await api.client.get("/api/v1/map")
    assert locations(assert_problem(response, 422, "validation_failed")) == [["query", "bbox"]]


async def test_one_statement_answers_however_many_positions(
    api: Api, at_wednesday: time_machine.Traveller, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reads do not grow with the positions: one statement answers twenty
    of them with their spaces and bookings, and an equal query within the
    cache's seconds reads nothing, however many ask at once."""
    staff = await api.staff()
    for index in range(20):
        center = await api.center(staff, lat=31.20 + index / 1000, lng=121.39)
        room = await study_room(api, center["id"], staff)
        await api.space(center["id"], staff)
        booked = await book(
            api, await api.resident(), room["id"], WEDNESDAY.date(), "10:00", "11:00"
        )
        assert booked.status_code == 201, booked.text
    with counted(api, monkeypatch) as counts:
        found = features(await positions(api))
    assert len(found) == 20
    assert {feature["properties"]["free_now"] for feature in found.values()} == {9}
    assert counts == {"driver": 1}
    with counted(api, monkeypatch) as counts:
        answers = await asyncio.gather(*(positions(api, fresh=False) for _ in range(5)))
    assert {answer.content for answer in answers} == {answers[0].content}
    assert counts == {}
    api.app.state.map_cache.clear()
    with counted(api, monkeypatch) as counts:
        answers = await asyncio.gather(*(positions(api, fresh=False) for _ in range(5)))
    assert all(answer.status_code == 200 for answer in answers)
    assert counts == {"driver": 1}  # the four others waited for the first's answer
