"""Activities as iCalendar: one activity's .ics, and the activities a resident
signed up for in their personal feed, parsed back with icalendar and vobject."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from app.models import SignupStatus, StaffRole
from tests.activity_rows import sign_up
from tests.factories import Api, Headers, book, days_ahead, local
from tests.test_activities import activity_body, created
from tests.test_calendars import events, ics
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

DAY = days_ahead(3)


def path(activity_id: int) -> str:
    return f"/api/v1/activities/{activity_id}/calendar.ics"


async def feed_path(api: Api, resident: Headers) -> str:
    issued = await api.client.post("/api/v1/me/calendar-feed", headers=resident)
    assert issued.status_code == 201, issued.text
    return str(issued.json()["url"]).removeprefix("http://test")


async def test_a_published_activity_reads_back_as_one_event_for_anyone(api: Api) -> None:
    center = await api.center(name="长风湾党群服务中心", address="上海市普陀区云岭东路89号")
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    body = activity_body(center["id"], place_text="二楼多功能厅", publish=True)
    activity = await created(api, staff, body)

    calendar = await ics(api, path(activity["id"]))  # no token: it is public

    [timezone] = calendar.walk("VTIMEZONE")
    assert str(timezone["TZID"]) == "Asia/Shanghai"
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == f"activity-{activity['id']}@zhendi"
    assert event["DTSTART"].params["TZID"] == "Asia/Shanghai"
    assert event.decoded("DTSTART") == local(DAY, "19:00")
    assert event.decoded("DTEND") == local(DAY, "20:30")
    assert str(event["SUMMARY"]) == "党课：学习党章"
    assert str(event["LOCATION"]) == "二楼多功能厅，长风湾党群服务中心，上海市普陀区云岭东路89号"
    assert event.decoded("CATEGORIES") == ["党课"]
    assert str(event["STATUS"]) == "CONFIRMED"
    description = str(event["DESCRIPTION"])
    assert "类别：党课" in description
    assert "支部书记讲党课" in description
    assert "报名人数" not in description  # nobody's sign-up in a public .ics

    with_venue = await api.space(center["id"], name="苏河会议室")
    held = await created(
        api,
        staff,
        activity_body(center["id"], space_id=with_venue["id"], publish=True, title="议事会"),
    )
    [room_event] = (await ics(api, path(held["id"]))).walk("VEVENT")
    assert str(room_event["LOCATION"]).startswith("苏河会议室，长风湾党群服务中心")


async def test_a_draft_is_only_for_those_who_manage_it(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    draft = await created(api, staff, activity_body(center["id"], place_text="中心广场"))

    assert_problem(await api.client.get(path(draft["id"])), 404, "not_found")
    resident = await api.resident()
    assert_problem(await api.client.get(path(draft["id"]), headers=resident), 404, "not_found")
    [event] = (await ics(api, path(draft["id"]), staff)).walk("VEVENT")
    assert str(event["STATUS"]) == "TENTATIVE"
    assert_problem(await api.client.get(path(999_999)), 404, "not_found")


async def test_a_cancelled_activity_says_so_to_its_participants(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    activity = await created(
        api, staff, activity_body(center["id"], place_text="中心广场", publish=True)
    )
    participant, stranger = await api.resident(), await api.resident()
    await sign_up(api, activity["id"], participant)
    [before] = (await ics(api, path(activity["id"]), participant)).walk("VEVENT")

    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=5), tick=True):
        cancelled = await api.client.post(
            f"/api/v1/activities/{activity['id']}/cancel", json={"reason": "暴雨"}, headers=staff
        )
        assert cancelled.status_code == 200, cancelled.text
        [after] = (await ics(api, path(activity["id"]), participant)).walk("VEVENT")

    assert str(after["UID"]) == str(before["UID"])
    assert str(after["STATUS"]) == "CANCELLED"
    assert after.decoded("SEQUENCE") > before.decoded("SEQUENCE")
    gone = await api.client.get(path(activity["id"]), headers=stranger)
    assert_problem(gone, 404, "not_found")


async def test_the_personal_feed_shows_the_activities_signed_up_for(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    space = await api.space(center["id"], headers=staff)

    async def published(title: str) -> int:
        body = activity_body(center["id"], place_text="中心广场", publish=True, title=title)
        return int((await created(api, staff, body))["id"])

    going, waiting, left, called_off, others = [
        await published(title) for title in ("读书会", "书法课", "亲子手工", "电影放映", "合唱")
    ]
    resident, other = await api.resident(), await api.resident()
    await sign_up(api, going, resident, attendees=3)
    await sign_up(api, waiting, resident, status=SignupStatus.waiting)
    await sign_up(api, left, resident, status=SignupStatus.cancelled)
    await sign_up(api, called_off, resident)
    await sign_up(api, others, other)
    cancel = await api.client.post(
        f"/api/v1/activities/{called_off}/cancel", json={"reason": "放映机故障"}, headers=staff
    )
    assert cancel.status_code == 200, cancel.text
    booked = (await book(api, resident, space["id"], DAY, "10:00", "11:00")).json()["id"]
    feed = await feed_path(api, resident)

    found = events(await ics(api, feed))  # no bearer token, as a calendar app

    assert set(found) == {f"activity-{going}@zhendi", f"reservation-{booked}@zhendi"}
    event = found[f"activity-{going}@zhendi"]
    assert str(event["SUMMARY"]) == "读书会"
    assert "报名人数：3" in str(event["DESCRIPTION"])
    assert event.decoded("DTSTART") == local(DAY, "19:00")

    # Shown until 30 days after it ends, as bookings are.
    ended = local(DAY, "20:30")
    with time_machine.travel(ended + timedelta(days=30, minutes=-1), tick=False):
        assert f"activity-{going}@zhendi" in events(await ics(api, feed))
    with time_machine.travel(ended + timedelta(days=30, minutes=1), tick=False):
        assert f"activity-{going}@zhendi" not in events(await ics(api, feed))
