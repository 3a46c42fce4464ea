"""Usage reports, checked against figures worked out by hand.

The fixture, over two Shanghai days D and D+1 (tomorrow and the day after):

- 会议室 (exclusive, open 09:00–21:00 every day, no check-in):
  r1 D 10:00–12:00 by Ann, used and rated 4; r2 D 14:00–15:00 by Ben,
  cancelled; r3 D+1 09:00–10:30 by Ann, used.
- 自习室 (2 seats, open around the clock, check-in required):
  s1 D 22:00–D+1 02:00 by Cai, checked in: it crosses midnight;
  s2 D 20:00–21:00 by Dan, never checked in: a no-show.
"""

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from openpyxl import load_workbook

from app.jobs.registry import JOBS, run_job
from app.models import StaffRole
from tests.factories import Api, Headers, days_ahead, local
from tests.test_errors import assert_problem
from tests.test_lifecycle import Clock, check_in, qr_token

pytestmark = pytest.mark.dates

D = days_ahead(1)
NEXT = D + timedelta(days=1)
REPORT = "/api/v1/admin/reports/utilization"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch, "app.reservations.attendance", "app.reservations.router")


class Fixture:
    def __init__(self, staff: Headers, center_id: int, room_id: int, study_id: int) -> None:
        self.staff, self.center_id = staff, center_id
        self.room_id, self.study_id = room_id, study_id


async def booked(api: Api, who: Headers, space_id: int, start: Any, end: Any) -> int:
    body = {"space_id": space_id, "start": start.isoformat(), "end": end.isoformat()}
    response = await api.client.post("/api/v1/reservations", json=body, headers=who)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


@pytest.fixture
async def usage(api: Api, clock: Clock) -> Fixture:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    room = await api.space(center["id"], headers=staff, name="会议室")
    study = await api.space(
        center["id"],
        headers=staff,
        name="自习室",
        kind="study_room",
        booking_mode="shared",
        capacity=2,
        open_24h=True,
        opening_hours=[],
        requires_check_in=True,
        max_minutes=480,
    )
    ann, ben, cai, dan = [await api.resident() for _ in range(4)]
    r1 = await booked(api, ann, room["id"], local(D, "10:00"), local(D, "12:00"))
    r2 = await booked(api, ben, room["id"], local(D, "14:00"), local(D, "15:00"))
    await booked(api, ann, room["id"], local(NEXT, "09:00"), local(NEXT, "10:30"))
    s1 = await booked(api, cai, study["id"], local(D, "22:00"), local(NEXT, "02:00"))
    await booked(api, dan, study["id"], local(D, "20:00"), local(D, "21:00"))
    cancelled = await api.client.post(f"/api/v1/reservations/{r2}/cancel", headers=ben)
    assert cancelled.status_code == 200, cancelled.text

    settings = api.app.state.settings
    await run_job(api.database, settings, JOBS["release-no-shows"], local(D, "20:16"))
    clock.at(D, "22:05")
    token = await qr_token(api, study["id"], staff)
    assert (await check_in(api, cai, s1, token=token)).status_code == 200
    await run_job(api.database, settings, JOBS["complete-finished"], local(NEXT, "23:59"))
    rated = await api.client.post(
        f"/api/v1/reservations/{r1}/feedback", json={"rating": 4}, headers=ann
    )
    assert rated.status_code == 201, rated.text
    return Fixture(staff, center["id"], room["id"], study["id"])


async def report(api: Api, staff: Headers, **params: Any) -> list[dict[str, Any]]:
    response = await api.client.get(REPORT, params=params, headers=staff)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["rows"]
    return rows


def figures(row: dict[str, Any], *names: str) -> tuple[Any, ...]:
    return tuple(row[name] for name in names)


HOURS = ("open_hours", "available_hours", "booked_hours", "checked_in_hours")
COUNTS = ("bookings", "cancellations", "no_shows", "unique_users", "organizations")
RATES = ("utilization", "no_show_rate", "average_rating")


