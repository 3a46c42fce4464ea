"""Moving a booking (PATCH /reservations/{id}): the same row held at the new
time and released at the old in one transaction, or the rule's refusal and
the booking untouched; quotas net of the booking itself; the space's deadline
for moves; approval; door code, notification, history, calendar, key; and
the races, with a negative control."""

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.core.db import OverlapGuard
from tests.factories import (
    Api,
    Headers,
    book,
    days_ahead,
    door,
    member_of,
    organization,
    slot,
    verified_resident,
)
from tests.test_concurrency import overlapping_holders, seats_over_capacity, tally
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

DAY = days_ahead(2)
PATH = "/api/v1/reservations"


async def booked(
    api: Api,
    resident: Headers,
    space_id: int,
    start: str = "10:00",
    end: str = "11:00",
    **extra: Any,
) -> dict[str, Any]:
    response = await book(api, resident, space_id, DAY, start, end, **extra)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def move(
    api: Api, headers: Headers, reservation_id: int, body: dict[str, Any]
) -> httpx.Response:
    return await api.client.patch(f"{PATH}/{reservation_id}", json=body, headers=headers)


async def read(api: Api, headers: Headers, reservation_id: int) -> dict[str, Any]:
    response = await api.client.get(f"{PATH}/{reservation_id}", headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def history(api: Api, headers: Headers, reservation_id: int) -> list[dict[str, Any]]:
    response = await api.client.get(f"{PATH}/{reservation_id}/history", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def inbox(api: Api, headers: Headers, path: str = "/api/v1/me/notifications") -> list[Any]:
    response = await api.client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


# --- the move itself ----------------------------------------------------------------------


async def test_a_move_holds_the_new_time_and_frees_the_old_on_the_same_booking(api: Api) -> None:
    space = await api.space()
    resident, other = await api.resident(), await api.resident()
    first = await booked(api, resident, space["id"])
    moved = await move(api, resident, first["id"], slot(DAY, "14:00", "15:30"))
    assert moved.status_code == 200, moved.text
    answer = moved.json()
    assert answer["id"] == first["id"]
    assert (answer["start"], answer["end"]) == tuple(slot(DAY, "14:00", "15:30").values())
    assert answer["status"] == "confirmed"
    assert answer["created_at"] == first["created_at"]
    assert await read(api, resident, first["id"]) == answer
    # The old time is free for anyone; the new one is held.
    assert (await book(api, other, space["id"], DAY, "10:00", "11:00")).status_code == 201
    taken = await book(api, other, space["id"], DAY, "15:00", "16:00")
    assert_problem(taken, 409, "slot_taken")
    assert await overlapping_holders(api.database) == 0


async def test_a_move_may_overlap_its_own_old_time(api: Api) -> None:
    """The booking is left out of the holders it is checked against: in a room,
    and in a study room where a person holds one seat at a time."""
    room = await api.space()
    resident = await verified_resident(api)
    first = await booked(api, resident, room["id"])
    later = await move(api, resident, first["id"], {"start": slot(DAY, "10:30", "11:30")["start"]})
    assert later.status_code == 200, later.text
    # A new start alone keeps the booking's length.
    assert later.json()["end"] == slot(DAY, "10:30", "11:30")["end"]
    hall = await api.space(
        kind="study_room", booking_mode="shared", capacity=1, requires_real_name=True
    )
    seat = await booked(api, resident, hall["id"])
    longer = await move(api, resident, seat["id"], {"end": slot(DAY, "10:00", "12:00")["end"]})
    assert longer.status_code == 200, longer.text
    assert await seats_over_capacity(api.database) == 0


async def test_purpose_and_attendees_change_alone(api: Api) -> None:
    space = await api.space()
    resident = await api.resident()
    first = await booked(api, resident, space["id"])
    changed = await move(api, resident, first["id"], {"purpose": "改为培训", "attendees": 5})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["purpose"], changed.json()["attendees"]) == ("改为培训", 5)
    assert (changed.json()["start"], changed.json()["end"]) == (first["start"], first["end"])


async def test_a_move_to_another_space(api: Api) -> None:
    staff = await api.staff()
    center = await api.center(staff)
    here, target = [await api.space(center["id"], staff) for _ in range(2)]
    resident = await api.resident()
    first = await booked(api, resident, here["id"])
    moved = await move(api, resident, first["id"], {"space_id": target["id"]})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["space_id"], moved.json()["space_name"]) == (target["id"], target["name"])


