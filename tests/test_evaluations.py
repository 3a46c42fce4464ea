"""The evaluation of positions (阵地评估), checked against figures worked out
by hand.

The clock stands at 09:00 on Monday 2 November 2026 while the month's work is
booked, moves through the day D (Tuesday 10 November) and stands at 5 December
while November is evaluated.

The network: S, a street center, with two grid stations G1 and G2 below it;
each has one meeting room open 09:00–21:00 every day (360 hours in November).
On D:

- G1: u1 books 10:00–12:00 (used, rated 4), u2 14:00–15:00 (used).
- G2 (check-in required): u3 books 10:00–11:00 and never comes: a no-show.
  An activity 19:00–20:30 is held: u1 signs up for 2 and checks in, 1 walk-in:
  attended 3; u1 rates it 5.

With the weights no_show_rate 1, bookings 1, attended 1, average_rating 2 (the
rest 0; Σ 5), the siblings G1 and G2 score:

- G1: (1 − 0)·1 + 2/2·1 + 0/3·1 + 4/5·2 = 3.6 → 100 × 3.6 / 5 = 72.0, rank 1
- G2: (1 − 1)·1 + 1/2·1 + 3/3·1 + 5/5·2 = 3.5 → 100 × 3.5 / 5 = 70.0, rank 2

S is alone among its siblings (a root in this scope): nothing to score, 0.
"""

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
import time_machine
from openpyxl import load_workbook

from app.core import tokens
from app.core.clock import SHANGHAI
from app.jobs.registry import JOBS, run_job
from app.models import StaffRole
from tests.activity_rows import complete, sign_up
from tests.factories import Api, Headers, Json, bearer, book, local
from tests.test_activity_reports import activity
from tests.test_errors import assert_problem

EVALUATIONS = "/api/v1/admin/evaluations"
WEIGHTS = "/api/v1/admin/evaluation-weights"
D = date(2026, 11, 10)
BOOKING_TIME = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
EVALUATED_AT = datetime(2026, 12, 5, 10, 0, tzinfo=SHANGHAI)
HAND_WEIGHTS = {
    "opening_hours": 0,
    "utilization": 0,
    "no_show_rate": 1,
    "bookings": 1,
    "activities_held": 0,
    "attended": 1,
    "unique_people": 0,
    "average_rating": 2,
    "suggestions_closed": 0,
    "needs_met": 0,
}
METRICS = list(HAND_WEIGHTS)


class Net:
    def __init__(self, api: Api, admin_id: int, street: Json, g1: Json, g2: Json) -> None:
        self.api, self.admin_id = api, admin_id
        self.street, self.g1, self.g2 = street, g1, g2

    @property
    def admin(self) -> Headers:
        """The super admin's token, issued now: the clock travels past older ones."""
        return signed_in(self.api, self.admin_id)


def signed_in(api: Api, staff_id: int) -> Headers:
    issued = tokens.issue(api.app.state.settings, tokens.Audience.staff, staff_id)
    return bearer(issued.access_token)


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(BOOKING_TIME, tick=False) as traveller:
        yield traveller


async def rated(api: Api, path: str, who: Headers, stars: int) -> None:
    given = await api.client.post(path, json={"rating": stars}, headers=who)
    assert given.status_code == 201, given.text


@pytest.fixture
async def net(api: Api, clock: time_machine.Traveller) -> Net:
    return await build_net(api, clock)


async def build_net(api: Api, clock: time_machine.Traveller) -> Net:
    """The network and the month of the module's docstring; the clock left at
    ``EVALUATED_AT``."""
    admin_id = await api.create_staff_row()
    admin = signed_in(api, admin_id)
    street = await api.center(admin, kind="street_center")
    g1 = await api.center(admin, kind="grid_station", parent_id=street["id"])
    g2 = await api.center(admin, kind="grid_station", parent_id=street["id"])
    await api.space(street["id"], headers=admin)
    room1 = await api.space(g1["id"], headers=admin)
    room2 = await api.space(g2["id"], headers=admin, requires_check_in=True)
    u1, u2, u3 = [await api.resident(f"evaluated-{n}") for n in range(3)]
    booked = {}
    for who, room, start, end in (
        (u1, room1, "10:00", "12:00"),
        (u2, room1, "14:00", "15:00"),
        (u3, room2, "10:00", "11:00"),
    ):
        response = await book(api, who, room["id"], D, start, end)
        assert response.status_code == 201, response.text
        booked[start, room["id"]] = response.json()["id"]
    held = await activity(api, admin, g2["id"], D, "19:00", "20:30", "party_lecture")
    await sign_up(api, held, u1, attendees=2, checked_in=True)

    settings = api.app.state.settings
    clock.move_to(local(D, "10:20"))
    await run_job(api.database, settings, JOBS["release-no-shows"], local(D, "10:20"))
    clock.move_to(local(D, "23:00"))
    assert await complete(api, held, walk_ins=1) == 3
    await run_job(api.database, settings, JOBS["complete-finished"], local(D, "23:00"))
    u1 = await api.resident("evaluated-0")  # signed in again: the clock moved on
    await rated(api, f"/api/v1/reservations/{booked['10:00', room1['id']]}/feedback", u1, 4)
    await rated(api, f"/api/v1/activities/{held}/feedback", u1, 5)
    clock.move_to(EVALUATED_AT)
    return Net(api, admin_id, street, g1, g2)


