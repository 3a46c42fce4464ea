"""The hot routes (app/core/fastlane.py) answer exactly what their FastAPI
declarations would: the same status, problem code and body for every kind of
bad request, and they are all declared in the OpenAPI document."""

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI

from app.access.router import HOT as ACCESS
from app.activities.router import HOT as ACTIVITIES
from app.activities.signup_router import HOT as SIGNUPS
from app.core.fastlane import FastLane
from app.main import create_app
from app.reservations.router import HOT as RESERVATIONS
from app.spaces.router import HOT as SPACES
from tests.factories import Api, days_ahead, door, slot
from tests.test_activities import activity_body, created

HOT = [
    *RESERVATIONS.routes,
    *ACCESS.routes,
    *SPACES.routes,
    *ACTIVITIES.routes,
    *SIGNUPS.routes,
]


def test_every_hot_route_is_a_declared_route() -> None:
    paths = create_app().openapi()["paths"]
    for route in HOT:
        assert route.method.lower() in paths[route.template], route.template


@pytest.fixture
async def both(api: Api) -> AsyncIterator[tuple[Api, httpx.AsyncClient]]:
    """The suite's app, and the same app on the same database without the fast
    lane: every request then goes through FastAPI's own routing."""
    plain: FastAPI = create_app(api.app.state.settings)
    plain.user_middleware = [
        m for m in plain.user_middleware if cast(object, m.cls) is not FastLane
    ]
    async with plain.router.lifespan_context(plain):
        transport = httpx.ASGITransport(app=plain)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield api, client


def _seen(response: httpx.Response) -> tuple[int, str, Any]:
    kind = response.headers.get("content-type", "")
    return response.status_code, kind, response.json() if "json" in kind else response.text


