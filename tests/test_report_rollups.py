"""Reports rolled up the network: ``group_by=center|street|district`` and
``ancestor_id`` (a node and everything below it) on the utilization and the
activity reports, each booking, person and activity counted once however deep
the tree.

The network: H, Putuo's district hub (no street), with S (长风新村街道's street
center) below it, G (a grid station) below S and R (a residential station)
below G; S2 (宜川路街道) below H; and M, a 长风新村街道 of another district.
Every one but H has a meeting room. On day D: u1 books S 10–11, G 10–12 and
R 14–15; u2 books R 10–11; u3 books S2; u1 books M.
"""

from dataclasses import dataclass
from typing import Any

import pytest

from app.models import StaffRole, StaffScope
from tests.factories import Api, Headers, Json, book, days_ahead
from tests.test_activity_reports import activity
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

UTILIZATION = "/api/v1/admin/reports/utilization"
ACTIVITIES = "/api/v1/admin/reports/activities"
D = days_ahead(1)
DAY = {"from": str(D), "to": str(D)}
PUTUO, MINHANG, CHANGFENG, YICHUAN = "普陀区", "闵行区", "长风新村街道", "宜川路街道"


@dataclass
class Net:
    admin: Headers
    hub: Json
    street: Json
    grid: Json
    home: Json
    sibling: Json
    minhang: Json
    rooms: dict[str, Json]


@pytest.fixture
async def net(api: Api) -> Net:
    admin = await api.staff()

    async def node(kind: str, parent: Json | None, **overrides: Any) -> Json:
        linked = {"parent_id": parent["id"]} if parent else {}
        return await api.center(admin, kind=kind, **linked, **overrides)

    hub = await node("district_hub", None, street="")
    street = await node("street_center", hub)
    grid = await node("grid_station", street)
    home = await node("residential_station", grid)
    sibling = await node("street_center", hub, street=YICHUAN)
    minhang = await node("street_center", None, district=MINHANG)
    centers = {"S": street, "G": grid, "R": home, "S2": sibling, "M": minhang}
    rooms = {name: await api.space(center["id"], headers=admin) for name, center in centers.items()}
    u1, u2, u3 = [await api.resident() for _ in range(3)]
    for who, room, start, end in (
        (u1, "S", "10:00", "11:00"),
        (u1, "G", "10:00", "12:00"),
        (u1, "R", "14:00", "15:00"),
        (u2, "R", "10:00", "11:00"),
        (u3, "S2", "10:00", "11:00"),
        (u1, "M", "10:00", "11:00"),
    ):
        response = await book(api, who, rooms[room]["id"], D, start, end)
        assert response.status_code == 201, response.text
    return Net(admin, hub, street, grid, home, sibling, minhang, rooms)


async def rows(api: Api, path: str, staff: Headers, **params: Any) -> list[dict[str, Any]]:
    response = await api.client.get(path, params={**DAY, **params}, headers=staff)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["rows"]
    return found


# --- utilization ------------------------------------------------------------------------


async def test_utilization_by_center_below_a_node(api: Api, net: Net) -> None:
    found = await rows(api, UTILIZATION, net.admin, group_by="center", ancestor_id=net.street["id"])
    assert [(row["center_id"], row["center_name"]) for row in found] == [
        (net.street["id"], net.street["name"]),
        (net.grid["id"], net.grid["name"]),
        (net.home["id"], net.home["name"]),
    ]
    assert [(row["bookings"], row["unique_users"], row["booked_hours"]) for row in found] == [
        (1, 1, 1.0),
        (1, 1, 2.0),
        (2, 2, 2.0),
    ]
    assert {row["space_id"] for row in found} == {None}


async def test_utilization_by_street_counts_each_person_once(api: Api, net: Net) -> None:
    by_space = await rows(api, UTILIZATION, net.admin, ancestor_id=net.hub["id"])
    assert {row["space_id"] for row in by_space} == {
        net.rooms[name]["id"] for name in ("S", "G", "R", "S2")
    }
    one_room = next(row for row in by_space if row["space_id"] == net.rooms["S"]["id"])
    found = await rows(api, UTILIZATION, net.admin, group_by="street", ancestor_id=net.hub["id"])
    assert {(row["district"], row["street"]) for row in found} == {
        (PUTUO, CHANGFENG),
        (PUTUO, YICHUAN),
    }
    changfeng = next(row for row in found if row["street"] == CHANGFENG)
    # u1 booked in three centers of the street: one person.
    assert (changfeng["bookings"], changfeng["unique_users"]) == (4, 2)
    assert changfeng["booked_hours"] == 5.0
    assert changfeng["open_hours"] == pytest.approx(3 * one_room["open_hours"])
    yichuan = next(row for row in found if row["street"] == YICHUAN)
    assert (yichuan["bookings"], yichuan["unique_users"]) == (1, 1)


