"""The waitlist: a full range is waited for, a freed place is held for the
first in line and offered, the offer is accepted or lapses to the next; the
races between offers, and between an offer and its lapse, on both engines."""

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.core.clock import utcnow
from app.core.db import Database, OverlapGuard
from app.jobs.registry import JOBS, run_job
from app.models import Reservation, ReservationStatus
from tests.factories import Api, Headers, book, days_ahead, local
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

DAY = days_ahead(2)
TRIALS = 3
SEATS: dict[str, Any] = {
    "kind": "study_room",
    "booking_mode": "shared",
    "open_24h": True,
    "opening_hours": [],
    "min_minutes": 30,
    "max_minutes": 480,
}


async def seats(api: Api, capacity: int) -> int:
    return int((await api.space(capacity=capacity, **SEATS))["id"])


async def wait_for(api: Api, headers: Headers, space_id: int, start: str, end: str) -> Any:
    return await api.client.post(
        f"/api/v1/spaces/{space_id}/waitlist",
        json={"start": local(DAY, start).isoformat(), "end": local(DAY, end).isoformat()},
        headers=headers,
    )


async def booked(api: Api, headers: Headers, space_id: int, start: str, end: str) -> int:
    response = await book(api, headers, space_id, DAY, start, end)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def cancel(api: Api, headers: Headers, reservation_id: int) -> None:
    response = await api.client.post(
        f"/api/v1/reservations/{reservation_id}/cancel", headers=headers
    )
    assert response.status_code == 200, response.text


async def offer(api: Api, at: datetime | None = None, database: Database | None = None) -> str:
    job = JOBS["offer-waitlist"]
    report = await run_job(database or api.database, api.app.state.settings, job, at or utcnow())
    return report.summary


async def entries(api: Api, headers: Headers) -> dict[int, dict[str, Any]]:
    response = await api.client.get("/api/v1/me/waitlist", headers=headers)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == len(page["items"])
    return {entry["id"]: entry for entry in page["items"]}


async def entry_of(api: Api, headers: Headers, entry_id: int) -> dict[str, Any]:
    return (await entries(api, headers))[entry_id]


async def held_places(database: Database) -> list[int]:
    """The users places are held for, one item per held place."""
    async with database.reader() as session:
        rows = await session.scalars(
            select(Reservation.user_id).where(Reservation.status == ReservationStatus.held)
        )
        return sorted(rows.all())


async def test_a_freed_seat_is_held_for_the_first_in_line_who_books_it(api: Api) -> None:
    space_id = await seats(api, capacity=1)
    first, waiting, other = await api.resident(), await api.resident(), await api.resident()
    taken = await booked(api, first, space_id, "10:00", "12:00")

    joined = await wait_for(api, waiting, space_id, "10:00", "12:00")
    assert joined.status_code == 201, joined.text
    entry = joined.json()
    assert entry["status"] == "waiting"
    assert_problem(await wait_for(api, waiting, space_id, "10:00", "12:00"), 409, "already_waiting")
    assert_problem(await wait_for(api, other, space_id, "14:00", "16:00"), 409, "not_full")

    assert "0 offered" in await offer(api)  # nothing freed yet
    await cancel(api, first, taken)
    assert "1 offered" in await offer(api)
    offered = await entry_of(api, waiting, entry["id"])
    assert offered["status"] == "offered"
    assert offered["offer_expires_at"] is not None
    # The held place is nobody else's.
    refused = await book(api, other, space_id, DAY, "11:00", "12:00")
    assert_problem(refused, 409, "space_full")
    inbox = (await api.client.get("/api/v1/me/notifications", headers=waiting)).json()
    assert inbox["items"][0]["kind"] == "waitlist_offer"

    accepted = await api.client.post(f"/api/v1/waitlist/{entry['id']}/accept", headers=waiting)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["status"] == "confirmed"
    assert accepted.json()["id"] == offered["reservation_id"]
    assert (await entry_of(api, waiting, entry["id"]))["status"] == "booked"
    again = await api.client.post(f"/api/v1/waitlist/{entry['id']}/accept", headers=waiting)
    assert_problem(again, 409, "offer_not_open")
    assert await held_places(api.database) == []


async def test_an_unaccepted_offer_lapses_to_the_next_in_line(api: Api) -> None:
    space_id = await seats(api, capacity=1)
    first, second, third = await api.resident(), await api.resident(), await api.resident()
    taken = await booked(api, first, space_id, "10:00", "11:00")
    second_entry = (await wait_for(api, second, space_id, "10:00", "11:00")).json()
    third_entry = (await wait_for(api, third, space_id, "10:00", "11:00")).json()
    await cancel(api, first, taken)
    now = utcnow()
    await offer(api, now)
    assert (await entry_of(api, second, second_entry["id"]))["status"] == "offered"
    assert (await entry_of(api, third, third_entry["id"]))["status"] == "waiting"

    await offer(api, now + timedelta(minutes=16))
    assert (await entry_of(api, second, second_entry["id"]))["status"] == "expired"
    assert (await entry_of(api, third, third_entry["id"]))["status"] == "offered"
    late = await api.client.post(f"/api/v1/waitlist/{second_entry['id']}/accept", headers=second)
    assert_problem(late, 409, "offer_not_open")
    assert len(await held_places(api.database)) == 1


