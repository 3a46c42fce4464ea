"""Rating an activity: a participant (a confirmed sign-up) rates a completed
activity once; those who manage it read the ratings and their average."""

import asyncio
from typing import Any

import httpx
import pytest

from app.models import SignupStatus, StaffRole
from tests.activity_rows import complete, rated, sign_up
from tests.factories import Api, Headers, organization
from tests.test_activities import activity_body, created
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates


async def rate(api: Api, headers: Headers, activity_id: int, **body: Any) -> httpx.Response:
    return await api.client.post(
        f"/api/v1/activities/{activity_id}/feedback", json=body, headers=headers
    )


async def ratings_of(api: Api, headers: Headers, activity_id: int, **params: Any) -> Any:
    return await api.client.get(
        f"/api/v1/activities/{activity_id}/feedback", params=params, headers=headers
    )


async def published(api: Api, staff: Headers, center_id: int) -> int:
    body = activity_body(center_id, place_text="中心广场", publish=True)
    return int((await created(api, staff, body))["id"])


async def test_a_participant_rates_a_completed_activity_once(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    activity = await published(api, staff, center["id"])
    came, absent = await api.resident(), await api.resident()
    came_signup = await sign_up(api, activity, came, attendees=2, checked_in=True)
    await sign_up(api, activity, absent)
    await complete(api, activity)

    given = await rate(api, came, activity, rating=4, comment="  讲得很好  ")

    assert given.status_code == 201, given.text
    body = given.json()
    assert (body["signup_id"], body["activity_id"]) == (came_signup, activity)
    assert (body["rating"], body["comment"]) == (4, "讲得很好")
    assert body["rated_at"].endswith("+08:00")
    stored = await rated(api, came_signup)
    assert (stored["rating"], stored["comment"]) == (4, "讲得很好")
    again = await rate(api, came, activity, rating=1)
    assert_problem(again, 409, "feedback_given")
    assert (await rated(api, came_signup))["rating"] == 4
    # A confirmed sign-up rates whether or not it was checked in.
    assert (await rate(api, absent, activity, rating=2)).status_code == 201


async def test_only_a_completed_activity_is_rated(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    upcoming = await published(api, staff, center["id"])
    later = await published(api, staff, center["id"])
    resident = await api.resident()
    await sign_up(api, upcoming, resident)
    await sign_up(api, later, resident)
    refused = await api.client.post(
        f"/api/v1/activities/{later}/cancel", json={"reason": "场地维修"}, headers=staff
    )
    assert refused.status_code == 200, refused.text

    for activity_id, status in ((upcoming, "published"), (later, "cancelled")):
        answer = await rate(api, resident, activity_id, rating=5)
        problem = assert_problem(answer, 409, "feedback_not_open")
        assert problem["activity_status"] == status
    english = await api.client.post(
        f"/api/v1/activities/{later}/feedback",
        json={"rating": 5},
        headers={**resident, "Accept-Language": "en"},
    )
    assert "cancelled" in english.json()["detail"]
    draft = await created(api, staff, activity_body(center["id"], place_text="中心广场"))
    assert_problem(await rate(api, resident, draft["id"], rating=5), 404, "not_found")
    assert_problem(await rate(api, resident, 999_999, rating=5), 404, "not_found")


async def test_only_a_confirmed_sign_up_rates(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    activity = await published(api, staff, center["id"])
    stranger, waiting, left = await api.resident(), await api.resident(), await api.resident()
    await sign_up(api, activity, waiting, status=SignupStatus.waiting)
    await sign_up(api, activity, left, status=SignupStatus.cancelled)
    await complete(api, activity, walk_ins=5)

    for resident in (stranger, waiting, left):
        assert_problem(await rate(api, resident, activity, rating=5), 403, "feedback_not_allowed")
    assert_problem(await rate(api, staff, activity, rating=5), 403, "forbidden")
    page = await ratings_of(api, staff, activity)
    assert (page.json()["total"], page.json()["average"]) == (0, None)


async def test_bad_ratings_are_refused_and_change_nothing(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    activity = await published(api, staff, center["id"])
    resident = await api.resident()
    signup = await sign_up(api, activity, resident)
    await complete(api, activity)

    for wrong in (
        {"rating": 0},
        {"rating": 6},
        {"rating": "5"},
        {"rating": 4.5},
        {"comment": "好"},
        {"rating": 5, "comment": "x" * 501},
        {"rating": 5, "extra": 1},
    ):
        answer = await rate(api, resident, activity, **wrong)
        assert_problem(answer, 422, "validation_failed")
    assert (await rated(api, signup))["rated_at"] is None
    assert (await rate(api, resident, activity, rating=5)).status_code == 201


async def test_two_ratings_at_once_store_one(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    activity = await published(api, staff, center["id"])
    resident = await api.resident()
    signup = await sign_up(api, activity, resident)
    await complete(api, activity)

    answers = await asyncio.gather(
        *(rate(api, resident, activity, rating=stars) for stars in (1, 5, 3))
    )

    assert sorted(answer.status_code for answer in answers) == [201, 409, 409]
    won = next(answer.json() for answer in answers if answer.status_code == 201)
    for answer in answers:
        if answer.status_code == 409:
            assert_problem(answer, 409, "feedback_given")
    assert (await rated(api, signup))["rating"] == won["rating"]


async def test_those_who_manage_it_read_the_ratings_and_their_average(api: Api) -> None:
    center = await api.center(district="黄浦区")
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    owner = await api.resident()
    company = await organization(api, owner)
    body = activity_body(
        center["id"], place_text="中心广场", organization_id=company["id"], publish=True
    )
    activity = (await created(api, owner, body))["id"]
    residents = [await api.resident() for _ in range(4)]
    for resident in residents:
        await sign_up(api, activity, resident, checked_in=True)
    await complete(api, activity, walk_ins=3)
    for resident, stars in zip(residents, (5, 4, 2), strict=False):  # the fourth never rates
        given = await rate(api, resident, activity, rating=stars, comment=f"{stars}星")
        assert given.status_code == 201, given.text

    for manager in (staff, owner):
        page = await ratings_of(api, manager, activity, limit=2)
        assert page.status_code == 200, page.text
        found = page.json()
        assert (found["total"], found["average"]) == (3, 3.67)
        assert [item["rating"] for item in found["items"]] == [2, 4]  # newest first
        assert [item["comment"] for item in found["items"]] == ["2星", "4星"]
        assert "user_id" not in found["items"][0]
    rest = await ratings_of(api, staff, activity, limit=2, offset=2)
    assert [item["rating"] for item in rest.json()["items"]] == [5]

    elsewhere = await api.staff(StaffRole.district_admin, district="嘉定区")
    # Refused as every act on an activity out of scope is (activities.service.managed).
    assert (await ratings_of(api, elsewhere, activity)).status_code == 403
    assert_problem(await ratings_of(api, residents[0], activity), 403, "organiser_only")
    assert_problem(await ratings_of(api, staff, 999_999), 404, "not_found")
    assert (await api.client.get(f"/api/v1/activities/{activity}/feedback")).status_code == 401
