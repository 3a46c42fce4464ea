"""The activity report, checked against figures worked out by hand.

Two centers (C1, C2), two categories (党课 party_lecture, 讲座 lecture), two
Shanghai months: A, the month of the day after tomorrow (D1), and B, the next
(B1 its first day, BL its last). The range is A's first day to BL.

- a1 C1 党课, D1 19:00, completed with 3 walk-ins: u1 (2 people, checked in,
  rates 5), u2 (checked in), u3 (never checked in, rates 3), u4 waiting.
  attended = 2 + 1 + 3 = 6.
- a2 C1 讲座, B1 00:30 (16:30 UTC the day before: still month B), completed:
  u1 (checked in, rates 4), u5 cancelled. attended = 1.
- a3 C2 党课, BL 23:00, published (not held yet): u2 (3 people), u6.
- a4 C2 讲座, D1, organised by a company, completed with 4 walk-ins: u2
  (checked in), u6 (2 people, checked in, rates 1). attended = 1 + 2 + 4 = 7.
- Not counted: a draft at C1, a cancelled activity at C2 (its sign-up
  cancelled with it), and one at C1 starting at midnight after BL.
"""

import csv
import io
import re
from datetime import date, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook

from app.models import SignupStatus, StaffRole
from tests.activity_rows import complete, sign_up
from tests.factories import Api, Headers, days_ahead, organization, slot
from tests.test_activities import activity_body, created
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

REPORT = "/api/v1/admin/reports/activities"
D1 = days_ahead(2)
FIRST = D1.replace(day=1)
B1 = (FIRST + timedelta(days=32)).replace(day=1)
AFTER = (B1 + timedelta(days=32)).replace(day=1)
BL = AFTER - timedelta(days=1)
RANGE = {"from": FIRST.isoformat(), "to": BL.isoformat()}
FIGURES = ("activities", "sessions", "signups", "attended", "unique_people", "average_rating")


class Programme:
    def __init__(self, staff: Headers, c1: dict[str, Any], c2: dict[str, Any], company: int):
        self.staff, self.c1, self.c2, self.company = staff, c1, c2, company


async def activity(
    api: Api,
    who: Headers,
    center_id: int,
    day: date,
    start: str,
    end: str,
    category: str,
    **extra: Any,
) -> int:
    body = activity_body(
        center_id, day, category=category, place_text="多功能厅", publish=True, **extra
    )
    body.update(slot(day, start, end))
    return int((await created(api, who, body))["id"])


@pytest.fixture
async def programme(api: Api) -> Programme:
    c1 = await api.center(district="普陀区")
    c2 = await api.center(district="虹口区", name='=HYPERLINK("http://x","y")')
    staff = await api.staff(StaffRole.center_admin, center_ids=[c1["id"], c2["id"]])
    owner = await api.resident()
    company = await organization(api, owner)
    u1, u2, u3, u4, u5, u6 = [await api.resident() for _ in range(6)]

    a1 = await activity(api, staff, c1["id"], D1, "19:00", "20:30", "party_lecture")
    await sign_up(api, a1, u1, attendees=2, checked_in=True)
    await sign_up(api, a1, u2, checked_in=True)
    await sign_up(api, a1, u3)
    await sign_up(api, a1, u4, status=SignupStatus.waiting)
    assert await complete(api, a1, walk_ins=3) == 6

    a2 = await activity(api, staff, c1["id"], B1, "00:30", "01:30", "lecture")
    await sign_up(api, a2, u1, checked_in=True)
    await sign_up(api, a2, u5, status=SignupStatus.cancelled)
    assert await complete(api, a2) == 1

    a3 = await activity(api, staff, c2["id"], BL, "23:00", "23:30", "party_lecture")
    await sign_up(api, a3, u2, attendees=3)
    await sign_up(api, a3, u6)

    a4 = await activity(
        api, owner, c2["id"], D1, "14:00", "16:00", "lecture", organization_id=company["id"]
    )
    await sign_up(api, a4, u2, checked_in=True)
    await sign_up(api, a4, u6, attendees=2, checked_in=True)
    assert await complete(api, a4, walk_ins=4) == 7

    for who, activity_id, stars in ((u1, a1, 5), (u3, a1, 3), (u1, a2, 4), (u6, a4, 1)):
        given = await api.client.post(
            f"/api/v1/activities/{activity_id}/feedback", json={"rating": stars}, headers=who
        )
        assert given.status_code == 201, given.text

    # Not counted: a draft, a cancelled activity, one starting after the range.
    draft = activity_body(c1["id"], D1, place_text="多功能厅")
    await created(api, staff, draft)
    cancelled = await activity(api, staff, c2["id"], D1, "10:00", "11:00", "lecture")
    await sign_up(api, cancelled, u1, checked_in=True)
    gone = await api.client.post(
        f"/api/v1/activities/{cancelled}/cancel", json={"reason": "讲师生病"}, headers=staff
    )
    assert gone.status_code == 200, gone.text
    await activity(api, staff, c1["id"], AFTER, "00:00", "01:00", "lecture")
    return Programme(staff, c1, c2, company["id"])


