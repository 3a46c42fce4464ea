"""The console's staff accounts, own password and audit trail pages over
HTTP: the same services (and scope, and audit) as the API's
(tests/test_staff_accounts.py, tests/test_audit_trail.py)."""

import re

import httpx

from app.models import StaffRole
from tests.factories import STAFF_PASSWORD, Api
from tests.test_console import console, csrf_of, post, staff_member
from tests.test_docs import EXTERNAL

PASSWORD = re.compile(r'<code class="password">([^<]+)</code>')


async def create_in_console(client: httpx.AsyncClient, **form: str) -> httpx.Response:
    return await post(client, "/console/staff", **form)


async def test_a_super_admin_creates_resets_and_deactivates_an_account(api: Api) -> None:
    admin = await console(api, await staff_member(api))
    center = await api.center(await api.staff())
    listing = await admin.get("/console/staff")
    assert listing.status_code == 200, listing.text
    assert EXTERNAL.findall(listing.text) == []
    assert 'id="staff-form"' in listing.text

    created = await create_in_console(
        admin, username="counter.a", role="center_admin", center_ids=str(center["id"])
    )
    assert created.status_code == 200, created.text
    assert created.headers["cache-control"] == "no-store"
    password = PASSWORD.search(created.text)
    assert password, created.text
    listing = await admin.get("/console/staff")
    assert "counter.a" in listing.text
    assert "待修改密码" in listing.text
    assert password.group(1) not in listing.text  # shown once

    # the new account sees only the password page until it changes it
    newcomer = await console(api, "counter.a", password.group(1))
    today = await newcomer.get("/console/today")
    assert today.status_code == 303
    assert today.headers["location"] == "/console/me/password"
    page = await newcomer.get("/console/me/password")
    assert "请先修改密码" in page.text
    differ = await newcomer.post(
        "/console/me/password",
        data={
            "csrf": csrf_of(page),
            "current_password": password.group(1),
            "new_password": "one long password",
            "repeat_password": "another long one",
        },
    )
    assert "error=passwords_differ" in differ.headers["location"]
    changed = await newcomer.post(
        "/console/me/password",
        data={
            "csrf": csrf_of(page),
            "current_password": password.group(1),
            "new_password": "one long password",
            "repeat_password": "one long password",
        },
    )
    assert changed.status_code == 303, changed.text
    assert "notice=password_changed" in changed.headers["location"]
    assert (await newcomer.get("/console/today")).status_code == 200  # the new session works

    account_id = re.search(r'id="staff-(\d+)"', listing.text)
    assert account_id
    reset = await post(admin, f"/console/staff/{account_id.group(1)}/reset-password")
    assert PASSWORD.search(reset.text)
    off = await post(admin, f"/console/staff/{account_id.group(1)}/deactivate")
    assert "notice=staff_deactivated" in off.headers["location"]
    assert (await newcomer.get("/console/today")).headers["location"] == "/console/login"
    on = await post(admin, f"/console/staff/{account_id.group(1)}/activate")
    assert "notice=staff_activated" in on.headers["location"]


async def test_district_and_center_admins_reach(api: Api) -> None:
    theirs = await api.center(await api.staff(), district="徐汇区", street="天平路街道")
    head = await console(api, await staff_member(api, StaffRole.district_admin, district="普陀区"))
    assert 'value="super_admin"' not in (await head.get("/console/staff")).text
    refused = await create_in_console(
        head, username="xuhui.c", role="center_admin", center_ids=str(theirs["id"])
    )
    assert refused.status_code == 303
    assert "error=forbidden" in refused.headers["location"]
    counter = await console(
        api, await staff_member(api, StaffRole.center_admin, center_ids=[theirs["id"]])
    )
    page = await counter.get("/console/staff")
    assert page.status_code == 403
    assert 'id="staff-form"' not in page.text
    assert 'href="/console/staff"' not in (await counter.get("/console/today")).text


async def test_own_password_with_the_wrong_current_one(api: Api) -> None:
    client = await console(api, await staff_member(api))
    page = await client.get("/console/me/password")
    wrong = await client.post(
        "/console/me/password",
        data={
            "csrf": csrf_of(page),
            "current_password": "not it at all",
            "new_password": "one long password",
            "repeat_password": "one long password",
        },
    )
    assert "error=invalid_input" in wrong.headers["location"]
    assert (await client.get("/console/today")).status_code == 200
    assert STAFF_PASSWORD  # still the password


async def test_the_audit_page_filters_downloads_and_is_audited(api: Api) -> None:
    admin_api = await api.staff()
    space = await api.space(headers=admin_api)
    renamed = await api.client.patch(
        f"/api/v1/admin/spaces/{space['id']}", json={"name": "=1+1 会议室"}, headers=admin_api
    )
    assert renamed.status_code == 200
    client = await console(api, await staff_member(api))
    page = await client.get("/console/audit", params={"entity": "space", "entity_id": space["id"]})
    assert page.status_code == 200, page.text
    assert EXTERNAL.findall(page.text) == []
    assert page.text.count('<tr id="event-') == 1
    assert "/console/audit.csv?entity=space" in page.text
    download = await client.get(
        "/console/audit.csv", params={"entity": "space", "entity_id": space["id"]}
    )
    assert download.headers["content-type"].startswith("text/csv")
    lines = download.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("id,occurred_at,actor_kind")
    assert len(lines) == 2
    reads = await client.get("/console/audit", params={"entity": "audit"})
    assert reads.text.count('<tr id="event-') == 2  # the read and the download
    ignored = await client.get("/console/audit", params={"entity_id": "x", "from": "soon"})
    assert ignored.status_code == 200
