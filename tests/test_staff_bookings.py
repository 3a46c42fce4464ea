"""Staff book for someone (POST /admin/reservations): in their scope only,
through every rule for the person except the two staff may waive with a
reason (audited), for a resident by id or, without the app, by name and
phone (a placeholder a later WeChat login that binds the phone claims); and
the race of a staff booking against a resident's for one slot."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest

from app.core import tokens
from app.models import StaffRole
from tests.conftest import make_settings, running
from tests.factories import (
    SENT_PERSONAL_DATA,
    Api,
    Headers,
    bearer,
    book,
    days_ahead,
    id_number,
    member_of,
    organization,
    remember_personal_data,
    slot,
)
from tests.fake_wechat import APP_ID, APP_SECRET, FakeWechat, serve_fake_wechat
from tests.test_concurrency import overlapping_holders, tally, without_guard
from tests.test_errors import assert_problem
from tests.test_profile import CHECK_IN_PAGE, bind_phone, sent_phone, wechat_resident

pytestmark = pytest.mark.dates

DAY = days_ahead(2)
PATH = "/api/v1/admin/reservations"
_names = iter(f"钱{chr(0x4E00 + 0x100 + i)}{chr(0x4E00 + 0x200 + i)}" for i in range(10_000))
_phones = iter(range(10_000))


def caller_name() -> str:
    """A name that must never be stored in plaintext (the conftest watch)."""
    name = next(_names)
    SENT_PERSONAL_DATA.values.add(name)
    return name


def caller_phone() -> str:
    return sent_phone(f"1360000{next(_phones):04d}")


async def staff_member(
    api: Api, role: StaffRole = StaffRole.super_admin, **scope: Any
) -> tuple[int, Headers]:
    staff_id = await api.create_staff_row(role, **scope)
    issued = tokens.issue(api.app.state.settings, tokens.Audience.staff, staff_id)
    return staff_id, bearer(issued.access_token)


async def user_id(api: Api, resident: Headers) -> int:
    response = await api.client.get("/api/v1/me", headers=resident)
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


def body_for(space_id: int, who: Mapping[str, object], start: str = "10:00", end: str = "11:00",
             **extra: Any) -> dict[str, object]:  # fmt: skip
    return {
        "space_id": space_id,
        **slot(DAY, start, end),
        "on_behalf_of": who,
        "purpose": "老人电话预约",
        **extra,
    }


async def staff_book(api: Api, staff: Headers, body: dict[str, object]) -> httpx.Response:
    return await api.client.post(PATH, json=body, headers=staff)


async def reservations_of(api: Api, resident: Headers) -> list[dict[str, Any]]:
    response = await api.client.get("/api/v1/reservations", headers=resident)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def history(api: Api, staff: Headers, reservation_id: int) -> list[dict[str, Any]]:
    response = await api.client.get(f"/api/v1/reservations/{reservation_id}/history", headers=staff)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.fixture(scope="module")
def fake_wechat() -> Iterator[FakeWechat]:
    with serve_fake_wechat() as fake:
        yield fake


@pytest.fixture
async def wechat_api(database_url: str, fake_wechat: FakeWechat) -> AsyncIterator[Api]:
    """The app with WeChat credentials, talking to the fake WeChat over HTTP."""
    settings = make_settings(
        database_url,
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wechat_api_base=fake_wechat.base_url,
        wechat_timeout_seconds=2,
        wechat_check_in_page=CHECK_IN_PAGE,
        dev_login=None,
    )
    async with running(settings) as api:
        yield api


# --- for a resident with the app ------------------------------------------------------


async def test_staff_book_for_a_resident_who_is_told_and_the_audit_names_the_staff(
    api: Api,
) -> None:
    center = await api.center()
    space = await api.space(center["id"])
    staff_id, staff = await staff_member(api, StaffRole.center_admin, center_ids=[center["id"]])
    resident = await api.resident()
    resident_id = await user_id(api, resident)

    booked = await staff_book(api, staff, body_for(space["id"], {"user_id": resident_id}))

    assert booked.status_code == 201, booked.text
    reservation = booked.json()
    assert (reservation["user_id"], reservation["status"]) == (resident_id, "confirmed")
    assert [item["id"] for item in await reservations_of(api, resident)] == [reservation["id"]]
    told = await api.client.get("/api/v1/me/notifications", headers=resident)
    assert [(n["kind"], n["reservation_id"]) for n in told.json()["items"]] == [
        ("booking_confirmed", reservation["id"])
    ]
    [created] = await history(api, staff, reservation["id"])
    assert (created["actor_kind"], created["actor_id"], created["action"]) == (
        "staff",
        staff_id,
        "create",
    )
    # The resident's own booking is still theirs in the audit trail.
    own = await book(api, resident, space["id"], DAY, "14:00", "15:00")
    [created] = await history(api, staff, own.json()["id"])
    assert (created["actor_kind"], created["actor_id"]) == ("user", resident_id)


async def test_staff_of_another_center_or_district_cannot_book_there(api: Api) -> None:
    center = await api.center(district="静安区")
    space = await api.space(center["id"])
    elsewhere = await api.center(district="普陀区")
    resident_id = await user_id(api, resident := await api.resident())
    body = body_for(space["id"], {"user_id": resident_id})
    _, other_center = await staff_member(api, StaffRole.center_admin, center_ids=[elsewhere["id"]])
    _, other_district = await staff_member(api, StaffRole.district_admin, district="普陀区")
    _, own_district = await staff_member(api, StaffRole.district_admin, district="静安区")

    assert_problem(await staff_book(api, other_center, body), 403, "out_of_scope")
    assert_problem(await staff_book(api, other_district, body), 403, "out_of_scope")
    unknown = body_for(999_999, {"user_id": resident_id})
    assert_problem(await staff_book(api, own_district, unknown), 404, "not_found")
    assert await reservations_of(api, resident) == []
    # A resident's token is not a staff token.
    assert (await staff_book(api, resident, body)).status_code in (401, 403)
    assert (await staff_book(api, own_district, body)).status_code == 201


async def test_an_unknown_user_is_404_and_bad_bodies_are_422(api: Api) -> None:
    space = await api.space()
    _, staff = await staff_member(api)
    assert_problem(
        await staff_book(api, staff, body_for(space["id"], {"user_id": 999_999})), 404, "not_found"
    )
    for who in (
        {"name": "王阿姨"},
        {"name": "王阿姨", "phone": "12345"},
        {"user_id": 1, "phone": "13600001111"},
        {},
    ):
        response = await staff_book(api, staff, body_for(space["id"], who))
        assert response.status_code == 422, (who, response.text)


# --- every rule holds for the person --------------------------------------------------


async def test_every_rule_holds_for_the_person_staff_book_for(api: Api) -> None:
    _, staff = await staff_member(api)
    resident = await api.resident()
    resident_id = await user_id(api, resident)
    who = {"user_id": resident_id}

    # The holders of the time.
    space = await api.space()
    assert (await book(api, await api.resident(), space["id"], DAY, "10:00", "11:00")).is_success
    assert_problem(await staff_book(api, staff, body_for(space["id"], who)), 409, "slot_taken")
    # Real name.
    real_name = await api.space(requires_real_name=True)
    refused = await staff_book(api, staff, body_for(real_name["id"], who))
    assert_problem(refused, 403, "real_name_required")
    # Organization membership.
    owner = await api.resident()
    company = await organization(api, owner)
    not_member = body_for(space["id"], who, "12:00", "13:00", organization_id=company["id"])
    assert_problem(await staff_book(api, staff, not_member), 403, "not_a_member")
    # Closures.
    closed = await api.space()
    closure = await api.client.post(
        f"/api/v1/admin/spaces/{closed['id']}/closures",
        json={**slot(DAY, "09:00", "12:00"), "reason": "设备检修"},
        headers=staff,
    )
    assert closure.status_code == 201, closure.text
    assert_problem(await staff_book(api, staff, body_for(closed["id"], who)), 422, "space_closed")
    # The booking window.
    near = await api.space(advance_days=1)
    assert_problem(
        await staff_book(api, staff, body_for(near["id"], who)), 409, "outside_booking_window"
    )
    # Quotas.
    quota = await api.space()
    rules = [{"subject": "user", "metric": "bookings_per_week", "max_value": 1}]
    put = await api.client.put(
        f"/api/v1/admin/spaces/{quota['id']}/quotas", json=rules, headers=staff
    )
    assert put.status_code == 200, put.text
    assert (await staff_book(api, staff, body_for(quota["id"], who))).status_code == 201
    second = await staff_book(api, staff, body_for(quota["id"], who, "14:00", "15:00"))
    assert_problem(second, 409, "quota_exceeded")

    assert [item["space_id"] for item in await reservations_of(api, resident)] == [quota["id"]]


async def test_staff_book_on_an_organizations_account_for_its_member(api: Api) -> None:
    space = await api.space()
    _, staff = await staff_member(api)
    owner = await api.resident()
    company = await organization(api, owner)
    colleague = await member_of(api, owner, company["id"])
    body = body_for(
        space["id"], {"user_id": await user_id(api, colleague)}, organization_id=company["id"]
    )
    booked = await staff_book(api, staff, body)
    assert booked.status_code == 201, booked.text
    assert booked.json()["organization_id"] == company["id"]


# --- overrides --------------------------------------------------------------------------


async def test_overrides_need_a_reason_waive_only_their_rule_and_are_audited(api: Api) -> None:
    staff_id, staff = await staff_member(api)
    resident = await api.resident()
    who = {"user_id": await user_id(api, resident)}
    space = await api.space(advance_days=1)
    rules = [{"subject": "user", "metric": "bookings_per_week", "max_value": 1}]
    put = await api.client.put(
        f"/api/v1/admin/spaces/{space['id']}/quotas", json=rules, headers=staff
    )
    assert put.status_code == 200, put.text

    no_reason = body_for(space["id"], who, override=["booking_window"])
    assert_problem(await staff_book(api, staff, no_reason), 422, "reason_required")
    blank = body_for(space["id"], who, override=["booking_window"], reason="  ")
    assert (await staff_book(api, staff, blank)).status_code == 422
    other_rule = body_for(space["id"], who, override=["real_name"], reason="老人")
    assert (await staff_book(api, staff, other_rule)).status_code == 422
    assert await reservations_of(api, resident) == []

    window = body_for(space["id"], who, override=["booking_window"], reason="老人行动不便")
    first = await staff_book(api, staff, window)
    assert first.status_code == 201, first.text
    [created] = await history(api, staff, first.json()["id"])
    assert (created["actor_kind"], created["actor_id"]) == ("staff", staff_id)
    assert "booking_window" in created["reason"]
    assert "老人行动不便" in created["reason"]
    # The quota still holds when only the window is waived …
    again = body_for(space["id"], who, "14:00", "15:00", override=["booking_window"], reason="再约")
    assert_problem(await staff_book(api, staff, again), 409, "quota_exceeded")
    # … and waiving both books past both; the slot taken still refuses.
    both = ["quota", "booking_window"]
    past_both = body_for(space["id"], who, "14:00", "15:00", override=both, reason="社区活动")
    second = await staff_book(api, staff, past_both)
    assert second.status_code == 201, second.text
    [created] = await history(api, staff, second.json()["id"])
    assert "quota" in created["reason"]
    assert "booking_window" in created["reason"]
    taken = body_for(space["id"], who, "10:00", "11:00", override=both, reason="重复")
    assert_problem(await staff_book(api, staff, taken), 409, "slot_taken")
    assert len(await reservations_of(api, resident)) == 2


# --- a resident without the app ---------------------------------------------------------


async def test_a_phone_booking_makes_one_placeholder_stored_sealed(api: Api) -> None:
    space = await api.space()
    _, staff = await staff_member(api)
    who = {"name": caller_name(), "phone": caller_phone()}

    first = await staff_book(api, staff, body_for(space["id"], who))
    second = await staff_book(api, staff, body_for(space["id"], who, "14:00", "15:00"))

    assert first.status_code == second.status_code == 201, (first.text, second.text)
    placeholder = first.json()["user_id"]
    assert second.json()["user_id"] == placeholder  # one placeholder per phone
    seen = await api.client.get(f"/api/v1/admin/users/{placeholder}", headers=staff)
    assert seen.status_code == 200, seen.text
    assert seen.json()["real_name_verified"] is False
    # Staff find the bookings by the phone's last four digits.
    found = await api.client.get(
        "/api/v1/reservations", params={"phone": who["phone"][-4:]}, headers=staff
    )
    assert {item["id"] for item in found.json()["items"]} == {
        first.json()["id"],
        second.json()["id"],
    }


async def test_a_phone_bound_to_an_account_books_for_that_account(api: Api) -> None:
    space = await api.space()
    _, staff = await staff_member(api)
    resident = await api.resident()
    phone = caller_phone()
    bound = await bind_phone(api, resident, f"dev:{phone}")
    assert bound.status_code == 200, bound.text

    booked = await staff_book(
        api, staff, body_for(space["id"], {"name": caller_name(), "phone": phone})
    )

    assert booked.status_code == 201, booked.text
    assert booked.json()["user_id"] == await user_id(api, resident)


async def test_a_placeholder_needs_a_counter_verified_real_name_where_one_is_required(
    api: Api,
) -> None:
    center = await api.center()
    space = await api.space(center["id"], requires_real_name=True)
    _, staff = await staff_member(api)
    who = {"name": caller_name(), "phone": caller_phone()}
    ordinary = await api.space(center["id"])
    placeholder = (await staff_book(api, staff, body_for(ordinary["id"], who))).json()["user_id"]

    assert_problem(
        await staff_book(api, staff, body_for(space["id"], who)), 403, "real_name_required"
    )
    number = id_number(90_001)
    remember_personal_data(number)
    verified = await api.client.post(
        f"/api/v1/admin/real-names/{placeholder}/verify",
        json={"name": "张桂英", "id_number": number, "center_id": center["id"]},
        headers=staff,
    )
    assert verified.status_code == 200, verified.text
    booked = await staff_book(api, staff, body_for(space["id"], who))
    assert booked.status_code == 201, booked.text
    assert booked.json()["user_id"] == placeholder


async def test_a_wechat_login_that_binds_the_phone_claims_the_placeholder(
    wechat_api: Api, fake_wechat: FakeWechat
) -> None:
    api = wechat_api
    space = await api.space()
    _, staff = await staff_member(api)
    phone = caller_phone()
    who = {"name": caller_name(), "phone": phone}
    first = await staff_book(api, staff, body_for(space["id"], who))
    second = await staff_book(api, staff, body_for(space["id"], who, "14:00", "15:00"))
    placeholder = first.json()["user_id"]

    resident = await wechat_resident(api, f"o-claims-{next(_phones)}")
    assert await reservations_of(api, resident) == []
    bound = await bind_phone(api, resident, f"phone-{phone}")
    assert bound.status_code == 200, bound.text

    resident_id = await user_id(api, resident)
    mine = await reservations_of(api, resident)
    assert {item["id"] for item in mine} == {first.json()["id"], second.json()["id"]}
    assert {item["user_id"] for item in mine} == {resident_id}
    told = await api.client.get("/api/v1/me/notifications", headers=resident)
    assert {n["reservation_id"] for n in told.json()["items"]} == {
        first.json()["id"],
        second.json()["id"],
    }
    # One account: the placeholder is gone, and the next phone booking is theirs.
    gone = await api.client.get(f"/api/v1/admin/users/{placeholder}", headers=staff)
    assert_problem(gone, 404, "not_found")
    third = await staff_book(api, staff, body_for(space["id"], who, "16:00", "17:00"))
    assert third.json()["user_id"] == resident_id
    # The claimant cancels what is now theirs.
    cancelled = await api.client.post(
        f"/api/v1/reservations/{first.json()['id']}/cancel", headers=resident
    )
    assert cancelled.status_code == 200, cancelled.text


# --- the race ---------------------------------------------------------------------------

RACERS = 20
TRIALS = 5


async def race_staff_and_residents(
    api: Api, staff: Headers, space_id: int, start: str, end: str
) -> list[httpx.Response]:
    """Half the racers are staff booking for someone, half residents booking."""
    people = [await api.resident() for _ in range(RACERS)]
    ids = [await user_id(api, person) for person in people]
    attempts = []
    for index, (person, person_id) in enumerate(zip(people, ids, strict=True)):
        if index % 2:
            attempts.append(
                staff_book(api, staff, body_for(space_id, {"user_id": person_id}, start, end))
            )
        else:
            attempts.append(book(api, person, space_id, DAY, start, end))
    return list(await asyncio.gather(*attempts))


@pytest.mark.slow
async def test_a_staff_booking_racing_residents_for_one_slot_exactly_one_wins(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    _, staff = await staff_member(api)
    for trial in range(TRIALS):
        space = await api.space()
        hour = f"{10 + trial:02d}"
        responses = await race_staff_and_residents(
            api, staff, space["id"], f"{hour}:00", f"{hour}:30"
        )
        outcome = tally(responses)
        record_property(f"trial {trial}", dict(outcome))
        assert outcome == Counter({"201": 1, "409 slot_taken": RACERS - 1}), (trial, outcome)
        assert await overlapping_holders(api.database) == 0


@pytest.mark.slow
async def test_negative_control_staff_and_residents_double_book_without_the_guard(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    _, staff = await staff_member(api)
    space = await api.space()
    without_guard(api)
    responses = await race_staff_and_residents(api, staff, space["id"], "10:00", "10:30")
    outcome = tally(responses)
    record_property("control", dict(outcome))
    assert outcome["201"] > 1, outcome
    assert await overlapping_holders(api.database) > 0
