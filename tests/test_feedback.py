"""Feedback after use: the booker rates a completed booking once; staff read a
space's feedback and its average."""

from datetime import timedelta
from typing import Any

import pytest

from app.jobs.registry import JOBS, run_job
from app.models import StaffRole
from tests.factories import Api, Headers, book, days_ahead, local
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

DAY = days_ahead(1)


async def completed(api: Api, resident: Headers, space_id: int, start: str, end: str) -> int:
    response = await book(api, resident, space_id, DAY, start, end)
    assert response.status_code == 201, response.text
    after = local(DAY, end) + timedelta(minutes=1)
    await run_job(api.database, api.app.state.settings, JOBS["complete-finished"], after)
    return int(response.json()["id"])


async def rate(api: Api, headers: Headers, reservation_id: int, **body: Any) -> Any:
    return await api.client.post(
        f"/api/v1/reservations/{reservation_id}/feedback", json=body, headers=headers
    )


async def test_a_completed_booking_is_rated_once_by_its_booker(api: Api) -> None:
    staff = await api.staff()
    space = await api.space(headers=staff)
    resident, stranger = await api.resident(), await api.resident()
    used = await completed(api, resident, space["id"], "10:00", "11:00")

    assert_problem(await rate(api, stranger, used, rating=5), 404, "not_found")
    given = await rate(api, resident, used, rating=4, comment="  投影仪很清楚  ")
    assert given.status_code == 201, given.text
    assert (given.json()["rating"], given.json()["comment"]) == (4, "投影仪很清楚")
    assert_problem(await rate(api, resident, used, rating=1), 409, "feedback_given")

    upcoming = await book(api, resident, space["id"], DAY, "14:00", "15:00")
    not_yet = await rate(api, resident, upcoming.json()["id"], rating=5)
    assert_problem(not_yet, 409, "feedback_not_open")
    assert not_yet.json()["reservation_status"] == "confirmed"
    for wrong in ({"rating": 0}, {"rating": 6}, {"rating": "5"}, {"comment": "好"}):
        assert (await rate(api, resident, used, **wrong)).status_code == 422, wrong


async def test_staff_read_a_spaces_feedback_and_its_average(api: Api) -> None:
    center = await api.center(district="黄浦区")
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    space = await api.space(center["id"], headers=staff)
    for hour, rating in ((9, 5), (10, 4), (11, 2)):
        resident = await api.resident()
        used = await completed(api, resident, space["id"], f"{hour:02d}:00", f"{hour:02d}:30")
        assert (await rate(api, resident, used, rating=rating)).status_code == 201

    page = await api.client.get(
        f"/api/v1/admin/spaces/{space['id']}/feedback", params={"limit": 2}, headers=staff
    )
    assert page.status_code == 200, page.text
    body = page.json()
    assert (body["total"], body["average"]) == (3, 3.67)
    assert [item["rating"] for item in body["items"]] == [2, 4]  # newest first

    elsewhere = await api.staff(StaffRole.district_admin, district="嘉定区")
    refused = await api.client.get(
        f"/api/v1/admin/spaces/{space['id']}/feedback", headers=elsewhere
    )
    assert_problem(refused, 403, "out_of_scope")
