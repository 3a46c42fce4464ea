"""Staff accounts through the API: super and district admins create, change,
reset and deactivate accounts within their reach (README, "Staff accounts");
a password set by someone else must be changed before anything else; staff
change their own password and read what is known of their sessions."""

from typing import Any

import pytest
from sqlalchemy import select

from app.models import AuditEvent, StaffRole
from tests.factories import STAFF_PASSWORD, Api, Headers, bearer
from tests.test_errors import assert_problem

STAFF = "/api/v1/admin/staff"
OTHER_DISTRICT = "徐汇区"


async def sign_in(api: Api, username: str, password: str) -> Headers:
    response = await api.client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"])


async def create(api: Api, headers: Headers, **body: Any) -> dict[str, Any]:
    response = await api.client.post(STAFF, json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def events(api: Api, entity_id: int) -> list[tuple[str, int | None]]:
    async with api.database.reader.begin() as session:
        rows = await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity == "staff", AuditEvent.entity_id == entity_id)
            .order_by(AuditEvent.id)
        )
        return [(event.action, event.actor_id) for event in rows]


async def test_a_new_account_changes_its_generated_password_before_anything_else(
    api: Api,
) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    created = await create(
        api, admin, username="new.counter", role="center_admin", center_ids=[center["id"]]
    )
    account, password = created["staff"], created["password"]
    assert len(password) >= 16
    assert account["must_change_password"] is True
    assert account["center_ids"] == [center["id"]]
    assert password not in (await api.client.get(f"{STAFF}/{account['id']}", headers=admin)).text

    fresh = await sign_in(api, "new.counter", password)
    refused = await api.client.get("/api/v1/admin/centers", headers=fresh)
    assert_problem(refused, 403, "password_change_required")
    assert_problem(
        await api.client.get("/api/v1/admin/me/sessions", headers=fresh),
        403,
        "password_change_required",
    )
    me = await api.client.get("/api/v1/admin/me", headers=fresh)
    assert me.json()["must_change_password"] is True

    short = await api.client.post(
        "/api/v1/admin/me/password",
        json={"current_password": password, "new_password": "short"},
        headers=fresh,
    )
    assert_problem(short, 422, "invalid_input")
    wrong = await api.client.post(
        "/api/v1/admin/me/password",
        json={"current_password": "not the password", "new_password": "a much longer one"},
        headers=fresh,
    )
    assert_problem(wrong, 422, "invalid_input")
    changed = await api.client.post(
        "/api/v1/admin/me/password",
        json={"current_password": password, "new_password": "a much longer one"},
        headers=fresh,
    )
    assert changed.status_code == 200, changed.text
    renewed = bearer(changed.json()["access_token"])
    centers = await api.client.get("/api/v1/admin/centers", headers=renewed)
    assert centers.status_code == 200, centers.text
    assert [c["id"] for c in centers.json()["items"]] == [center["id"]]
    await sign_in(api, "new.counter", "a much longer one")
    actions = [action for action, _ in await events(api, account["id"])]
    assert actions == ["create", "change_password"]


async def test_a_reset_password_is_shown_once_and_ends_the_accounts_sessions(api: Api) -> None:
    admin = await api.staff()
    created = await create(
        api, admin, username="district.one", role="district_admin", district="普陀区"
    )
    account_id = created["staff"]["id"]
    first = await sign_in(api, "district.one", created["password"])
    await api.client.post(
        "/api/v1/admin/me/password",
        json={"current_password": created["password"], "new_password": "chosen by me 1"},
        headers=first,
    )
    reset = await api.client.post(f"{STAFF}/{account_id}/reset-password", headers=admin)
    assert reset.status_code == 200, reset.text
    password = reset.json()["password"]
    assert reset.json()["staff"]["must_change_password"] is True
    assert password != created["password"]
    bad = await api.client.post(
        "/api/v1/auth/token", data={"username": "district.one", "password": "chosen by me 1"}
    )
    assert bad.status_code == 401
    again = await sign_in(api, "district.one", password)
    assert_problem(await api.client.get(STAFF, headers=again), 403, "password_change_required")
    out = await api.client.post("/api/v1/auth/sign-out", headers=again)
    assert out.status_code == 204
    actions = await events(api, account_id)
    assert [action for action, _ in actions] == ["create", "change_password", "reset_password"]


async def test_deactivating_ends_sessions_and_activating_restores_sign_in(api: Api) -> None:
    admin = await api.staff()
    created = await create(api, admin, username="street.one", role="street_admin",
                           district="普陀区", street="长风新村街道")  # fmt: skip
    account_id = created["staff"]["id"]
    token = await sign_in(api, "street.one", created["password"])
    off = await api.client.post(f"{STAFF}/{account_id}/deactivate", headers=admin)
    assert off.status_code == 200
    assert off.json()["is_active"] is False
    assert_problem(await api.client.get("/api/v1/admin/me", headers=token), 401, "invalid_token")
    refused = await api.client.post(
        "/api/v1/auth/token", data={"username": "street.one", "password": created["password"]}
    )
    assert refused.status_code == 401
    listed = await api.client.get(STAFF, params={"active": "false"}, headers=admin)
    assert [row["username"] for row in listed.json()["items"]] == ["street.one"]
    on = await api.client.post(f"{STAFF}/{account_id}/activate", headers=admin)
    assert on.json()["is_active"] is True
    await sign_in(api, "street.one", created["password"])
    actions = await events(api, account_id)
    assert [action for action, _ in actions] == ["create", "deactivate", "activate"]