async def test_utilization_by_district_over_the_whole_tree(api: Api, net: Net) -> None:
    found = await rows(api, UTILIZATION, net.admin, group_by="district")
    assert {row["district"]: (row["bookings"], row["unique_users"]) for row in found} == {
        PUTUO: (5, 3),
        MINHANG: (1, 1),
    }
    below = await rows(api, UTILIZATION, net.admin, group_by="district", ancestor_id=net.hub["id"])
    assert [(row["district"], row["bookings"], row["unique_users"]) for row in below] == [
        (PUTUO, 5, 3)
    ]
    # The existing groupings still answer.
    assert len(await rows(api, UTILIZATION, net.admin, group_by="day")) == 1
    leaf = await rows(api, UTILIZATION, net.admin, ancestor_id=net.home["id"])
    assert [row["space_id"] for row in leaf] == [net.rooms["R"]["id"]]


async def test_utilization_roll_ups_keep_to_the_callers_scope(api: Api, net: Net) -> None:
    street = await api.staff(StaffRole.street_admin, district=PUTUO, street=CHANGFENG)
    found = await rows(api, UTILIZATION, street, group_by="district")
    assert [(row["district"], row["bookings"]) for row in found] == [(PUTUO, 4)]
    refused = await api.client.get(
        UTILIZATION, params={**DAY, "ancestor_id": net.hub["id"]}, headers=street
    )
    assert_problem(refused, 403, "out_of_scope")

    subtree = await api.staff(
        StaffRole.center_admin, center_ids=[net.street["id"]], scope=StaffScope.subtree
    )
    mine = await rows(api, UTILIZATION, subtree, group_by="center", ancestor_id=net.grid["id"])
    assert [row["center_id"] for row in mine] == [net.grid["id"], net.home["id"]]
    outside = await api.client.get(
        UTILIZATION, params={**DAY, "ancestor_id": net.sibling["id"]}, headers=subtree
    )
    assert_problem(outside, 403, "out_of_scope")


async def test_bad_roll_up_parameters_are_refused(api: Api, net: Net) -> None:
    for path in (UTILIZATION, ACTIVITIES):
        for params in ({"group_by": "city"}, {"ancestor_id": "0"}, {"ancestor_id": "x"}):
            response = await api.client.get(path, params={**DAY, **params}, headers=net.admin)
            assert_problem(response, 422, "validation_failed")
        missing = await api.client.get(
            path, params={**DAY, "ancestor_id": 999999}, headers=net.admin
        )
        assert_problem(missing, 404, "not_found")


async def test_the_street_roll_up_downloads_with_its_keys(api: Api, net: Net) -> None:
    response = await api.client.get(
        UTILIZATION,
        params={**DAY, "group_by": "street", "format": "csv", "lang": "en"},
        headers=net.admin,
    )
    assert response.status_code == 200, response.text
    text = response.content.decode("utf-8-sig")
    assert "district" in text.splitlines()[0]
    assert f"{PUTUO},{CHANGFENG}" in text


# --- activities -------------------------------------------------------------------------


async def test_activities_by_street_district_and_below_a_node(api: Api, net: Net) -> None:
    day = days_ahead(2)
    for center in (net.street, net.grid, net.home, net.home, net.sibling, net.minhang):
        await activity(api, net.admin, center["id"], day, "19:00", "20:00", "lecture")
    params = {"from": str(day), "to": str(day)}

    by_street = await rows(
        api, ACTIVITIES, net.admin, group_by="street", ancestor_id=net.hub["id"], **params
    )
    assert {(row["district"], row["street"]): row["activities"] for row in by_street} == {
        (PUTUO, ""): 0,  # the hub's own: it held none
        (PUTUO, CHANGFENG): 4,
        (PUTUO, YICHUAN): 1,
    }
    by_district = await rows(api, ACTIVITIES, net.admin, group_by="district", **params)
    assert {row["district"]: row["activities"] for row in by_district} == {PUTUO: 5, MINHANG: 1}
    below = await rows(api, ACTIVITIES, net.admin, ancestor_id=net.grid["id"], **params)
    assert [(row["center_id"], row["activities"]) for row in below] == [
        (net.grid["id"], 1),
        (net.home["id"], 2),
    ]
    street = await api.staff(StaffRole.street_admin, district=PUTUO, street=CHANGFENG)
    theirs = await rows(api, ACTIVITIES, street, group_by="district", **params)
    assert [(row["district"], row["activities"]) for row in theirs] == [(PUTUO, 4)]
    refused = await api.client.get(
        ACTIVITIES, params={**params, "ancestor_id": net.sibling["id"]}, headers=street
    )
    assert_problem(refused, 403, "out_of_scope")
