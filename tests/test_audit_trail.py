"""The audit trail through ``GET /admin/audit``: filters, pages, the
caller's scope, personal-data reads, the CSV export, and every read audited
(README, "The audit trail")."""

import csv
import io
from datetime import timedelta
from typing import Any

from app.core.clock import utcnow
from app.models import StaffRole
from tests.factories import Api, Headers, organization
from tests.test_errors import assert_problem

AUDIT = "/api/v1/admin/audit"
XUHUI = {"district": "徐汇区", "street": "天平路街道"}


async def trail(api: Api, headers: Headers, **params: Any) -> dict[str, Any]:
    response = await api.client.get(AUDIT, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def rename(api: Api, headers: Headers, space_id: int, name: str) -> None:
    response = await api.client.patch(
        f"/api/v1/admin/spaces/{space_id}", json={"name": name}, headers=headers
    )
    assert response.status_code == 200, response.text


async def two_centers(api: Api, admin: Headers) -> tuple[dict[str, Any], dict[str, Any]]:
    ours = await api.space(headers=admin)
    theirs = await api.space((await api.center(admin, **XUHUI))["id"], headers=admin)
    return ours, theirs


async def test_super_admins_read_every_event_filtered_and_paged(api: Api) -> None:
    admin = await api.staff()
    ours, theirs = await two_centers(api, admin)
    await rename(api, admin, ours["id"], "新名字一")
    await rename(api, admin, ours["id"], "新名字二")
    await rename(api, admin, theirs["id"], "新名字三")
    me = (await api.client.get("/api/v1/admin/me", headers=admin)).json()

    page = await trail(api, admin, entity="space", entity_id=ours["id"], limit=1)
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (2, 1, 0, 1)
    newest = page["items"][0]
    assert newest["action"] == "update"
    assert newest["actor_kind"] == "staff"
    assert (newest["actor_id"], newest["actor_username"]) == (me["id"], me["username"])
    second = await trail(api, admin, entity="space", entity_id=ours["id"], limit=1, offset=1)
    assert second["items"][0]["id"] < newest["id"]

    spaces = await trail(api, admin, entity="space", action="update", actor_kind="staff")
    assert spaces["total"] == 3
    later = (utcnow() + timedelta(hours=1)).isoformat()
    assert (await trail(api, admin, entity="space", **{"from": later}))["total"] == 0
    assert (await trail(api, admin, entity="space", to=later))["total"] == 3
    assert (await trail(api, admin, actor_kind="user", actor_id=me["id"]))["total"] == 0


async def test_staff_read_the_events_in_their_scope_and_their_own(api: Api) -> None:
    admin = await api.staff()
    ours, theirs = await two_centers(api, admin)
    await rename(api, admin, ours["id"], "我们的")
    await rename(api, admin, theirs["id"], "他们的")
    counter = await api.staff(StaffRole.center_admin, center_ids=[ours["center_id"]])
    seen = await trail(api, counter, entity="space")
    assert [item["entity_id"] for item in seen["items"]] == [ours["id"]]
    assert (await trail(api, counter, entity="space", entity_id=theirs["id"]))["total"] == 0

    head = await api.staff(StaffRole.district_admin, district="普陀区")
    created = await api.client.post(
        "/api/v1/admin/staff",
        json={
            "username": "ours.counter",
            "role": "center_admin",
            "center_ids": [ours["center_id"]],
        },
        headers=admin,
    )
    other = await api.client.post(
        "/api/v1/admin/staff",
        json={"username": "xuhui.head", "role": "district_admin", "district": "徐汇区"},
        headers=admin,
    )
    staff_events = await trail(api, head, entity="staff")
    assert [item["entity_id"] for item in staff_events["items"]] == [created.json()["staff"]["id"]]
    assert (await trail(api, head, entity="staff", entity_id=other.json()["staff"]["id"]))[
        "total"
    ] == 0
    xuhui = await api.staff(StaffRole.district_admin, district="徐汇区")
    assert [i["entity_id"] for i in (await trail(api, xuhui, entity="space"))["items"]] == [
        theirs["id"]
    ]
    # a super admin sees all of it
    assert (await trail(api, admin, entity="space"))["total"] == 2


async def test_personal_data_reads_are_in_the_trail(api: Api) -> None:
    admin = await api.staff()
    owner = await api.resident()
    company = await organization(api, owner)
    read = await api.client.get(f"/api/v1/organizations/{company['id']}", headers=admin)
    assert read.status_code == 200, read.text
    me = (await api.client.get("/api/v1/admin/me", headers=admin)).json()
    reads = await trail(api, admin, action="read_contact", actor_id=me["id"])
    assert [(i["entity"], i["entity_id"]) for i in reads["items"]] == [
        ("organization", company["id"])
    ]


async def test_reading_the_trail_is_audited_and_exported_as_csv(api: Api) -> None:
    admin = await api.staff()
    resident = await api.resident()
    user_id = (await api.client.get("/api/v1/me", headers=resident)).json()["id"]
    formula = '=HYPERLINK("http://example.invalid","x")'
    deactivated = await api.client.post(
        f"/api/v1/admin/users/{user_id}/deactivate", json={"reason": formula}, headers=admin
    )
    assert deactivated.status_code == 200, deactivated.text
    await trail(api, admin, entity="user")
    exported = await api.client.get(
        AUDIT, params={"entity": "user", "format": "csv"}, headers=admin
    )
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["id", "occurred_at", "actor_kind"]
    assert len(rows) == 2
    assert rows[1][5:8] == ["user", str(user_id), "deactivate"]
    assert rows[1][10] == "'" + formula  # a spreadsheet shows it, never runs it

    me = (await api.client.get("/api/v1/admin/me", headers=admin)).json()
    reads = await trail(api, admin, entity="audit")
    assert [(i["action"], i["entity_id"], i["reason"]) for i in reads["items"]] == [
        ("export", me["id"], "entity=user"),
        ("read", me["id"], "entity=user"),
    ]


async def test_residents_and_bad_filters_are_refused(api: Api) -> None:
    resident = await api.resident()
    assert_problem(await api.client.get(AUDIT, headers=resident), 403, "forbidden")
    assert (await api.client.get(AUDIT)).status_code == 401
    admin = await api.staff()
    bad = await api.client.get(AUDIT, params={"actor_kind": "robot"}, headers=admin)
    assert bad.status_code == 422
    bad = await api.client.get(AUDIT, params={"entity": "x'; drop"}, headers=admin)
    assert bad.status_code == 422
