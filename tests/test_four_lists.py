"""The four lists (四张清单): needs, resources, projects and service objects
of a center, kept by staff in scope; resources offered by residents and
organisations; matching that closes a need; the summary rolled up the tree;
the needs met counted in the evaluation (README, "The four lists").

The network is test_street_scope's: a district hub, 长风新村街道's street
center with a grid station and, below it, a residential station; a sibling
street center (宜川路街道) with its grid station.
"""

import asyncio
from typing import Any

import httpx
import pytest

from app.core.clock import local_today
from app.models import StaffRole
from tests.factories import Api, Headers, Json, days_ahead, organization
from tests.test_activity_reports import activity
from tests.test_errors import assert_problem
from tests.test_street_scope import Network, network, street_admin

pytestmark = pytest.mark.dates

ADMIN = "/api/v1/admin"
NEEDS = f"{ADMIN}/needs"
RESOURCES = f"{ADMIN}/resources"
PROJECTS = f"{ADMIN}/projects"
SERVED = f"{ADMIN}/service-objects"
SUMMARY = f"{ADMIN}/lists/summary"


def need_body(center: Json, **overrides: Any) -> Json:
    return {
        "center_id": center["id"],
        "category": "elderly_care",
        "title": "独居老人助餐",
        "group": "elderly",
        "people": 10,
        "urgency": "high",
        **overrides,
    }


def resource_body(center: Json, **overrides: Any) -> Json:
    return {
        "center_id": center["id"],
        "kind": "volunteer_time",
        "title": "周末送餐志愿者",
        "provider": "长风物业公司",
        "quantity": 20,
        "unit": "小时",
        "schedule": "每周六上午",
        **overrides,
    }


def project_body(center: Json, **overrides: Any) -> Json:
    return {
        "center_id": center["id"],
        "category": "elderly_care",
        "title": "长者食堂",
        "provider": "街道社区事务受理中心",
        "schedule": "工作日午餐",
        "status": "running",
        **overrides,
    }


async def made(api: Api, path: str, body: Json, who: Headers) -> Json:
    answer = await api.client.post(path, json=body, headers=who)
    assert answer.status_code == 201, answer.text
    found: Json = answer.json()
    return found


async def match(api: Api, need: Json, who: Headers, **body: Any) -> httpx.Response:
    return await api.client.post(f"{NEEDS}/{need['id']}/matches", json=body, headers=who)


async def total(api: Api, path: str, who: Headers, **params: Any) -> int:
    answer = await api.client.get(path, params=params, headers=who)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["total"])


