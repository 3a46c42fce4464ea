"""Bookings follow the center's changes: a closure, new opening hours or a day
declared a holiday that leaves holding bookings outside the space's time is
refused (409 bookings_affected, listing them, nothing changed) unless staff say
to cancel them (cancelled, code revoked, waitlist offer ended, booker told) or
to keep them."""

from datetime import date
from typing import Any

import pytest
import time_machine

from app.core.clock import utcnow
from app.jobs.registry import JOBS, run_job
from tests.factories import (
    EVERY_DAY_9_TO_21,
    Api,
    Headers,
    book,
    days_ahead,
    door,
    local,
    next_open_day,
)
from tests.test_console import console, post, staff_member
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

DAY = days_ahead(3)


def closure(start: str, end: str, day: date = DAY, **extra: Any) -> dict[str, Any]:
    return {
        "start": local(day, start).isoformat(),
        "end": local(day, end).isoformat(),
        **{"reason": "空调维修", **extra},
    }


async def booked(
    api: Api, headers: Headers, space_id: int, start: str, end: str, day: date = DAY
) -> int:
    response = await book(api, headers, space_id, day, start, end)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def reservation(api: Api, headers: Headers, reservation_id: int) -> dict[str, Any]:
    response = await api.client.get(f"/api/v1/reservations/{reservation_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def history(api: Api, headers: Headers, reservation_id: int) -> list[dict[str, Any]]:
    response = await api.client.get(
        f"/api/v1/reservations/{reservation_id}/history", headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    items: list[dict[str, Any]] = body if isinstance(body, list) else body["items"]
    return items


CLOSURE_KIND = "booking_cancelled_by_closure"


async def told(api: Api, headers: Headers) -> list[dict[str, Any]]:
    """The booker's notifications of cancellations by a change of the space's time."""
    response = await api.client.get("/api/v1/me/notifications", headers=headers)
    assert response.status_code == 200, response.text
    return [item for item in response.json()["items"] if item["kind"] == CLOSURE_KIND]


def listed(problem_or_answer: dict[str, Any]) -> list[tuple[int, str, str, str]]:
    return [
        (row["reservation_id"], row["start"], row["end"], row["status"])
        for row in problem_or_answer["affected"]
    ]


async def test_a_closure_over_bookings_is_refused_listing_them_and_changes_nothing(
    api: Api,
) -> None:
    admin = await api.staff()
    space = await api.space(headers=admin)
    resident = await api.resident()
    inside = await booked(api, resident, space["id"], "12:00", "13:00")
    across = await booked(api, resident, space["id"], "17:00", "19:00")
    outside = await booked(api, resident, space["id"], "19:00", "20:00")
    path = f"/api/v1/admin/spaces/{space['id']}/closures"

    refused = assert_problem(
        await api.client.post(path, json=closure("12:00", "18:00"), headers=admin),
        409,
        "bookings_affected",
    )
    assert listed(refused) == [
        (inside, local(DAY, "12:00").isoformat(), local(DAY, "13:00").isoformat(), "confirmed"),
        (across, local(DAY, "17:00").isoformat(), local(DAY, "19:00").isoformat(), "confirmed"),
    ]
    assert outside not in [row["reservation_id"] for row in refused["affected"]]  # type: ignore[attr-defined]
    # Nothing changed: no closure, the bookings hold.
    assert (await api.client.get(path, headers=admin)).json()["items"] == []
    for reservation_id in (inside, across, outside):
        assert (await reservation(api, resident, reservation_id))["status"] == "confirmed"
    # A closure that touches no booking needs no word about them.
    free = await api.client.post(path, json=closure("20:00", "21:00"), headers=admin)
    assert free.status_code == 201, free.text
    assert free.json()["affected"] == []


async def test_cancel_cancels_revokes_the_code_and_tells_the_booker(api: Api) -> None:
    admin = await api.staff()
    space = await api.space(headers=admin)
    await door(api, space["id"], admin)
    resident, other = await api.resident(), await api.resident()
    inside = await booked(api, resident, space["id"], "12:00", "13:00")
    kept = await booked(api, other, space["id"], "19:00", "20:00")
    code = await api.client.get(f"/api/v1/reservations/{inside}/access", headers=resident)
    assert code.status_code == 200, code.text

    answer = await api.client.post(
        f"/api/v1/admin/spaces/{space['id']}/closures",
        json=closure("12:00", "18:00", affected="cancel"),
        headers=admin,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["reason"] == "空调维修"
    assert listed(answer.json()) == [
        (inside, local(DAY, "12:00").isoformat(), local(DAY, "13:00").isoformat(), "cancelled")
    ]
    cancelled = await reservation(api, resident, inside)
    assert (cancelled["status"], cancelled["status_reason"]) == ("cancelled", "空调维修")
    [cancel] = [event for event in await history(api, admin, inside) if event["action"] == "cancel"]
    assert (cancel["actor_kind"], cancel["to_status"], cancel["reason"]) == (
        "staff",
        "cancelled",
        "空调维修",
    )
    gone = await api.client.get(f"/api/v1/reservations/{inside}/access", headers=resident)
    assert gone.status_code != 200
    [message] = await told(api, resident)
    assert message["reservation_id"] == inside
    assert "空调维修" in message["body"]
    # The booking outside the closure is untouched, its booker not told.
    assert (await reservation(api, other, kept))["status"] == "confirmed"
    assert await told(api, other) == []
    # The time is closed now: the freed slot is not bookable.
    assert_problem(await book(api, other, space["id"], DAY, "12:00", "13:00"), 422, "space_closed")


async def test_keep_leaves_the_bookings_lists_them_and_audits(api: Api) -> None:
    admin = await api.staff()
    space = await api.space(headers=admin)
    resident = await api.resident()
    inside = await booked(api, resident, space["id"], "12:00", "13:00")
    path = f"/api/v1/admin/spaces/{space['id']}/closures"

    answer = await api.client.post(
        path, json=closure("12:00", "18:00", affected="keep"), headers=admin
    )
    assert answer.status_code == 201, answer.text
    assert listed(answer.json()) == [
        (inside, local(DAY, "12:00").isoformat(), local(DAY, "13:00").isoformat(), "confirmed")
    ]
    assert (await reservation(api, resident, inside))["status"] == "confirmed"
    assert "keep_outside_hours" in [event["action"] for event in await history(api, admin, inside)]
    assert await told(api, resident) == []
    # Kept once, it is not this change's doing next time: a second closure over it passes.
    again = await api.client.post(path, json=closure("12:30", "14:00"), headers=admin)
    assert again.status_code == 201, again.text
    assert again.json()["affected"] == []


async def test_new_opening_hours_over_bookings(api: Api) -> None:
    admin = await api.staff()
    space = await api.space(headers=admin)
    resident = await api.resident()
    morning = await booked(api, resident, space["id"], "10:00", "11:00")
    afternoon = await booked(api, resident, space["id"], "14:00", "15:00")
    path = f"/api/v1/admin/spaces/{space['id']}/opening-hours"
    mornings = [{"weekday": day, "opens": "09:00", "closes": "12:00"} for day in range(7)]

    refused = assert_problem(
        await api.client.put(path, json=mornings, headers=admin), 409, "bookings_affected"
    )
    assert [row["reservation_id"] for row in refused["affected"]] == [afternoon]  # type: ignore[attr-defined]
    unchanged = await api.client.get(f"/api/v1/spaces/{space['id']}")
    assert unchanged.json()["opening_hours"] == EVERY_DAY_9_TO_21

    answer = await api.client.put(
        path,
        json={"opening_hours": mornings, "affected": "cancel", "reason": "下午改为内部使用"},
        headers=admin,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["opening_hours"] == mornings
    assert [(row["reservation_id"], row["status"]) for row in answer.json()["affected"]] == [
        (afternoon, "cancelled")
    ]
    assert (await reservation(api, resident, afternoon))["status_reason"] == "下午改为内部使用"
    assert (await reservation(api, resident, morning))["status"] == "confirmed"
    assert [message["reservation_id"] for message in await told(api, resident)] == [afternoon]

    # The same through PATCH, with keep: listed, left as they are.
    patched = await api.client.patch(
        f"/api/v1/admin/spaces/{space['id']}",
        json={"opening_hours": [], "affected": "keep"},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    assert [row["reservation_id"] for row in patched.json()["affected"]] == [morning]
    assert (await reservation(api, resident, morning))["status"] == "confirmed"


async def test_a_holiday_declared_over_bookings(api: Api) -> None:
    admin = await api.staff()
    center = await api.center(admin)
    closes = await api.space(center["id"], admin, holiday_policy="closed")
    stays_open = await api.space(center["id"], admin, holiday_policy="open")
    day = await next_open_day(api, closes["id"], after=2)  # not already a holiday
    resident = await api.resident()
    booked_closing = await booked(api, resident, closes["id"], "10:00", "11:00", day)
    await booked(api, resident, stays_open["id"], "10:00", "11:00", day)
    path = f"/api/v1/admin/calendar/days/{day.isoformat()}"
    body = {"kind": "holiday", "name": "社区活动日", "center_id": center["id"]}

    refused = assert_problem(
        await api.client.put(path, json=body, headers=admin), 409, "bookings_affected"
    )
    assert [(row["reservation_id"], row["space_id"]) for row in refused["affected"]] == [  # type: ignore[attr-defined]
        (booked_closing, closes["id"])
    ]
    assert (await api.client.get(path, headers=admin)).json()["set"] == []

    answer = await api.client.put(path, json={**body, "affected": "cancel"}, headers=admin)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["kind"], answer.json()["center_id"]) == ("holiday", center["id"])
    assert [(row["reservation_id"], row["status"]) for row in answer.json()["affected"]] == [
        (booked_closing, "cancelled")
    ]
    cancelled = await reservation(api, resident, booked_closing)
    assert (cancelled["status"], cancelled["status_reason"]) == ("cancelled", "社区活动日")
    [message] = await told(api, resident)
    assert message["reservation_id"] == booked_closing
    assert "社区活动日" in message["body"]


async def test_a_place_held_for_the_waitlist_is_cancelled_and_its_offer_ended(api: Api) -> None:
    admin = await api.staff()
    space = await api.space(
        headers=admin, kind="study_room", booking_mode="shared", capacity=1, holiday_policy="open"
    )
    first, waiting = await api.resident(), await api.resident()
    taken = await booked(api, first, space["id"], "10:00", "11:00")
    joined = await api.client.post(
        f"/api/v1/spaces/{space['id']}/waitlist",
        json={"start": local(DAY, "10:00").isoformat(), "end": local(DAY, "11:00").isoformat()},
        headers=waiting,
    )
    assert joined.status_code == 201, joined.text
    cancelled = await api.client.post(f"/api/v1/reservations/{taken}/cancel", headers=first)
    assert cancelled.status_code == 200, cancelled.text
    await run_job(api.database, api.app.state.settings, JOBS["offer-waitlist"], utcnow())
    entries = (await api.client.get("/api/v1/me/waitlist", headers=waiting)).json()
    [entry] = entries if isinstance(entries, list) else entries["items"]
    assert entry["status"] == "offered"

    answer = await api.client.post(
        f"/api/v1/admin/spaces/{space['id']}/closures",
        json=closure("09:00", "12:00", affected="cancel"),
        headers=admin,
    )
    assert answer.status_code == 201, answer.text
    assert [(row["reservation_id"], row["status"]) for row in answer.json()["affected"]] == [
        (entry["reservation_id"], "cancelled")
    ]
    entries = (await api.client.get("/api/v1/me/waitlist", headers=waiting)).json()
    [entry] = entries if isinstance(entries, list) else entries["items"]
    assert entry["status"] == "expired"
    accept = await api.client.post(f"/api/v1/waitlist/{entry['id']}/accept", headers=waiting)
    assert_problem(accept, 409, "offer_not_open")


async def test_the_console_asks_what_to_do_with_bookings_inside_a_closure(api: Api) -> None:
    staff = await api.staff()
    space = await api.space(headers=staff)
    resident = await api.resident()
    inside = await booked(api, resident, space["id"], "10:00", "11:00")
    client = await console(api, await staff_member(api))
    path = f"/console/spaces/{space['id']}/closures"
    form = {
        "start": f"{DAY.isoformat()}T09:00",  # <input type=datetime-local>, Shanghai time
        "end": f"{DAY.isoformat()}T12:00",
        "reason": "消防演练",
    }
    assert 'name="affected"' in (await client.get(f"/console/spaces/{space['id']}")).text

    refused = await post(client, path, **form, affected="")
    assert "error=" in refused.headers["location"], refused.headers["location"]
    listed = await api.client.get(f"/api/v1/admin/spaces/{space['id']}/closures", headers=staff)
    assert listed.json()["items"] == []
    assert (await reservation(api, resident, inside))["status"] == "confirmed"

    added = await post(client, path, **form, affected="cancel")
    assert "notice=" in added.headers["location"], added.headers["location"]
    assert (await reservation(api, resident, inside))["status"] == "cancelled"
    assert [message["reservation_id"] for message in await told(api, resident)] == [inside]


async def test_a_booking_checked_in_is_cancelled_too(api: Api) -> None:
    with time_machine.travel(local(DAY, "09:00"), tick=False):
        space = await api.space(requires_check_in=True)
        resident = await api.resident()
        checked = await booked(api, resident, space["id"], "10:00", "11:00")
    with time_machine.travel(local(DAY, "10:05"), tick=False):
        admin = await api.staff()
        check_in = await api.client.post(f"/api/v1/reservations/{checked}/check-in", headers=admin)
        assert check_in.status_code == 200, check_in.text
        assert check_in.json()["status"] == "checked_in"
        path = f"/api/v1/admin/spaces/{space['id']}/closures"
        body = closure("10:30", "12:00", reason="漏水抢修")
        refused = assert_problem(
            await api.client.post(path, json=body, headers=admin), 409, "bookings_affected"
        )
        assert listed(refused)[0][::3] == (checked, "checked_in")
        answer = await api.client.post(path, json={**body, "affected": "cancel"}, headers=admin)
        assert answer.status_code == 201, answer.text
        assert (await reservation(api, resident, checked))["status"] == "cancelled"
        assert [message["reservation_id"] for message in await told(api, resident)] == [checked]
