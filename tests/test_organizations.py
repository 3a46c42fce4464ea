"""Organizations: registration, verification, members, booking on their account."""

import pytest
from sqlalchemy import update

from app.core.clock import utcnow
from app.models import Invitation, StaffRole
from tests.factories import Api, book, days_ahead, member_of, organization, uscc
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

DAY = days_ahead(3)


async def test_registration_makes_the_creator_owner_and_waits_for_staff(api: Api) -> None:
    owner = await api.resident()
    body = {
        "name": "上海苏河湾数字科技有限公司",
        "uscc": "91350100M000100Y43",
        "contact_name": "孙经理",
        "contact_phone": "13812345678",
    }
    response = await api.client.post("/api/v1/organizations", json=body, headers=owner)
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["status"], created["my_role"]) == ("pending", "owner")
    assert created["contact_phone"] == "13812345678"  # the owner sees it whole
    mine = (await api.client.get("/api/v1/organizations/mine", headers=owner)).json()
    assert [item["id"] for item in mine["items"]] == [created["id"]]
    assert (mine["total"], mine["limit"], mine["offset"]) == (1, 50, 0)

    again = await api.client.post("/api/v1/organizations", json=body, headers=await api.resident())
    assert_problem(again, 409, "uscc_taken")


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"uscc": "91350100M000100Y44"}, 422, "invalid_uscc"),
        ({"uscc": "91350100M000100Y4"}, 422, "validation_failed"),
        ({"contact_phone": "12345"}, 422, "validation_failed"),
        ({"contact_phone": "23800138000"}, 422, "validation_failed"),
        ({"center_id": 4040}, 404, "not_found"),
    ],
)
async def test_bad_registrations_are_refused(
    api: Api, change: dict[str, object], status: int, code: str
) -> None:
    body = {
        "name": "测试公司",
        "uscc": uscc(1),
        "contact_name": "孙经理",
        "contact_phone": "13800138000",
        **change,
    }
    owner = await api.resident()
    response = await api.client.post("/api/v1/organizations", json=body, headers=owner)
    assert_problem(response, status, code)
    assert (await api.client.get("/api/v1/organizations/mine", headers=owner)).json() == {
        "items": [],
        "total": 0,
        "limit": 50,
        "offset": 0,
    }


async def test_staff_verify_and_reject_within_their_scope(api: Api) -> None:
    admin = await api.staff()
    home = await api.center(admin)
    elsewhere = await api.center(admin)
    org = await organization(api, await api.resident(), verified=False, center_id=home["id"])
    outsider = await api.staff(StaffRole.center_admin, center_ids=[elsewhere["id"]])
    local = await api.staff(StaffRole.center_admin, center_ids=[home["id"]])
    path = f"/api/v1/admin/organizations/{org['id']}"

    assert_problem(await api.client.post(f"{path}/verify", headers=outsider), 403, "out_of_scope")
    assert (await api.client.get("/api/v1/admin/organizations", headers=outsider)).json()[
        "total"
    ] == 0
    listing = await api.client.get(
        "/api/v1/admin/organizations", params={"status": "pending"}, headers=local
    )
    assert [item["id"] for item in listing.json()["items"]] == [org["id"]]
    verified = await api.client.post(f"{path}/verify", headers=local)
    assert verified.json()["status"] == "verified"
    assert_problem(
        await api.client.post(f"{path}/verify", headers=local), 409, "invalid_transition"
    )
    rejected = await api.client.post(
        f"{path}/reject", json={"reason": "营业执照已吊销"}, headers=local
    )
    assert (rejected.json()["status"], rejected.json()["status_reason"]) == (
        "rejected",
        "营业执照已吊销",
    )


async def test_invitations_are_one_time_and_expire(api: Api) -> None:
    owner = await api.resident()
    org = await organization(api, owner)
    invitation = await api.client.post(
        f"/api/v1/organizations/{org['id']}/invitations", headers=owner
    )
    code = invitation.json()["code"]
    colleague = await api.resident()
    joined = await api.client.post(
        "/api/v1/organizations/join", json={"code": code}, headers=colleague
    )
    assert joined.json()["my_role"] == "member"
    twice = await api.client.post(
        "/api/v1/organizations/join", json={"code": code}, headers=colleague
    )
    assert twice.status_code == 200  # joining again is idempotent
    reused = await api.client.post(
        "/api/v1/organizations/join", json={"code": code}, headers=await api.resident()
    )
    assert_problem(reused, 404, "invitation_invalid")
    guessed = await api.client.post(
        "/api/v1/organizations/join", json={"code": "guess-me-0000"}, headers=await api.resident()
    )
    assert_problem(guessed, 404, "invitation_invalid")

    stale = await api.client.post(f"/api/v1/organizations/{org['id']}/invitations", headers=owner)
    async with api.database.writer.begin() as session:
        await session.execute(update(Invitation).values(expires_at=utcnow()))
    expired = await api.client.post(
        "/api/v1/organizations/join",
        json={"code": stale.json()["code"]},
        headers=await api.resident(),
    )
    assert_problem(expired, 404, "invitation_invalid")


