"""Meeting-room reservations through the API: rules, lifecycle, visibility, idempotency."""

from datetime import timedelta
from typing import Any

import pytest

from app.models import StaffRole
from tests.factories import Api, book, days_ahead, local, slot
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

DAY = days_ahead(3)


async def test_booking_a_free_room_confirms_it(api: Api) -> None:
    space = await api.space(name="苏河会议室")
    alice = await api.resident("alice")
    response = await book(api, alice, space["id"], DAY, "10:00", "11:00", attendees=8)
    assert response.status_code == 201, response.text
    reservation = response.json()
    assert reservation["status"] == "confirmed"
    assert reservation["start"] == local(DAY, "10:00").isoformat()
    assert reservation["end"] == local(DAY, "11:00").isoformat()
    assert reservation["space_name"] == "苏河会议室"
    assert reservation["attendees"] == 8
    assert reservation["organization_id"] is None
    me = (await api.client.get("/api/v1/me", headers=alice)).json()
    assert reservation["user_id"] == me["id"]


async def test_a_space_requiring_approval_answers_pending(api: Api) -> None:
    space = await api.space(requires_approval=True)
    response = await book(api, await api.resident(), space["id"], DAY, "10:00", "11:00")
    assert response.status_code == 201
    assert response.json()["status"] == "pending"


@pytest.mark.parametrize(
    ("held", "wanted", "outcome"),
    [
        (("10:00", "11:00"), ("11:00", "12:00"), 201),  # back to back
        (("10:00", "11:00"), ("09:00", "10:00"), 201),
        (("10:00", "11:00"), ("10:00", "11:00"), 409),  # the same slot
        (("10:00", "11:00"), ("10:30", "11:30"), 409),  # overlaps the end
        (("10:00", "11:00"), ("09:30", "10:30"), 409),  # overlaps the start
        (("10:00", "12:00"), ("10:30", "11:00"), 409),  # inside
        (("10:30", "11:00"), ("10:00", "12:00"), 409),  # around
    ],
)
async def test_overlap_edges(
    api: Api, held: tuple[str, str], wanted: tuple[str, str], outcome: int
) -> None:
    space = await api.space()
    first = await book(api, await api.resident(), space["id"], DAY, *held)
    assert first.status_code == 201
    second = await book(api, await api.resident(), space["id"], DAY, *wanted)
    assert second.status_code == outcome, second.text
    if outcome == 409:
        problem = assert_problem(second, 409, "slot_taken")
        assert problem["conflict"] == {
            "start": local(DAY, held[0]).isoformat(),
            "end": local(DAY, held[1]).isoformat(),
        }
        assert "user" not in str(problem)


LUNCH_BREAK = [
    {"weekday": day, "opens": opens, "closes": closes}
    for day in range(7)
    for opens, closes in (("09:00", "12:00"), ("13:00", "21:00"))
]
LATE_NIGHT = [{"weekday": day, "opens": "18:00", "closes": "24:00"} for day in range(7)] + [
    {"weekday": day, "opens": "00:00", "closes": "02:00"} for day in range(7)
]


@pytest.mark.parametrize(
    ("space_overrides", "times", "code"),
    [
        ({}, ("08:30", "09:30"), "outside_opening_hours"),
        ({}, ("20:30", "21:30"), "outside_opening_hours"),
        ({"opening_hours": LUNCH_BREAK}, ("11:30", "13:30"), "outside_opening_hours"),
        ({"opening_hours": LUNCH_BREAK}, ("13:00", "14:00"), None),
        ({"opening_hours": LATE_NIGHT, "max_minutes": 240}, ("23:00", "24:00"), None),
        ({}, ("10:15", "11:15"), "not_aligned"),
        ({"slot_minutes": 60, "min_minutes": 60}, ("10:30", "11:30"), "not_aligned"),
        ({"min_minutes": 60}, ("10:00", "10:30"), "invalid_duration"),
        ({"max_minutes": 120}, ("10:00", "13:00"), "invalid_duration"),
        ({}, ("11:00", "10:00"), "invalid_interval"),
        ({}, ("10:00", "10:00"), "invalid_interval"),
    ],
)
async def test_calendar_rules(
    api: Api, space_overrides: dict[str, Any], times: tuple[str, str], code: str | None
) -> None:
    space = await api.space(**space_overrides)
    response = await book(api, await api.resident(), space["id"], DAY, *times)
    if code is None:
        assert response.status_code == 201, response.text
    else:
        assert_problem(response, 409 if code == "outside_booking_window" else 422, code)
        assert (await api.client.get("/api/v1/reservations", headers=await api.staff())).json()[
            "total"
        ] == 0


