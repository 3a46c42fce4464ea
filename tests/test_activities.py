"""Activities: who may create them, the venue held through the booking rules,
publishing (after the venue's approval), cancelling, and finding them."""

from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from app.activities import finding
from app.activities.schemas import ActivityOut
from app.centers.service import GeoPoint
from app.core.clock import local_today
from app.core.schemas import Page
from app.models import Reservation, ReservationStatus, StaffRole
from tests import activity_reference
from tests.factories import Api, Headers, book, days_ahead, local, organization, slot
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

DAY = days_ahead(3)


def activity_body(center_id: int, day: date = DAY, **overrides: Any) -> dict[str, Any]:
    return {
        "title": "党课：学习党章",
        "description": "支部书记讲党课",
        "category": "party_lecture",
        "center_id": center_id,
        **slot(day, "19:00", "20:30"),
        "capacity": 30,
        **overrides,
    }


async def create(api: Api, headers: Headers, body: dict[str, Any]) -> httpx.Response:
    return await api.client.post("/api/v1/activities", json=body, headers=headers)


async def created(api: Api, headers: Headers, body: dict[str, Any]) -> dict[str, Any]:
    answer = await create(api, headers, body)
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def listed(api: Api, **params: Any) -> dict[str, Any]:
    answer = await api.client.get("/api/v1/activities", params=params)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def test_staff_create_a_draft_with_the_venue_held_as_the_centers_event(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    space = await api.space(center["id"])

    activity = await created(api, staff, activity_body(center["id"], space_id=space["id"]))

    assert activity["status"] == "draft"
    assert activity["category_label"] == "党课"
    assert activity["venue"]["name"] == space["name"]
    assert activity["venue"]["address"] == center["address"]
    assert activity["venue"]["reservation_status"] == "confirmed"
    assert (activity["signed_up"], activity["remaining"]) == (0, 30)
    # The room is the center's for that time: a resident's booking is refused.
    resident = await api.resident()
    refused = await book(api, resident, space["id"], DAY, "19:30", "20:00")
    assert_problem(refused, 409, "slot_taken")
    # A draft is not public.
    assert (await listed(api, center_id=center["id"]))["total"] == 0
    hidden = await api.client.get(f"/api/v1/activities/{activity['id']}")
    assert_problem(hidden, 404, "not_found")
    seen = await api.client.get(f"/api/v1/activities/{activity['id']}", headers=staff)
    assert seen.status_code == 200, seen.text


async def test_published_activities_are_found_by_anyone(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    activity = await created(
        api, staff, activity_body(center["id"], place_text="中心广场", publish=True)
    )
    assert activity["status"] == "published"
    assert activity["venue"] == {
        "space_id": None,
        "name": "中心广场",
        "address": center["address"],
        "reservation_id": None,
        "reservation_status": None,
    }

    page = await listed(api, center_id=center["id"])
    assert [item["id"] for item in page["items"]] == [activity["id"]]
    read = await api.client.get(f"/api/v1/activities/{activity['id']}")
    assert read.status_code == 200
    assert read.json()["title"] == "党课：学习党章"


async def test_an_activity_is_refused_a_room_the_rules_refuse(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    space = await api.space(center["id"])
    resident = await api.resident()
    booked = await book(api, resident, space["id"], DAY, "19:00", "20:00")
    assert booked.status_code == 201, booked.text

    refused = await create(api, staff, activity_body(center["id"], space_id=space["id"]))

    assert_problem(refused, 409, "bookings_affected")
    assert (await listed(api, center_id=center["id"]))["total"] == 0
    mine = await api.client.get(f"/api/v1/reservations/{booked.json()['id']}", headers=resident)
    assert mine.json()["status"] == "confirmed"


async def test_staff_out_of_scope_may_not_create(api: Api) -> None:
    center = await api.center()
    other = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[other["id"]])
    assert_problem(await create(api, staff, activity_body(center["id"])), 403, "out_of_scope")


async def test_the_owner_of_a_verified_organisation_organises_with_its_booking(
    api: Api,
) -> None:
    center = await api.center()
    space = await api.space(center["id"], capacity=40)
    owner = await api.resident()
    company = await organization(api, owner)
    body = activity_body(
        center["id"],
        space_id=space["id"],
        organization_id=company["id"],
        category="lecture",
        audience="members",
        publish=True,
    )

    activity = await created(api, owner, body)

    assert activity["status"] == "published"
    assert activity["organization_id"] == company["id"]
    venue = await api.client.get(
        f"/api/v1/reservations/{activity['venue']['reservation_id']}", headers=owner
    )
    assert venue.status_code == 200, venue.text
    assert venue.json()["organization_id"] == company["id"]
    assert venue.json()["status"] == "confirmed"


async def test_only_owners_of_verified_organisations_organise(api: Api) -> None:
    center = await api.center()
    owner = await api.resident()
    pending = await organization(api, owner, verified=False)
    verified = await organization(api, owner)
    stranger = await api.resident()

    without = await create(api, stranger, activity_body(center["id"]))
    assert_problem(without, 403, "organiser_only")
    not_yet = await create(api, owner, activity_body(center["id"], organization_id=pending["id"]))
    assert_problem(not_yet, 403, "organization_not_verified")
    not_theirs = await create(
        api, stranger, activity_body(center["id"], organization_id=verified["id"])
    )
    assert_problem(not_theirs, 404, "not_found")


async def test_an_activity_in_an_approval_space_waits_as_its_booking_waits(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    space = await api.space(center["id"], requires_approval=True, capacity=40)
    owner = await api.resident()
    company = await organization(api, owner)
    body = activity_body(center["id"], space_id=space["id"], organization_id=company["id"])

    activity = await created(api, owner, {**body, "publish": True})

    assert activity["status"] == "draft"
    assert activity["venue"]["reservation_status"] == "pending"
    path = f"/api/v1/activities/{activity['id']}/publish"
    assert_problem(await api.client.post(path, headers=owner), 409, "venue_pending")
    approved = await api.client.post(
        f"/api/v1/reservations/{activity['venue']['reservation_id']}/approve",
        headers=staff,
    )
    assert approved.status_code == 200, approved.text
    published = await api.client.post(path, headers=owner)
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"


async def test_cancelling_releases_the_venue(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    space = await api.space(center["id"])
    activity = await created(
        api, staff, activity_body(center["id"], space_id=space["id"], publish=True)
    )
    path = f"/api/v1/activities/{activity['id']}/cancel"

    assert_problem(await api.client.post(path, json={}, headers=staff), 422, "validation_failed")
    cancelled = await api.client.post(path, json={"reason": "主讲人临时有事"}, headers=staff)

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["status_reason"] == "主讲人临时有事"
    resident = await api.resident()
    assert (await book(api, resident, space["id"], DAY, "19:00", "20:00")).status_code == 201
    assert (await listed(api, center_id=center["id"]))["total"] == 0
    again = await api.client.post(path, json={"reason": "再次取消"}, headers=staff)
    assert_problem(again, 409, "invalid_transition")


async def test_finding_by_days_category_place_and_words(api: Api) -> None:
    staff = await api.staff()
    putuo = await api.center(
        staff, district="普陀区", street="长风新村街道", lat=31.2236, lng=121.3982
    )
    hongkou = await api.center(
        staff, district="虹口区", street="四川北路街道", lat=31.2637, lng=121.4848
    )
    first = await created(api, staff, activity_body(putuo["id"], publish=True))
    later = DAY + timedelta(days=10)
    second = await created(
        api,
        staff,
        activity_body(
            hongkou["id"], later, title="市民夜校：书法", category="training", publish=True
        ),
    )
    centers: dict[str, Any] = {"center_id": putuo["id"]}

    by_day = await listed(api, **{"from": DAY.isoformat(), "to": DAY.isoformat()})
    assert first["id"] in [item["id"] for item in by_day["items"]]
    assert second["id"] not in [item["id"] for item in by_day["items"]]
    in_range = {"from": DAY.isoformat(), "to": later.isoformat()}
    by_category = await listed(api, category="training", **in_range)
    assert [
        item["id"] for item in by_category["items"] if item["id"] in (first["id"], second["id"])
    ] == [second["id"]]
    by_district = await listed(api, district="虹口区", **in_range)
    assert second["id"] in [item["id"] for item in by_district["items"]]
    assert first["id"] not in [item["id"] for item in by_district["items"]]
    by_words = await listed(api, q="夜校", **in_range)
    assert second["id"] in [item["id"] for item in by_words["items"]]
    assert first["id"] not in [item["id"] for item in by_words["items"]]
    near = await listed(api, near="31.2240,121.3990", radius_m=2000, **in_range)
    ids = [item["id"] for item in near["items"]]
    assert first["id"] in ids
    assert second["id"] not in ids
    assert near["items"][ids.index(first["id"])]["distance_m"] < 2000
    assert (await listed(api, **centers))["total"] == 1


async def test_a_list_range_must_make_sense(api: Api) -> None:
    backwards = {"from": DAY.isoformat(), "to": (DAY - timedelta(days=1)).isoformat()}
    answer = await api.client.get("/api/v1/activities", params=backwards)
    assert_problem(answer, 422, "invalid_range")
    too_long = {"from": DAY.isoformat(), "to": (DAY + timedelta(days=120)).isoformat()}
    assert_problem(
        await api.client.get("/api/v1/activities", params=too_long), 422, "invalid_range"
    )
    bad_date = await api.client.get("/api/v1/activities", params={"from": "12/01/2026"})
    assert bad_date.status_code == 422


async def test_bad_bodies_change_nothing(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    other_center = await api.center()
    elsewhere = await api.space(other_center["id"])
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"end": local(DAY, "18:00").isoformat()}, 422, "validation_failed"),
        ({"capacity": 0}, 422, "validation_failed"),
        ({"category": "party"}, 422, "validation_failed"),
        ({"audience": "members"}, 422, "validation_failed"),
        ({"space_id": elsewhere["id"]}, 422, "space_not_in_center"),
        ({"space_id": 999_999}, 404, "not_found"),
        ({"unknown": 1}, 422, "validation_failed"),
    ]
    for overrides, status, code in cases:
        answer = await create(api, staff, activity_body(center["id"], **overrides))
        assert_problem(answer, status, code)
    drafts = await api.client.get("/api/v1/activities", params={"center_id": center["id"]})
    assert drafts.json()["total"] == 0


async def test_the_fast_list_answers_what_the_models_answer(api: Api) -> None:
    """``GET /activities`` is written by hand (app/activities/listing.py): its
    pages equal ``tests/activity_reference.py``'s, validated as ``Page[ActivityOut]``, for
    activities with and without a space, a venue pending, near and far."""
    staff = await api.staff()
    here = await api.center(staff, district="普陀区", lat=31.2236, lng=121.3982)
    close = await api.center(staff, district="普陀区", lat=31.2300, lng=121.4050)
    far = await api.center(staff, district="虹口区", lat=31.2637, lng=121.4848)
    room = await api.space(here["id"], capacity=40)
    hall = await api.space(close["id"], capacity=40)
    made = [
        await created(api, staff, activity_body(here["id"], publish=True)),
        await created(api, staff, activity_body(here["id"], space_id=room["id"], publish=True)),
        await created(
            api,
            staff,
            activity_body(
                close["id"],
                DAY + timedelta(days=1),
                space_id=hall["id"],
                category="training",
                title="市民夜校：书法",
                publish=True,
            ),
        ),
        await created(api, staff, activity_body(far["id"], place_text="街道礼堂", publish=True)),
        await created(api, staff, activity_body(far["id"])),  # a draft: never listed
        # What the engines write as JSON themselves: escapes, a boolean, an
        # instant with microseconds, the sign-up window.
        await created(
            api,
            staff,
            activity_body(
                here["id"],
                title='读书会 "人世间" \\ 第二期 📚',
                description="第一行\n\t第二行 </script>",
                requires_real_name=True,
                signup_opens_at=f"{(DAY - timedelta(days=3)).isoformat()}T08:00:00.250000+08:00",
                signup_closes_at=f"{DAY.isoformat()}T12:30:05+08:00",
                publish=True,
            ),
        ),
    ]
    database = api.app.state.database
    async with database.writer.begin() as session:  # a venue waiting for approval
        await session.execute(
            update(Reservation)
            .where(Reservation.id == made[2]["venue"]["reservation_id"])
            .values(status=ReservationStatus.pending)
        )
    days = {"from": DAY.isoformat(), "to": (DAY + timedelta(days=2)).isoformat()}
    near = {"near": "31.2240,121.3990", "radius_m": 2000}
    cases: list[dict[str, Any]] = [
        days,
        {**days, "limit": 2},
        {**days, "limit": 2, "offset": 3},
        {**days, "offset": 50},
        {**days, **near},
        {**days, **near, "limit": 1, "offset": 1},
        {**days, **near, "offset": 9},
        {**days, "category": "training"},
        {**days, "q": "夜校"},
        {**days, "district": "虹口区"},
        {**days, "center_id": here["id"]},
        {},
    ]
    for params in cases:
        answer = await listed(api, **params)
        first = date.fromisoformat(params.get("from", local_today().isoformat()))
        last = date.fromisoformat(params["to"]) if "to" in params else None
        first, last = finding.list_range(first, last, local_today())
        point = params.get("near")
        search = finding.ActivitySearch(
            first_day=first,
            last_day=last,
            center_id=params.get("center_id"),
            district=params.get("district"),
            category=params.get("category"),
            near=GeoPoint(*map(float, point.split(","))) if point else None,
            radius_m=params.get("radius_m", 3000),
            q=params.get("q"),
        )
        limit, offset = params.get("limit", 50), params.get("offset", 0)
        async with database.reader.begin() as session:
            items, total = await activity_reference.search(
                session, search, limit=limit, offset=offset
            )
        expected = Page[ActivityOut](items=items, total=total, limit=limit, offset=offset)
        assert answer == expected.model_dump(mode="json"), params
    everything = await listed(api, **days)
    assert {item["id"] for item in everything["items"]} >= {a["id"] for a in made[:4]}
    assert made[4]["id"] not in {item["id"] for item in everything["items"]}
    pending = next(item for item in everything["items"] if item["id"] == made[2]["id"])
    assert pending["venue"]["reservation_status"] == "pending"
    assert pending["venue"]["name"] == hall["name"]
    written = next(item for item in everything["items"] if item["id"] == made[5]["id"])
    assert written["title"] == '读书会 "人世间" \\ 第二期 📚'
    assert written["signup_opens_at"].endswith("T08:00:00.250000+08:00")
    assert written["requires_real_name"] is True
    nearby = await listed(api, **days, **near)
    assert made[3]["id"] not in {item["id"] for item in nearby["items"]}
