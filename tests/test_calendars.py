"""iCalendar: a booking's .ics, the personal feed and a space's feed, each parsed
back with icalendar and, independently, with vobject."""

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
import vobject
from icalendar import Calendar
from sqlalchemy import delete, insert, update

from app.core import tokens
from app.core.clock import SHANGHAI
from app.models import Staff, StaffRole, staff_centers
from tests.factories import Api, Headers, bearer, book, days_ahead, door, local, verified_resident
from tests.test_doors import study_room
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

DAY = days_ahead(2)
ICS = "text/calendar"


async def ics(api: Api, path: str, headers: Headers | None = None) -> Calendar:
    response = await api.client.get(path, headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(ICS)
    parsed = Calendar.from_ical(response.content)
    again = vobject.readOne(response.text)  # the second, independent parser
    assert len(again.contents.get("vevent", [])) == len(parsed.walk("VEVENT"))
    for event in again.contents.get("vevent", []):
        start = event.dtstart.value
        assert start.utcoffset() == timedelta(hours=8)
        assert start.tzinfo is not None
    return parsed


def events(calendar: Calendar) -> dict[str, Any]:
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


async def test_a_booking_reads_back_as_one_event_in_shanghai_time(api: Api) -> None:
    center = await api.center(name="长风湾党群服务中心", address="上海市普陀区云岭东路89号")
    space = await api.space(center["id"], name="苏河会议室")
    resident = await api.resident()
    booked = (await book(api, resident, space["id"], DAY, "10:00", "11:30")).json()

    calendar = await ics(api, f"/api/v1/reservations/{booked['id']}/calendar.ics", resident)
    [timezone] = calendar.walk("VTIMEZONE")
    assert str(timezone["TZID"]) == "Asia/Shanghai"
    event = events(calendar)[f"reservation-{booked['id']}@zhendi"]
    start, end = event.decoded("DTSTART"), event.decoded("DTEND")
    assert event["DTSTART"].params["TZID"] == "Asia/Shanghai"
    assert start == local(DAY, "10:00")
    assert (start.astimezone(SHANGHAI).hour, end - start) == (10, timedelta(minutes=90))
    assert str(event["STATUS"]) == "CONFIRMED"
    assert int(event["SEQUENCE"]) == 0
    assert "苏河会议室" in str(event["SUMMARY"])
    assert str(event["LOCATION"]) == "长风湾党群服务中心，上海市普陀区云岭东路89号"

    stranger = await api.resident()
    other = await api.client.get(
        f"/api/v1/reservations/{booked['id']}/calendar.ics", headers=stranger
    )
    assert_problem(other, 404, "not_found")


async def test_a_cancelled_booking_says_so_with_a_higher_sequence(api: Api) -> None:
    space = await api.space()
    resident = await api.resident()
    booked = (await book(api, resident, space["id"], DAY, "14:00", "15:00")).json()
    path = f"/api/v1/reservations/{booked['id']}/calendar.ics"
    before = events(await ics(api, path, resident))[f"reservation-{booked['id']}@zhendi"]

    cancelled = await api.client.post(
        f"/api/v1/reservations/{booked['id']}/cancel", headers=resident
    )
    assert cancelled.status_code == 200, cancelled.text
    after = events(await ics(api, path, resident))[f"reservation-{booked['id']}@zhendi"]
    assert str(after["UID"]) == str(before["UID"])
    assert str(after["STATUS"]) == "CANCELLED"
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])


async def test_the_door_code_is_never_in_a_calendar(api: Api) -> None:
    room = await study_room(api)
    await door(api, room)
    resident = await verified_resident(api)
    booked = (await book(api, resident, room, DAY, "10:00", "12:00")).json()
    access = await api.client.get(f"/api/v1/reservations/{booked['id']}/access", headers=resident)
    code = access.json()["door_code"]
    single = await api.client.get(
        f"/api/v1/reservations/{booked['id']}/calendar.ics", headers=resident
    )
    feed = await api.client.post("/api/v1/me/calendar-feed", headers=resident)
    subscribed = await api.client.get(feed.json()["url"].removeprefix("http://test"))
    for body in (single.text, subscribed.text):
        assert code not in body.replace("\r\n ", "")


