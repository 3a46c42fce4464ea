"""Streets as a scope, and a center admin's subtree (README, "Staff roles").

A street admin covers every center of one street (district + street) and is
refused elsewhere; a center admin given ``scope: subtree`` reaches every
center below their own (grandchildren too) but not their siblings nor their
parent. Every rule is the principal's, so the API, the console and who gets
told agree (BOLA: another's object; BFLA: a function the role lacks).
"""

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.models import StaffRole, StaffScope
from tests.factories import Api, Headers, Json, book, days_ahead
from tests.test_console import console, post, reservation, staff_member
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

PUTUO, CHANGFENG, YICHUAN = "普陀区", "长风新村街道", "宜川路街道"
DAY = days_ahead(1)


@dataclass
class Network:
    hub: Json
    street: Json  # 长风新村街道's street center
    grid: Json  # below it
    home: Json  # below the grid station: the street center's grandchild
    sibling: Json  # 宜川路街道's street center, the street center's sibling
    cousin: Json  # a grid station below the sibling
    twin: Json  # a center of a street of the same name in another district


async def network(api: Api) -> Network:
    async def node(kind: str, parent: Json | None, **overrides: Any) -> Json:
        parent_id = {"parent_id": parent["id"]} if parent else {}
        return await api.center(kind=kind, **parent_id, **overrides)

    hub = await node("district_hub", None, street="")
    street = await node("street_center", hub)
    grid = await node("grid_station", street)
    home = await node("residential_station", grid)
    sibling = await node("street_center", hub, street=YICHUAN)
    cousin = await node("grid_station", sibling, street=YICHUAN)
    twin = await node("street_center", None, district="闵行区")
    return Network(hub, street, grid, home, sibling, cousin, twin)


async def street_admin(api: Api) -> Headers:
    return await api.staff(StaffRole.street_admin, district=PUTUO, street=CHANGFENG)


async def subtree_admin(api: Api, net: Network) -> Headers:
    return await api.staff(
        StaffRole.center_admin, center_ids=[net.street["id"]], scope=StaffScope.subtree
    )


async def listed(api: Api, staff: Headers) -> list[int]:
    response = await api.client.get("/api/v1/admin/centers", headers=staff)
    assert response.status_code == 200, response.text
    return [center["id"] for center in response.json()["items"]]


async def read(api: Api, staff: Headers, center: Json) -> httpx.Response:
    return await api.client.get(f"/api/v1/admin/centers/{center['id']}", headers=staff)


async def rename(api: Api, staff: Headers, center: Json) -> httpx.Response:
    return await api.client.patch(
        f"/api/v1/admin/centers/{center['id']}",
        json={"description": "改过了"},
        headers=staff,
    )


async def room(api: Api, staff: Headers, center: Json) -> httpx.Response:
    body = {
        "center_id": center["id"],
        "name": "议事厅",
        "kind": "meeting_room",
        "booking_mode": "exclusive",
        "capacity": 8,
        "slot_minutes": 30,
        "min_minutes": 30,
        "max_minutes": 240,
        "advance_days": 14,
        "open_24h": True,
        "holiday_policy": "open",
    }
    return await api.client.post("/api/v1/admin/spaces", json=body, headers=staff)


# --- the street admin -------------------------------------------------------------------


async def test_a_street_admin_covers_the_centers_of_their_street_only(api: Api) -> None:
    net = await network(api)
    staff = await street_admin(api)
    assert await listed(api, staff) == [net.street["id"], net.grid["id"], net.home["id"]]
    for center in (net.street, net.grid, net.home):
        assert (await read(api, staff, center)).status_code == 200
        assert (await rename(api, staff, center)).status_code == 200
    for center in (net.hub, net.sibling, net.cousin, net.twin):
        assert_problem(await read(api, staff, center), 403, "out_of_scope")
        assert_problem(await rename(api, staff, center), 403, "out_of_scope")
    assert (await room(api, staff, net.home)).status_code == 201
    assert_problem(await room(api, staff, net.cousin), 403, "out_of_scope")

    me = (await api.client.get("/api/v1/admin/me", headers=staff)).json()
    assert (me["role"], me["district"], me["street"]) == ("street_admin", PUTUO, CHANGFENG)


