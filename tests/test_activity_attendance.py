"""Attendance (签到): the activity's QR code, checking in with it in its window,
staff and the organiser checking people in from the list, walk-ins, and the
job that completes an activity with the number who came.

The clock travels to exact instants around the check-in window (30 minutes
before the start until the end); the job runs as of given instants."""

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import time_machine
from sqlalchemy import select

from app.jobs.registry import JOBS, run_job
from app.models import ActivitySignup, StaffRole
from tests.factories import Api, Headers, days_ahead, local, organization, slot
from tests.test_activities import activity_body, created
from tests.test_activity_signups import signed_up
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

DAY = days_ahead(3)
START, END = local(DAY, "19:00"), local(DAY, "20:00")
OPENS = START - timedelta(minutes=30)
TIMES: dict[str, Any] = slot(DAY, "19:00", "20:00")


async def programme(api: Api, **overrides: Any) -> tuple[dict[str, Any], Headers]:
    """A published activity, 19:00-20:00 on ``DAY``, and staff of its center."""
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    body = activity_body(
        center["id"],
        place_text="中心广场",
        publish=True,
        **{**TIMES, **overrides},
    )
    return await created(api, staff, body), staff


def path(activity: dict[str, Any], rest: str) -> str:
    return f"/api/v1/activities/{activity['id']}/{rest}"


async def qr_token(api: Api, manager: Headers, activity: dict[str, Any]) -> str:
    answer = await api.client.get(path(activity, "check-in-qr"), headers=manager)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


async def check_in(api: Api, who: Headers, activity: dict[str, Any], token: str) -> httpx.Response:
    return await api.client.post(path(activity, "check-in"), json={"token": token}, headers=who)


async def check_in_for(
    api: Api, manager: Headers, activity: dict[str, Any], signup_id: int
) -> httpx.Response:
    return await api.client.post(path(activity, f"signups/{signup_id}/check-in"), headers=manager)


async def walk_ins(
    api: Api, manager: Headers, activity: dict[str, Any], count: object
) -> httpx.Response:
    return await api.client.post(path(activity, "walk-ins"), json={"count": count}, headers=manager)


async def complete(api: Api, at: datetime) -> int:
    report = await run_job(api.database, api.app.state.settings, JOBS["complete-activities"], at)
    return report.changed


async def read(api: Api, activity: dict[str, Any]) -> dict[str, Any]:
    answer = await api.client.get(f"/api/v1/activities/{activity['id']}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def test_those_who_manage_it_get_the_check_in_qr(api: Api) -> None:
    center = await api.center()
    owner = await api.resident()
    company = await organization(api, owner)
    activity = await created(
        api, owner, activity_body(center["id"], organization_id=company["id"], publish=True)
    )
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])

    answer = await api.client.get(path(activity, "check-in-qr"), headers=staff)

    assert answer.status_code == 200, answer.text
    assert answer.json()["svg"].startswith("<svg")
    assert await qr_token(api, owner, activity) == answer.json()["token"]
    stranger = await api.client.get(path(activity, "check-in-qr"), headers=await api.resident())
    assert_problem(stranger, 403, "organiser_only")
    elsewhere = await api.staff(StaffRole.center_admin, center_ids=[(await api.center())["id"]])
    assert_problem(
        await api.client.get(path(activity, "check-in-qr"), headers=elsewhere), 403, "out_of_scope"
    )
    missing = await api.client.get("/api/v1/activities/999999/check-in-qr", headers=staff)
    assert_problem(missing, 404, "not_found")


async def test_a_confirmed_participant_checks_in_with_the_code_in_its_window(api: Api) -> None:
    with time_machine.travel(OPENS - timedelta(seconds=1), tick=False) as traveller:
        activity, staff = await programme(api, capacity=3)
        token = await qr_token(api, staff, activity)
        early, punctual, late, waiting, stranger = [await api.resident() for _ in range(5)]
        for resident in (early, punctual, late, waiting):
            await signed_up(api, resident, activity, 1)

        problem = assert_problem(
            await check_in(api, early, activity, token), 409, "check_in_not_open"
        )
        assert problem["opens_at"] == OPENS.isoformat()
        traveller.move_to(OPENS)
        wrong = await check_in(
            api, early, activity, token[:-1] + ("A" if token[-1] != "A" else "B")
        )
        assert_problem(wrong, 403, "check_in_token_invalid")
        assert_problem(await check_in(api, stranger, activity, token), 409, "not_signed_up")
        assert_problem(await check_in(api, waiting, activity, token), 409, "not_signed_up")
        first = await check_in(api, early, activity, token)
        assert first.status_code == 200, first.text
        assert first.json()["checked_in_at"] == OPENS.isoformat()
        traveller.move_to(END - timedelta(seconds=1))
        again = await check_in(api, early, activity, token)
        assert again.status_code == 200
        assert again.json() == first.json()
        assert (await check_in(api, punctual, activity, token)).status_code == 200
        traveller.move_to(END)
        assert_problem(await check_in(api, late, activity, token), 409, "check_in_closed")
        assert (await check_in(api, early, activity, token)).json() == first.json()
        assert_problem(
            await api.client.post(path(activity, "check-in"), json={}, headers=early),
            422,
            "validation_failed",
        )