async def test_by_space(api: Api, usage: Fixture) -> None:
    rows = await report(api, usage.staff, center_id=usage.center_id, **{"from": D, "to": NEXT})
    room, study = rows
    assert (room["space_id"], room["space_name"]) == (usage.room_id, "会议室")
    assert (room["date"], room["weekday"], room["hour"]) == (None, None, None)
    assert figures(room, *HOURS) == (24.0, 24.0, 3.5, 0.0)  # 2 × 12 h open; 2 + 1.5 h booked
    assert figures(room, *COUNTS) == (3, 1, 0, 2, 0)
    assert figures(room, *RATES) == (round(3.5 / 24, 4), 0.0, 4.0)

    assert study["space_id"] == usage.study_id
    # 48 h open × 2 seats; 4 h across midnight + the no-show's 1 h booked; 4 h used
    assert figures(study, *HOURS) == (48.0, 96.0, 5.0, 4.0)
    assert figures(study, *COUNTS) == (2, 0, 1, 2, 0)
    assert figures(study, *RATES) == (round(5 / 96, 4), 0.5, None)


async def test_by_day_splits_the_booking_across_midnight(api: Api, usage: Fixture) -> None:
    first, second = await report(
        api, usage.staff, center_id=usage.center_id, group_by="day", **{"from": D, "to": NEXT}
    )
    assert (first["date"], second["date"]) == (D.isoformat(), NEXT.isoformat())
    # D: room 12 h + study 24 h open (24 × 2 seats); r1 2 h + s1 2 h (22–24) + s2 1 h booked
    assert figures(first, *HOURS) == (36.0, 60.0, 5.0, 2.0)
    assert figures(first, *COUNTS) == (4, 1, 1, 4, 0)
    assert figures(first, *RATES) == (round(5 / 60, 4), round(1 / 3, 4), 4.0)
    # D+1: r3 1.5 h + s1's 2 h after midnight; only r3 starts here
    assert figures(second, *HOURS) == (36.0, 60.0, 3.5, 2.0)
    assert figures(second, *COUNTS) == (1, 0, 0, 1, 0)

    only_next = await report(
        api, usage.staff, space_id=usage.study_id, group_by="day", **{"from": NEXT, "to": NEXT}
    )
    assert len(only_next) == 1
    assert figures(only_next[0], "booked_hours", "checked_in_hours", "bookings") == (2.0, 2.0, 0)


async def test_by_weekday_and_hour(api: Api, usage: Fixture) -> None:
    rows = await report(
        api,
        usage.staff,
        center_id=usage.center_id,
        group_by="weekday_hour",
        **{"from": D, "to": NEXT},
    )
    by_key = {(row["weekday"], row["hour"]): row for row in rows}
    assert len(by_key) == 48  # the study room is open every hour of both days
    late, after_midnight = by_key[(D.weekday(), 23)], by_key[(NEXT.weekday(), 0)]
    assert figures(late, *HOURS) == (1.0, 2.0, 1.0, 1.0)  # the room is closed at 23:00
    assert figures(late, "bookings") == (0,)  # s1 starts at 22:00
    assert figures(by_key[(D.weekday(), 22)], "bookings", "booked_hours") == (1, 1.0)
    assert figures(after_midnight, *HOURS) == (1.0, 2.0, 1.0, 1.0)
    morning = by_key[(NEXT.weekday(), 10)]  # r3's last half hour
    assert figures(morning, *HOURS) == (2.0, 3.0, 0.5, 0.0)
    assert sum(row["booked_hours"] for row in rows) == 8.5
    assert sum(row["bookings"] for row in rows) == 5