async def report(api: Api, staff: Headers, **params: Any) -> dict[str, Any]:
    answer = await api.client.get(REPORT, params={**RANGE, **params}, headers=staff)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def figures(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[name] for name in FIGURES)


async def test_figures_by_center_category_month_and_organiser(
    api: Api, programme: Programme
) -> None:
    p = programme
    by_center = await report(api, p.staff, group_by="center")
    assert (by_center["group_by"], by_center["from"], by_center["to"]) == (
        "center",
        FIRST.isoformat(),
        BL.isoformat(),
    )
    assert [(row["center_id"], row["center_name"], figures(row)) for row in by_center["rows"]] == [
        (p.c1["id"], p.c1["name"], (2, 2, 4, 7, 2, 4.0)),
        (p.c2["id"], p.c2["name"], (2, 1, 4, 7, 2, 1.0)),
    ]
    assert by_center["rows"][0]["category"] is None
    assert by_center["rows"][0]["month"] is None

    by_category = await report(api, p.staff, group_by="category")
    rows = {row["category"]: row for row in by_category["rows"]}
    assert len(rows) == 10  # every category, those without activities at zero
    assert (rows["party_lecture"]["category_label"], figures(rows["party_lecture"])) == (
        "党课",
        (2, 1, 5, 6, 2, 4.0),
    )
    assert (rows["lecture"]["category_label"], figures(rows["lecture"])) == (
        "讲座",
        (2, 2, 3, 8, 3, 2.5),
    )
    assert figures(rows["training"]) == (0, 0, 0, 0, 0, None)

    by_month = await report(api, p.staff, group_by="month")
    assert [(row["month"], figures(row)) for row in by_month["rows"]] == [
        (f"{FIRST:%Y-%m}", (2, 2, 5, 13, 3, 3.0)),
        (f"{B1:%Y-%m}", (2, 1, 3, 1, 1, 4.0)),
    ]

    by_organiser = await report(api, p.staff, group_by="organization")
    assert [
        (row["organization_id"], row["organization_name"] is not None, figures(row))
        for row in by_organiser["rows"]
    ] == [
        (None, False, (3, 2, 6, 7, 2, 4.0)),
        (p.company, True, (1, 1, 2, 7, 2, 1.0)),
    ]

    one_center = await report(api, p.staff, group_by="month", center_id=p.c2["id"])
    assert [figures(row) for row in one_center["rows"]] == [
        (1, 1, 2, 7, 2, 1.0),
        (1, 0, 2, 0, 0, None),
    ]