async def test_matches_close_a_need_and_taking_one_back_opens_it(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    need = await made(api, NEEDS, need_body(center), admin)
    assert (need["status"], need["covered"], need["matches"]) == ("open", 0, [])
    assert (need["category_label"], need["group_label"], need["source"]) == (
        "为老服务",
        "老人",
        "staff",
    )
    resource = await made(api, RESOURCES, resource_body(center), admin)
    assert (resource["status"], resource["offered_by"]) == ("accepted", "staff")
    project = await made(api, PROJECTS, project_body(center), admin)

    first = await match(api, need, admin, resource_id=resource["id"], covers=4, note="先送四户")
    assert first.status_code == 201, first.text
    assert (first.json()["status"], first.json()["covered"]) == ("open", 4)
    assert first.json()["matches"][0]["title"] == "周末送餐志愿者"
    assert_problem(
        await match(api, need, admin, project_id=project["id"], covers=7), 422, "match_exceeds_need"
    )
    closing = await match(api, need, admin, project_id=project["id"])
    assert closing.status_code == 201, closing.text
    met = closing.json()
    assert (met["status"], met["covered"], met["status_label"]) == ("met", 10, "已满足")
    assert met["met_at"] is not None
    assert [m["covers"] for m in met["matches"]] == [4, 6]
    assert_problem(
        await match(api, need, admin, resource_id=resource["id"]), 409, "need_already_met"
    )
    used = await api.client.get(f"{RESOURCES}/{resource['id']}", headers=admin)
    assert used.json()["matches"] == 1
    assert_problem(
        await api.client.delete(f"{RESOURCES}/{resource['id']}", headers=admin),
        409,
        "list_entry_in_use",
    )

    back = await api.client.delete(
        f"{NEEDS}/{need['id']}/matches/{met['matches'][1]['id']}", headers=admin
    )
    assert back.status_code == 200, back.text
    assert (back.json()["status"], back.json()["covered"], back.json()["met_at"]) == (
        "open",
        4,
        None,
    )
    fewer = await api.client.patch(f"{NEEDS}/{need['id']}", json={"people": 4}, headers=admin)
    assert (fewer.json()["status"], fewer.json()["people"]) == ("met", 4)
    more = await api.client.patch(
        f"{NEEDS}/{need['id']}", json={"people": 5, "group": None}, headers=admin
    )
    assert (more.json()["status"], more.json()["group"]) == ("open", None)
    assert await total(api, NEEDS, admin, center_id=center["id"], status="open") == 1

    gone = await api.client.delete(f"{NEEDS}/{need['id']}", headers=admin)
    assert gone.status_code == 204, gone.text
    missing = await api.client.get(f"{NEEDS}/{need['id']}", headers=admin)
    assert_problem(missing, 404, "not_found")


async def test_residents_and_organisations_offer_resources_staff_review(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    need = await made(api, NEEDS, need_body(center, people=1), admin)
    resident = await api.resident()
    offer = {"center_id": center["id"], "kind": "skills", "title": "法律咨询", "unit": "次"}
    offered = await made(api, "/api/v1/resources", offer, resident)
    assert (offered["status"], offered["offered_by"], offered["provider"]) == (
        "offered",
        "resident",
        "居民",
    )
    refused = await match(api, need, admin, resource_id=offered["id"])
    assert_problem(refused, 409, "not_matchable")
    assert await total(api, RESOURCES, admin, status="offered", center_id=center["id"]) == 1
    accepted = await api.client.post(f"{RESOURCES}/{offered['id']}/accept", headers=admin)
    assert accepted.json()["status"] == "accepted"
    again = await api.client.post(f"{RESOURCES}/{offered['id']}/decline", headers=admin)
    assert_problem(again, 409, "invalid_transition")
    mine = await api.client.get("/api/v1/resources/mine", headers=resident)
    assert [item["id"] for item in mine.json()["items"]] == [offered["id"]]
    other = await api.resident()
    stranger = await api.client.post(f"/api/v1/resources/{offered['id']}/withdraw", headers=other)
    assert_problem(stranger, 404, "not_found")
    withdrawn = await api.client.post(
        f"/api/v1/resources/{offered['id']}/withdraw", headers=resident
    )
    assert withdrawn.json()["status"] == "withdrawn"
    assert_problem(await match(api, need, admin, resource_id=offered["id"]), 409, "not_matchable")

    owner = await api.resident()
    pending = await organization(api, owner, verified=False)
    unverified = await api.client.post(
        "/api/v1/resources", json={**offer, "organization_id": pending["id"]}, headers=owner
    )
    assert_problem(unverified, 403, "organization_not_verified")
    company = await organization(api, owner)
    by_company = await made(
        api, "/api/v1/resources", {**offer, "organization_id": company["id"]}, owner
    )
    assert (by_company["offered_by"], by_company["provider"]) == ("organization", company["name"])
    not_owner = await api.client.post(
        "/api/v1/resources", json={**offer, "organization_id": company["id"]}, headers=resident
    )
    assert not_owner.status_code == 404, not_owner.text
    assert await total(api, "/api/v1/resources/mine", owner) == 1


async def test_staff_reach_only_their_scope(api: Api) -> None:
    net = await network(api)
    admin = await api.staff()
    street = await street_admin(api)
    mine = await made(api, NEEDS, need_body(net.home), street)
    theirs = await made(api, NEEDS, need_body(net.cousin), admin)
    their_resource = await made(api, RESOURCES, resource_body(net.cousin), admin)
    their_project = await made(api, PROJECTS, project_body(net.cousin), admin)

    assert_problem(
        await api.client.post(NEEDS, json=need_body(net.cousin), headers=street),
        403,
        "out_of_scope",
    )
    for path in (
        f"{NEEDS}/{theirs['id']}",
        f"{RESOURCES}/{their_resource['id']}",
        f"{PROJECTS}/{their_project['id']}",
    ):
        assert_problem(await api.client.get(path, headers=street), 403, "out_of_scope")
        assert_problem(await api.client.delete(path, headers=street), 403, "out_of_scope")
    moved = await api.client.patch(
        f"{NEEDS}/{mine['id']}", json={"center_id": net.cousin["id"]}, headers=street
    )
    assert_problem(moved, 403, "out_of_scope")
    assert_problem(
        await match(api, mine, street, resource_id=their_resource["id"]), 403, "out_of_scope"
    )
    listed = await api.client.get(NEEDS, headers=street)
    assert [item["id"] for item in listed.json()["items"]] == [mine["id"]]
    assert_problem(
        await api.client.get(NEEDS, params={"ancestor_id": net.hub["id"]}, headers=street),
        403,
        "out_of_scope",
    )
    outside = await api.staff(StaffRole.center_admin, center_ids=[net.sibling["id"]])
    assert await total(api, NEEDS, outside) == 0
    assert_problem(
        await api.client.post(
            SERVED,
            json={"center_id": net.grid["id"], "group": "elderly", "people": 3},
            headers=outside,
        ),
        403,
        "out_of_scope",
    )
    resident = await api.resident()
    assert (await api.client.get(NEEDS, headers=resident)).status_code == 403
    assert (await api.client.get(NEEDS, headers={})).status_code == 401
    unchanged = await api.client.get(f"{NEEDS}/{mine['id']}", headers=street)
    assert unchanged.json()["center_id"] == net.home["id"]


async def summary(api: Api, who: Headers, **params: Any) -> Json:
    answer = await api.client.get(SUMMARY, params=params, headers=who)
    assert answer.status_code == 200, answer.text
    found: Json = answer.json()
    return found


async def listed_at(api: Api, admin: Headers, net: Network) -> None:
    """Needs, resources, projects and served groups across the network."""
    home_need = await made(api, NEEDS, need_body(net.home, people=2), admin)
    await made(api, NEEDS, need_body(net.grid, category="childcare"), admin)
    await made(api, NEEDS, need_body(net.cousin), admin)
    room = await made(api, RESOURCES, resource_body(net.grid, kind="room"), admin)
    await made(api, RESOURCES, resource_body(net.home), admin)
    await made(api, RESOURCES, resource_body(net.cousin), admin)
    assert (await match(api, home_need, admin, resource_id=room["id"])).status_code == 201
    await made(api, PROJECTS, project_body(net.grid, status="completed"), admin)
    await made(api, PROJECTS, project_body(net.home, status="planned"), admin)
    await made(api, PROJECTS, project_body(net.sibling, status="completed"), admin)
    for center, people in ((net.grid, 120), (net.home, 80), (net.cousin, 500)):
        body = {"center_id": center["id"], "group": "delivery_riders", "people": people}
        await made(api, SERVED, body, admin)


async def test_the_summary_rolls_up_the_tree(api: Api) -> None:
    net = await network(api)
    admin = await api.staff()
    await listed_at(api, admin, net)

    below = await summary(api, admin, ancestor_id=net.street["id"])
    assert (below["centers"], below["needs_open"], below["needs_met"]) == (3, 1, 1)
    assert {row["category"]: (row["open"], row["met"]) for row in below["needs"]} == {
        "childcare": (1, 0),
        "elderly_care": (0, 1),
    }
    assert (below["resources_offered"], below["resources_used"]) == (2, 1)
    assert {row["kind"]: (row["offered"], row["used"]) for row in below["resources"]} == {
        "room": (1, 1),
        "volunteer_time": (1, 0),
    }
    assert below["projects_delivered"] == 1
    [projects] = below["projects"]
    assert (projects["planned"], projects["running"], projects["delivered"]) == (1, 0, 1)
    assert below["service_objects"] == [
        {"group": "delivery_riders", "group_label": "骑手", "people": 200, "centers": 2}
    ]
    whole = await summary(api, admin, ancestor_id=net.hub["id"])
    assert (whole["needs_open"], whole["resources_offered"], whole["projects_delivered"]) == (
        2,
        3,
        2,
    )
    assert whole["service_objects"][0]["people"] == 700
    street = await street_admin(api)
    assert (await summary(api, street))["needs_open"] == 1  # the cousin's is not theirs
    assert_problem(
        await api.client.get(SUMMARY, params={"ancestor_id": net.hub["id"]}, headers=street),
        403,
        "out_of_scope",
    )
    codes = await api.client.get("/api/v1/lists/codes")
    assert codes.json()["groups"]["white_collar"] == "白领"
    assert codes.json()["categories"]["elderly_care"] == "为老服务"


async def test_projects_link_activities_and_groups_are_counted(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    held = await activity(api, admin, center["id"], days_ahead(3), "19:00", "20:30", "lecture")
    project = await made(api, PROJECTS, project_body(center, activity_ids=[held]), admin)
    assert project["activity_ids"] == [held]
    unknown = await api.client.patch(
        f"{PROJECTS}/{project['id']}", json={"activity_ids": [held, 2_000_000]}, headers=admin
    )
    assert_problem(unknown, 422, "unknown_activity")
    other = await api.center(admin)
    elsewhere = await activity(api, admin, other["id"], days_ahead(3), "19:00", "20:30", "lecture")
    narrow = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    refused = await api.client.patch(
        f"{PROJECTS}/{project['id']}", json={"activity_ids": [elsewhere]}, headers=narrow
    )
    assert_problem(refused, 403, "out_of_scope")
    cleared = await api.client.patch(
        f"{PROJECTS}/{project['id']}",
        json={"activity_ids": [], "status": "completed"},
        headers=admin,
    )
    assert (cleared.json()["activity_ids"], cleared.json()["status_label"]) == ([], "已完成")
    assert (await api.client.get(f"{PROJECTS}/{project['id']}", headers=admin)).json()[
        "activity_ids"
    ] == []

    body = {"center_id": center["id"], "group": "white_collar", "people": 300, "note": "园区"}
    served = await made(api, SERVED, body, admin)
    assert served["group_label"] == "白领"
    twice = await api.client.post(SERVED, json={**body, "people": 1}, headers=admin)
    assert_problem(twice, 409, "group_already_listed")
    changed = await api.client.patch(
        f"{SERVED}/{served['id']}", json={"people": 320}, headers=admin
    )
    assert changed.json()["people"] == 320
    assert await total(api, SERVED, admin, center_id=center["id"], group="white_collar") == 1
    gone = await api.client.delete(f"{SERVED}/{served['id']}", headers=admin)
    assert gone.status_code == 204, gone.text
    assert await total(api, SERVED, admin, center_id=center["id"]) == 0


BAD_NEEDS = [
    {"category": "wishes"},
    {"people": 0},
    {"people": "3"},
    {"title": ""},
    {"title": "坏\x00字"},
    {"urgency": "asap"},
    {"source": "staff", "source_id": 7},
    {"group": "aliens"},
    {"unknown": 1},
]


@pytest.mark.parametrize("bad", BAD_NEEDS)
async def test_a_bad_need_is_refused_and_changes_nothing(api: Api, bad: Json) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    answer = await api.client.post(NEEDS, json=need_body(center, **bad), headers=admin)
    assert_problem(answer, 422, "validation_failed")
    assert await total(api, NEEDS, admin, center_id=center["id"]) == 0


async def test_bad_changes_are_refused_and_change_nothing(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    need = await made(api, NEEDS, need_body(center), admin)
    resource = await made(api, RESOURCES, resource_body(center), admin)
    project = await made(api, PROJECTS, project_body(center), admin)
    for body in (
        {},
        {"resource_id": resource["id"], "project_id": project["id"]},
        {"resource_id": resource["id"], "covers": 0},
        {"resource_id": "1"},
    ):
        assert_problem(await match(api, need, admin, **body), 422, "validation_failed")
    assert_problem(await match(api, need, admin, resource_id=2_000_000), 404, "not_found")
    for path, body in (
        (f"{NEEDS}/{need['id']}", {"people": None}),
        (f"{NEEDS}/{need['id']}", {"source": "suggestion"}),
        (f"{RESOURCES}/{resource['id']}", {"available_from": "2026-13-01"}),
        (f"{PROJECTS}/{project['id']}", {"activity_ids": [1, 1]}),
    ):
        answer = await api.client.patch(path, json=body, headers=admin)
        assert_problem(answer, 422, "validation_failed")
    late = await api.client.patch(
        f"{RESOURCES}/{resource['id']}",
        json={"available_from": "2026-06-10", "available_until": "2026-06-01"},
        headers=admin,
    )
    assert_problem(late, 422, "dates_out_of_order")
    backwards = project_body(center, starts_on="2026-06-10", ends_on="2026-06-01")
    assert_problem(
        await api.client.post(PROJECTS, json=backwards, headers=admin), 422, "validation_failed"
    )
    assert_problem(
        await api.client.post(NEEDS, json=need_body(center, center_id=2_000_000), headers=admin),
        404,
        "not_found",
    )
    assert_problem(await api.client.get(f"{NEEDS}/0", headers=admin), 422, "validation_failed")
    after = await api.client.get(f"{NEEDS}/{need['id']}", headers=admin)
    assert (after.json()["people"], after.json()["matches"]) == (10, [])
    still = await api.client.get(f"{RESOURCES}/{resource['id']}", headers=admin)
    assert (still.json()["available_from"], still.json()["available_until"]) == (None, None)
    assert await total(api, PROJECTS, admin, center_id=center["id"]) == 1


async def test_needs_met_are_counted_in_the_evaluation(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    need = await made(api, NEEDS, need_body(center, people=2), admin)
    open_need = await made(api, NEEDS, need_body(center, people=2), admin)
    project = await made(api, PROJECTS, project_body(center), admin)
    assert (await match(api, need, admin, project_id=project["id"])).status_code == 201
    assert (
        await match(api, open_need, admin, project_id=project["id"], covers=1)
    ).status_code == 201
    period = local_today().strftime("%Y-%m")
    answer = await api.client.get(
        f"{ADMIN}/evaluations",
        params={"period": period, "ancestor_id": center["id"]},
        headers=admin,
    )
    assert answer.status_code == 200, answer.text
    [row] = answer.json()["rows"]
    assert row["needs_met"] == 1
    assert "needs_met" in answer.json()["weights"]


async def test_the_trail_of_an_entry_is_read_in_its_centers_scope(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    elsewhere = await api.center(admin)
    need = await made(api, NEEDS, need_body(center, people=1), admin)
    project = await made(api, PROJECTS, project_body(center), admin)
    assert (await match(api, need, admin, project_id=project["id"])).status_code == 201
    covering = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    outside = await api.staff(StaffRole.center_admin, center_ids=[elsewhere["id"]])

    async def actions(who: Headers, entity: str, entity_id: int) -> list[str]:
        params: dict[str, str | int] = {"entity": entity, "entity_id": entity_id}
        answer = await api.client.get(f"{ADMIN}/audit", params=params, headers=who)
        assert answer.status_code == 200, answer.text
        return sorted(event["action"] for event in answer.json()["items"])

    assert await actions(covering, "need", need["id"]) == ["create", "match"]
    assert await actions(covering, "project", project["id"]) == ["create"]
    assert await actions(outside, "need", need["id"]) == []


async def test_matches_at_once_cover_a_need_once(api: Api) -> None:
    """The need's row is locked while its matches are counted: of five
    matches sent at once for its one person, one lands."""
    admin = await api.staff()
    center = await api.center(admin)
    need = await made(api, NEEDS, need_body(center, people=1), admin)
    project = await made(api, PROJECTS, project_body(center), admin)
    answers = await asyncio.gather(
        *(match(api, need, admin, project_id=project["id"]) for _ in range(5))
    )
    assert sorted(answer.status_code for answer in answers) == [201, 409, 409, 409, 409]
    after = await api.client.get(f"{NEEDS}/{need['id']}", headers=admin)
    assert (after.json()["status"], after.json()["covered"]) == ("met", 1)
    assert len(after.json()["matches"]) == 1