# --- refusals leave the booking untouched --------------------------------------------------


async def test_each_refusal_answers_the_rules_code_and_changes_nothing(api: Api) -> None:
    space = await api.space(advance_days=7)
    resident, other = await api.resident(), await api.resident()
    first = await booked(api, resident, space["id"])
    await booked(api, other, space["id"], "14:00", "15:00")
    before = await read(api, resident, first["id"])
    trail = await history(api, resident, first["id"])
    refusals: list[tuple[dict[str, Any], int, str]] = [
        (slot(DAY, "14:30", "15:30"), 409, "slot_taken"),
        (slot(days_ahead(10), "10:00", "11:00"), 409, "outside_booking_window"),
        (slot(DAY, "07:00", "08:00"), 422, "outside_opening_hours"),
        (slot(DAY, "10:10", "11:00"), 422, "not_aligned"),
        ({"attendees": 13}, 422, "too_many_attendees"),
        ({"space_id": 999999}, 404, "not_found"),
    ]
    for body, status, code in refusals:
        answer = await move(api, resident, first["id"], body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["code"] == code, (body, answer.text)
        assert await read(api, resident, first["id"]) == before
    assert await history(api, resident, first["id"]) == trail
    assert [item["kind"] for item in await inbox(api, resident)] == ["booking_confirmed"]


async def test_a_full_study_room_refuses_a_move_and_keeps_the_seat(api: Api) -> None:
    hall = await api.space(
        kind="study_room", booking_mode="shared", capacity=1, requires_real_name=True
    )
    resident, other = await verified_resident(api), await verified_resident(api)
    mine = await booked(api, resident, hall["id"])
    await booked(api, other, hall["id"], "14:00", "15:00")
    full = await move(api, resident, mine["id"], slot(DAY, "14:00", "15:00"))
    assert_problem(full, 409, "space_full")
    assert (await read(api, resident, mine["id"]))["start"] == mine["start"]


async def test_bad_bodies_are_422(api: Api) -> None:
    space = await api.space()
    resident = await api.resident()
    first = await booked(api, resident, space["id"])
    for body in ({}, {"colour": "red"}, {"start": None}, {"attendees": 0}):
        answer = await move(api, resident, first["id"], body)
        assert answer.status_code == 422, (body, answer.text)
    assert await read(api, resident, first["id"]) == first | {"checked_in_at": None}


async def test_only_the_booker_or_the_organizations_members_move_it(api: Api) -> None:
    space = await api.space()
    owner = await api.resident()
    company = (await organization(api, owner))["id"]
    colleague = await member_of(api, owner, company)
    stranger = await api.resident()
    personal = await booked(api, owner, space["id"])
    shared = await booked(api, owner, space["id"], "12:00", "13:00", organization_id=company)
    later = slot(DAY, "16:00", "17:00")
    assert_problem(await move(api, stranger, personal["id"], later), 404, "not_found")
    assert_problem(await move(api, colleague, personal["id"], later), 404, "not_found")
    assert_problem(await move(api, stranger, shared["id"], later), 404, "not_found")
    # Staff do not move bookings: the route is a resident's, as booking is.
    assert (await move(api, await api.staff(), personal["id"], later)).status_code == 403
    moved = await move(api, colleague, shared["id"], later)
    assert moved.status_code == 200, moved.text
    assert moved.json()["user_id"] == shared["user_id"]  # still the booker's booking
    [event] = [e for e in await history(api, owner, shared["id"]) if e["action"] == "move"]
    assert event["actor_kind"] == "user"


async def test_only_pending_and_confirmed_bookings_move(api: Api) -> None:
    space = await api.space()
    resident = await api.resident()
    first = await booked(api, resident, space["id"])
    cancelled = await api.client.post(f"{PATH}/{first['id']}/cancel", headers=resident)
    assert cancelled.status_code == 200, cancelled.text
    answer = await move(api, resident, first["id"], slot(DAY, "14:00", "15:00"))
    assert_problem(answer, 409, "invalid_transition")
    assert (await read(api, resident, first["id"]))["status"] == "cancelled"


# --- quotas, deadline, approval --------------------------------------------------------------


async def test_quotas_count_the_move_net_of_the_booking_itself(api: Api) -> None:
    space = await api.space()
    staff = await api.staff()
    rules = [
        {"subject": "user", "metric": "bookings_per_week", "max_value": 1},
        {"subject": "user", "metric": "hours_per_week", "max_value": 1},
        {"subject": "user", "metric": "future_bookings", "max_value": 1},
    ]
    path = f"/api/v1/admin/spaces/{space['id']}/quotas"
    assert (await api.client.put(path, json=rules, headers=staff)).status_code == 200
    resident = await api.resident()
    first = await booked(api, resident, space["id"])
    # At every limit, and still free to move within them.
    assert_problem(
        await book(api, resident, space["id"], DAY, "15:00", "16:00"), 409, "quota_exceeded"
    )
    moved = await move(api, resident, first["id"], slot(DAY, "15:00", "16:00"))
    assert moved.status_code == 200, moved.text
    # A longer booking would be over the hours.
    longer = await move(api, resident, first["id"], slot(DAY, "15:00", "16:30"))
    problem = assert_problem(longer, 409, "quota_exceeded")
    assert problem["quota"]["metric"] == "hours_per_week"  # type: ignore[index]
    assert problem["quota"]["used"] == 0  # type: ignore[index]
    assert (await read(api, resident, first["id"]))["end"] == slot(DAY, "15:00", "16:00")["end"]


async def test_moves_close_at_the_spaces_deadline(api: Api) -> None:
    three_days = 3 * 24 * 60
    resident = await api.resident()
    by_cancel = await api.space(cancel_before_minutes=three_days)
    assert by_cancel["modify_before_minutes"] is None
    first = await booked(api, resident, by_cancel["id"])
    closed = await move(api, resident, first["id"], slot(DAY, "14:00", "15:00"))
    assert_problem(closed, 409, "modification_closed")
    own = await api.space(cancel_before_minutes=three_days, modify_before_minutes=0)
    assert own["modify_before_minutes"] == 0
    second = await booked(api, resident, own["id"])
    assert (await move(api, resident, second["id"], slot(DAY, "14:00", "15:00"))).status_code == 200
    staff = await api.staff()
    changed = await api.client.patch(
        f"/api/v1/admin/spaces/{own['id']}",
        json={"modify_before_minutes": three_days},
        headers=staff,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["modify_before_minutes"] == three_days
    again = await move(api, resident, second["id"], slot(DAY, "16:00", "17:00"))
    assert_problem(again, 409, "modification_closed")
    assert (await read(api, resident, second["id"]))["start"] == slot(DAY, "14:00", "15:00")[
        "start"
    ]


async def test_where_staff_approve_a_longer_or_incoming_move_asks_them_again(api: Api) -> None:
    staff = await api.staff()
    center = await api.center(staff)
    approved = await api.space(center["id"], staff, requires_approval=True)
    plain = await api.space(center["id"], staff)
    resident = await api.resident()
    first = await booked(api, resident, approved["id"])
    assert first["status"] == "pending"
    ok = await api.client.post(f"{PATH}/{first['id']}/approve", headers=staff)
    assert ok.status_code == 200, ok.text
    # As long or shorter, in the same space: still confirmed.
    same = await move(api, resident, first["id"], slot(DAY, "14:00", "15:00"))
    assert same.json()["status"] == "confirmed", same.text
    shorter = await move(api, resident, first["id"], slot(DAY, "14:00", "14:30"))
    assert shorter.json()["status"] == "confirmed", shorter.text
    requests = len(await inbox(api, staff, "/api/v1/admin/notifications"))
    longer = await move(api, resident, first["id"], slot(DAY, "14:00", "16:00"))
    assert longer.json()["status"] == "pending", longer.text
    told = await inbox(api, staff, "/api/v1/admin/notifications")
    assert len(told) == requests + 1
    assert told[0]["kind"] == "approval_requested"
    # Elsewhere a move is confirmed, as a booking there is; coming back asks again.
    away = await move(api, resident, first["id"], {"space_id": plain["id"]})
    assert away.json()["status"] == "confirmed", away.text
    back = await move(api, resident, first["id"], {"space_id": approved["id"]})
    assert back.json()["status"] == "pending", back.text


# --- what follows a move -----------------------------------------------------------------------


async def code_of(api: Api, resident: Headers, reservation_id: int) -> httpx.Response:
    return await api.client.get(f"{PATH}/{reservation_id}/access", headers=resident)


async def test_the_door_code_follows_the_move(api: Api) -> None:
    staff = await api.staff()
    center = await api.center(staff)
    room = await api.space(center["id"], staff)
    await door(api, room["id"], staff)
    approved = await api.space(center["id"], staff, requires_approval=True)
    await door(api, approved["id"], staff)
    resident = await api.resident()
    first = await booked(api, resident, room["id"])
    code = (await code_of(api, resident, first["id"])).json()
    moved = await move(api, resident, first["id"], slot(DAY, "14:00", "15:00"))
    assert moved.status_code == 200, moved.text
    after = (await code_of(api, resident, first["id"])).json()
    assert after["door_code"] == code["door_code"]  # the same code, at the new time
    assert after["valid_until"] == slot(DAY, "14:00", "15:00")["end"]
    assert after["valid_from"] == moved.json()["code_valid_from"]
    assert after["valid_from"] == moved.json()["check_in_opens_at"]
    assert after["valid_from"] < slot(DAY, "14:00", "15:00")["start"]
    # Into a space whose staff approve: pending, and no code until approved.
    pending = await move(api, resident, first["id"], {"space_id": approved["id"]})
    assert pending.json()["status"] == "pending", pending.text
    assert (await code_of(api, resident, first["id"])).status_code == 404
    # Back into the room: a code is issued.
    back = await move(api, resident, first["id"], {"space_id": room["id"]})
    assert back.json()["status"] == "confirmed", back.text
    fresh = (await code_of(api, resident, first["id"])).json()
    assert fresh["valid_until"] == slot(DAY, "14:00", "15:00")["end"]


async def test_the_booker_is_told_and_history_and_calendar_follow(api: Api) -> None:
    space = await api.space()
    owner = await api.resident()
    company = (await organization(api, owner))["id"]
    colleague = await member_of(api, owner, company)
    first = await booked(api, owner, space["id"], organization_id=company)
    ics = await api.client.get(f"{PATH}/{first['id']}/calendar.ics", headers=owner)
    assert "SEQUENCE:0" in ics.text
    moved = await move(api, colleague, first["id"], slot(DAY, "14:00", "15:00"))
    assert moved.status_code == 200, moved.text
    [told] = [n for n in await inbox(api, owner) if n["kind"] == "booking_moved"]
    assert told["reservation_id"] == first["id"]
    assert "14:00-15:00" in told["body"]
    events = await history(api, owner, first["id"])
    assert [event["action"] for event in events] == ["create", "move"]
    assert events[1]["details"] == {
        "from": {"space_id": space["id"], "start": first["start"], "end": first["end"]},
        "to": {"space_id": space["id"], **slot(DAY, "14:00", "15:00")},
    }
    assert (events[1]["from_status"], events[1]["to_status"]) == ("confirmed", "confirmed")
    await move(api, owner, first["id"], slot(DAY, "16:00", "17:00"))
    ics = await api.client.get(f"{PATH}/{first['id']}/calendar.ics", headers=owner)
    assert "SEQUENCE:2" in ics.text


async def test_a_retried_move_replays_its_first_answer(api: Api) -> None:
    space = await api.space()
    resident = await api.resident()
    first = await booked(api, resident, space["id"])
    headers = {**resident, "Idempotency-Key": "move-once"}
    body = slot(DAY, "14:00", "15:00")
    one = await move(api, headers, first["id"], body)
    assert one.status_code == 200, one.text
    # Meanwhile moved again: the retry still answers what the first move did.
    assert (await move(api, resident, first["id"], slot(DAY, "16:00", "17:00"))).status_code == 200
    two = await move(api, headers, first["id"], body)
    assert two.status_code == 200, two.text
    assert two.headers.get("Idempotent-Replayed") == "true"
    assert two.json() == one.json()
    actions = [event["action"] for event in await history(api, resident, first["id"])]
    assert actions == ["create", "move", "move"]
    other = await move(api, headers, first["id"], slot(DAY, "18:00", "19:00"))
    assert_problem(other, 422, "idempotency_key_reused")


# --- races ------------------------------------------------------------------------------

TRIALS = 5
MOVERS = 8


async def race_moves(
    api: Api, attempts: list[tuple[Headers, int, dict[str, Any]]], booking_into: Any = None
) -> list[httpx.Response]:
    calls = [move(api, headers, reservation_id, body) for headers, reservation_id, body in attempts]
    if booking_into is not None:
        calls.append(booking_into)
    return list(await asyncio.gather(*calls))


async def movers(api: Api, space_id: int) -> list[tuple[Headers, int]]:
    """Residents each holding a booking of their own in the space, at another hour."""
    people = []
    for index in range(MOVERS):
        resident = await api.resident()
        start = f"{9 + index:02d}:00"
        held = await booked(api, resident, space_id, start, f"{9 + index:02d}:30")
        people.append((resident, int(held["id"])))
    return people


@pytest.mark.slow
async def test_moves_racing_into_one_free_slot_exactly_one_wins(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    for trial in range(TRIALS):
        space = await api.space()
        people = await movers(api, space["id"])
        target = slot(DAY, "19:00", "20:00")
        responses = await race_moves(api, [(who, held, target) for who, held in people])
        outcome = tally(responses)
        record_property(f"trial {trial}", dict(outcome))
        assert outcome == Counter({"200": 1, "409 slot_taken": MOVERS - 1}), outcome
        assert await overlapping_holders(api.database) == 0
        # The losers are where they were.
        for (who, held), response in zip(people, responses, strict=True):
            if response.status_code == 409:
                assert (await read(api, who, held))["end"] < target["start"]


@pytest.mark.slow
async def test_a_move_racing_a_new_booking_for_the_slot_exactly_one_wins(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    for trial in range(TRIALS):
        space = await api.space()
        people = await movers(api, space["id"])
        newcomers = [await api.resident() for _ in range(MOVERS)]
        target = slot(DAY, "19:00", "20:00")
        calls = [move(api, who, held, target) for who, held in people] + [
            book(api, newcomer, space["id"], DAY, "19:00", "20:00") for newcomer in newcomers
        ]
        outcome = tally(list(await asyncio.gather(*calls)))
        record_property(f"trial {trial}", dict(outcome))
        won = outcome["200"] + outcome["201"]
        assert won == 1, outcome
        assert outcome["409 slot_taken"] == 2 * MOVERS - 1, outcome
        assert await overlapping_holders(api.database) == 0


@pytest.mark.slow
async def test_negative_control_moves_double_book_without_the_guard(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    space = await api.space()
    people = await movers(api, space["id"])
    guard = OverlapGuard(lock=False, exclusion_constraint=False, delay_seconds=0.2)
    api.guarded(guard)
    target = slot(DAY, "19:00", "20:00")
    outcome = tally(await race_moves(api, [(who, held, target) for who, held in people]))
    record_property("control", dict(outcome))
    assert outcome["200"] > 1, outcome  # the race is real: without the guard it double-books
    assert await overlapping_holders(api.database) > 0


@pytest.mark.slow
async def test_negative_control_a_move_and_a_booking_both_win_without_the_guard(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    space = await api.space()
    people = await movers(api, space["id"])
    newcomers = [await api.resident() for _ in range(MOVERS)]
    guard = OverlapGuard(lock=False, exclusion_constraint=False, delay_seconds=0.2)
    api.guarded(guard)
    target = slot(DAY, "19:00", "20:00")
    calls = [move(api, who, held, target) for who, held in people] + [
        book(api, newcomer, space["id"], DAY, "19:00", "20:00") for newcomer in newcomers
    ]
    outcome = tally(list(await asyncio.gather(*calls)))
    record_property("control", dict(outcome))
    assert outcome["200"] >= 1, outcome  # moves and bookings both won the one slot
    assert outcome["201"] >= 1, outcome
    assert await overlapping_holders(api.database) > 0