async def test_a_center_admin_sees_only_their_centers(api: Api, programme: Programme) -> None:
    p = programme
    c1_admin = await api.staff(StaffRole.center_admin, center_ids=[p.c1["id"]])

    mine = await report(api, c1_admin, group_by="center")
    assert [(row["center_id"], figures(row)) for row in mine["rows"]] == [
        (p.c1["id"], (2, 2, 4, 7, 2, 4.0))
    ]
    by_month = await report(api, c1_admin, group_by="month")
    assert [figures(row) for row in by_month["rows"]] == [
        (1, 1, 3, 6, 2, 4.0),
        (1, 1, 1, 1, 1, 4.0),
    ]
    by_organiser = await report(api, c1_admin, group_by="organization")
    assert [row["organization_id"] for row in by_organiser["rows"]] == [None]
    theirs = await api.client.get(
        REPORT, params={**RANGE, "center_id": p.c2["id"]}, headers=c1_admin
    )
    assert_problem(theirs, 403, "out_of_scope")
    hongkou = await api.staff(StaffRole.district_admin, district="虹口区")
    district = await report(api, hongkou, group_by="organization")
    assert [(row["organization_id"], row["activities"]) for row in district["rows"]] == [
        (None, 1),
        (p.company, 1),
    ]


def _parse_csv(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")  # Excel reads the BOM as "this is UTF-8"
    return list(csv.reader(io.StringIO(content[3:].decode("utf-8"))))


async def test_csv_and_xlsx_carry_the_rows_in_chinese_or_english(
    api: Api, programme: Programme
) -> None:
    p = programme
    params = {**RANGE, "group_by": "center"}
    as_csv = await api.client.get(REPORT, params={**params, "format": "csv"}, headers=p.staff)
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    disposition = as_csv.headers["content-disposition"]
    assert f'filename="activities-center-{FIRST}-{BL}.csv"' in disposition
    header, *lines = _parse_csv(as_csv.content)
    assert header == [
        "中心编号",
        "中心名称",
        "活动数",
        "举办场次",
        "报名数",
        "参与人次",
        "参与人数",
        "平均评分",
    ]
    assert not [cell for cell in header if re.search("[A-Za-z]", cell)]
    assert lines == [
        [str(p.c1["id"]), p.c1["name"], "2", "2", "4", "7", "2", "4.0"],
        # A name that would start a formula is written as text.
        [str(p.c2["id"]), "'" + p.c2["name"], "2", "1", "4", "7", "2", "1.0"],
    ]

    as_xlsx = await api.client.get(
        REPORT, params={**params, "format": "xlsx", "lang": "en"}, headers=p.staff
    )
    assert as_xlsx.status_code == 200, as_xlsx.text
    assert "spreadsheetml" in as_xlsx.headers["content-type"]
    sheet = load_workbook(io.BytesIO(as_xlsx.content), read_only=True).active
    assert sheet is not None
    assert sheet.title == "Activities"
    values = [list(line) for line in sheet.iter_rows(values_only=True)]
    assert values == [
        ["center_id", "center_name", *FIGURES],
        [p.c1["id"], p.c1["name"], 2, 2, 4, 7, 2, 4],
        [p.c2["id"], "'" + p.c2["name"], 2, 1, 4, 7, 2, 1],
    ]

    by_category = await api.client.get(
        REPORT, params={**RANGE, "group_by": "category", "format": "csv"}, headers=p.staff
    )
    header, *lines = _parse_csv(by_category.content)
    assert header[:2] == ["类别代码", "类别"]
    assert ["party_lecture", "党课", "2", "1", "5", "6", "2", "4.0"] in lines


@pytest.mark.parametrize(
    "params",
    [
        {"group_by": "space"},
        {"group_by": "Center"},
        {"format": "pdf"},
        {"lang": "fr"},
        {"from": "2026-12-31", "to": "2026-12-01"},
        {"from": "2026-01-01", "to": "2027-01-02"},
        {"from": "2026-02-30", "to": "2026-03-01"},
        {"from": "1999-12-31", "to": "2000-01-01"},
        {"to": None},
        {"center_id": 0},
        {"centre_id": 1},
    ],
)
async def test_bad_parameters_are_refused(api: Api, params: dict[str, Any]) -> None:
    query = {"from": "2026-12-01", "to": "2026-12-31", **params}
    query = {key: value for key, value in query.items() if value is not None}
    answer = await api.client.get(REPORT, params=query, headers=await api.staff())
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


async def test_only_staff_read_the_report(api: Api) -> None:
    answer = await api.client.get(REPORT, params=RANGE, headers=await api.resident())
    assert answer.status_code == 403, answer.text
    assert (await api.client.get(REPORT, params=RANGE)).status_code == 401