async def evaluation(api: Api, staff: Headers, **params: Any) -> dict[str, Any]:
    answer = await api.client.get(
        EVALUATIONS, params={"period": "2026-11", **params}, headers=staff
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def by_center(found: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {row["center_id"]: row for row in found["rows"]}


async def test_figures_score_and_rank_of_siblings(api: Api, net: Net) -> None:
    put = await api.client.put(WEIGHTS, json={"weights": HAND_WEIGHTS}, headers=net.admin)
    assert put.status_code == 200, put.text
    found = await evaluation(api, net.admin, ancestor_id=net.street["id"])
    assert (found["period"], found["from"], found["to"]) == ("2026-11", "2026-11-01", "2026-11-30")
    assert found["weights"] == HAND_WEIGHTS
    rows = by_center(found)
    assert list(rows) == [net.street["id"], net.g1["id"], net.g2["id"]]
    g1, g2, street = rows[net.g1["id"]], rows[net.g2["id"]], rows[net.street["id"]]
    figures = (
        "opening_hours",
        "booked_hours",
        "bookings",
        "no_shows",
        "no_show_rate",
        "activities_held",
        "attended",
        "unique_people",
        "ratings",
        "average_rating",
        "suggestions_closed",
        "needs_met",
    )
    assert [g1[name] for name in figures] == [360.0, 3.0, 2, 0, 0.0, 0, 0, 2, 1, 4.0, 0, 0]
    assert [g2[name] for name in figures] == [360.0, 1.0, 1, 1, 1.0, 1, 3, 2, 1, 5.0, 0, 0]
    assert g1["utilization"] == round(3 / 360, 4)
    assert (g1["parent_id"], g2["parent_id"]) == (net.street["id"], net.street["id"])
    assert g1["normalised"]["bookings"] == 1.0
    assert g2["normalised"]["bookings"] == 0.5
    assert g1["normalised"]["average_rating"] == 0.8
    assert (g1["score"], g1["rank"]) == (72.0, 1)
    assert (g2["score"], g2["rank"]) == (70.0, 2)
    assert (street["opening_hours"], street["bookings"], street["score"], street["rank"]) == (
        360.0,
        0,
        0.0,
        1,
    )
    assert (street["no_show_rate"], street["average_rating"]) == (None, None)

    # A street counts each person once: u1 booked at G1 and came to G2's activity.
    streets = await evaluation(api, net.admin, ancestor_id=net.street["id"], group_by="street")
    [row] = streets["rows"]
    assert (row["street"], row["center_id"], row["rank"]) == (net.street["street"], None, 1)
    assert (row["bookings"], row["unique_people"], row["attended"]) == (3, 3, 3)
    assert (row["opening_hours"], row["ratings"], row["average_rating"]) == (1080.0, 2, 4.5)
    districts = await evaluation(api, net.admin, group_by="district")
    assert [row["district"] for row in districts["rows"]] == [net.street["district"]]


async def test_equal_scores_share_a_rank_under_the_default_weights(api: Api, net: Net) -> None:
    weights = await api.client.get(WEIGHTS, headers=net.admin)
    assert weights.status_code == 200, weights.text
    assert weights.json()["weights"] == weights.json()["defaults"]
    assert set(weights.json()["weights"]) == set(METRICS)
    assert weights.json()["defaults"]["suggestions_closed"] == 0
    # Only the attended count weighed: G1 has none, G2 all; then neither.
    only = {"weights": dict.fromkeys(METRICS, 0) | {"attended": 1}}
    assert (await api.client.put(WEIGHTS, json=only, headers=net.admin)).status_code == 200
    rows = by_center(await evaluation(api, net.admin, ancestor_id=net.street["id"]))
    assert [(rows[g["id"]]["score"], rows[g["id"]]["rank"]) for g in (net.g1, net.g2)] == [
        (0.0, 2),
        (100.0, 1),
    ]
    tie = {"weights": {"attended": 0, "opening_hours": 1}}
    answer = await api.client.put(WEIGHTS, json=tie, headers=net.admin)
    assert answer.json()["weights"]["opening_hours"] == 1
    assert answer.json()["weights"]["attended"] == 0
    rows = by_center(await evaluation(api, net.admin, ancestor_id=net.street["id"]))
    assert [(rows[g["id"]]["score"], rows[g["id"]]["rank"]) for g in (net.g1, net.g2)] == [
        (100.0, 1),
        (100.0, 1),
    ]


async def test_scope_is_the_callers(api: Api, net: Net) -> None:
    mine = await api.staff(StaffRole.center_admin, center_ids=[net.g1["id"]])
    found = await evaluation(api, mine)
    assert [row["center_id"] for row in found["rows"]] == [net.g1["id"]]
    refused = await api.client.get(
        EVALUATIONS, params={"period": "2026-11", "ancestor_id": net.street["id"]}, headers=mine
    )
    assert_problem(refused, 403, "out_of_scope")
    elsewhere = await api.staff(StaffRole.street_admin, district="闵行区", street="莘庄镇")
    assert (await evaluation(api, elsewhere))["rows"] == []
    refused = await api.client.get(
        EVALUATIONS, params={"period": "2026-11", "ancestor_id": net.g2["id"]}, headers=elsewhere
    )
    assert_problem(refused, 403, "out_of_scope")
    district = await api.staff(StaffRole.district_admin, district=net.street["district"])
    assert len((await evaluation(api, district))["rows"]) == 3
    resident = await api.resident()
    answer = await api.client.get(EVALUATIONS, params={"period": "2026-11"}, headers=resident)
    assert answer.status_code in (401, 403)


@pytest.mark.parametrize("period", ["2026-13", "2026-1", "26-11", "2026-11-01", "x", "1999-12"])
async def test_a_malformed_period_is_refused(
    api: Api, clock: time_machine.Traveller, period: str
) -> None:
    staff = await api.staff()
    answer = await api.client.get(EVALUATIONS, params={"period": period}, headers=staff)
    assert_problem(answer, 422, "invalid_period")


async def test_a_future_month_is_refused_and_the_current_one_runs_to_today(
    api: Api, clock: time_machine.Traveller
) -> None:
    clock.move_to(EVALUATED_AT)
    staff = await api.staff()
    ahead = await api.client.get(EVALUATIONS, params={"period": "2027-01"}, headers=staff)
    assert_problem(ahead, 422, "invalid_period")
    current = await evaluation(api, staff, period="2026-12")
    assert (current["from"], current["to"]) == ("2026-12-01", "2026-12-05")


@pytest.mark.parametrize(
    "weights",
    [
        {"popularity": 1},
        {"bookings": -1},
        {"bookings": 1001},
        dict.fromkeys(METRICS, 0),
    ],
)
async def test_weights_are_validated(api: Api, weights: dict[str, Any]) -> None:
    admin = await api.staff()
    answer = await api.client.put(WEIGHTS, json={"weights": weights}, headers=admin)
    assert_problem(answer, 422, "invalid_weights")
    unchanged = await api.client.get(WEIGHTS, headers=admin)
    assert unchanged.json()["weights"] == unchanged.json()["defaults"]


@pytest.mark.parametrize("body", [{"weights": {"bookings": "many"}}, {"weights": []}, {}])
async def test_weights_must_be_numbers(api: Api, body: dict[str, Any]) -> None:
    answer = await api.client.put(WEIGHTS, json=body, headers=await api.staff())
    assert_problem(answer, 422, "validation_failed")


async def test_only_super_admins_set_weights(api: Api) -> None:
    center = await api.center()
    district = await api.staff(StaffRole.district_admin, district=center["district"])
    answer = await api.client.put(WEIGHTS, json={"weights": {"bookings": 2}}, headers=district)
    assert_problem(answer, 403, "forbidden")
    assert (await api.client.get(WEIGHTS, headers=district)).status_code == 200


async def test_csv_and_xlsx_carry_the_rows(api: Api, net: Net) -> None:
    params = {"period": "2026-11", "ancestor_id": net.street["id"]}
    answer = await api.client.get(
        EVALUATIONS, params={**params, "format": "csv"}, headers=net.admin
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="evaluation-center-2026-11.csv"' in answer.headers["content-disposition"]
    assert answer.content.startswith("\ufeff".encode())
    lines = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert lines[0][:2] == ["阵地编号", "阵地名称"]
    assert {"得分", "排名", "办结建议数"} <= set(lines[0])
    assert [line[0] for line in lines[1:]] == [
        str(net.street["id"]),
        str(net.g1["id"]),
        str(net.g2["id"]),
    ]
    english = await api.client.get(
        EVALUATIONS,
        params={**params, "format": "xlsx", "lang": "en", "group_by": "street"},
        headers=net.admin,
    )
    assert english.status_code == 200, english.text
    sheet = load_workbook(io.BytesIO(english.content)).active
    assert sheet is not None
    table = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert table[0][:4] == ["district", "street", "rank", "score"]
    assert len(table) == 2
    header = table[0]
    assert table[1][header.index("bookings")] == 3
    assert table[1][header.index("unique_people")] == 3
