"""The center's own use of a space (POST /admin/spaces/{id}/events): it holds
the whole space through the booking store, with no quota, booking window or
real name; refused over holding bookings unless they are cancelled; shown
`taken` in availability (titled when public); counted apart in reports; and
exact against racing bookings."""

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.jobs.registry import JOBS, run_job
from app.models import StaffRole
from tests.factories import Api, Headers, book, days_ahead, door, local, slot
from tests.test_concurrency import overlapping_holders, tally, without_guard
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

DAY = days_ahead(2)


def events_path(space_id: int) -> str:
    return f"/api/v1/admin/spaces/{space_id}/events"


async def hold(
    api: Api, staff: Headers, space_id: int, start: str, end: str, **extra: Any
) -> httpx.Response:
    body = {"title": "党课：学习党章", **slot(DAY, start, end), "public": True, **extra}
    return await api.client.post(events_path(space_id), json=body, headers=staff)


async def slots(api: Api, space_id: int, day: Any = DAY) -> dict[str, dict[str, Any]]:
    response = await api.client.get(
        f"/api/v1/spaces/{space_id}/availability", params={"date": day.isoformat()}
    )
    assert response.status_code == 200, response.text
    return {item["start"][11:16]: item for item in response.json()["slots"]}


async def reservation(api: Api, staff: Headers, reservation_id: int) -> dict[str, Any]:
    response = await api.client.get(f"/api/v1/reservations/{reservation_id}", headers=staff)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_an_event_holds_the_space_shown_taken_and_titled_when_public(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    space = await api.space(center["id"])

    public = await hold(api, staff, space["id"], "10:00", "11:00")
    private = await hold(
        api, staff, space["id"], "14:00", "15:00", title="议事会（内部）", public=False
    )

    assert public.status_code == 201, public.text
    assert private.status_code == 201, private.text
    event = public.json()
    assert (event["title"], event["public"], event["status"], event["affected"]) == (
        "党课：学习党章",
        True,
        "confirmed",
        [],
    )
    day = await slots(api, space["id"])
    assert (day["10:00"]["status"], day["10:30"]["status"]) == ("taken", "taken")
    assert day["10:00"]["title"] == "党课：学习党章"
    assert day["14:00"]["status"] == "taken"
    assert "title" not in day["14:00"]
    assert day["11:00"]["status"] == "free"
    # Residents cannot book over it.
    resident = await api.resident()
    assert_problem(await book(api, resident, space["id"], DAY, "10:30", "11:30"), 409, "slot_taken")
    # Staff list and read events; they are not bookings in the reservations list.
    listed = await api.client.get(events_path(space["id"]), headers=staff)
    assert [item["id"] for item in listed.json()["items"]] == [event["id"], private.json()["id"]]
    read = await api.client.get(f"{events_path(space['id'])}/{event['id']}", headers=staff)
    assert read.json()["title"] == "党课：学习党章"
    bookings = await api.client.get(
        "/api/v1/reservations", params={"space_id": space["id"]}, headers=staff
    )
    assert bookings.json()["items"] == []
    # Cancelled, its time is free again.
    deleted = await api.client.delete(f"{events_path(space['id'])}/{event['id']}", headers=staff)
    assert deleted.status_code == 204, deleted.text
    again = await api.client.delete(f"{events_path(space['id'])}/{event['id']}", headers=staff)
    assert_problem(again, 404, "not_found")
    assert (await slots(api, space["id"]))["10:00"]["status"] == "free"
    assert (await book(api, resident, space["id"], DAY, "10:30", "11:30")).status_code == 201


async def test_events_are_held_without_quotas_window_real_names_or_approval(api: Api) -> None:
    staff = await api.staff()
    space = await api.space(
        advance_days=1, requires_real_name=True, requires_approval=True, requires_organization=True
    )
    shared = await api.space(
        booking_mode="shared", capacity=6, requires_real_name=True, kind="study_room"
    )
    rules = [{"subject": "user", "metric": "bookings_per_week", "max_value": 1}]
    for each in (space, shared):
        put = await api.client.put(
            f"/api/v1/admin/spaces/{each['id']}/quotas", json=rules, headers=staff
        )
        assert put.status_code == 200, put.text

    held = await hold(api, staff, space["id"], "10:00", "12:00")
    seats = await hold(api, staff, shared["id"], "10:00", "12:00")
    second = await hold(api, staff, shared["id"], "14:00", "15:00")

    for response in (held, seats, second):
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "confirmed"
    # The whole shared space is held: no seat is left.
    day = await slots(api, shared["id"])
    assert (day["10:00"]["status"], day["10:00"]["remaining"]) == ("taken", 0)


async def test_events_count_toward_nobodys_quota_and_issue_no_door_code(api: Api) -> None:
    staff = await api.staff()
    space = await api.space()
    await door(api, space["id"], staff)
    rules = [{"subject": "user", "metric": "bookings_per_week", "max_value": 1}]
    put = await api.client.put(
        f"/api/v1/admin/spaces/{space['id']}/quotas", json=rules, headers=staff
    )
    assert put.status_code == 200, put.text
    assert (await hold(api, staff, space["id"], "10:00", "11:00")).status_code == 201
    assert (await hold(api, staff, space["id"], "11:00", "12:00")).status_code == 201
    resident = await api.resident()
    booked = await book(api, resident, space["id"], DAY, "14:00", "15:00")
    assert booked.status_code == 201, booked.text
    async with api.database.reader() as session:
        codes = await session.scalar(
            text(
                "SELECT count(*) FROM access_codes a JOIN reservations r"
                " ON r.id = a.reservation_id WHERE r.space_id = :space"
            ),
            {"space": space["id"]},
        )
    assert codes == 1  # the resident's booking's, none for the events


async def test_an_event_over_bookings_is_refused_listing_them_unless_it_cancels_them(
    api: Api,
) -> None:
    staff = await api.staff()
    space = await api.space()
    await door(api, space["id"], staff)
    ann, ben = await api.resident(), await api.resident()
    first = (await book(api, ann, space["id"], DAY, "10:00", "11:00")).json()
    second = (await book(api, ben, space["id"], DAY, "11:00", "12:00")).json()
    elsewhere = (await book(api, ann, space["id"], DAY, "15:00", "16:00")).json()

    refused = await hold(api, staff, space["id"], "09:30", "11:30")

    problem = assert_problem(refused, 409, "bookings_affected")
    listed_affected: Any = problem["affected"]
    assert [item["reservation_id"] for item in listed_affected] == [first["id"], second["id"]]
    assert (await reservation(api, staff, first["id"]))["status"] == "confirmed"
    listed = await api.client.get(events_path(space["id"]), headers=staff)
    assert listed.json()["items"] == []

    held = await hold(api, staff, space["id"], "09:30", "11:30", affected="cancel")

    assert held.status_code == 201, held.text
    assert [(item["reservation_id"], item["status"]) for item in held.json()["affected"]] == [
        (first["id"], "cancelled"),
        (second["id"], "cancelled"),
    ]
    assert (await reservation(api, staff, first["id"]))["status"] == "cancelled"
    assert (await reservation(api, staff, elsewhere["id"]))["status"] == "confirmed"
    for person, booking in ((ann, first), (ben, second)):
        told = await api.client.get("/api/v1/me/notifications", headers=person)
        kinds = {(n["kind"], n["reservation_id"]) for n in told.json()["items"]}
        assert ("booking_cancelled_by_closure", booking["id"]) in kinds
        code = await api.client.get(f"/api/v1/reservations/{booking['id']}/access", headers=person)
        assert code.status_code == 404, code.text  # the door code is revoked


async def test_a_booked_seat_refuses_an_event_over_a_shared_space(api: Api) -> None:
    staff = await api.staff()
    shared = await api.space(booking_mode="shared", capacity=6, kind="study_room")
    resident = await api.resident()
    seat = (await book(api, resident, shared["id"], DAY, "10:00", "11:00")).json()
    problem = assert_problem(
        await hold(api, staff, shared["id"], "10:00", "12:00"), 409, "bookings_affected"
    )
    seats: Any = problem["affected"]
    assert [item["reservation_id"] for item in seats] == [seat["id"]]


async def test_events_are_staff_only_in_scope_and_bad_times_change_nothing(api: Api) -> None:
    center, elsewhere = await api.center(), await api.center()
    space = await api.space(center["id"])
    other_staff = await api.staff(StaffRole.center_admin, center_ids=[elsewhere["id"]])
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    resident = await api.resident()
    existing = (await book(api, resident, space["id"], DAY, "10:00", "11:00")).json()

    assert_problem(await hold(api, other_staff, space["id"], "10:00", "11:00"), 403, "out_of_scope")
    assert (await hold(api, resident, space["id"], "13:00", "14:00")).status_code in (401, 403)
    assert_problem(await hold(api, staff, 999_999, "10:00", "11:00"), 404, "not_found")
    closure = await api.client.post(
        f"/api/v1/admin/spaces/{space['id']}/closures",
        json={**slot(DAY, "16:00", "18:00"), "reason": "设备检修"},
        headers=staff,
    )
    assert closure.status_code == 201, closure.text
    cancel = {"affected": "cancel"}
    assert_problem(
        await hold(api, staff, space["id"], "10:10", "11:00", **cancel), 422, "not_aligned"
    )
    assert_problem(
        await hold(api, staff, space["id"], "16:00", "17:00", **cancel), 422, "space_closed"
    )
    assert_problem(
        await hold(api, staff, space["id"], "08:00", "10:30", **cancel),
        422,
        "outside_opening_hours",
    )
    assert (await hold(api, staff, space["id"], "11:00", "10:00", **cancel)).status_code == 422
    assert (await hold(api, staff, space["id"], "12:00", "13:00", title="")).status_code == 422
    other_path = await api.client.get(events_path(space["id"]), headers=other_staff)
    assert_problem(other_path, 403, "out_of_scope")
    # Nothing changed: the booking the refused events would have cancelled holds.
    assert (await reservation(api, staff, existing["id"]))["status"] == "confirmed"
    assert (await api.client.get(events_path(space["id"]), headers=staff)).json()["items"] == []
    # Another center's staff reach an event neither through its space nor their own.
    event = (await hold(api, staff, space["id"], "12:00", "13:00")).json()
    theirs = await api.space(elsewhere["id"], headers=other_staff)
    for path in (f"{events_path(space['id'])}/{event['id']}", events_path(space["id"])):
        assert_problem(await api.client.get(path, headers=other_staff), 403, "out_of_scope")
    mine = f"{events_path(space['id'])}/{event['id']}"
    assert_problem(await api.client.delete(mine, headers=other_staff), 403, "out_of_scope")
    through_theirs = f"{events_path(theirs['id'])}/{event['id']}"
    assert_problem(await api.client.get(through_theirs, headers=other_staff), 404, "not_found")
    assert_problem(await api.client.delete(through_theirs, headers=other_staff), 404, "not_found")
    assert (await api.client.get(mine, headers=staff)).json()["status"] == "confirmed"


async def test_reports_count_event_hours_apart_from_bookings(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    space = await api.space(center["id"], headers=staff)
    resident = await api.resident()
    assert (await book(api, resident, space["id"], DAY, "10:00", "11:00")).status_code == 201
    assert (await hold(api, staff, space["id"], "14:00", "16:30")).status_code == 201
    cancelled = await hold(api, staff, space["id"], "18:00", "19:00")
    deleted = await api.client.delete(
        f"{events_path(space['id'])}/{cancelled.json()['id']}", headers=staff
    )
    assert deleted.status_code == 204

    response = await api.client.get(
        "/api/v1/admin/reports/utilization",
        params={"space_id": space["id"], "from": DAY.isoformat(), "to": DAY.isoformat()},
        headers=staff,
    )

    assert response.status_code == 200, response.text
    [row] = response.json()["rows"]
    assert (row["booked_hours"], row["center_event_hours"]) == (1.0, 2.5)
    assert (row["bookings"], row["cancellations"], row["unique_users"]) == (1, 0, 1)
    assert row["utilization"] == round(1.0 / 12, 4)
    # Once over, events complete like bookings and still count apart.
    await run_job(
        api.database,
        api.app.state.settings,
        JOBS["complete-finished"],
        local(DAY + timedelta(days=1), "00:30"),
    )
    again = await api.client.get(
        "/api/v1/admin/reports/utilization",
        params={"space_id": space["id"], "from": DAY.isoformat(), "to": DAY.isoformat()},
        headers=staff,
    )
    [row] = again.json()["rows"]
    assert (row["booked_hours"], row["center_event_hours"], row["bookings"]) == (1.0, 2.5, 1)


# --- races ------------------------------------------------------------------------------

RACERS = 20
TRIALS = 5
EVENT_LOST = {"409 slot_taken", "409 bookings_affected"}


async def race_events_and_bookings(
    api: Api, staff: Headers, space_id: int, start: str, end: str
) -> list[httpx.Response]:
    """Half the racers hold the slot for an event, half book it."""
    people = [await api.resident() for _ in range(RACERS // 2)]
    attempts = [hold(api, staff, space_id, start, end) for _ in range(RACERS // 2)]
    attempts += [book(api, person, space_id, DAY, start, end) for person in people]
    return list(await asyncio.gather(*attempts))


@pytest.mark.slow
async def test_events_racing_bookings_for_one_slot_exactly_one_holds_it(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    staff = await api.staff()
    for trial in range(TRIALS):
        space = await api.space()
        hour = f"{10 + trial:02d}"
        responses = await race_events_and_bookings(
            api, staff, space["id"], f"{hour}:00", f"{hour}:30"
        )
        outcome = tally(responses)
        record_property(f"trial {trial}", dict(outcome))
        assert outcome["201"] == 1, (trial, outcome)
        assert set(outcome) <= {"201"} | EVENT_LOST, (trial, outcome)
        assert await overlapping_holders(api.database) == 0


@pytest.mark.slow
async def test_events_racing_seat_bookings_of_a_shared_space_either_hold_it_or_none_do(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    """The event wants every seat: it wins alone, or the seats go to bookings."""
    staff = await api.staff()
    for trial in range(TRIALS):
        shared = await api.space(booking_mode="shared", capacity=4, kind="study_room")
        hour = f"{10 + trial:02d}"
        people = [await api.resident() for _ in range(RACERS // 2)]
        events = [hold(api, staff, shared["id"], f"{hour}:00", f"{hour}:30") for _ in range(3)]
        seats = [
            book(api, person, shared["id"], DAY, f"{hour}:00", f"{hour}:30") for person in people
        ]
        responses = await asyncio.gather(*events, *seats)
        held = sum(response.status_code == 201 for response in responses[:3])
        booked = sum(response.status_code == 201 for response in responses[3:])
        record_property(f"trial {trial}", {"events": held, "seats": booked})
        assert (held, booked) in {(1, 0), (0, 4)}, (trial, held, booked, tally(responses))


@pytest.mark.slow
async def test_negative_control_events_and_bookings_double_book_without_the_guard(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    staff = await api.staff()
    space = await api.space()
    without_guard(api)
    outcome = tally(await race_events_and_bookings(api, staff, space["id"], "10:00", "10:30"))
    record_property("control", dict(outcome))
    assert outcome["201"] > 1, outcome
    assert await overlapping_holders(api.database) > 0