async def test_bad_requests_get_the_same_answers_on_both_lanes(
    both: tuple[Api, httpx.AsyncClient],
) -> None:
    api, plain = both
    resident = await api.resident()
    space = await api.space()
    door_id, device = await door(api, space["id"])
    good = {"space_id": space["id"], **slot(days_ahead(30), "10:00", "11:00")}
    day = days_ahead(1).isoformat()
    soon = {"space_id": space["id"], **slot(days_ahead(2), "10:00", "11:00")}
    mine = await api.client.post("/api/v1/reservations", json=soon, headers=resident)
    assert mine.status_code == 201, mine.text
    booked = mine.json()["id"]
    later = slot(days_ahead(30), "14:00", "15:00")  # past the booking window: 409
    cases: list[tuple[str, str, dict[str, Any]]] = [
        # booking
        ("POST", "/api/v1/reservations", {"json": good}),  # no token
        ("POST", "/api/v1/reservations", {"json": good, "headers": {"Authorization": "Bearer x"}}),
        ("POST", "/api/v1/reservations?x=1", {"json": good, "headers": resident}),
        ("POST", "/api/v1/reservations", {"headers": resident}),  # no body
        (
            "POST",
            "/api/v1/reservations",
            {"content": b"{", "headers": {**resident, "Content-Type": "application/json"}},
        ),
        (
            "POST",
            "/api/v1/reservations",
            {"content": b"space", "headers": {**resident, "Content-Type": "text/plain"}},
        ),
        ("POST", "/api/v1/reservations", {"json": {**good, "space_id": "1"}, "headers": resident}),
        ("POST", "/api/v1/reservations", {"json": {**good, "extra": 1}, "headers": resident}),
        (
            "POST",
            "/api/v1/reservations",
            {"json": {**good, "start": "2026-12-30T10:00:00"}, "headers": resident},
        ),
        (
            "POST",
            "/api/v1/reservations",
            {"json": good, "headers": {**resident, "Idempotency-Key": ""}},
        ),
        (
            "POST",
            "/api/v1/reservations",
            {"json": {"space_id": 0}, "headers": {**resident, "Idempotency-Key": "a b"}},
        ),
        (
            "POST",
            "/api/v1/reservations",
            {"json": {**good, "space_id": 999999}, "headers": resident},
        ),
        (
            "POST",
            "/api/v1/reservations",
            {"json": {**good, "end": good["start"]}, "headers": resident},
        ),
        ("POST", "/api/v1/reservations", {"json": good, "headers": await api.staff()}),
        # a move
        ("PATCH", f"/api/v1/reservations/{booked}", {"json": later}),  # no token
        ("PATCH", f"/api/v1/reservations/{booked}?x=1", {"json": later, "headers": resident}),
        ("PATCH", "/api/v1/reservations/abc", {"json": later, "headers": resident}),
        ("PATCH", "/api/v1/reservations/0", {"json": {}, "headers": resident}),
        ("PATCH", f"/api/v1/reservations/{booked}", {"json": {}, "headers": resident}),
        ("PATCH", f"/api/v1/reservations/{booked}", {"headers": resident}),  # no body
        (
            "PATCH",
            f"/api/v1/reservations/{booked}",
            {"json": {"extra": 1}, "headers": {**resident, "Idempotency-Key": "a b"}},
        ),
        ("PATCH", f"/api/v1/reservations/{booked}", {"json": {"start": None}, "headers": resident}),
        ("PATCH", "/api/v1/reservations/999999", {"json": later, "headers": resident}),
        ("PATCH", f"/api/v1/reservations/{booked}", {"json": later, "headers": await api.staff()}),
        (
            "PATCH",
            f"/api/v1/reservations/{booked}",
            {"json": {**later, "end": later["start"]}, "headers": resident},
        ),
        # the lock's question
        (
            "POST",
            f"/api/v1/doors/{door_id}/verify",
            {"json": {"code": "1234567"}, "headers": device},
        ),
        ("POST", f"/api/v1/doors/{door_id}/verify", {"json": {"code": "12345678"}}),
        ("POST", "/api/v1/doors/abc/verify", {"json": {"code": "x"}, "headers": device}),
        ("POST", "/api/v1/doors/0/verify", {"json": {"code": "12345678"}, "headers": device}),
        (
            "POST",
            f"/api/v1/doors/{door_id}/verify?a=b",
            {"json": {"code": "12345678"}, "headers": device},
        ),
        ("POST", f"/api/v1/doors/{door_id}/verify", {"headers": device}),
        # a space's day
        ("GET", f"/api/v1/spaces/{space['id']}/availability?date={day}", {}),
        ("GET", f"/api/v1/spaces/{space['id']}/availability", {}),
        ("GET", f"/api/v1/spaces/{space['id']}/availability?date=tomorrow", {}),
        ("GET", "/api/v1/spaces/x/availability?date=tomorrow", {}),
        ("GET", f"/api/v1/spaces/{space['id']}/availability?date={day}&limit=1", {}),
        ("GET", "/api/v1/spaces/999999/availability?date=" + day, {}),
        ("GET", f"/api/v1/spaces/{space['id']}/availability?date=1999-01-01", {}),
    ]
    for method, path, options in cases:
        hot = await api.client.request(method, path, **options)
        declared = await plain.request(method, path, **options)
        assert _seen(hot) == _seen(declared), (method, path, options)
        if hot.status_code == 401:
            assert hot.headers.get("www-authenticate") == declared.headers.get("www-authenticate")


async def test_refused_sign_ups_get_the_same_answers_on_both_lanes(
    both: tuple[Api, httpx.AsyncClient],
) -> None:
    api, plain = both
    staff = await api.staff()
    center = await api.center(staff)
    day = days_ahead(3)
    open_one = await created(api, staff, activity_body(center["id"], day, publish=True))
    draft = await created(api, staff, activity_body(center["id"], day))
    for_party = await created(
        api, staff, activity_body(center["id"], day, audience="party_members", publish=True)
    )
    real_names = await created(
        api, staff, activity_body(center["id"], day, requires_real_name=True, publish=True)
    )
    small = await created(api, staff, activity_body(center["id"], day, capacity=2, publish=True))
    resident, signed = await api.resident(), await api.resident()
    path = f"/api/v1/activities/{open_one['id']}/signups"
    taken = await api.client.post(path, json={}, headers=signed)
    assert taken.status_code == 201, taken.text
    cases: list[tuple[str, dict[str, Any]]] = [
        (path, {"json": {}}),  # no token
        (path, {"json": {}, "headers": {"Authorization": "Bearer x"}}),
        (path, {"json": {}, "headers": staff}),
        (path + "?x=1", {"json": {}, "headers": resident}),
        (path, {"headers": resident}),  # no body
        (path, {"content": b"{", "headers": {**resident, "Content-Type": "application/json"}}),
        (path, {"content": b"1", "headers": {**resident, "Content-Type": "text/plain"}}),
        (path, {"json": {"attendees": "2"}, "headers": resident}),
        (path, {"json": {"attendees": 6, "extra": 1}, "headers": resident}),
        ("/api/v1/activities/abc/signups", {"json": {"attendees": 0}, "headers": resident}),
        ("/api/v1/activities/0/signups", {"json": {}, "headers": resident}),
        ("/api/v1/activities/999999/signups", {"json": {}, "headers": resident}),
        (f"/api/v1/activities/{draft['id']}/signups", {"json": {}, "headers": resident}),
        (f"/api/v1/activities/{for_party['id']}/signups", {"json": {}, "headers": resident}),
        (f"/api/v1/activities/{real_names['id']}/signups", {"json": {}, "headers": resident}),
        (
            f"/api/v1/activities/{small['id']}/signups",
            {"json": {"attendees": 3}, "headers": resident},
        ),
        (path, {"json": {}, "headers": signed}),  # already signed up
    ]
    for target, options in cases:
        hot = await api.client.post(target, **options)
        declared = await plain.post(target, **options)
        assert _seen(hot) == _seen(declared), (target, options)
        assert hot.status_code >= 400, (target, hot.text)