async def test_a_calendar_app_subscribes_to_the_personal_feed(api: Api) -> None:
    space = await api.space()
    resident, other = await api.resident(), await api.resident()
    mine = [
        (await book(api, resident, space["id"], DAY, start, end)).json()["id"]
        for start, end in (("09:00", "10:00"), ("16:00", "17:00"))
    ]
    theirs = (await book(api, other, space["id"], DAY, "12:00", "13:00")).json()["id"]

    issued = await api.client.post("/api/v1/me/calendar-feed", headers=resident)
    assert issued.status_code == 201, issued.text
    url = issued.json()["url"]
    assert url.startswith("http://test/api/v1/calendar/feeds/")
    path = url.removeprefix("http://test")
    feed = events(await ics(api, path))  # no Authorization header, as a calendar app
    assert set(feed) == {f"reservation-{id_}@zhendi" for id_ in mine}
    assert f"reservation-{theirs}@zhendi" not in feed

    renewed = await api.client.post("/api/v1/me/calendar-feed", headers=resident)
    assert_problem(await api.client.get(path), 404, "not_found")  # the old URL is revoked
    new_path = renewed.json()["url"].removeprefix("http://test")
    assert (await api.client.get(new_path)).status_code == 200

    stopped = await api.client.delete("/api/v1/me/calendar-feed", headers=resident)
    assert stopped.status_code == 204
    assert_problem(await api.client.get(new_path), 404, "not_found")
    again = await api.client.delete("/api/v1/me/calendar-feed", headers=resident)
    assert_problem(again, 404, "not_found")
    malformed = await api.client.get("/api/v1/calendar/feeds/not a token.ics")
    assert malformed.status_code in (404, 422)


async def test_an_erased_or_deactivated_account_has_no_feed(api: Api) -> None:
    staff = await api.staff()
    erased, deactivated = await api.resident(), await api.resident()
    paths = []
    for resident in (erased, deactivated):
        issued = await api.client.post("/api/v1/me/calendar-feed", headers=resident)
        paths.append(issued.json()["url"].removeprefix("http://test"))
    assert (await api.client.delete("/api/v1/me", headers=erased)).status_code == 204
    me = (await api.client.get("/api/v1/me", headers=deactivated)).json()
    off = await api.client.post(
        f"/api/v1/admin/users/{me['id']}/deactivate", json={"reason": "冒用"}, headers=staff
    )
    assert off.status_code == 200, off.text
    for path in paths:
        assert_problem(await api.client.get(path), 404, "not_found")


async def test_staff_read_a_spaces_feed_in_their_scope(api: Api) -> None:
    center = await api.center(district="黄浦区")
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    space = await api.space(center["id"], headers=staff)
    ids = [
        (await book(api, await api.resident(), space["id"], DAY, start, end)).json()["id"]
        for start, end in (("09:00", "10:00"), ("10:00", "11:00"))
    ]
    calendar = await ics(api, f"/api/v1/admin/spaces/{space['id']}/calendar.ics", staff)
    assert set(events(calendar)) == {f"reservation-{id_}@zhendi" for id_ in ids}

    elsewhere = await api.staff(StaffRole.district_admin, district="嘉定区")
    refused = await api.client.get(
        f"/api/v1/admin/spaces/{space['id']}/calendar.ics", headers=elsewhere
    )
    assert_problem(refused, 403, "out_of_scope")


async def set_staff(api: Api, staff_id: int, *, active: bool, center_ids: list[int]) -> None:
    """Staff accounts are kept with the CLI, not the API: the test writes the row."""
    async with api.database.writer.begin() as session:
        await session.execute(update(Staff).where(Staff.id == staff_id).values(is_active=active))
        await session.execute(delete(staff_centers).where(staff_centers.c.staff_id == staff_id))
        if center_ids:
            rows = [{"staff_id": staff_id, "center_id": id_} for id_ in center_ids]
            await session.execute(insert(staff_centers), rows)


