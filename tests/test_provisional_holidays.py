"""A year whose official holiday schedule is not published yet: its statutory
days off, by date and by the lunar calendar, count as holidays marked
``provisional``; staff's word still wins; /readyz and the console say which
years are provisional. On both engines, the clock travelled to the weeks
before such a year."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

import pytest
import time_machine

from app.core.clock import SHANGHAI
from app.holidays.days import has_data
from app.models import StaffRole
from tests.factories import Api, book
from tests.test_console import console, staff_member
from tests.test_errors import assert_problem
from tests.test_holidays import by_date, calendar, set_day

# The law's days off (国务院《全国年节及纪念日放假办法》, as amended in 2024):
# 元旦 1, 春节 4 from New Year's Eve, 清明 1, 劳动节 2, 端午 1, 中秋 1, 国庆 3.
STATUTORY = {
    2027: {
        "2027-01-01": "元旦",
        "2027-02-05": "春节",  # 除夕
        "2027-02-06": "春节",
        "2027-02-07": "春节",
        "2027-02-08": "春节",
        "2027-04-05": "清明",
        "2027-05-01": "劳动节",
        "2027-05-02": "劳动节",
        "2027-06-09": "端午",
        "2027-09-15": "中秋",
        "2027-10-01": "国庆节",
        "2027-10-02": "国庆节",
        "2027-10-03": "国庆节",
    },
    2028: {
        "2028-01-01": "元旦",
        "2028-01-25": "春节",
        "2028-01-26": "春节",
        "2028-01-27": "春节",
        "2028-01-28": "春节",
        "2028-04-04": "清明",
        "2028-05-01": "劳动节",
        "2028-05-02": "劳动节",
        "2028-05-28": "端午",
        "2028-10-01": "国庆节",
        "2028-10-02": "国庆节",
        "2028-10-03": "中秋、国庆节",
    },
}
# The first of those years the official calendar does not cover yet.
YEAR = next((year for year in STATUTORY if not has_data(year)), None)
pytestmark = [
    pytest.mark.dates,
    pytest.mark.skipif(YEAR is None, reason="the official calendar covers 2027 and 2028"),
]


def year() -> int:
    assert YEAR is not None
    return YEAR


@contextmanager
def days_before(day: date, days: int = 4) -> Iterator[None]:
    """The clock at 10:00 Shanghai ``days`` before ``day``, ticking."""
    instant = datetime.combine(day - timedelta(days=days), datetime.min.time(), SHANGHAI)
    with time_machine.travel(instant.replace(hour=10), tick=True):
        yield


async def test_the_statutory_days_off_count_as_provisional_holidays(api: Api) -> None:
    body = await calendar(api, f"{year()}-01-01", f"{year()}-12-31")
    assert body["provisional_years"] == [year()]
    days = by_date(body)
    holidays = {day: info["name"] for day, info in days.items() if info["type"] == "holiday"}
    assert holidays == STATUTORY[year()]
    assert {info["source"] for info in days.values()} == {"provisional"}
    first = days[f"{year()}-01-01"]
    assert first == {
        "date": f"{year()}-01-01",
        "weekday": date(year(), 1, 1).weekday(),
        "type": "holiday",
        "name": "元旦",
        "source": "provisional",
    }
    # No moved workdays are guessed: a weekend stays a weekend until announced.
    assert not [day for day, info in days.items() if info["type"] == "workday"]

    # Across the turn of the year, the year before keeps its own source.
    turn = await calendar(api, f"{year() - 1}-12-31", f"{year()}-01-01")
    assert turn["provisional_years"] == ([] if has_data(year() - 1) else [year() - 1]) + [year()]
    if has_data(year() - 1):
        assert by_date(turn)[f"{year() - 1}-12-31"]["source"] == "official"


def lunar_day() -> date:
    """The first day of 中秋 (a lunar holiday) in the provisional year."""
    days = STATUTORY[year()]
    return next(date.fromisoformat(day) for day, name in days.items() if name.startswith("中秋"))


@pytest.mark.parametrize("which", ["元旦", "中秋"])
async def test_a_room_closed_on_holidays_refuses_them_and_staff_still_win(
    api: Api, which: str
) -> None:
    day = date(year(), 1, 1) if which == "元旦" else lunar_day()
    with days_before(day):
        center = await api.center()
        staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
        room = await api.space(center["id"], headers=staff, holiday_policy="closed")
        study = await api.space(center["id"], headers=staff, holiday_policy="open")
        resident = await api.resident()

        refused = await book(api, resident, room["id"], day, "10:00", "11:00")
        problem = assert_problem(refused, 422, "space_closed")
        assert which in str(problem["detail"])
        slots = await api.client.get(
            f"/api/v1/spaces/{room['id']}/availability", params={"date": day.isoformat()}
        )
        assert slots.status_code == 200, slots.text
        assert {slot["status"] for slot in slots.json()["slots"]} == {"closed"}
        kept = await book(api, resident, study["id"], day, "10:00", "11:00")
        assert kept.status_code == 201, kept.text

        # The center opens that day after all: its word beats the provisional one.
        opened = await set_day(
            api, staff, day, kind="workday", name="照常开放", center_id=center["id"]
        )
        assert opened.status_code == 200, opened.text
        shown = await calendar(api, day.isoformat(), day.isoformat(), center_id=center["id"])
        assert shown["days"][0] | {"weekday": None} == {
            "date": day.isoformat(),
            "weekday": None,
            "type": "workday",
            "name": "照常开放",
            "source": "center",
        }
        booked = await book(api, resident, room["id"], day, "10:00", "11:00")
        assert booked.status_code == 201, booked.text
        assert booked.json()["status"] == "confirmed"


async def test_readiness_and_the_console_say_which_years_are_provisional(api: Api) -> None:
    with days_before(date(year(), 1, 1), days=25):  # early December of the year before
        expected = ([] if has_data(year() - 1) else [year() - 1]) + [year()]
        ready = (await api.client.get("/readyz")).json()
        assert ready["status"] == "ready"
        assert ready["warnings"] == [{"code": "calendar_provisional", "years": expected}]

        browser = await console(api, await staff_member(api))
        page = await browser.get("/console/today")
        await browser.aclose()
        assert page.status_code == 200, page.text
        said = f'data-provisional-years="{",".join(map(str, expected))}"'
        assert said in page.text
        assert f"{year()} 年的节假日安排尚未公布" in page.text
