"""Recurring bookings: occurrences booked or refused one by one, all or nothing
under a racing single booking, quotas counting each occurrence, approval of a
series at once, and cancelling the rest."""

import asyncio
from collections.abc import Awaitable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from app.core.db import OverlapGuard
from app.models import StaffRole
from tests.factories import Api, Headers, book, days_ahead, local, member_of, organization
from tests.test_concurrency import without_guard
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

SERIES = "/api/v1/reservation-series"


def next_tuesday(after: int = 1) -> date:
    day = days_ahead(after)
    while day.weekday() != 1:
        day += timedelta(days=1)
    return day


async def book_series(
    api: Api, who: Headers, space_id: int, first: date, rrule: str, **extra: Any
) -> Any:
    body = {
        "space_id": space_id,
        "start": local(first, "14:00").isoformat(),
        "end": local(first, "16:00").isoformat(),
        "rrule": rrule,
        "purpose": "支部例会",
        **extra,
    }
    return await api.client.post(SERIES, json=body, headers=who)


async def test_book_what_is_free_books_the_rest_and_says_why(api: Api) -> None:
    staff = await api.staff()
    space = await api.space(headers=staff, advance_days=60)
    first = next_tuesday()
    resident, other = await api.resident(), await api.resident()
    taken = first + timedelta(weeks=2)
    await book(api, other, space["id"], taken, "15:00", "16:00")
    closed = first + timedelta(weeks=3)
    await api.client.post(
        f"/api/v1/admin/spaces/{space['id']}/closures",
        json={
            "start": local(closed, "00:00").isoformat(),
            "end": local(closed + timedelta(days=1), "00:00").isoformat(),
            "reason": "消防检查",
        },
        headers=staff,
    )
    answer = await book_series(
        api,
        resident,
        space["id"],
        first,
        "FREQ=WEEKLY;COUNT=5",
        mode="book_what_is_free",
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    occurrences = body["occurrences"]
    assert [item["start"] for item in occurrences] == [
        local(first + timedelta(weeks=n), "14:00").isoformat() for n in range(5)
    ]
    problems = [item["problem"]["code"] if item["problem"] else None for item in occurrences]
    assert problems == [None, None, "slot_taken", "space_closed", None]
    booked = [item["reservation_id"] for item in occurrences if item["reservation_id"]]
    assert len(booked) == 3
    for reservation_id in booked:  # each an ordinary reservation of its own
        read = await api.client.get(f"/api/v1/reservations/{reservation_id}", headers=resident)
        assert read.json()["status"] == "confirmed"
    again = await api.client.get(f"{SERIES}/{body['id']}", headers=resident)
    assert [item["reservation_id"] for item in again.json()["occurrences"]] == booked
    hidden = await api.client.get(f"{SERIES}/{body['id']}", headers=await api.resident())
    assert_problem(hidden, 404, "not_found")


async def test_all_or_nothing_books_nothing_when_one_is_taken(api: Api) -> None:
    space = await api.space(advance_days=60)
    first = next_tuesday()
    resident, other = await api.resident(), await api.resident()
    await book(api, other, space["id"], first + timedelta(weeks=1), "14:00", "15:00")
    refused = await book_series(api, resident, space["id"], first, "FREQ=WEEKLY;COUNT=3")
    problem = assert_problem(refused, 409, "series_conflict")
    assert problem["id"] is None
    occurrences: list[dict[str, Any]] = problem["occurrences"]  # type: ignore[assignment]
    assert [item["reservation_id"] for item in occurrences] == [None, None, None]
    assert [bool(item["problem"]) for item in occurrences] == [False, True, False]
    mine = await api.client.get("/api/v1/reservations", headers=resident)
    assert mine.json()["total"] == 0  # nothing stayed


@pytest.mark.parametrize(
    "rrule",
    [
        "FREQ=WEEKLY",
        "FREQ=DAILY;COUNT=53",
        "FREQ=WEEKLY;COUNT=2;UNTIL=20271231",
        "FREQ=WEEKLY;COUNT=abc",
        "not a rule",
    ],
)
async def test_bad_rules_are_refused(api: Api, rrule: str) -> None:
    space = await api.space()
    answer = await book_series(api, await api.resident(), space["id"], next_tuesday(), rrule)
    assert_problem(answer, 422, "invalid_rrule")


async def test_quotas_count_each_occurrence(api: Api) -> None:
    staff = await api.staff()
    center = await api.center(headers=staff)
    space = await api.space(center["id"], headers=staff, advance_days=90)
    quota = [{"subject": "organization", "metric": "future_bookings", "max_value": 4}]
    await api.client.put(f"/api/v1/admin/centers/{center['id']}/quotas", json=quota, headers=staff)
    owner = await api.resident()
    company = await organization(api, owner)
    answer = await book_series(
        api,
        owner,
        space["id"],
        next_tuesday(),
        "FREQ=WEEKLY;COUNT=6",
        organization_id=company["id"],
        mode="book_what_is_free",
    )
    assert answer.status_code == 201, answer.text
    codes = [
        item["problem"]["code"] if item["problem"] else None
        for item in answer.json()["occurrences"]
    ]
    assert codes == [None] * 4 + ["quota_exceeded"] * 2
    colleague = await member_of(api, owner, company["id"])
    one_more = await book(
        api, colleague, space["id"], days_ahead(1), "09:00", "10:00", organization_id=company["id"]
    )
    assert_problem(one_more, 409, "quota_exceeded")


async def test_an_approval_space_gets_one_request_approved_at_once(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    hall = await api.space(center["id"], headers=staff, requires_approval=True, advance_days=60)
    resident = await api.resident()
    answer = await book_series(api, resident, hall["id"], next_tuesday(), "FREQ=WEEKLY;COUNT=4")
    assert answer.status_code == 201, answer.text
    series_id = answer.json()["id"]
    assert {item["status"] for item in answer.json()["occurrences"]} == {"pending"}
    staff_inbox = await api.client.get("/api/v1/admin/notifications", headers=staff)
    assert staff_inbox.json()["total"] == 1  # one request, not four

    outsider = await api.staff(StaffRole.district_admin, district="嘉定区")
    refused = await api.client.post(f"{SERIES}/{series_id}/approve", headers=outsider)
    assert_problem(refused, 403, "out_of_scope")
    approved = await api.client.post(f"{SERIES}/{series_id}/approve", headers=staff)
    assert approved.status_code == 200, approved.text
    assert {item["status"] for item in approved.json()["occurrences"]} == {"confirmed"}
    inbox = await api.client.get("/api/v1/me/notifications", headers=resident)
    assert [item["kind"] for item in inbox.json()["items"]] == ["booking_approved"]
    again = await api.client.post(f"{SERIES}/{series_id}/approve", headers=staff)
    assert_problem(again, 409, "invalid_transition")


async def test_cancel_the_rest_of_a_series(api: Api) -> None:
    space = await api.space(advance_days=60)
    resident = await api.resident()
    first = next_tuesday()
    answer = await book_series(api, resident, space["id"], first, "FREQ=WEEKLY;COUNT=4")
    series_id = answer.json()["id"]
    since = local(first + timedelta(weeks=2), "00:00").isoformat()
    cancelled = await api.client.post(
        f"{SERIES}/{series_id}/cancel", json={"from": since}, headers=resident
    )
    assert cancelled.status_code == 200, cancelled.text
    states = [item["status"] for item in cancelled.json()["occurrences"]]
    assert states == ["confirmed", "confirmed", "cancelled", "cancelled"]
    everything = await api.client.post(f"{SERIES}/{series_id}/cancel", headers=resident)
    assert {item["status"] for item in everything.json()["occurrences"]} == {"cancelled"}
    stranger = await api.client.post(f"{SERIES}/{series_id}/cancel", headers=await api.resident())
    assert_problem(stranger, 404, "not_found")


async def held_on(api: Api, space_id: int, day: date) -> int:
    """How many confirmed bookings of the space start on ``day``."""
    held = await api.client.get(
        "/api/v1/reservations",
        params={"space_id": space_id, "status": "confirmed"},
        headers=await api.staff(),
    )
    return sum(item["start"].startswith(day.isoformat()) for item in held.json()["items"])


ONE_SEAT: dict[str, Any] = {"booking_mode": "shared", "capacity": 1}


async def after(seconds: float, request: Awaitable[httpx.Response]) -> httpx.Response:
    await asyncio.sleep(seconds)
    return await request


@pytest.mark.slow
@pytest.mark.parametrize(
    ("space_settings", "contested_week"),
    [({}, 1), (ONE_SEAT, 0)],
    ids=["exclusive-room-second-week", "one-seat-first-week"],
)
async def test_all_or_nothing_against_a_racing_single_booking(
    api: Api, space_settings: dict[str, Any], contested_week: int
) -> None:
    """Trials: the single booking wins its slot and the series books nothing, or
    the series books everything and the single booking is refused; never both.
    Every booking pauses between deciding and writing, and one side starts a
    little later, each side in turn, so that each has read before the other
    writes."""
    api.guarded(OverlapGuard(delay_seconds=0.1))
    space = await api.space(advance_days=90, **space_settings)
    for trial in range(4):
        first = next_tuesday() + timedelta(weeks=trial * 3)
        contested = first + timedelta(weeks=contested_week)
        series_booker, single_booker = await api.resident(), await api.resident()
        series_waits, single_waits = (0.05, 0.0) if trial % 2 else (0.0, 0.05)
        series_answer, single_answer = await asyncio.gather(
            after(
                series_waits,
                book_series(api, series_booker, space["id"], first, "FREQ=WEEKLY;COUNT=3"),
            ),
            after(single_waits, book(api, single_booker, space["id"], contested, "15:00", "16:00")),
        )
        winners = (series_answer.status_code, single_answer.status_code)
        assert winners in {(201, 409), (409, 201)}, (series_answer.text, single_answer.text)
        assert await held_on(api, space["id"], contested) == 1
        # The series lost: it books nothing; it won: every week is its own.
        weeks = [first + timedelta(weeks=week) for week in range(3)]
        held = [await held_on(api, space["id"], day) for day in weeks]
        series_held = 0 if series_answer.status_code == 409 else 1
        expected = [1 if day == contested else series_held for day in weeks]
        assert held == expected, (held, series_answer.text)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("space_settings", "contested_week"),
    [({}, 1), (ONE_SEAT, 0)],
    ids=["exclusive-room-second-week", "one-seat-first-week"],
)
async def test_book_what_is_free_against_a_racing_single_booking(
    api: Api, space_settings: dict[str, Any], contested_week: int
) -> None:
    """Trials: exactly one of the series and the single booking holds the
    contested time; the series books every other week either way, and says
    why it lost the contested one if it did."""
    api.guarded(OverlapGuard(delay_seconds=0.1))
    space = await api.space(advance_days=90, **space_settings)
    for trial in range(4):
        first = next_tuesday() + timedelta(weeks=trial * 3)
        contested = first + timedelta(weeks=contested_week)
        series_booker, single_booker = await api.resident(), await api.resident()
        series_waits, single_waits = (0.05, 0.0) if trial % 2 else (0.0, 0.05)
        series_answer, single_answer = await asyncio.gather(
            after(
                series_waits,
                book_series(
                    api,
                    series_booker,
                    space["id"],
                    first,
                    "FREQ=WEEKLY;COUNT=3",
                    mode="book_what_is_free",
                ),
            ),
            after(single_waits, book(api, single_booker, space["id"], contested, "15:00", "16:00")),
        )
        assert series_answer.status_code == 201, series_answer.text
        assert single_answer.status_code in {201, 409}, single_answer.text
        lost = series_answer.json()["occurrences"][contested_week]
        assert (lost["reservation_id"] is None) == (single_answer.status_code == 201), lost
        for week in range(3):
            assert await held_on(api, space["id"], first + timedelta(weeks=week)) == 1


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["all_or_nothing", "book_what_is_free"])
@pytest.mark.parametrize("space_settings", [{}, ONE_SEAT], ids=["exclusive-room", "one-seat"])
async def test_negative_control_the_series_over_books_without_its_lock(
    api: Api, mode: str, space_settings: dict[str, Any]
) -> None:
    """The races above are real: the same race, with the guard switched off
    (no lock, no re-check, no exclusion constraint) and a pause between
    deciding and writing, ends with both holding the contested time, every
    trial, on both engines."""
    space = await api.space(advance_days=90, **space_settings)
    without_guard(api)
    for trial in range(4):
        first = next_tuesday() + timedelta(weeks=trial * 3)
        series_booker, single_booker = await api.resident(), await api.resident()
        series_answer, single_answer = await asyncio.gather(
            book_series(api, series_booker, space["id"], first, "FREQ=WEEKLY;COUNT=3", mode=mode),
            book(api, single_booker, space["id"], first, "15:00", "16:00"),
        )
        assert (series_answer.status_code, single_answer.status_code) == (201, 201)
        assert await held_on(api, space["id"], first) == 2


