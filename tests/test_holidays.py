"""The holiday calendar: the State Council's 2026 schedule, staff's overrides
at each scope, and what each holiday policy does to availability, bookings
and the report's open hours, on both engines."""

from datetime import date, timedelta
from typing import Any

import pytest

from app import demo
from app.models import StaffRole
from tests.factories import EVERY_DAY_9_TO_21, Api, Headers, book, days_ahead, local
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

MONDAY_TO_SATURDAY = [{"weekday": d, "opens": "09:00", "closes": "21:00"} for d in range(6)]
SUNDAY_SHORT = [{"weekday": 6, "opens": "10:00", "closes": "16:00"}]


async def calendar(api: Api, first: str, last: str, **scope: Any) -> dict[str, Any]:
    response = await api.client.get("/api/v1/calendar", params={"from": first, "to": last, **scope})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def by_date(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {day["date"]: day for day in body["days"]}


async def set_day(api: Api, staff: Headers, day: date | str, **body: Any) -> Any:
    return await api.client.put(f"/api/v1/admin/calendar/days/{day}", json=body, headers=staff)


def next_weekday(weekday: int, after: int = 2) -> date:
    day = days_ahead(after)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return day


# --- the official calendar ---------------------------------------------------------


async def test_2026_follows_the_published_schedule(api: Api) -> None:
    days = by_date(await calendar(api, "2026-01-01", "2026-12-31"))
    spring = [f"2026-02-{n}" for n in range(15, 24)]  # 春节: 15–23 February, nine days
    assert all((days[d]["type"], days[d]["name"]) == ("holiday", "春节") for d in spring)
    assert days["2026-02-14"]["type"] == "workday"  # a Saturday moved to work
    assert days["2026-02-28"]["type"] == "workday"
    assert days["2026-01-04"] == {
        "date": "2026-01-04",
        "weekday": 6,
        "type": "workday",
        "name": "元旦调休上班",
        "source": "official",
    }
    national = [f"2026-10-0{n}" for n in range(1, 8)]
    assert all(days[d]["type"] == "holiday" for d in national)
    assert days["2026-09-20"]["type"] == "workday"  # a Sunday
    assert days["2026-03-01"]["type"] == "weekend"
    assert days["2026-03-02"]["type"] == "weekday"
    holidays = [d for d, day in days.items() if day["type"] == "holiday"]
    assert len(holidays) == 33  # 3 + 9 + 3 + 5 + 3 + 3 + 7 days off in 2026


async def test_a_year_without_data_is_said(api: Api) -> None:
    # What a provisional year holds: tests/test_provisional_holidays.py.
    body = await calendar(api, "2026-12-30", "2027-01-02")
    assert body["provisional_years"] == [2027]
    days = by_date(body)
    assert days["2027-01-01"]["source"] == "provisional"
    assert days["2026-12-31"]["source"] == "official"
    full = await calendar(api, "2026-06-01", "2026-06-30")
    assert full["provisional_years"] == []


# --- overrides ----------------------------------------------------------------------


async def test_the_narrowest_scope_wins_and_clearing_restores(api: Api) -> None:
    center = await api.center(district="普陀区")
    other = await api.center(district="普陀区")
    super_admin = await api.staff()
    district_admin = await api.staff(StaffRole.district_admin, district="普陀区")
    center_admin = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    day = "2026-12-24"  # a Thursday

    everywhere = await set_day(api, super_admin, day, kind="holiday", name="全市休息")
    assert everywhere.status_code == 200, everywhere.text
    district = await set_day(
        api, district_admin, day, kind="workday", name="区里照常", district="普陀区"
    )
    assert district.status_code == 200, district.text
    at_center = await set_day(
        api, center_admin, day, kind="holiday", name="中心检修", center_id=center["id"]
    )
    assert at_center.status_code == 200, at_center.text

    def seen(body: dict[str, Any]) -> tuple[str, str, str]:
        found = by_date(body)[day]
        return found["type"], found["name"], found["source"]

    assert seen(await calendar(api, day, day)) == ("holiday", "全市休息", "everywhere")
    in_district = await calendar(api, day, day, district="普陀区", center_id=other["id"])
    assert seen(in_district) == ("workday", "区里照常", "district")
    at_home = await calendar(api, day, day, district="普陀区", center_id=center["id"])
    assert seen(at_home) == ("holiday", "中心检修", "center")

    overview = await api.client.get(f"/api/v1/admin/calendar/days/{day}", headers=center_admin)
    assert {row["name"] for row in overview.json()["set"]} == {"全市休息", "区里照常", "中心检修"}

    cleared = await api.client.delete(
        f"/api/v1/admin/calendar/days/{day}",
        params={"center_id": center["id"]},
        headers=center_admin,
    )
    assert cleared.status_code == 204
    after = await calendar(api, day, day, district="普陀区", center_id=center["id"])
    assert seen(after) == ("workday", "区里照常", "district")
    again = await api.client.delete(
        f"/api/v1/admin/calendar/days/{day}",
        params={"center_id": center["id"]},
        headers=center_admin,
    )
    assert_problem(again, 404, "not_found")


async def test_each_scope_is_for_its_own_staff(api: Api) -> None:
    center = await api.center(district="普陀区")
    elsewhere = await api.center(district="嘉定区")
    district_admin = await api.staff(StaffRole.district_admin, district="普陀区")
    center_admin = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    day = "2026-12-25"
    refusals = [
        (center_admin, {}),  # everywhere: super admins only
        (district_admin, {}),
        (center_admin, {"district": "普陀区"}),
        (district_admin, {"district": "嘉定区"}),
        (center_admin, {"center_id": elsewhere["id"]}),
    ]
    for staff, scope in refusals:
        refused = await set_day(api, staff, day, kind="holiday", name="x", **scope)
        assert refused.status_code == 403, (scope, refused.text)
    assert (await calendar(api, day, day, center_id=elsewhere["id"]))["days"][0]["type"] == (
        "weekday"
    )
    for wrong in ({"kind": "festival", "name": "x"}, {"kind": "holiday", "name": ""}, {}):
        bad = await set_day(api, await api.staff(), day, **wrong)
        assert bad.status_code == 422, wrong
    resident = await set_day(api, await api.resident(), day, kind="holiday", name="x")
    assert resident.status_code in (401, 403)


# --- what the policies do --------------------------------------------------------------


async def test_a_holiday_closes_meeting_rooms_and_keeps_the_study_room(api: Api) -> None:
    center = await api.center(district="普陀区")
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    room = await api.space(center["id"], headers=staff, holiday_policy=None)
    study = await api.space(
        center["id"],
        headers=staff,
        holiday_policy=None,
        kind="study_room",
        booking_mode="shared",
        open_24h=True,
        opening_hours=[],
        capacity=4,
    )
    assert (room["holiday_policy"], study["holiday_policy"]) == ("closed", "open")
    day = next_weekday(2)  # a Wednesday
    named = await set_day(
        api, staff, day, kind="holiday", name="中心党建活动日", center_id=center["id"]
    )
    assert named.status_code == 200, named.text

    resident = await api.resident()
    refused = await book(api, resident, room["id"], day, "10:00", "11:00")
    problem = assert_problem(refused, 422, "space_closed")
    assert "中心党建活动日" in str(problem["detail"])
    slots = await api.client.get(
        f"/api/v1/spaces/{room['id']}/availability", params={"date": day.isoformat()}
    )
    assert {slot["status"] for slot in slots.json()["slots"]} == {"closed"}
    seat = await book(api, resident, study["id"], day, "10:00", "11:00")
    assert seat.status_code == 201, seat.text


async def test_weekend_hours_on_a_holiday_and_monday_hours_on_a_moved_workday(
    api: Api,
) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    weekend = await api.space(
        center["id"],
        headers=staff,
        holiday_policy="weekend_hours",
        opening_hours=EVERY_DAY_9_TO_21[:6] + SUNDAY_SHORT,
    )
    weekdays_only = await api.space(center["id"], headers=staff, opening_hours=MONDAY_TO_SATURDAY)
    holiday, sunday = next_weekday(3), next_weekday(6)  # a Thursday, a Sunday
    await set_day(api, staff, holiday, kind="holiday", name="调休", center_id=center["id"])
    await set_day(api, staff, sunday, kind="workday", name="补班", center_id=center["id"])
    resident = await api.resident()

    early = await book(api, resident, weekend["id"], holiday, "09:00", "10:00")
    assert_problem(early, 422, "outside_opening_hours")  # Sunday's hours start at 10:00
    fine = await book(api, resident, weekend["id"], holiday, "10:00", "11:00")
    assert fine.status_code == 201, fine.text

    on_sunday = await book(api, resident, weekdays_only["id"], sunday, "09:00", "10:00")
    assert on_sunday.status_code == 201, on_sunday.text  # closed on Sundays, not this one
    free = await api.client.get(
        f"/api/v1/spaces/{weekdays_only['id']}/availability", params={"date": sunday.isoformat()}
    )
    statuses = {slot["start"][11:16]: slot["status"] for slot in free.json()["slots"]}
    assert (statuses["08:30"], statuses["09:00"], statuses["20:30"]) == ("closed", "taken", "free")


async def test_the_reports_open_hours_follow_the_calendar(api: Api) -> None:
    """Spring Festival 2026, 14–23 February: Saturday the 14th is a workday, the
    15th to the 23rd are days off."""
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    closed = await api.space(
        center["id"], headers=staff, holiday_policy="closed", opening_hours=MONDAY_TO_SATURDAY
    )
    weekend = await api.space(
        center["id"],
        headers=staff,
        holiday_policy="weekend_hours",
        opening_hours=MONDAY_TO_SATURDAY + SUNDAY_SHORT,
    )
    study = await api.space(
        center["id"], headers=staff, open_24h=True, opening_hours=[], name="通宵自习室"
    )
    report = await api.client.get(
        "/api/v1/admin/reports/utilization",
        params={"center_id": center["id"], "from": "2026-02-14", "to": "2026-02-23"},
        headers=staff,
    )
    assert report.status_code == 200, report.text
    hours = {row["space_id"]: row["open_hours"] for row in report.json()["rows"]}
    assert hours[closed["id"]] == 12.0  # only the moved Saturday, with Monday's hours
    assert hours[weekend["id"]] == 12.0 + 9 * 6.0  # Sunday's 6 hours on each day off
    assert hours[study["id"]] == 10 * 24.0


@pytest.mark.parametrize(
    ("day", "open_slots"),
    [
        ("2026-01-04", 24),  # a Sunday moved to work: Monday's 09:00–21:00
        ("2026-02-17", 0),  # 春节
        ("2026-10-01", 0),  # 国庆节
        ("2026-03-01", 0),  # an ordinary Sunday
        ("2026-03-02", 24),  # an ordinary Monday
    ],
)
async def test_the_demo_room_keeps_2026s_holidays(api: Api, day: str, open_slots: int) -> None:
    async with api.database.writer.begin() as session:
        await demo.seed_demo(session)
    rooms = await api.client.get("/api/v1/spaces", params={"limit": 100})
    [room] = [space for space in rooms.json()["items"] if space["name"] == "苏河会议室"]
    slots = await api.client.get(f"/api/v1/spaces/{room['id']}/availability", params={"date": day})
    assert slots.status_code == 200, slots.text
    opened = [slot for slot in slots.json()["slots"] if slot["status"] != "closed"]
    assert len(opened) == open_slots
    if opened:
        assert opened[0]["start"] == local(date.fromisoformat(day), "09:00").isoformat()
