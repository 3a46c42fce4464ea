"""Account lifecycle: staff deactivate residents; residents export and erase
their data (PIPL Arts. 44-47); old personal data is purged; staff reads of
unmasked personal data are logged."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.accounts import service as accounts
from app.core.clock import utcnow
from app.models import AuditEvent, DoorAttempt, StaffRole, User
from tests.factories import (
    Api,
    Headers,
    book,
    days_ahead,
    door,
    id_number,
    member_of,
    organization,
    verify_real_name,
)
from tests.test_doors import book_now, door_code, study_room, try_code
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates


async def me(api: Api, headers: Headers) -> dict[str, object]:
    response = await api.client.get("/api/v1/me", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_a_deactivated_resident_is_stopped_at_once(api: Api) -> None:
    staff = await api.staff()
    resident = await api.resident("to-deactivate")
    user_id = (await me(api, resident))["id"]
    room = await api.space()
    booked = (await book(api, resident, room["id"], days_ahead(1), "10:00", "11:00")).json()

    response = await api.client.post(
        f"/api/v1/admin/users/{user_id}/deactivate", json={"reason": "冒用他人身份"}, headers=staff
    )
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    # The token issued before keeps its signature, but the account behind it is off.
    assert_problem(await api.client.get("/api/v1/me", headers=resident), 401, "account_deactivated")
    refused = await book(api, resident, room["id"], days_ahead(2), "10:00", "11:00")
    assert_problem(refused, 401, "account_deactivated")
    login = await api.client.post("/api/v1/auth/wechat", json={"code": "dev:to-deactivate"})
    assert_problem(login, 401, "account_deactivated")
    seen = await api.client.get(f"/api/v1/reservations/{booked['id']}", headers=staff)
    assert (seen.json()["status"], seen.json()["status_reason"]) == (
        "cancelled",
        "账号已停用：冒用他人身份",
    )

    again = await api.client.post(
        f"/api/v1/admin/users/{user_id}/activate", json={"reason": "核实后恢复"}, headers=staff
    )
    assert again.json()["is_active"] is True
    assert (await api.client.get("/api/v1/me", headers=resident)).status_code == 200
    async with api.database.reader() as session:
        actions = (
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.entity == "user").order_by(AuditEvent.id)
            )
        ).all()
    assert actions == ["deactivate", "activate"]


async def test_only_district_and_super_admins_manage_residents(api: Api) -> None:
    center = await api.center()
    center_admin = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    user_id = (await me(api, await api.resident()))["id"]
    path = f"/api/v1/admin/users/{user_id}/deactivate"
    refused = await api.client.post(path, json={"reason": "x"}, headers=center_admin)
    assert_problem(refused, 403, "out_of_scope")
    district = await api.staff(StaffRole.district_admin, district="普陀区")
    assert (await api.client.post(path, json={"reason": "x"}, headers=district)).status_code == 200
    assert_problem(
        await api.client.post(path, json={"reason": "x"}, headers=await api.resident()),
        403,
        "forbidden",
    )
    assert_problem(
        await api.client.post(
            "/api/v1/admin/users/999999/deactivate", json={"reason": "x"}, headers=district
        ),
        404,
        "not_found",
    )


async def test_the_export_holds_everything_about_me_and_only_me_unmasked(
    doors_api: Api,
) -> None:
    api = doors_api
    resident = await api.resident("exporter")
    number = id_number(51, born="19880808")
    assert (await verify_real_name(api, resident, number, name="欧阳小明")).status_code == 200
    company = await organization(api, resident)
    room = await study_room(api)
    door_id, device = await door(api, room)
    booked = await book_now(api, resident, room)
    code = (await door_code(api, resident, booked["id"]))["door_code"]
    assert (await try_code(api, door_id, device, code)).json()["granted"] is True
    stranger = await api.resident()
    await verify_real_name(api, stranger, id_number(52))

    response = await api.client.get("/api/v1/me/export", headers=resident)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    exported = response.json()
    profile = exported["profile"]
    assert profile["openid"] == "dev-exporter"
    assert profile["real_name"] == {
        "verified": True,
        "name": "欧阳小明",
        "id_number": number,
        "provider": "format_only",
        "verified_at": profile["real_name"]["verified_at"],
    }
    assert [org["organization_id"] for org in exported["organizations"]] == [company["id"]]
    assert exported["organizations"][0]["role"] == "owner"
    assert [item["id"] for item in exported["reservations"]] == [booked["id"]]
    assert [entry["action"] for entry in exported["reservations"][0]["history"]] == [
        "create",
        "check_in",
    ]
    assert [(a["door_id"], a["outcome"]) for a in exported["door_attempts"]] == [
        (door_id, "granted")
    ]
    assert id_number(52) not in response.text
    assert code not in response.text  # door codes are read at /access, not exported
    staff_export = await api.client.get("/api/v1/me/export", headers=await api.staff())
    assert_problem(staff_export, 403, "forbidden")


async def test_erasure_waits_for_my_bookings_and_my_organizations(api: Api) -> None:
    resident = await api.resident()
    room = await api.space()
    booked = (await book(api, resident, room["id"], days_ahead(1), "10:00", "11:00")).json()
    refused = await api.client.delete("/api/v1/me", headers=resident)
    assert_problem(refused, 409, "live_bookings_exist")
    await api.client.post(f"/api/v1/reservations/{booked['id']}/cancel", headers=resident)

    company = await organization(api, resident)
    assert_problem(
        await api.client.delete("/api/v1/me", headers=resident), 409, "organization_owner"
    )
    colleague = await member_of(api, resident, company["id"])
    successor = (await me(api, colleague))["id"]
    handed = await api.client.post(
        f"/api/v1/organizations/{company['id']}/transfer",
        json={"user_id": successor},
        headers=resident,
    )
    assert handed.status_code == 200, handed.text
    assert (await api.client.delete("/api/v1/me", headers=resident)).status_code == 204
    members = await api.client.get(
        f"/api/v1/organizations/{company['id']}/members", headers=colleague
    )
    assert [member["user_id"] for member in members.json()["items"]] == [successor]


async def test_erasure_after_handing_over_and_cancelling(api: Api) -> None:
    resident = await api.resident("leaver")
    number = id_number(54)
    assert (await verify_real_name(api, resident, number)).status_code == 200
    user_id = (await me(api, resident))["id"]
    room = await api.space()
    booked = (await book(api, resident, room["id"], days_ahead(1), "10:00", "11:00")).json()
    await api.client.post(f"/api/v1/reservations/{booked['id']}/cancel", headers=resident)

    erased = await api.client.delete("/api/v1/me", headers=resident)
    assert erased.status_code == 204, erased.text
    assert_problem(await api.client.get("/api/v1/me", headers=resident), 401, "invalid_token")
    async with api.database.reader() as session:
        row = await session.get(User, user_id)
    assert row is not None
    assert (row.openid, row.id_number_index, row.id_number_sealed, row.name_sealed) == (
        f"erased:{user_id}",
        None,
        None,
        None,
    )
    assert row.erased_at is not None
    staff_view = await api.client.get(
        f"/api/v1/reservations/{booked['id']}", headers=await api.staff()
    )
    assert staff_view.json()["user_id"] == user_id  # the booking stays, anonymous
    # The number is free again, and logging in with the same WeChat starts afresh.
    again = await api.resident("leaver")
    assert (await me(api, again))["id"] != user_id
    assert (await verify_real_name(api, again, number)).status_code == 200


async def test_old_door_attempts_and_audit_details_are_purged(api: Api) -> None:
    resident = await api.resident()
    room = await study_room(api, requires_real_name=False)
    door_id, device = await door(api, room)
    await try_code(api, door_id, device, "12345678")
    staff = await api.staff()
    booked = await book_now(api, resident, room)
    await api.client.post(
        f"/api/v1/reservations/{booked['id']}/cancel",
        json={"reason": "住户张三来电"},
        headers=staff,
    )
    settings = api.app.state.settings
    later = utcnow() + timedelta(days=settings.audit_personal_data_retention_days + 1)
    async with api.database.writer.begin() as session:
        kept = await accounts.purge_personal_data(session, settings, utcnow())
        assert (kept.door_attempts_deleted, kept.audit_events_cleared) == (0, 0)
        purged = await accounts.purge_personal_data(session, settings, later)
    assert purged.door_attempts_deleted == 1
    async with api.database.reader() as session:
        assert (await session.scalars(select(DoorAttempt))).all() == []
        events = (
            await session.execute(
                select(AuditEvent.reason, AuditEvent.actor_kind, AuditEvent.actor_id)
            )
        ).all()
    assert events
    assert all(reason is None for reason, _, _ in events)
    assert all(actor_id is None for _, kind, actor_id in events if kind.value == "user")


async def test_staff_reads_of_a_contacts_whole_phone_are_logged(api: Api) -> None:
    owner = await api.resident()
    company = await organization(api, owner, verified=False)
    staff = await api.staff()
    listed = await api.client.get("/api/v1/admin/organizations", headers=staff)
    assert listed.json()["items"][0]["contact_phone"] == "138****8000"
    read = await api.client.get(f"/api/v1/organizations/{company['id']}", headers=staff)
    assert read.json()["contact_phone"] == "13800138000"
    async with api.database.reader() as session:
        logged = (
            await session.execute(
                select(AuditEvent.entity_id, AuditEvent.action, AuditEvent.actor_kind).where(
                    AuditEvent.action == "read_contact"
                )
            )
        ).all()
    assert [(entity_id, kind.value) for entity_id, _, kind in logged] == [(company["id"], "staff")]