@pytest.mark.dates
async def test_activity_lists_get_the_same_answers_on_both_lanes(
    both: tuple[Api, httpx.AsyncClient],
) -> None:
    api, plain = both
    staff = await api.staff()
    center = await api.center(
        staff, district="普陀区", street="长风新村街道", lat=31.2236, lng=121.3982
    )
    day = days_ahead(3)
    await created(api, staff, activity_body(center["id"], day, publish=True))
    await created(
        api,
        staff,
        activity_body(
            center["id"], day + timedelta(days=1), title="书法", category="training", publish=True
        ),
    )
    week = f"from={day.isoformat()}&to={(day + timedelta(days=6)).isoformat()}"
    queries = [
        # good
        "",
        week,
        f"{week}&near=31.2240,121.3990&radius_m=2000",
        f"{week}&near= 31.2240 , 121.3990&limit=1&offset=0",
        f"{week}&center_id={center['id']}&district=%20普陀区%20&street=长风新村街道",
        f"{week}&category=party_lecture&q=%20党课%20&limit=200&offset=100000",
        f"{week}&q=%20%20&street=",
        f"{week}&limit=1&offset=5",
        f"from={day.isoformat()}&from={day.isoformat()}",
        # refused by a filter
        "from=tomorrow",
        "from=2026-1-01&to=1999-01-01",
        f"from={day.isoformat()}&to={(day - timedelta(days=1)).isoformat()}",
        f"from={day.isoformat()}&to={(day + timedelta(days=92)).isoformat()}",
        "center_id=0&district=&category=concert&radius_m=50001&limit=0&offset=-1",
        "center_id=abc&q=&limit=201&offset=100001&radius_m=x",
        "center_id=2147483648&q=" + "字" * 51,
        "district=" + "区" * 21 + "&street=" + "街" * 51,
        "district=%00",
        "near=north",
        "near=north&center_id=0",
        "near=91,0&center_id=0",
        "near=31.2,181",
        "near=" + "1" * 61,
        # unknown names
        "spaceid=3",
        "center_id=0&x=1&y=",
    ]
    for query in queries:
        path = f"/api/v1/activities?{query}" if query else "/api/v1/activities"
        hot = await api.client.get(path)
        declared = await plain.get(path)
        assert _seen(hot) == _seen(declared), query
    assert (await api.client.get("/api/v1/activities?" + week)).json()["total"] == 2


async def test_a_hot_route_is_logged_and_measured_by_its_template(api: Api) -> None:
    space = await api.space()
    await api.client.get(f"/api/v1/spaces/{space['id']}/availability?date=2026-12-02")
    metrics = (await api.client.get("/metrics")).text
    assert 'route="/api/v1/spaces/{space_id}/availability"' in metrics


async def test_a_bug_on_a_hot_route_is_a_logged_500(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("app.spaces.router.day_response", broken)
    space = await api.space()
    response = await api.client.get(f"/api/v1/spaces/{space['id']}/availability?date=2026-12-02")
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