async def test_a_booking_across_midnight_needs_both_days_open(api: Api) -> None:
    space = await api.space(opening_hours=LATE_NIGHT)
    body = {
        "space_id": space["id"],
        "start": local(DAY, "23:00").isoformat(),
        "end": local(DAY + timedelta(days=1), "01:00").isoformat(),
    }
    response = await api.client.post(
        "/api/v1/reservations", json=body, headers=await api.resident()
    )
    assert response.status_code == 201, response.text
    body["end"] = local(DAY + timedelta(days=1), "03:00").isoformat()
    body["start"] = local(DAY + timedelta(days=1), "01:00").isoformat()
    response = await api.client.post(
        "/api/v1/reservations", json=body, headers=await api.resident()
    )
    assert_problem(response, 422, "outside_opening_hours")


@pytest.mark.parametrize(
    ("days", "advance_days", "code"),
    [
        (-1, 14, "in_the_past"),
        (15, 14, "outside_booking_window"),
        (14, 14, None),
        (1, 0, "outside_booking_window"),
    ],
)
async def test_booking_window(api: Api, days: int, advance_days: int, code: str | None) -> None:
    space = await api.space(advance_days=advance_days)
    response = await book(
        api, await api.resident(), space["id"], days_ahead(days), "10:00", "11:00"
    )
    if code is None:
        assert response.status_code == 201, response.text
    else:
        assert_problem(response, 409 if code == "outside_booking_window" else 422, code)


async def test_closures_refuse_bookings_including_one_across_midnight(api: Api) -> None:
    admin = await api.staff()
    space = await api.space(headers=admin, open_24h=True, opening_hours=[])
    closure = {
        "start": local(DAY, "22:00").isoformat(),
        "end": local(DAY + timedelta(days=1), "02:00").isoformat(),
        "reason": "夜间消杀",
    }
    await api.client.post(
        f"/api/v1/admin/spaces/{space['id']}/closures", json=closure, headers=admin
    )
    resident = await api.resident()
    refused = await book(api, resident, space["id"], DAY + timedelta(days=1), "01:00", "02:00")
    problem = assert_problem(refused, 422, "space_closed")
    assert "夜间消杀" in str(problem["detail"])
    assert_problem(
        await book(api, resident, space["id"], DAY, "21:30", "22:30"), 422, "space_closed"
    )
    assert (await book(api, resident, space["id"], DAY, "21:00", "22:00")).status_code == 201


async def test_attendees_are_bounded_by_capacity(api: Api) -> None:
    space = await api.space(capacity=12)
    response = await book(
        api, await api.resident(), space["id"], DAY, "10:00", "11:00", attendees=13
    )
    assert_problem(response, 422, "too_many_attendees")


@pytest.mark.parametrize(
    "change",
    [
        {"start": "2030-01-01T10:00:00"},  # naive: no offset
        {"start": "not a time"},
        {"attendees": 0},
        {"space_id": 0},
        {"purpose": "x" * 201},
        {"color": "red"},
    ],
)
async def test_malformed_bookings_are_422(api: Api, change: dict[str, object]) -> None:
    space = await api.space()
    body = {"space_id": space["id"], **slot(DAY, "10:00", "11:00"), **change}
    response = await api.client.post(
        "/api/v1/reservations", json=body, headers=await api.resident()
    )
    assert_problem(response, 422, "validation_failed")


async def test_unknown_or_inactive_space_is_404(api: Api) -> None:
    admin = await api.staff()
    space = await api.space(headers=admin)
    resident = await api.resident()
    assert_problem(await book(api, resident, 4040, DAY, "10:00", "11:00"), 404, "not_found")
    await api.client.patch(
        f"/api/v1/admin/spaces/{space['id']}", json={"is_active": False}, headers=admin
    )
    assert_problem(await book(api, resident, space["id"], DAY, "10:00", "11:00"), 404, "not_found")


async def test_unverified_residents_cannot_book_real_name_spaces(api: Api) -> None:
    space = await api.space(requires_real_name=True)
    response = await book(api, await api.resident(), space["id"], DAY, "10:00", "11:00")
    assert_problem(response, 403, "real_name_required")


async def test_staff_cannot_book_as_a_resident(api: Api) -> None:
    space = await api.space()
    response = await book(api, await api.staff(), space["id"], DAY, "10:00", "11:00")
    assert_problem(response, 403, "forbidden")


# --- availability and search -------------------------------------------------