async def test_a_street_admin_creates_and_moves_centers_within_their_street(api: Api) -> None:
    net = await network(api)
    staff = await street_admin(api)
    made = await api.client.post(
        "/api/v1/admin/centers",
        json={**_center(), "kind": "post", "parent_id": net.grid["id"]},
        headers=staff,
    )
    assert made.status_code == 201, made.text
    elsewhere = await api.client.post(
        "/api/v1/admin/centers", json={**_center(), "street": YICHUAN}, headers=staff
    )
    assert_problem(elsewhere, 403, "out_of_scope")
    moved = await api.client.patch(
        f"/api/v1/admin/centers/{net.grid['id']}", json={"street": YICHUAN}, headers=staff
    )
    assert_problem(moved, 403, "out_of_scope")
    # Linking below a center outside the street is refused too.
    linked = await api.client.patch(
        f"/api/v1/admin/centers/{net.grid['id']}",
        json={"parent_id": net.sibling["id"]},
        headers=staff,
    )
    assert_problem(linked, 403, "out_of_scope")


def _center() -> dict[str, Any]:
    from tests.factories import center_body

    return center_body()


async def test_functions_above_a_street_are_refused_to_a_street_admin(api: Api) -> None:
    """BFLA: a district's calendar and residents' accounts are a district's."""
    await network(api)
    staff = await street_admin(api)
    day = await api.client.put(
        f"/api/v1/admin/calendar/days/{days_ahead(30)}",
        json={"kind": "holiday", "name": "区里放假", "district": PUTUO},
        headers=staff,
    )
    assert_problem(day, 403, "forbidden")
    resident = await api.resident()
    me = (await api.client.get("/api/v1/me", headers=resident)).json()
    deactivated = await api.client.post(
        f"/api/v1/admin/users/{me['id']}/deactivate", json={"reason": "测试"}, headers=staff
    )
    assert_problem(deactivated, 403, "out_of_scope")


async def test_bookings_and_reports_follow_the_street(api: Api) -> None:
    net = await network(api)
    admin = await api.staff()
    mine = await api.space(net.home["id"], headers=admin, requires_approval=True)
    theirs = await api.space(net.cousin["id"], headers=admin, requires_approval=True)
    resident = await api.resident()
    here = (await book(api, resident, mine["id"], DAY, "10:00", "11:00")).json()["id"]
    there = (await book(api, resident, theirs["id"], DAY, "10:00", "11:00")).json()["id"]
    staff = await street_admin(api)

    approved = await api.client.post(f"/api/v1/reservations/{here}/approve", headers=staff)
    assert approved.status_code == 200, approved.text
    refused = await api.client.post(f"/api/v1/reservations/{there}/approve", headers=staff)
    assert refused.status_code in (403, 404), refused.text
    assert (await reservation(api, resident, there))["status"] == "pending"

    report = await api.client.get(
        "/api/v1/admin/reports/utilization",
        params={"from": str(DAY), "to": str(DAY), "center_id": net.cousin["id"]},
        headers=staff,
    )
    assert_problem(report, 403, "out_of_scope")


async def test_the_street_admin_is_told_of_their_streets_requests(api: Api) -> None:
    net = await network(api)
    admin = await api.staff()
    told = await street_admin(api)
    other_street = await api.staff(StaffRole.street_admin, district=PUTUO, street=YICHUAN)
    twin_street = await api.staff(StaffRole.street_admin, district="闵行区", street=CHANGFENG)
    space = await api.space(net.home["id"], headers=admin, requires_approval=True)
    pending = await book(api, await api.resident(), space["id"], DAY, "10:00", "11:00")
    assert pending.json()["status"] == "pending", pending.text
    for headers, count in ((told, 1), (other_street, 0), (twin_street, 0)):
        inbox = await api.client.get("/api/v1/admin/notifications", headers=headers)
        assert len(inbox.json()["items"]) == count


