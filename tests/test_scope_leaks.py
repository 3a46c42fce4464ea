"""A staff act changes only what lies in the actor's scope (README, "Security"):
deactivating a resident whose bookings lie elsewhere, or re-binding a number
held by an account that lies elsewhere, is refused as a whole with
403 out_of_scope and changes nothing; super admins are excepted.
"""

from typing import Any

import httpx
import pytest

from app.models import StaffRole
from tests.factories import (
    Api,
    Headers,
    Json,
    book,
    days_ahead,
    id_number,
    remember_personal_data,
    verify_real_name,
)
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates


async def room_in(api: Api, district: str, **overrides: Any) -> tuple[Json, Json]:
    """A center in ``district`` and a meeting room in it."""
    center = await api.center(district=district)
    room = await api.space(center["id"], **overrides)
    return center, room


async def booked(api: Api, resident: Headers, room: Json, start: str = "10:00") -> int:
    response = await book(
        api, resident, room["id"], days_ahead(1), start, f"{int(start[:2]) + 1}:00"
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def user_id(api: Api, resident: Headers) -> int:
    return int((await api.client.get("/api/v1/me", headers=resident)).json()["id"])


async def status_of(api: Api, reservation_id: int) -> str:
    found = await api.client.get(
        f"/api/v1/reservations/{reservation_id}", headers=await api.staff()
    )
    return str(found.json()["status"])


async def is_active(api: Api, resident_id: int) -> bool:
    found = await api.client.get(f"/api/v1/admin/users/{resident_id}", headers=await api.staff())
    return bool(found.json()["is_active"])


async def deactivate(api: Api, staff: Headers, resident_id: int) -> httpx.Response:
    return await api.client.post(
        f"/api/v1/admin/users/{resident_id}/deactivate",
        json={"reason": "冒用他人身份"},
        headers=staff,
    )


# --- deactivation -------------------------------------------------------------------


async def test_a_district_admin_cannot_deactivate_a_resident_booked_in_another_district(
    api: Api,
) -> None:
    _, putuo_room = await room_in(api, "普陀区")
    _, minhang_room = await room_in(api, "闵行区")
    resident = await api.resident()
    resident_id = await user_id(api, resident)
    here = await booked(api, resident, putuo_room)
    there = await booked(api, resident, minhang_room)
    putuo = await api.staff(StaffRole.district_admin, district="普陀区")

    assert_problem(await deactivate(api, putuo, resident_id), 403, "out_of_scope")
    assert await is_active(api, resident_id)  # nothing changed, in either district
    assert (await status_of(api, here), await status_of(api, there)) == ("confirmed", "confirmed")
    assert (await api.client.get("/api/v1/me", headers=resident)).status_code == 200

    assert (await deactivate(api, await api.staff(), resident_id)).status_code == 200
    assert (await status_of(api, here), await status_of(api, there)) == ("cancelled", "cancelled")


async def test_a_district_admin_deactivates_a_resident_booked_only_in_their_district(
    api: Api,
) -> None:
    _, putuo_room = await room_in(api, "普陀区")
    _, minhang_room = await room_in(api, "闵行区")
    resident = await api.resident()
    resident_id = await user_id(api, resident)
    here = await booked(api, resident, putuo_room)
    # What is over elsewhere changes nothing there: only running bookings count.
    cancelled = await booked(api, resident, minhang_room)
    withdrawn = await api.client.post(
        f"/api/v1/reservations/{cancelled}/cancel", json={}, headers=resident
    )
    assert withdrawn.status_code == 200, withdrawn.text
    putuo = await api.staff(StaffRole.district_admin, district="普陀区")

    done = await deactivate(api, putuo, resident_id)
    assert done.status_code == 200, done.text
    assert done.json()["is_active"] is False
    assert await status_of(api, here) == "cancelled"


# --- re-binding -------------------------------------------------------------------------


async def rebind(
    api: Api, staff: Headers, claimant_id: int, number: str, center_id: int
) -> httpx.Response:
    remember_personal_data(number)
    return await api.client.post(
        "/api/v1/admin/real-names/rebind",
        json={
            "user_id": claimant_id,
            "name": "陈晓明",
            "id_number": number,
            "center_id": center_id,
            "reason": "本人持证到柜台申诉",
        },
        headers=staff,
    )


async def holder_of(api: Api, number: str) -> Headers:
    holder = await api.resident()
    assert (await verify_real_name(api, holder, number)).status_code == 200
    return holder


async def verified(api: Api, resident: Headers) -> bool:
    return bool((await api.client.get("/api/v1/me", headers=resident)).json()["real_name_verified"])


async def test_a_center_admin_cannot_rebind_a_number_held_by_an_account_elsewhere(
    api: Api,
) -> None:
    counter, room = await room_in(api, "普陀区")
    _, elsewhere = await room_in(api, "普陀区")  # another center, same district
    admin = await api.staff(StaffRole.center_admin, center_ids=[counter["id"]])
    claimant = await api.resident()
    claimant_id = await user_id(api, claimant)

    # Booked here and at another center: not (only) this admin's.
    number = id_number(61)
    holder = await holder_of(api, number)
    await booked(api, holder, room)
    there = await booked(api, holder, elsewhere)
    assert_problem(
        await rebind(api, admin, claimant_id, number, counter["id"]), 403, "out_of_scope"
    )
    assert await verified(api, holder)
    assert not await verified(api, claimant)
    assert await status_of(api, there) == "confirmed"

    # Never booked anywhere: nobody's but a super admin's.
    loner_number = id_number(62)
    loner = await holder_of(api, loner_number)
    refused = await rebind(api, admin, claimant_id, loner_number, counter["id"])
    assert_problem(refused, 403, "out_of_scope")
    assert await verified(api, loner)

    # The district admin covers both centers; a super admin covers everything.
    district = await api.staff(StaffRole.district_admin, district="普陀区")
    moved = await rebind(api, district, claimant_id, number, counter["id"])
    assert moved.status_code == 200, moved.text
    assert not await verified(api, holder)
    other_claimant = await user_id(api, await api.resident())
    by_super = await rebind(api, await api.staff(), other_claimant, loner_number, counter["id"])
    assert by_super.status_code == 200, by_super.text
    assert not await verified(api, loner)


async def test_a_center_admin_rebinds_a_number_held_by_an_account_of_their_center(
    api: Api,
) -> None:
    counter, room = await room_in(api, "普陀区")
    study = await api.space(
        counter["id"],
        kind="study_room",
        booking_mode="shared",
        capacity=10,
        requires_real_name=True,
    )
    admin = await api.staff(StaffRole.center_admin, center_ids=[counter["id"]])
    number = id_number(63)
    holder = await holder_of(api, number)
    await booked(api, holder, room)
    needs_name = await booked(api, holder, study, start="14:00")
    claimant = await api.resident()

    moved = await rebind(api, admin, await user_id(api, claimant), number, counter["id"])
    assert moved.status_code == 200, moved.text
    assert (await verified(api, holder), await verified(api, claimant)) == (False, True)
    assert await status_of(api, needs_name) == "cancelled"