async def test_a_calendar_app_subscribes_to_a_spaces_feed_for_staff(api: Api) -> None:
    center = await api.center(district="黄浦区")
    staff_id = await api.create_staff_row(StaffRole.center_admin, center_ids=[center["id"]])
    settings = api.app.state.settings
    staff = bearer(tokens.issue(settings, tokens.Audience.staff, staff_id).access_token)
    space = await api.space(center["id"], headers=staff)
    other_space = await api.space(center["id"], headers=staff)
    ours = [
        (await book(api, await api.resident(), space["id"], DAY, start, end)).json()["id"]
        for start, end in (("09:00", "10:00"), ("10:00", "11:00"))
    ]
    await book(api, await api.resident(), other_space["id"], DAY, "09:00", "10:00")
    feed_path = f"/api/v1/admin/spaces/{space['id']}/calendar-feed"

    issued = await api.client.post(feed_path, headers=staff)
    assert issued.status_code == 201, issued.text
    path = issued.json()["url"].removeprefix("http://test")
    feed = events(await ics(api, path))  # no Authorization header, as a calendar app
    assert set(feed) == {f"reservation-{id_}@zhendi" for id_ in ours}

    renewed = (await api.client.post(feed_path, headers=staff)).json()
    assert_problem(await api.client.get(path), 404, "not_found")  # the old URL is revoked
    path = renewed["url"].removeprefix("http://test")
    elsewhere = await api.staff(StaffRole.district_admin, district="嘉定区")
    assert_problem(await api.client.post(feed_path, headers=elsewhere), 403, "out_of_scope")

    await set_staff(api, staff_id, active=True, center_ids=[])  # moved off the center
    assert_problem(await api.client.get(path), 404, "not_found")
    await set_staff(api, staff_id, active=False, center_ids=[center["id"]])
    assert_problem(await api.client.get(path), 404, "not_found")
    await set_staff(api, staff_id, active=True, center_ids=[center["id"]])
    assert (await api.client.get(path)).status_code == 200

    assert (await api.client.delete(feed_path, headers=staff)).status_code == 204
    assert_problem(await api.client.get(path), 404, "not_found")
    assert_problem(await api.client.delete(feed_path, headers=staff), 404, "not_found")


async def test_signing_out_everywhere_revokes_the_staff_members_space_feeds(api: Api) -> None:
    """`POST /auth/sign-out` and the console's sign-out end the feeds too: a feed
    URL is a credential like the bearer tokens signing out ends. Another staff
    member's feed of the same space keeps working."""
    settings = api.app.state.settings
    center = await api.center()
    spaces = [await api.space(center["id"]) for _ in range(2)]

    async def feeds_of(staff: Headers) -> list[str]:
        urls = []
        for space in spaces:
            issued = await api.client.post(
                f"/api/v1/admin/spaces/{space['id']}/calendar-feed", headers=staff
            )
            assert issued.status_code == 201, issued.text
            urls.append(issued.json()["url"].removeprefix("http://test"))
        return urls

    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    colleague = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    mine, theirs = await feeds_of(staff), await feeds_of(colleague)
    assert [(await api.client.get(path)).status_code for path in mine] == [200, 200]

    assert (await api.client.post("/api/v1/auth/sign-out", headers=staff)).status_code == 204
    for path in mine:
        assert_problem(await api.client.get(path), 404, "not_found")
    assert [(await api.client.get(path)).status_code for path in theirs] == [200, 200]

    # The console's sign-out, by a third staff member signed in to the console.
    console_id = await api.create_staff_row(StaffRole.center_admin, center_ids=[center["id"]])
    token = tokens.issue(settings, tokens.Audience.staff, console_id).access_token
    console_feeds = await feeds_of(bearer(token))
    browser = httpx.AsyncClient(transport=api.client._transport, base_url="http://test")
    browser.cookies.set("zhendi_console", token, path="/console")
    page = await browser.get("/console/today")
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
    assert csrf, page.text[:300]
    out = await browser.post("/console/logout", data={"csrf": csrf.group(1)})
    assert out.status_code == 303, out.text
    for path in console_feeds:
        assert_problem(await api.client.get(path), 404, "not_found")
    assert [(await api.client.get(path)).status_code for path in theirs] == [200, 200]