async def test_closures_and_scope(api: Api, usage: Fixture) -> None:
    closed = await api.client.post(
        f"/api/v1/admin/spaces/{usage.room_id}/closures",
        json={
            "start": local(D, "09:00").isoformat(),
            "end": local(D, "13:00").isoformat(),
            "reason": "党员大会",
        },
        headers=usage.staff,
    )
    assert closed.status_code == 201, closed.text
    (room,) = await report(api, usage.staff, space_id=usage.room_id, **{"from": D, "to": D})
    assert figures(room, "open_hours", "booked_hours") == (8.0, 2.0)

    elsewhere = await api.staff(StaffRole.district_admin, district="嘉定区")
    refused = await api.client.get(
        REPORT, params={"space_id": usage.room_id, "from": str(D), "to": str(D)}, headers=elsewhere
    )
    assert_problem(refused, 403, "out_of_scope")
    # a district admin elsewhere sees no spaces, hence no rows
    assert await report(api, elsewhere, **{"from": D, "to": D}) == []


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-12-02", "to": "2026-12-01"},
        {"from": "2026-01-01", "to": "2027-01-02"},
        {"from": "2026-12-01"},
        {"from": "2026-12-01", "to": "2026-12-31", "group_by": "month"},
        {"from": "2026-12-01", "to": "2026-12-31", "format": "pdf"},
        {"from": "2026-12-01", "to": "2026-13-01"},
        {"from": "9999-12-31", "to": "9999-12-31"},
        {"from": "1999-12-31", "to": "2000-01-01"},
    ],
)
async def test_bad_ranges_are_refused(api: Api, params: dict[str, str]) -> None:
    response = await api.client.get(REPORT, params=params, headers=await api.staff())
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_residents_cannot_read_reports(api: Api) -> None:
    response = await api.client.get(
        REPORT, params={"from": "2026-12-01", "to": "2026-12-31"}, headers=await api.resident()
    )
    assert response.status_code in (401, 403), response.text


def _parse_csv(content: bytes) -> Iterator[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")  # Excel reads the BOM as "this is UTF-8"
    yield from csv.reader(io.StringIO(content[3:].decode("utf-8")))


async def test_csv_and_xlsx_carry_the_same_rows(api: Api, usage: Fixture) -> None:
    params: dict[str, Any] = {"center_id": usage.center_id, "from": str(D), "to": str(NEXT)}
    rows = await report(api, usage.staff, **params)
    params["lang"] = "en"  # the JSON's field names as the header row

    as_csv = await api.client.get(REPORT, params={**params, "format": "csv"}, headers=usage.staff)
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    header, *lines = list(_parse_csv(as_csv.content))
    assert header == list(rows[0])
    assert [line[header.index("space_name")] for line in lines] == ["会议室", "自习室"]
    assert [float(line[header.index("booked_hours")]) for line in lines] == [3.5, 5.0]

    as_xlsx = await api.client.get(REPORT, params={**params, "format": "xlsx"}, headers=usage.staff)
    assert as_xlsx.status_code == 200, as_xlsx.text
    sheet = load_workbook(io.BytesIO(as_xlsx.content), read_only=True).active
    assert sheet is not None
    values = [list(line) for line in sheet.iter_rows(values_only=True)]
    assert values[0] == header
    assert [line[header.index("no_shows")] for line in values[1:]] == [0, 1]
    assert [line[header.index("space_name")] for line in values[1:]] == ["会议室", "自习室"]
    assert sheet.title == "Utilization"


async def test_spreadsheets_speak_chinese_unless_asked_for_english(
    api: Api, usage: Fixture
) -> None:
    params: dict[str, Any] = {"center_id": usage.center_id, "from": str(D), "to": str(NEXT)}
    fields = list((await report(api, usage.staff, **params))[0])
    as_csv = await api.client.get(REPORT, params={**params, "format": "csv"}, headers=usage.staff)
    header, *lines = list(_parse_csv(as_csv.content))
    assert header[:3] == ["空间编号", "空间名称", "日期"]
    assert len(header) == len(fields)
    assert not [cell for cell in header if re.search("[A-Za-z]", cell)]
    assert [line[header.index("空间名称")] for line in lines] == ["会议室", "自习室"]
    assert [float(line[header.index("预约小时")]) for line in lines] == [3.5, 5.0]

    as_xlsx = await api.client.get(REPORT, params={**params, "format": "xlsx"}, headers=usage.staff)
    sheet = load_workbook(io.BytesIO(as_xlsx.content), read_only=True).active
    assert sheet is not None
    assert sheet.title == "使用情况"
    assert next(sheet.iter_rows(values_only=True)) == tuple(header)

    english = await api.client.get(
        REPORT, params={**params, "format": "csv", "lang": "en"}, headers=usage.staff
    )
    assert next(_parse_csv(english.content)) == fields
    wrong = await api.client.get(
        REPORT, params={**params, "format": "csv", "lang": "fr"}, headers=usage.staff
    )
    assert wrong.status_code == 422