async def test_staff_and_the_organiser_check_people_in_from_the_list(api: Api) -> None:
    with time_machine.travel(OPENS - timedelta(minutes=1), tick=False) as traveller:
        center = await api.center()
        owner = await api.resident()
        company = await organization(api, owner)
        body = activity_body(
            center["id"], organization_id=company["id"], capacity=2, publish=True,
            **TIMES,
        )  # fmt: skip
        activity = await created(api, owner, body)
        other, _ = await programme(api)
        staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
        residents = [await api.resident() for _ in range(3)]
        by_staff, by_owner, waiting = [
            await signed_up(api, resident, activity) for resident in residents
        ]
        elsewhere = await signed_up(api, await api.resident(), other)

        too_soon = await check_in_for(api, staff, activity, by_staff["id"])
        assert_problem(too_soon, 409, "check_in_not_open")
        traveller.move_to(OPENS)
        assert (await check_in_for(api, staff, activity, by_staff["id"])).status_code == 200
        answer = await check_in_for(api, owner, activity, by_owner["id"])
        assert answer.status_code == 200, answer.text
        assert answer.json()["checked_in_at"] == OPENS.isoformat()
        again = await check_in_for(api, staff, activity, by_owner["id"])
        assert again.json() == answer.json()
        assert_problem(
            await check_in_for(api, staff, activity, waiting["id"]), 409, "not_signed_up"
        )
        assert_problem(await check_in_for(api, staff, activity, elsewhere["id"]), 404, "not_found")
        stranger = await check_in_for(api, residents[0], activity, by_staff["id"])
        assert_problem(stranger, 403, "organiser_only")

    async with api.database.reader() as session:
        who = dict(
            (
                await session.execute(
                    select(ActivitySignup.id, ActivitySignup.checked_in_by_staff_id).where(
                        ActivitySignup.activity_id == activity["id"]
                    )
                )
            ).all()
        )
    assert who[by_staff["id"]] is not None
    assert who[by_owner["id"]] is None
    assert who[waiting["id"]] is None


async def test_walk_ins_are_counted_while_attendance_is_taken(api: Api) -> None:
    with time_machine.travel(OPENS - timedelta(seconds=1), tick=False) as traveller:
        activity, staff = await programme(api)
        for count in (0, 501, "3", 2.0, None):
            assert_problem(await walk_ins(api, staff, activity, count), 422, "validation_failed")
        assert_problem(await walk_ins(api, staff, activity, 3), 409, "check_in_not_open")
        traveller.move_to(OPENS)
        assert_problem(
            await walk_ins(api, await api.resident(), activity, 3), 403, "organiser_only"
        )
        counted = await walk_ins(api, staff, activity, 3)
        assert counted.status_code == 200, counted.text
        assert counted.json() == {
            "activity_id": activity["id"],
            "checked_in": 0,
            "walk_ins": 3,
            "attended": None,
        }
        assert (await walk_ins(api, staff, activity, 2)).json()["walk_ins"] == 5
        assert (await read(api, activity))["walk_ins"] == 5


async def test_the_job_completes_an_ended_activity_with_the_number_who_came(api: Api) -> None:
    with time_machine.travel(OPENS, tick=False) as traveller:
        activity, staff = await programme(api)
        token = await qr_token(api, staff, activity)
        pair, alone, absent = [await api.resident() for _ in range(3)]
        await signed_up(api, pair, activity, 2)
        await signed_up(api, alone, activity, 1)
        absent_signup = await signed_up(api, absent, activity, 3)
        assert (await check_in(api, pair, activity, token)).status_code == 200
        assert (await check_in(api, alone, activity, token)).status_code == 200
        assert (await walk_ins(api, staff, activity, 4)).status_code == 200
        draft = await created(api, staff, activity_body(activity["center_id"], **TIMES))

        assert await complete(api, END - timedelta(seconds=1)) == 0
        assert await complete(api, END) == 1
        assert await complete(api, END + timedelta(minutes=5)) == 0

        traveller.move_to(END + timedelta(minutes=1))
        staff = await api.staff()
        ended = await read(api, activity)
        assert (ended["status"], ended["attended"], ended["walk_ins"]) == ("completed", 7, 4)
        drafted = await api.client.get(f"/api/v1/activities/{draft['id']}", headers=staff)
        assert drafted.json()["status"] == "draft"
        # Attendance is final.
        assert_problem(await check_in(api, absent, activity, token), 409, "attendance_final")
        assert_problem(await walk_ins(api, staff, activity, 1), 409, "attendance_final")
        late = await check_in_for(api, staff, activity, absent_signup["id"])
        assert_problem(late, 409, "attendance_final")
        assert (await read(api, activity))["attended"] == 7


async def test_two_completion_runs_at_once_complete_each_once(api: Api) -> None:
    activities = [(await programme(api))[0] for _ in range(5)]
    cancelled, staff = await programme(api)
    await api.client.post(path(cancelled, "cancel"), json={"reason": "场地维修"}, headers=staff)

    both = await asyncio.gather(*(complete(api, END) for _ in range(2)))

    assert sum(both) == len(activities)
    for activity in activities:
        ended = await read(api, activity)
        assert (ended["status"], ended["attended"]) == ("completed", 0)
    assert (await api.client.get(f"/api/v1/activities/{cancelled['id']}", headers=staff)).json()[
        "status"
    ] == "cancelled"