async def test_withdrawing_an_offer_passes_the_place_on(api: Api) -> None:
    space_id = await seats(api, capacity=1)
    first, second, third = await api.resident(), await api.resident(), await api.resident()
    taken = await booked(api, first, space_id, "10:00", "11:00")
    second_entry = (await wait_for(api, second, space_id, "10:00", "11:00")).json()
    third_entry = (await wait_for(api, third, space_id, "10:00", "11:00")).json()
    await cancel(api, first, taken)
    await offer(api)
    withdrawn = await api.client.delete(f"/api/v1/me/waitlist/{second_entry['id']}", headers=second)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"
    await offer(api)
    assert (await entry_of(api, third, third_entry["id"]))["status"] == "offered"
    # Someone else's entry is as unknown as a missing one.
    theirs = await api.client.delete(f"/api/v1/me/waitlist/{third_entry['id']}", headers=second)
    assert_problem(theirs, 404, "not_found")


async def test_a_no_show_release_offers_the_seat(api: Api) -> None:
    space_id = int((await api.space(capacity=1, requires_check_in=True, **SEATS))["id"])
    absent, waiting = await api.resident(), await api.resident()
    await booked(api, absent, space_id, "10:00", "12:00")
    entry = (await wait_for(api, waiting, space_id, "10:00", "12:00")).json()
    # The booking began; the waiting entry is for a time that began too, so a
    # later range is what a seat freed now is offered for.
    later = (await wait_for(api, waiting, space_id, "11:00", "12:00")).json()
    release = local(DAY, "10:20")
    await run_job(api.database, api.app.state.settings, JOBS["release-no-shows"], release)
    await offer(api, release)
    assert (await entry_of(api, waiting, entry["id"]))["status"] == "expired"
    assert (await entry_of(api, waiting, later["id"]))["status"] == "offered"


# --- races --------------------------------------------------------------------------------


async def two_freed_places(api: Api) -> tuple[int, list[int]]:
    """A 2-seat space, full for 10:00–12:00, three people waiting in line, then
    both seats freed at once. The ids of the waiting, in line order."""
    space_id = await seats(api, capacity=2)
    holders = [await api.resident() for _ in range(2)]
    taken = [await booked(api, holder, space_id, "10:00", "12:00") for holder in holders]
    line = []
    for _ in range(3):
        headers = await api.resident()
        response = await wait_for(api, headers, space_id, "10:00", "12:00")
        assert response.status_code == 201, response.text
        me = (await api.client.get("/api/v1/me", headers=headers)).json()
        line.append(int(me["id"]))
    for holder, reservation_id in zip(holders, taken, strict=True):
        await cancel(api, holder, reservation_id)
    return space_id, line


async def offer_twice_at_once(api: Api) -> None:
    """Two workers' runs of the job at the same moment."""
    settings = api.app.state.settings
    workers = [Database.connect(settings, guard=api.database.guard) for _ in range(2)]
    for worker in workers:
        await worker.open()
    try:
        await asyncio.gather(*(offer(api, database=worker) for worker in workers))
    finally:
        for worker in workers:
            await worker.dispose()


async def test_two_places_freed_at_once_go_to_the_first_two_in_line(api: Api) -> None:
    for _ in range(TRIALS):
        _, line = await two_freed_places(api)
        before = Counter(await held_places(api.database))
        await offer_twice_at_once(api)
        held = Counter(await held_places(api.database)) - before
        assert held == Counter(line[:2]), (held, line)


@pytest.mark.slow
async def test_negative_control_offers_twice_without_the_lock(api: Api) -> None:
    """The race is real: two runs that read before either writes offer the
    same places twice."""
    api.guarded(OverlapGuard(lock=False, delay_seconds=0.3))
    _, line = await two_freed_places(api)
    await offer_twice_at_once(api)
    held = Counter(await held_places(api.database))
    assert sum(held.values()) > 2, held  # more places held than were freed
    assert max(held.values()) > 1, held  # and one person holding two


async def test_an_offer_accepted_as_it_lapses_is_booked_or_passed_on_never_both(
    api: Api,
) -> None:
    for trial in range(TRIALS):
        space_id = await seats(api, capacity=1)
        first, second, third = await api.resident(), await api.resident(), await api.resident()
        start, end = f"{9 + trial:02d}:00", f"{9 + trial:02d}:30"
        taken = await booked(api, first, space_id, start, end)
        entry = (await wait_for(api, second, space_id, start, end)).json()
        await wait_for(api, third, space_id, start, end)
        await cancel(api, first, taken)
        now = utcnow()
        await offer(api, now)
        # The lapse is due exactly as the offer is accepted.
        lapse_at = datetime.fromisoformat(
            (await entry_of(api, second, entry["id"]))["offer_expires_at"]
        )
        accepted, _ = await asyncio.gather(
            api.client.post(f"/api/v1/waitlist/{entry['id']}/accept", headers=second),
            offer(api, lapse_at),
        )
        async with api.database.reader() as session:
            holding = await session.scalar(
                select(func.count())
                .select_from(Reservation)
                .where(
                    Reservation.space_id == space_id,
                    Reservation.status.in_([ReservationStatus.confirmed, ReservationStatus.held]),
                )
            )
        assert holding == 1, (trial, accepted.status_code, holding)
        mine = await entry_of(api, second, entry["id"])
        theirs = next(iter((await entries(api, third)).values()))
        if accepted.status_code == 201:  # the acceptance won: booked, nothing passed on
            assert (mine["status"], theirs["status"]) == ("booked", "waiting")
            assert accepted.json()["id"] == mine["reservation_id"]
        else:  # the lapse won: the place went to the next in line
            assert_problem(accepted, 409, "offer_not_open")
            assert (mine["status"], theirs["status"]) == ("expired", "offered")