async def test_who_may_do_what_with_an_organization(api: Api) -> None:
    """Owner, member, former member, outsider and staff, on every organization route."""
    owner = await api.resident()
    org = await organization(api, owner, center_id=(await api.center())["id"])
    member = await member_of(api, owner, org["id"])
    former = await member_of(api, owner, org["id"])
    left = await api.client.post(f"/api/v1/organizations/{org['id']}/leave", headers=former)
    assert left.status_code == 204
    outsider = await api.resident()
    staff = await api.staff()
    base = f"/api/v1/organizations/{org['id']}"

    seen_by_member = (await api.client.get(base, headers=member)).json()
    assert seen_by_member["my_role"] == "member"
    assert seen_by_member["contact_phone"] == "138****8000"
    assert (await api.client.get(base, headers=staff)).json()["contact_phone"] == "13800138000"
    for stranger in (outsider, former):
        assert_problem(await api.client.get(base, headers=stranger), 404, "not_found")
        assert_problem(await api.client.get(f"{base}/quota", headers=stranger), 404, "not_found")
        assert_problem(await api.client.get(f"{base}/members", headers=stranger), 404, "not_found")
        response = await api.client.post(f"{base}/invitations", headers=stranger)
        assert_problem(response, 404, "not_found")
        assert_problem(await api.client.post(f"{base}/leave", headers=stranger), 404, "not_found")
    for owner_only in (
        ("POST", f"{base}/invitations", None),
        ("GET", f"{base}/members", None),
        ("POST", f"{base}/transfer", {"user_id": 1}),
        ("DELETE", f"{base}/members/1", None),
    ):
        method, path, body = owner_only
        response = await api.client.request(method, path, json=body, headers=member)
        assert_problem(response, 403, "owner_only")

    members = (await api.client.get(f"{base}/members", headers=owner)).json()
    assert sorted(item["role"] for item in members["items"]) == ["member", "owner"]
    assert (await api.client.get(f"{base}/members", headers=staff)).json()["total"] == 2
    second = await api.client.get(
        f"{base}/members", params={"limit": 1, "offset": 1}, headers=owner
    )
    assert [item["user_id"] for item in second.json()["items"]] == [members["items"][1]["user_id"]]
    assert (second.json()["total"], second.json()["limit"], second.json()["offset"]) == (2, 1, 1)
    assert_problem(
        await api.client.post(f"{base}/leave", headers=owner), 409, "owner_must_transfer"
    )


async def test_ownership_moves_and_members_can_be_removed(api: Api) -> None:
    owner = await api.resident()
    org = await organization(api, owner)
    member = await member_of(api, owner, org["id"])
    member_id = (await api.client.get("/api/v1/me", headers=member)).json()["id"]
    base = f"/api/v1/organizations/{org['id']}"
    assert_problem(
        await api.client.post(f"{base}/transfer", json={"user_id": 999}, headers=owner),
        422,
        "member_not_found",
    )
    moved = await api.client.post(f"{base}/transfer", json={"user_id": member_id}, headers=owner)
    assert moved.json()["my_role"] == "member"
    assert (await api.client.get(base, headers=member)).json()["my_role"] == "owner"
    owner_id = (await api.client.get("/api/v1/me", headers=owner)).json()["id"]
    removed = await api.client.delete(f"{base}/members/{owner_id}", headers=member)
    assert removed.status_code == 204
    assert_problem(await api.client.get(base, headers=owner), 404, "not_found")


# --- booking on an organization's account -----------------------------------------


async def test_members_book_for_their_organization(api: Api) -> None:
    owner = await api.resident()
    org = await organization(api, owner)
    colleague = await member_of(api, owner, org["id"])
    space = await api.space()
    booked = await book(
        api, colleague, space["id"], DAY, "10:00", "11:00", organization_id=org["id"]
    )
    assert booked.status_code == 201, booked.text
    assert booked.json()["organization_name"] == org["name"]

    outsider = await api.resident()
    response = await book(
        api, outsider, space["id"], DAY, "14:00", "15:00", organization_id=org["id"]
    )
    assert_problem(response, 403, "not_a_member")

    # Every member sees the organization's bookings; outsiders do not.
    listing = await api.client.get(
        "/api/v1/reservations", params={"organization_id": org["id"]}, headers=owner
    )
    assert [item["id"] for item in listing.json()["items"]] == [booked.json()["id"]]
    path = f"/api/v1/reservations/{booked.json()['id']}"
    assert (await api.client.get(path, headers=owner)).status_code == 200
    assert_problem(await api.client.get(path, headers=outsider), 404, "not_found")
    staff_view = await api.client.get(path, headers=await api.staff())
    assert staff_view.json()["organization_name"] == org["name"]

    # The owner may cancel a colleague's booking; another member may not.
    third = await member_of(api, owner, org["id"])
    assert_problem(await api.client.post(f"{path}/cancel", headers=third), 403, "forbidden")
    cancelled = await api.client.post(f"{path}/cancel", headers=owner)
    assert cancelled.json()["status"] == "cancelled"


async def test_spaces_can_require_a_verified_organization(api: Api) -> None:
    space = await api.space(requires_organization=True)
    owner = await api.resident()
    pending = await organization(api, owner, verified=False)
    verified = await organization(api, owner)
    assert_problem(
        await book(api, owner, space["id"], DAY, "10:00", "11:00"), 403, "organization_required"
    )
    response = await book(
        api, owner, space["id"], DAY, "10:00", "11:00", organization_id=pending["id"]
    )
    assert_problem(response, 403, "organization_not_verified")
    response = await book(
        api, owner, space["id"], DAY, "10:00", "11:00", organization_id=verified["id"]
    )
    assert response.status_code == 201