async def test_availability_shows_taken_slots(api: Api) -> None:
    space = await api.space()
    await book(api, await api.resident(), space["id"], DAY, "10:00", "11:00")
    body = (
        await api.client.get(
            f"/api/v1/spaces/{space['id']}/availability", params={"date": DAY.isoformat()}
        )
    ).json()
    by_start = {item["start"][11:16]: item for item in body["slots"]}
    assert by_start["09:30"]["status"] == "free"
    assert by_start["10:00"] == {**by_start["10:00"], "status": "taken", "remaining": 0}
    assert by_start["10:30"]["status"] == "taken"
    assert by_start["11:00"] == {**by_start["11:00"], "status": "free", "remaining": 1}


async def test_cancelled_and_rejected_bookings_free_their_time(api: Api) -> None:
    space = await api.space()
    resident = await api.resident()
    first = (await book(api, resident, space["id"], DAY, "10:00", "11:00")).json()
    cancelled = await api.client.post(
        f"/api/v1/reservations/{first['id']}/cancel", headers=resident
    )
    assert cancelled.json()["status"] == "cancelled"
    again = await book(api, await api.resident(), space["id"], DAY, "10:00", "11:00")
    assert again.status_code == 201


async def test_search_spaces_free_for_a_whole_interval(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    busy = await api.space(center["id"], admin)
    free = await api.space(center["id"], admin)
    closed = await api.space(center["id"], admin)
    await api.space(  # open 09:00-10:30 only: not free for 10:00-11:00
        center["id"],
        admin,
        opening_hours=[{"weekday": d, "opens": "09:00", "closes": "10:30"} for d in range(7)],
    )
    await book(api, await api.resident(), busy["id"], DAY, "10:30", "11:00")
    await api.client.post(
        f"/api/v1/admin/spaces/{closed['id']}/closures",
        json={**slot(DAY, "08:00", "12:00"), "reason": "检修"},
        headers=admin,
    )
    params = {
        "center_id": center["id"],
        "available_from": local(DAY, "10:00").isoformat(),
        "available_to": local(DAY, "11:00").isoformat(),
    }
    found = (await api.client.get("/api/v1/spaces", params=params)).json()
    assert [item["id"] for item in found["items"]] == [free["id"]]
    assert found["total"] == 1

    params["available_to"] = params["available_from"]
    assert_problem(await api.client.get("/api/v1/spaces", params=params), 422, "invalid_interval")
    assert_problem(
        await api.client.get("/api/v1/spaces", params={"available_from": params["available_from"]}),
        422,
        "invalid_interval",
    )


# --- reading -------------------------------------------------------------------


async def test_residents_list_their_own_reservations_with_filters(api: Api) -> None:
    space = await api.space()
    other_space = await api.space()
    alice, bob = await api.resident(), await api.resident()
    mine = [
        (await book(api, alice, space["id"], DAY, "10:00", "11:00")).json(),
        (
            await book(api, alice, other_space["id"], DAY + timedelta(days=1), "10:00", "11:00")
        ).json(),
    ]
    await book(api, bob, space["id"], DAY, "14:00", "15:00")

    listing = (await api.client.get("/api/v1/reservations", headers=alice)).json()
    assert [item["id"] for item in listing["items"]] == [item["id"] for item in mine]
    by_space = await api.client.get(
        "/api/v1/reservations", params={"space_id": space["id"]}, headers=alice
    )
    assert [item["id"] for item in by_space.json()["items"]] == [mine[0]["id"]]
    by_date = await api.client.get(
        "/api/v1/reservations",
        params={"from": local(DAY + timedelta(days=1), "00:00").isoformat()},
        headers=alice,
    )
    assert [item["id"] for item in by_date.json()["items"]] == [mine[1]["id"]]
    page = await api.client.get(
        "/api/v1/reservations", params={"limit": 1, "offset": 1}, headers=alice
    )
    assert page.json()["total"] == 2
    assert [item["id"] for item in page.json()["items"]] == [mine[1]["id"]]
    assert_problem(
        await api.client.get("/api/v1/reservations", params={"limit": 201}, headers=alice),
        422,
        "validation_failed",
    )


async def test_staff_list_reservations_in_their_scope(api: Api) -> None:
    admin = await api.staff()
    mine = await api.center(admin)
    theirs = await api.center(admin)
    my_space = await api.space(mine["id"], admin)
    their_space = await api.space(theirs["id"], admin)
    resident = await api.resident()
    visible = (await book(api, resident, my_space["id"], DAY, "10:00", "11:00")).json()
    await book(api, resident, their_space["id"], DAY, "10:00", "11:00")
    center_admin = await api.staff(StaffRole.center_admin, center_ids=[mine["id"]])

    listing = (await api.client.get("/api/v1/reservations", headers=center_admin)).json()
    assert [item["id"] for item in listing["items"]] == [visible["id"]]
    everything = (await api.client.get("/api/v1/reservations", headers=admin)).json()
    assert everything["total"] == 2


# --- lifecycle ------------------------------------------------------------------


async def test_owner_cancels_until_the_spaces_deadline(api: Api) -> None:
    space = await api.space(cancel_before_minutes=60 * 24 * 7)  # a week ahead
    resident = await api.resident()
    reservation = (await book(api, resident, space["id"], DAY, "10:00", "11:00")).json()
    response = await api.client.post(
        f"/api/v1/reservations/{reservation['id']}/cancel", headers=resident
    )
    assert_problem(response, 409, "cancellation_closed")

    relaxed = await api.space()
    reservation = (await book(api, resident, relaxed["id"], DAY, "10:00", "11:00")).json()
    response = await api.client.post(
        f"/api/v1/reservations/{reservation['id']}/cancel",
        json={"reason": "改期"},
        headers=resident,
    )
    assert response.status_code == 200
    assert response.json()["status_reason"] == "改期"
    again = await api.client.post(
        f"/api/v1/reservations/{reservation['id']}/cancel", headers=resident
    )
    assert_problem(again, 409, "invalid_transition")


async def test_staff_cancel_with_a_reason_even_after_the_deadline(api: Api) -> None:
    admin = await api.staff()
    space = await api.space(headers=admin, cancel_before_minutes=60 * 24 * 7)
    reservation = (await book(api, await api.resident(), space["id"], DAY, "10:00", "11:00")).json()
    path = f"/api/v1/reservations/{reservation['id']}/cancel"
    assert_problem(await api.client.post(path, headers=admin), 422, "reason_required")
    response = await api.client.post(path, json={"reason": "场地临时征用"}, headers=admin)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


async def test_approve_and_reject_pending_requests(api: Api) -> None:
    admin = await api.staff()
    space = await api.space(headers=admin, requires_approval=True)
    first = (await book(api, await api.resident(), space["id"], DAY, "10:00", "11:00")).json()
    second = (await book(api, await api.resident(), space["id"], DAY, "14:00", "15:00")).json()

    approved = await api.client.post(f"/api/v1/reservations/{first['id']}/approve", headers=admin)
    assert approved.json()["status"] == "confirmed"
    assert_problem(
        await api.client.post(f"/api/v1/reservations/{first['id']}/approve", headers=admin),
        409,
        "invalid_transition",
    )
    path = f"/api/v1/reservations/{second['id']}/reject"
    assert_problem(await api.client.post(path, json={}, headers=admin), 422, "validation_failed")
    rejected = await api.client.post(path, json={"reason": "当天已有活动"}, headers=admin)
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["status_reason"] == "当天已有活动"
    # A rejected request no longer holds its time.
    assert (
        await book(api, await api.resident(), space["id"], DAY, "14:00", "15:00")
    ).status_code == 201


async def test_approval_rechecks_closures_added_since_the_request(api: Api) -> None:
    admin = await api.staff()
    space = await api.space(headers=admin, requires_approval=True)
    pending = (await book(api, await api.resident(), space["id"], DAY, "10:00", "11:00")).json()
    closed = await api.client.post(
        f"/api/v1/admin/spaces/{space['id']}/closures",
        json={**slot(DAY, "09:00", "12:00"), "reason": "停电检修", "affected": "keep"},
        headers=admin,
    )
    assert closed.status_code == 201, closed.text
    response = await api.client.post(f"/api/v1/reservations/{pending['id']}/approve", headers=admin)
    assert_problem(response, 422, "space_closed")
    current = await api.client.get(f"/api/v1/reservations/{pending['id']}", headers=admin)
    assert current.json()["status"] == "pending"


async def test_every_change_is_in_the_audit_trail(api: Api) -> None:
    admin = await api.staff()
    space = await api.space(headers=admin, requires_approval=True)
    resident = await api.resident()
    reservation = (await book(api, resident, space["id"], DAY, "10:00", "11:00")).json()
    await api.client.post(f"/api/v1/reservations/{reservation['id']}/approve", headers=admin)
    await api.client.post(
        f"/api/v1/reservations/{reservation['id']}/cancel",
        json={"reason": "行程变更"},
        headers=resident,
    )
    history = (
        await api.client.get(f"/api/v1/reservations/{reservation['id']}/history", headers=resident)
    ).json()["items"]
    assert [(entry["action"], entry["from_status"], entry["to_status"]) for entry in history] == [
        ("create", None, "pending"),
        ("approve", "pending", "confirmed"),
        ("cancel", "confirmed", "cancelled"),
    ]
    assert [entry["actor_kind"] for entry in history] == ["user", "staff", "user"]
    assert history[2]["reason"] == "行程变更"


# --- BOLA: every {id} route -------------------------------------------------------


async def test_nobody_else_can_touch_a_reservation(api: Api) -> None:
    admin = await api.staff()
    mine = await api.center(admin)
    theirs = await api.center(admin)
    space = await api.space(mine["id"], admin, requires_approval=True)
    owner = await api.resident()
    reservation = (await book(api, owner, space["id"], DAY, "10:00", "11:00")).json()
    stranger = await api.resident()
    other_center_admin = await api.staff(StaffRole.center_admin, center_ids=[theirs["id"]])
    base = f"/api/v1/reservations/{reservation['id']}"

    for intruder in (stranger, other_center_admin):
        assert_problem(await api.client.get(base, headers=intruder), 404, "not_found")
        assert_problem(await api.client.get(f"{base}/history", headers=intruder), 404, "not_found")
        response = await api.client.post(f"{base}/cancel", json={"reason": "x"}, headers=intruder)
        assert_problem(response, 404, "not_found")
    assert_problem(
        await api.client.post(f"{base}/approve", headers=other_center_admin), 404, "not_found"
    )
    response = await api.client.post(
        f"{base}/reject", json={"reason": "x"}, headers=other_center_admin
    )
    assert_problem(response, 404, "not_found")
    assert_problem(await api.client.post(f"{base}/approve", headers=stranger), 403, "forbidden")
    response = await api.client.post(f"{base}/reject", json={"reason": "x"}, headers=stranger)
    assert_problem(response, 403, "forbidden")
    assert_problem(await api.client.post(f"{base}/approve", headers=owner), 403, "forbidden")
    for path in (base, f"{base}/history"):
        assert_problem(await api.client.get(path), 401, "not_authenticated")

    untouched = await api.client.get(base, headers=owner)
    assert untouched.json()["status"] == "pending"
    history = (await api.client.get(f"{base}/history", headers=owner)).json()
    assert history["items"][-1]["action"] == "create"
    assert history["total"] == len(history["items"])


# --- idempotency ------------------------------------------------------------------


async def test_idempotency_key_replays_the_first_response(api: Api) -> None:
    space = await api.space()
    resident = await api.resident()
    headers = {**resident, "Idempotency-Key": "booking-7f3c"}
    body = {"space_id": space["id"], **slot(DAY, "10:00", "11:00")}
    first = await api.client.post("/api/v1/reservations", json=body, headers=headers)
    replay = await api.client.post("/api/v1/reservations", json=body, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    assert (await api.client.get("/api/v1/reservations", headers=resident)).json()["total"] == 1

    changed = {**body, "attendees": 3}
    response = await api.client.post("/api/v1/reservations", json=changed, headers=headers)
    assert_problem(response, 422, "idempotency_key_reused")

    # Keys are per user: the same key from someone else is a new request.
    other = {**await api.resident(), "Idempotency-Key": "booking-7f3c"}
    response = await api.client.post("/api/v1/reservations", json=body, headers=other)
    assert_problem(response, 409, "slot_taken")


async def test_a_failed_request_does_not_burn_its_key(api: Api) -> None:
    space = await api.space()
    blocker = await api.resident()
    held = await book(api, blocker, space["id"], DAY, "10:00", "11:00")
    headers = {**await api.resident(), "Idempotency-Key": "retry-me"}
    body = {"space_id": space["id"], **slot(DAY, "10:00", "11:00")}
    assert_problem(
        await api.client.post("/api/v1/reservations", json=body, headers=headers), 409, "slot_taken"
    )
    await api.client.post(f"/api/v1/reservations/{held.json()['id']}/cancel", headers=blocker)
    retried = await api.client.post("/api/v1/reservations", json=body, headers=headers)
    assert retried.status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "中文".encode()])
async def test_malformed_idempotency_keys_are_refused(api: Api, key: str | bytes) -> None:
    space = await api.space()
    raw_key = key if isinstance(key, bytes) else key.encode()
    headers: list[tuple[bytes, bytes]] = [
        *((name.encode(), value.encode()) for name, value in (await api.resident()).items()),
        (b"Idempotency-Key", raw_key),
    ]
    body = {"space_id": space["id"], **slot(DAY, "10:00", "11:00")}
    response = await api.client.post("/api/v1/reservations", json=body, headers=headers)
    assert_problem(response, 422, "validation_failed")
