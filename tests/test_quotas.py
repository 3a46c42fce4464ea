"""Fair-use quotas on a space or a whole center, per organization and per resident."""

from datetime import date, timedelta

import pytest

from app.core.clock import local_today
from app.models import StaffRole
from tests.factories import Api, Headers, book, member_of, organization
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

NEXT_MONDAY = local_today() + timedelta(days=7 - local_today().weekday())
# The next Monday is up to 7 days ahead and the tests book 8 days past it, so
# the rooms take bookings three weeks ahead rather than the usual 14 days.
THREE_WEEKS = 21


def weekday(offset: int) -> date:
    return NEXT_MONDAY + timedelta(days=offset)


async def set_quotas(api: Api, path: str, rules: list[dict[str, object]]) -> None:
    response = await api.client.put(path, json=rules, headers=await api.staff())
    assert response.status_code == 200, response.text


async def company(api: Api) -> tuple[Headers, int]:
    owner = await api.resident()
    return owner, (await organization(api, owner))["id"]


async def test_weekly_bookings_per_organization(api: Api) -> None:
    space = await api.space(advance_days=THREE_WEEKS)
    await set_quotas(
        api,
        f"/api/v1/admin/spaces/{space['id']}/quotas",
        [{"subject": "organization", "metric": "bookings_per_week", "max_value": 2}],
    )
    owner, org = await company(api)
    colleague = await member_of(api, owner, org)
    first = await book(api, owner, space["id"], weekday(0), "10:00", "11:00", organization_id=org)
    await book(api, colleague, space["id"], weekday(1), "10:00", "11:00", organization_id=org)
    third = await book(
        api, colleague, space["id"], weekday(4), "14:00", "15:00", organization_id=org
    )
    problem = assert_problem(third, 409, "quota_exceeded")
    assert problem["quota"] == {
        "subject": "organization",
        "metric": "bookings_per_week",
        "scope": "space",
        "scope_id": space["id"],
        "limit": 2,
        "used": 2,
        "requested": 1,
    }
    # The next week has its own allowance; a cancelled booking gives one back.
    next_week = await book(
        api, owner, space["id"], weekday(7), "10:00", "11:00", organization_id=org
    )
    assert next_week.status_code == 201
    await api.client.post(f"/api/v1/reservations/{first.json()['id']}/cancel", headers=owner)
    retry = await book(
        api, colleague, space["id"], weekday(4), "14:00", "15:00", organization_id=org
    )
    assert retry.status_code == 201
    # Personal bookings are not the organization's.
    personal = await book(api, colleague, space["id"], weekday(3), "10:00", "11:00")
    assert personal.status_code == 201


async def test_weekly_hours_and_bookings_ahead(api: Api) -> None:
    space = await api.space(advance_days=THREE_WEEKS)
    await set_quotas(
        api,
        f"/api/v1/admin/spaces/{space['id']}/quotas",
        [
            {"subject": "organization", "metric": "hours_per_week", "max_value": 3},
            {"subject": "organization", "metric": "future_bookings", "max_value": 2},
        ],
    )
    owner, org = await company(api)
    assert (
        await book(api, owner, space["id"], weekday(0), "10:00", "12:00", organization_id=org)
    ).status_code == 201
    too_long = await book(
        api, owner, space["id"], weekday(1), "10:00", "11:30", organization_id=org
    )
    assert assert_problem(too_long, 409, "quota_exceeded")["quota"]["used"] == 2  # type: ignore[index]
    assert (
        await book(api, owner, space["id"], weekday(1), "10:00", "11:00", organization_id=org)
    ).status_code == 201
    ahead = await book(api, owner, space["id"], weekday(8), "10:00", "11:00", organization_id=org)
    assert assert_problem(ahead, 409, "quota_exceeded")["quota"]["metric"] == "future_bookings"  # type: ignore[index]


async def test_center_quotas_count_all_its_spaces_together(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    rooms = [await api.space(center["id"], admin, advance_days=THREE_WEEKS) for _ in range(2)]
    await set_quotas(
        api,
        f"/api/v1/admin/centers/{center['id']}/quotas",
        [
            {"subject": "organization", "metric": "bookings_per_week", "max_value": 1},
            {"subject": "user", "metric": "bookings_per_week", "max_value": 1},
        ],
    )
    owner, org = await company(api)
    assert (
        await book(api, owner, rooms[0]["id"], weekday(0), "10:00", "11:00", organization_id=org)
    ).status_code == 201
    other_room = await book(
        api, owner, rooms[1]["id"], weekday(1), "10:00", "11:00", organization_id=org
    )
    assert_problem(other_room, 409, "quota_exceeded")
    resident = await api.resident()
    assert (
        await book(api, resident, rooms[1]["id"], weekday(2), "10:00", "11:00")
    ).status_code == 201
    assert_problem(
        await book(api, resident, rooms[0]["id"], weekday(3), "10:00", "11:00"),
        409,
        "quota_exceeded",
    )

    path = f"/api/v1/organizations/{org}/quota"
    expected = {
        "scope": "center",
        "scope_id": center["id"],
        "scope_name": center["name"],
        "metric": "bookings_per_week",
        "limit": 1,
        "used": 0,  # nothing this week: the booking is next week
    }
    page = {"total": 1, "limit": 50, "offset": 0}
    assert (await api.client.get(path, headers=owner)).json() == {"items": [expected], **page}
    next_week = await api.client.get(path, params={"date": weekday(3).isoformat()}, headers=owner)
    assert next_week.json() == {"items": [{**expected, "used": 1}], **page}
    # A count is an integer in the JSON, not 1.0.
    assert '"used":1}' in next_week.text.replace(" ", "")
    assert type(next_week.json()["items"][0]["used"]) is int


async def test_quota_rules_are_managed_within_scope(api: Api) -> None:
    admin = await api.staff()
    mine, theirs = await api.center(admin), await api.center(admin)
    their_space = await api.space(theirs["id"], admin, advance_days=THREE_WEEKS)
    center_admin = await api.staff(StaffRole.center_admin, center_ids=[mine["id"]])
    rules = [{"subject": "user", "metric": "future_bookings", "max_value": 3}]
    response = await api.client.put(
        f"/api/v1/admin/spaces/{their_space['id']}/quotas", json=rules, headers=center_admin
    )
    assert_problem(response, 403, "out_of_scope")
    ok = await api.client.put(
        f"/api/v1/admin/centers/{mine['id']}/quotas", json=rules, headers=center_admin
    )
    assert [rule["max_value"] for rule in ok.json()["items"]] == [3]
    read = await api.client.get(f"/api/v1/admin/centers/{mine['id']}/quotas", headers=center_admin)
    assert read.json() == ok.json()
    cleared = await api.client.put(
        f"/api/v1/admin/centers/{mine['id']}/quotas", json=[], headers=center_admin
    )
    assert cleared.json() == {"items": [], "total": 0, "limit": 20, "offset": 0}
    bad = [{"subject": "user", "metric": "per_fortnight", "max_value": 3}]
    response = await api.client.put(
        f"/api/v1/admin/centers/{mine['id']}/quotas", json=bad, headers=center_admin
    )
    assert_problem(response, 422, "validation_failed")