async def test_the_list_is_paged_filtered_and_leaves_out_the_caller(api: Api) -> None:
    admin = await api.staff()
    for n in range(3):
        await create(api, admin, username=f"district.{n}", role="district_admin", district="普陀区")
    await create(api, admin, username="xuhui.head", role="district_admin", district=OTHER_DISTRICT)
    page = await api.client.get(STAFF, params={"limit": 2, "district": "普陀区"}, headers=admin)
    body = page.json()
    assert (body["total"], body["limit"], body["offset"]) == (3, 2, 0)
    assert [row["username"] for row in body["items"]] == ["district.0", "district.1"]
    found = await api.client.get(STAFF, params={"q": "xuhui"}, headers=admin)
    assert [row["username"] for row in found.json()["items"]] == ["xuhui.head"]
    by_role = await api.client.get(STAFF, params={"role": "super_admin"}, headers=admin)
    assert by_role.json()["total"] == 0  # the caller is not listed


async def test_patch_changes_role_and_scope_and_is_audited(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    created = await create(api, admin, username="moving", role="street_admin",
                           district="普陀区", street="长风新村街道")  # fmt: skip
    account_id = created["staff"]["id"]
    changed = await api.client.patch(
        f"{STAFF}/{account_id}",
        json={"role": "center_admin", "center_ids": [center["id"]], "scope": "subtree"},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    out = changed.json()
    assert (out["role"], out["district"], out["street"], out["scope"], out["center_ids"]) == (
        "center_admin", None, None, "subtree", [center["id"]]
    )  # fmt: skip
    missing = await api.client.patch(
        f"{STAFF}/{account_id}", json={"role": "district_admin"}, headers=admin
    )
    assert_problem(missing, 422, "invalid_input")
    assert [a for a, _ in await events(api, account_id)] == ["create", "update"]


async def test_a_district_admin_manages_only_their_districts_staff(api: Api) -> None:
    admin = await api.staff()
    ours = await api.center(admin)
    theirs = await api.center(admin, district=OTHER_DISTRICT, street="天平路街道")
    head = await api.staff(StaffRole.district_admin, district="普陀区")
    # creating within the district works
    made = await create(api, head, username="ours.center", role="center_admin",
                        center_ids=[ours["id"]])  # fmt: skip
    # never a super admin, never another district's
    for body in (
        {"username": "boss", "role": "super_admin"},
        {"username": "xuhui", "role": "district_admin", "district": OTHER_DISTRICT},
        {"username": "xuhui.c", "role": "center_admin", "center_ids": [theirs["id"]]},
        {"username": "mixed", "role": "center_admin", "center_ids": [ours["id"], theirs["id"]]},
    ):
        refused = await api.client.post(STAFF, json=body, headers=head)
        assert_problem(refused, 403, "forbidden")
    # another district's account and a super admin are out of reach
    other = await create(api, admin, username="xuhui.counter", role="center_admin",
                         center_ids=[theirs["id"]])  # fmt: skip
    other_id = other["staff"]["id"]
    for path in ("", "/reset-password", "/deactivate"):
        method = "GET" if not path else "POST"
        response = await api.client.request(method, f"{STAFF}/{other_id}{path}", headers=head)
        assert_problem(response, 404, "not_found")
    moved = await api.client.patch(
        f"{STAFF}/{made['staff']['id']}", json={"center_ids": [theirs["id"]]}, headers=head
    )
    assert_problem(moved, 403, "forbidden")
    listed = await api.client.get(STAFF, headers=head)
    assert [row["username"] for row in listed.json()["items"]] == ["ours.center"]


async def test_nobody_else_manages_staff_nor_themselves_here(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    counter = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    street = await api.staff(StaffRole.street_admin, district="普陀区", street="长风新村街道")
    for headers in (counter, street):
        assert_problem(await api.client.get(STAFF, headers=headers), 403, "forbidden")
        body = {"username": "sneaky", "role": "center_admin", "center_ids": [center["id"]]}
        assert_problem(await api.client.post(STAFF, json=body, headers=headers), 403, "forbidden")
    resident = await api.resident()
    assert (await api.client.get(STAFF, headers=resident)).status_code == 403
    me = (await api.client.get("/api/v1/admin/me", headers=admin)).json()
    own = await api.client.post(f"{STAFF}/{me['id']}/deactivate", headers=admin)
    assert_problem(own, 403, "forbidden")


async def test_sessions_name_this_token_and_the_trusted_devices(api: Api) -> None:
    admin = await api.staff()
    created = await create(api, admin, username="devices", role="district_admin", district="普陀区")
    first = await sign_in(api, "devices", created["password"])
    changed = await api.client.post(
        "/api/v1/admin/me/password",
        json={"current_password": created["password"], "new_password": STAFF_PASSWORD},
        headers=first,
    )
    token = bearer(changed.json()["access_token"])
    login = await api.client.post(
        "/api/v1/auth/token", data={"username": "devices", "password": STAFF_PASSWORD}
    )
    device_token = login.json()["device_token"]
    sessions = await api.client.get(
        "/api/v1/admin/me/sessions",
        headers={**token, "Zhendi-Device-Token": device_token},
    )
    assert sessions.status_code == 200, sessions.text
    body = sessions.json()
    assert body["stored"] is False
    assert body["signed_out_at"] is not None  # the password change
    assert body["current"]["issued_at"] < body["current"]["expires_at"]
    assert len(body["trusted_devices"]) == 1


@pytest.mark.parametrize("username", ["UPPER.case.ok", "no spaces allowed"])
async def test_usernames_follow_the_rule(api: Api, username: str) -> None:
    admin = await api.staff()
    response = await api.client.post(
        STAFF, json={"username": username, "role": "district_admin", "district": "普陀区"},
        headers=admin,
    )  # fmt: skip
    if " " in username:
        assert_problem(response, 422, "invalid_input")
    else:
        assert response.json()["staff"]["username"] == username.lower()