async def test_a_retried_series_with_its_idempotency_key_gets_the_first_answer(api: Api) -> None:
    space = await api.space(advance_days=90)
    resident = await api.resident()
    first = next_tuesday()
    keyed = {**resident, "Idempotency-Key": "weekly-meeting-1"}
    booked = await book_series(api, keyed, space["id"], first, "FREQ=WEEKLY;COUNT=3")
    assert booked.status_code == 201, booked.text
    again = await book_series(api, keyed, space["id"], first, "FREQ=WEEKLY;COUNT=3")
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == booked.json()
    assert await held_on(api, space["id"], first) == 1  # booked once

    other = await book_series(api, keyed, space["id"], first, "FREQ=WEEKLY;COUNT=4")
    assert_problem(other, 422, "idempotency_key_reused")
    single = await book(
        api,
        {**resident, "Idempotency-Key": "weekly-meeting-1"},
        space["id"],
        first,
        "09:00",
        "10:00",
    )
    assert_problem(single, 422, "idempotency_key_reused")  # one key, one request, per person


async def test_a_refused_series_leaves_its_key_free_to_retry(api: Api) -> None:
    space = await api.space(advance_days=90)
    first = next_tuesday()
    await book(api, await api.resident(), space["id"], first, "14:00", "16:00")
    keyed = {**await api.resident(), "Idempotency-Key": "retry-me"}
    refused = await book_series(api, keyed, space["id"], first, "FREQ=WEEKLY;COUNT=2")
    assert_problem(refused, 409, "series_conflict")
    later = first + timedelta(weeks=1)  # nothing was kept: the key books another series
    moved = await book_series(api, keyed, space["id"], later, "FREQ=WEEKLY;COUNT=2")
    assert moved.status_code == 201, moved.text
    assert "Idempotent-Replayed" not in moved.headers
    retried = await book_series(api, keyed, space["id"], first, "FREQ=WEEKLY;COUNT=2")
    assert_problem(retried, 422, "idempotency_key_reused")  # now the key is the moved one's