async def test_the_console_shows_a_street_admin_their_street(api: Api) -> None:
    net = await network(api)
    admin = await api.staff()
    await api.space(net.home["id"], headers=admin, name="长风议事角")
    foreign = await api.space(net.cousin["id"], headers=admin, name="宜川议事角")
    client = await console(
        api,
        await staff_member(api, StaffRole.street_admin, district=PUTUO, street=CHANGFENG),
    )
    page = (await client.get("/console/spaces")).text
    assert "长风议事角" in page
    assert "宜川议事角" not in page
    hidden = await client.get(f"/console/spaces/{foreign['id']}")
    assert hidden.status_code == 303
    assert "error=out_of_scope" in hidden.headers["location"]
    start, end = f"{days_ahead(3)}T10:00", f"{days_ahead(3)}T12:00"
    refused = await post(
        client, f"/console/spaces/{foreign['id']}/closures", start=start, end=end, reason="维修"
    )
    assert refused.status_code == 303
    assert "error=out_of_scope" in refused.headers["location"]


# --- the subtree ------------------------------------------------------------------------


async def test_a_subtree_admin_reaches_every_center_below_their_own(api: Api) -> None:
    net = await network(api)
    staff = await subtree_admin(api, net)
    assert await listed(api, staff) == [net.street["id"], net.grid["id"], net.home["id"]]
    for center in (net.street, net.grid, net.home):  # the grandchild too
        assert (await rename(api, staff, center)).status_code == 200
    for center in (net.hub, net.sibling, net.cousin):  # neither parent nor siblings
        assert_problem(await read(api, staff, center), 403, "out_of_scope")
        assert_problem(await rename(api, staff, center), 403, "out_of_scope")
    assert (await room(api, staff, net.home)).status_code == 201
    assert_problem(await room(api, staff, net.sibling), 403, "out_of_scope")
    me = (await api.client.get("/api/v1/admin/me", headers=staff)).json()
    assert me["scope"] == "subtree"
    assert me["center_ids"] == sorted([net.street["id"], net.grid["id"], net.home["id"]])


async def test_without_the_subtree_a_center_admin_keeps_their_own_center(api: Api) -> None:
    net = await network(api)
    staff = await api.staff(StaffRole.center_admin, center_ids=[net.street["id"]])
    assert await listed(api, staff) == [net.street["id"]]
    assert_problem(await read(api, staff, net.home), 403, "out_of_scope")


async def test_a_center_linked_later_joins_the_subtree(api: Api) -> None:
    net = await network(api)
    staff = await subtree_admin(api, net)
    late = await api.center(kind="post", street=YICHUAN)
    assert_problem(await read(api, staff, late), 403, "out_of_scope")
    linked = await api.client.patch(
        f"/api/v1/admin/centers/{late['id']}",
        json={"parent_id": net.grid["id"]},
        headers=await api.staff(),
    )
    assert linked.status_code == 200, linked.text
    assert (await read(api, staff, late)).status_code == 200


async def test_subtree_admins_are_told_of_requests_below_them(api: Api) -> None:
    net = await network(api)
    admin = await api.staff()
    above = await subtree_admin(api, net)
    only_own = await api.staff(StaffRole.center_admin, center_ids=[net.street["id"]])
    sibling = await api.staff(
        StaffRole.center_admin, center_ids=[net.sibling["id"]], scope=StaffScope.subtree
    )
    space = await api.space(net.home["id"], headers=admin, requires_approval=True)
    pending = await book(api, await api.resident(), space["id"], DAY, "10:00", "11:00")
    assert pending.json()["status"] == "pending", pending.text
    for headers, count in ((above, 1), (only_own, 0), (sibling, 0)):
        inbox = await api.client.get("/api/v1/admin/notifications", headers=headers)
        assert len(inbox.json()["items"]) == count
