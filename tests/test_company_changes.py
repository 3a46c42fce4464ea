"""Companies: a booking on one awaiting verification says so
(``403 organization_not_verified``), and the owner changes its details with
``PATCH /organizations/{id}`` — a new name or code goes back to staff."""

from typing import Any

import pytest

from app.models import StaffRole
from tests.factories import Api, Headers, book, days_ahead, member_of, organization, uscc
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

DAY = days_ahead(2)
STAFF_INBOX = "/api/v1/admin/notifications"


async def patch(api: Api, headers: Headers, organization_id: int, **body: Any) -> Any:
    return await api.client.patch(
        f"/api/v1/organizations/{organization_id}", json=body, headers=headers
    )


async def registered_told(api: Api, staff: Headers) -> list[str]:
    response = await api.client.get(STAFF_INBOX, headers=staff)
    assert response.status_code == 200, response.text
    return [
        item["body"]
        for item in response.json()["items"]
        if item["kind"] == "organization_registered"
    ]


async def test_booking_on_a_company_not_yet_verified_says_so(api: Api) -> None:
    staff = await api.staff()
    room = await api.space(headers=staff)
    company_room = await api.space(headers=staff, requires_organization=True)
    owner = await api.resident()
    pending = await organization(api, owner, verified=False)
    for space in (room, company_room):
        refused = await book(
            api, owner, space["id"], DAY, "10:00", "11:00", organization_id=pending["id"]
        )
        assert_problem(refused, 403, "organization_not_verified")
    # A personal booking where a company is required is still the other problem.
    personal = await book(api, owner, company_room["id"], DAY, "10:00", "11:00")
    assert_problem(personal, 403, "organization_required")

    rejected = await organization(api, owner, verified=False)
    decided = await api.client.post(
        f"/api/v1/admin/organizations/{rejected['id']}/reject",
        json={"reason": "营业执照模糊"},
        headers=staff,
    )
    assert decided.status_code == 200, decided.text
    refused = await book(
        api, owner, room["id"], DAY, "10:00", "11:00", organization_id=rejected["id"]
    )
    assert_problem(refused, 403, "organization_not_verified")

    verified = await api.client.post(
        f"/api/v1/admin/organizations/{pending['id']}/verify", headers=staff
    )
    assert verified.status_code == 200, verified.text
    for space in (room, company_room):
        booked = await book(
            api, owner, space["id"], DAY, "10:00", "11:00", organization_id=pending["id"]
        )
        assert booked.status_code == 201, booked.text


async def test_the_owner_changes_the_contact_and_it_stays_verified(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    owner = await api.resident()
    company = await organization(api, owner, center_id=center["id"])
    colleague = await member_of(api, owner, company["id"])
    assert len(await registered_told(api, staff)) == 1

    changed = await patch(
        api, owner, company["id"], contact_name="李主任", contact_phone="13912345678"
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["contact_name"], body["contact_phone"]) == ("李主任", "13912345678")
    assert (body["status"], body["name"], body["uscc"]) == (
        "verified",
        company["name"],
        company["uscc"],
    )
    assert len(await registered_told(api, staff)) == 1  # nothing for staff to decide
    seen = await api.client.get(f"/api/v1/organizations/{company['id']}", headers=colleague)
    assert seen.json()["contact_phone"] == "139****5678"
    space = await api.space(center["id"])
    booked = await book(
        api, colleague, space["id"], DAY, "10:00", "11:00", organization_id=company["id"]
    )
    assert booked.status_code == 201, booked.text

    # Same values again: nothing changes, the answer is the organization.
    again = await patch(api, owner, company["id"], contact_name="李主任", name=company["name"])
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "verified"

    by_colleague = await patch(api, colleague, company["id"], contact_name="王五")
    assert_problem(by_colleague, 403, "owner_only")
    by_outsider = await patch(api, await api.resident(), company["id"], contact_name="王五")
    assert_problem(by_outsider, 404, "not_found")
    for bad in (
        {"contact_phone": "12345"},
        {"contact_name": None},
        {"status": "verified"},
        {"uscc": "short"},
    ):
        assert_problem(await patch(api, owner, company["id"], **bad), 422, "validation_failed")
    unchanged = await api.client.get(f"/api/v1/organizations/{company['id']}", headers=owner)
    assert unchanged.json()["contact_name"] == "李主任"


async def test_a_new_name_or_code_sends_the_company_back_to_staff(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    owner = await api.resident()
    company = await organization(api, owner, center_id=center["id"])
    other = await organization(api, await api.resident(), center_id=center["id"])
    space = await api.space(center["id"])

    renamed = await patch(api, owner, company["id"], name="上海苏河湾数字科技有限公司")
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["status"], renamed.json()["status_reason"]) == ("pending", None)
    told = await registered_told(api, staff)
    assert len(told) == 3  # the two registrations, and this
    assert "上海苏河湾数字科技有限公司" in told[0]
    assert "重新认证" in told[0]
    refused = await book(
        api, owner, space["id"], DAY, "10:00", "11:00", organization_id=company["id"]
    )
    assert_problem(refused, 403, "organization_not_verified")
    pending = await api.client.get(
        "/api/v1/admin/organizations", params={"status": "pending"}, headers=staff
    )
    assert [item["id"] for item in pending.json()["items"]] == [company["id"]]

    verified = await api.client.post(
        f"/api/v1/admin/organizations/{company['id']}/verify", headers=staff
    )
    assert verified.status_code == 200, verified.text
    booked = await book(
        api, owner, space["id"], DAY, "10:00", "11:00", organization_id=company["id"]
    )
    assert booked.status_code == 201, booked.text

    # A code that is not valid, or that another organization holds, changes nothing.
    invalid = "91310107MA00000000"
    assert_problem(await patch(api, owner, company["id"], uscc=invalid), 422, "invalid_uscc")
    taken = await patch(api, owner, company["id"], uscc=other["uscc"], contact_name="王五")
    assert_problem(taken, 409, "uscc_taken")
    still = (await api.client.get(f"/api/v1/organizations/{company['id']}", headers=owner)).json()
    assert (still["status"], still["contact_name"]) == ("verified", company["contact_name"])

    recoded = await patch(api, owner, company["id"], uscc=uscc(4242))
    assert recoded.status_code == 200, recoded.text
    assert (recoded.json()["uscc"], recoded.json()["status"]) == (uscc(4242), "pending")
    assert len(await registered_told(api, staff)) == 4
