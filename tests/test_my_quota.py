"""A resident's own quota: ``GET /me/quota?space_id=&date=`` shows each limit
on their personal bookings and what they have used of it, as
``/organizations/{id}/quota`` does for a company."""

from typing import Any

import pytest

from tests.factories import Api, Headers, book, organization
from tests.test_errors import assert_problem
from tests.test_quotas import THREE_WEEKS, set_quotas, weekday

pytestmark = pytest.mark.dates


async def my_quota(api: Api, headers: Headers, **params: Any) -> dict[str, Any]:
    response = await api.client.get("/api/v1/me/quota", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def by_metric(body: dict[str, Any]) -> dict[str, tuple[str, int, float]]:
    return {item["metric"]: (item["scope"], item["limit"], item["used"]) for item in body["items"]}


async def test_a_resident_sees_the_limits_on_a_space_and_what_they_used(api: Api) -> None:
    staff = await api.staff()
    center = await api.center(staff)
    room = await api.space(center["id"], staff, advance_days=THREE_WEEKS)
    elsewhere = await api.space(headers=staff, advance_days=THREE_WEEKS)
    await set_quotas(
        api,
        f"/api/v1/admin/spaces/{room['id']}/quotas",
        [
            {"subject": "user", "metric": "bookings_per_week", "max_value": 3},
            {"subject": "organization", "metric": "bookings_per_week", "max_value": 9},
        ],
    )
    await set_quotas(
        api,
        f"/api/v1/admin/centers/{center['id']}/quotas",
        [{"subject": "user", "metric": "hours_per_week", "max_value": 6}],
    )
    await set_quotas(
        api,
        f"/api/v1/admin/spaces/{elsewhere['id']}/quotas",
        [{"subject": "user", "metric": "future_bookings", "max_value": 2}],
    )
    resident, neighbour = await api.resident(), await api.resident()
    company = await organization(api, resident)
    for day, start, end in ((0, "10:00", "11:30"), (1, "10:00", "11:00")):
        booked = await book(api, resident, room["id"], weekday(day), start, end)
        assert booked.status_code == 201, booked.text
    on_account = await book(
        api, resident, room["id"], weekday(2), "10:00", "11:00", organization_id=company["id"]
    )
    assert on_account.status_code == 201, on_account.text  # the company's, not theirs

    here = await my_quota(api, resident, space_id=room["id"], date=weekday(3).isoformat())
    assert (here["total"], here["limit"], here["offset"]) == (2, 50, 0)
    assert by_metric(here) == {
        "bookings_per_week": ("space", 3, 2),
        "hours_per_week": ("center", 6, 2.5),
    }
    [space_rule] = [item for item in here["items"] if item["scope"] == "space"]
    assert (space_rule["scope_id"], space_rule["scope_name"]) == (room["id"], room["name"])

    everywhere = await my_quota(api, resident, date=weekday(0).isoformat())
    assert by_metric(everywhere) == {
        "bookings_per_week": ("space", 3, 2),
        "hours_per_week": ("center", 6, 2.5),
        "future_bookings": ("space", 2, 0),
    }
    next_week = await my_quota(api, resident, space_id=room["id"], date=weekday(7).isoformat())
    assert [item["used"] for item in next_week["items"]] == [0, 0]
    assert [item["used"] for item in (await my_quota(api, neighbour))["items"]] == [0, 0, 0]
    page = await my_quota(api, resident, limit=1, offset=1)
    assert (page["total"], len(page["items"])) == (3, 1)


async def test_my_quota_refuses_what_it_cannot_answer(api: Api) -> None:
    resident = await api.resident()
    assert_problem(await api.client.get("/api/v1/me/quota"), 401, "not_authenticated")
    unknown = await api.client.get("/api/v1/me/quota?space_id=999999", headers=resident)
    assert_problem(unknown, 404, "not_found")
    bad_date = await api.client.get("/api/v1/me/quota?date=2026-13-01", headers=resident)
    assert_problem(bad_date, 422, "validation_failed")
    assert (await my_quota(api, resident))["items"] == []  # no limits: nothing to show