@pytest.mark.slow
async def test_duplicates_sent_together_book_the_series_once(api: Api) -> None:
    """A duplicate sent while the first books waits for it and replays its
    answer, on both engines, as a booking's does: one series, one 201 that
    booked it, every other a replay of it."""
    # Each pauses between deciding and writing: every duplicate has read before
    # the first commits, so each is in flight while the first writes.
    api.guarded(OverlapGuard(delay_seconds=0.1))
    space = await api.space(advance_days=90)
    for trial in range(3):
        first = next_tuesday() + timedelta(weeks=trial * 3)
        keyed = {**await api.resident(), "Idempotency-Key": f"double-tap-{trial}"}
        answers = await asyncio.gather(
            *(book_series(api, keyed, space["id"], first, "FREQ=WEEKLY;COUNT=3") for _ in range(5))
        )
        assert {answer.status_code for answer in answers} == {201}, [a.text for a in answers]
        replayed = [answer.headers.get("Idempotent-Replayed") for answer in answers]
        assert sorted(replayed, key=str) == [None] + ["true"] * 4, replayed
        assert all(answer.json() == answers[0].json() for answer in answers)
        for week in range(3):
            assert await held_on(api, space["id"], first + timedelta(weeks=week)) == 1


async def test_a_series_of_an_unknown_space_is_not_found(api: Api) -> None:
    """A problem of the request, not of its occurrences: answered as a single
    booking's, and nothing is written."""
    answer = await book_series(
        api, await api.resident(), 999_999, next_tuesday(), "FREQ=WEEKLY;COUNT=3"
    )
    assert_problem(answer, 404, "not_found")
