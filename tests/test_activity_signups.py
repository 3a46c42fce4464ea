"""Signing up for an activity: places taken exactly, the line of those waiting
and how it moves up, who may sign up and when, one's own sign-up, and the
reminders before the start. The races at the end follow tests/test_concurrency.py:
many concurrent requests, repeated trials, an invariant over the whole table,
and negative controls that show the test sees overbooking."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import time_machine
from sqlalchemy import event, text

from app.core.db import Database, OverlapGuard
from app.core.migrate import upgrade
from app.jobs.registry import JOBS, run_job
from app.models import StaffRole
from tests.conftest import TemporaryDatabases, _pg_execute, make_settings, running
from tests.factories import (
    Api,
    Headers,
    days_ahead,
    local,
    member_of,
    organization,
    verified_resident,
)
from tests.test_activities import activity_body, created
from tests.test_concurrency import tally
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

DAY = days_ahead(3)
START = local(DAY, "19:00")


async def programme(api: Api, **overrides: Any) -> tuple[dict[str, Any], Headers]:
    """A published activity of a new center, 19:00-20:30 on ``DAY``, and its staff."""
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    body = activity_body(center["id"], place_text="中心广场", publish=True, **overrides)
    return await created(api, staff, body), staff


def signups_path(activity: dict[str, Any]) -> str:
    return f"/api/v1/activities/{activity['id']}/signups"


async def sign_up(
    api: Api, who: Headers, activity: dict[str, Any], attendees: int | None = 1
) -> httpx.Response:
    body = {} if attendees is None else {"attendees": attendees}
    return await api.client.post(signups_path(activity), json=body, headers=who)


async def signed_up(
    api: Api, who: Headers, activity: dict[str, Any], attendees: int = 1
) -> dict[str, Any]:
    answer = await sign_up(api, who, activity, attendees)
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def mine(api: Api, who: Headers, activity: dict[str, Any]) -> dict[str, Any]:
    answer = await api.client.get(f"{signups_path(activity)}/mine", headers=who)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def cancel(api: Api, who: Headers, activity: dict[str, Any]) -> httpx.Response:
    return await api.client.delete(f"{signups_path(activity)}/mine", headers=who)


async def kinds(api: Api, who: Headers) -> list[str]:
    inbox = await api.client.get("/api/v1/me/notifications", headers=who)
    assert inbox.status_code == 200, inbox.text
    return [item["kind"] for item in inbox.json()["items"]]


async def remaining(api: Api, activity: dict[str, Any]) -> int:
    read = await api.client.get(f"/api/v1/activities/{activity['id']}")
    return int(read.json()["remaining"])


# --- signing up and the line ------------------------------------------------------------


async def test_sign_ups_are_confirmed_until_full_then_wait_in_line(api: Api) -> None:
    activity, _ = await programme(api, capacity=3)
    first, second, third, fourth = [await api.resident() for _ in range(4)]

    one = await signed_up(api, first, activity, 2)
    assert {k: one[k] for k in ("activity_id", "status", "position", "attendees")} == {
        "activity_id": activity["id"],
        "status": "confirmed",
        "position": None,
        "attendees": 2,
    }
    assert (await signed_up(api, second, activity))["status"] == "confirmed"
    waiting = await signed_up(api, third, activity)
    assert (waiting["status"], waiting["position"]) == ("waiting", 1)
    assert (await signed_up(api, fourth, activity, 2))["position"] == 2

    assert await remaining(api, activity) == 0
    assert (await mine(api, third, activity))["position"] == 1
    assert await kinds(api, first) == ["activity_signup_confirmed"]
    assert await kinds(api, third) == []
    default = await sign_up(api, await api.resident(), activity, None)
    assert (default.json()["attendees"], default.json()["position"]) == (1, 3)


async def test_a_cancellation_moves_the_line_up_oldest_first_skipping_those_too_big(
    api: Api,
) -> None:
    activity, _ = await programme(api, capacity=3)
    alone, pair, big, small, last = [await api.resident() for _ in range(5)]
    await signed_up(api, alone, activity, 1)
    await signed_up(api, pair, activity, 2)
    await signed_up(api, big, activity, 2)
    await signed_up(api, small, activity, 1)
    await signed_up(api, last, activity, 1)

    cancelled = await cancel(api, alone, activity)

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    # One place freed: the pair waiting first does not fit, the one behind it does.
    assert (await mine(api, big, activity))["position"] == 1
    assert (await mine(api, small, activity))["status"] == "confirmed"
    assert await kinds(api, small) == ["activity_signup_confirmed"]
    assert (await mine(api, last, activity))["position"] == 2
    # Two freed: the pair first in line now fits.
    assert (await cancel(api, pair, activity)).status_code == 200
    assert (await mine(api, big, activity))["status"] == "confirmed"
    assert (await mine(api, last, activity))["position"] == 1
    assert await remaining(api, activity) == 0
    # A waiting sign-up leaves the line and frees nothing.
    assert (await cancel(api, last, activity)).json()["status"] == "cancelled"
    assert await remaining(api, activity) == 0


async def test_one_live_sign_up_per_person(api: Api) -> None:
    activity, _ = await programme(api)
    resident = await api.resident()
    await signed_up(api, resident, activity, 2)

    assert_problem(await sign_up(api, resident, activity), 409, "already_signed_up")
    assert await remaining(api, activity) == 28
    assert (await cancel(api, resident, activity)).status_code == 200
    assert_problem(await cancel(api, resident, activity), 404, "not_found")
    again = await signed_up(api, resident, activity, 3)
    assert (await mine(api, resident, activity))["id"] == again["id"]
    assert await remaining(api, activity) == 27


async def test_who_may_sign_up(api: Api) -> None:
    owner = await api.resident()
    company = await organization(api, owner)
    colleague = await member_of(api, owner, company["id"])
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    members_only = await created(
        api,
        owner,
        activity_body(
            center["id"], organization_id=company["id"], audience="members", publish=True
        ),
    )
    party = await created(
        api, staff, activity_body(center["id"], audience="party_members", publish=True)
    )
    real_names = await created(
        api, staff, activity_body(center["id"], requires_real_name=True, publish=True)
    )
    stranger = await api.resident()

    assert_problem(await sign_up(api, stranger, members_only), 403, "audience_only")
    assert (await sign_up(api, colleague, members_only)).status_code == 201
    # Party members: of a verified party branch. (The branches are registered as
    # companies and made branches in the table: the API does not take kinds yet.)
    assert_problem(await sign_up(api, colleague, party), 403, "audience_only")
    branch_secretary = await api.resident()
    branch = await organization(api, branch_secretary)
    party_member = await member_of(api, branch_secretary, branch["id"])
    pending_secretary = await api.resident()
    pending = await organization(api, pending_secretary, verified=False)
    async with api.database.writer.begin() as session:
        await session.execute(
            text(
                "UPDATE organizations SET kind = 'party_branch', uscc = NULL WHERE id IN (:a, :b)"
            ),
            {"a": branch["id"], "b": pending["id"]},
        )
    assert_problem(await sign_up(api, pending_secretary, party), 403, "audience_only")
    assert (await sign_up(api, branch_secretary, party)).status_code == 201
    assert (await sign_up(api, party_member, party)).status_code == 201

    assert_problem(await sign_up(api, stranger, real_names), 403, "real_name_required")
    assert (await sign_up(api, await verified_resident(api), real_names)).status_code == 201
    assert_problem(await sign_up(api, staff, real_names), 403, "forbidden")
    assert await remaining(api, real_names) == 29


async def test_sign_ups_are_taken_only_in_their_window(api: Api) -> None:
    opens, closes = local(DAY, "17:30"), local(DAY, "18:00")
    with time_machine.travel(opens - timedelta(seconds=1), tick=False) as traveller:
        activity, staff = await programme(
            api, signup_opens_at=opens.isoformat(), signup_closes_at=closes.isoformat()
        )
        early, on_time, late = [await api.resident() for _ in range(3)]

        problem = assert_problem(await sign_up(api, early, activity), 409, "signup_closed")
        assert problem["signup_opens_at"] == opens.isoformat()
        traveller.move_to(opens)
        assert (await sign_up(api, on_time, activity)).status_code == 201
        traveller.move_to(closes - timedelta(seconds=1))
        assert (await sign_up(api, early, activity)).status_code == 201
        traveller.move_to(closes)
        assert_problem(await sign_up(api, late, activity), 409, "signup_closed")
        assert await remaining(api, activity) == 28


async def test_drafts_and_cancelled_activities_take_no_sign_ups(api: Api) -> None:
    activity, staff = await programme(api)
    resident = await api.resident()
    await signed_up(api, resident, activity)
    draft = await created(api, staff, activity_body(activity["center_id"]))

    assert_problem(await sign_up(api, resident, draft), 404, "not_found")
    missing = {**activity, "id": 999_999}
    assert_problem(await sign_up(api, resident, missing), 404, "not_found")
    cancelled = await api.client.post(
        f"/api/v1/activities/{activity['id']}/cancel", json={"reason": "天气原因"}, headers=staff
    )
    assert cancelled.status_code == 200, cancelled.text
    assert_problem(await sign_up(api, await api.resident(), activity), 409, "signup_closed")
    assert (await mine(api, resident, activity))["status"] == "cancelled"
    assert await kinds(api, resident) == ["activity_cancelled", "activity_signup_confirmed"]


async def test_a_sign_up_is_cancelled_only_before_the_start(api: Api) -> None:
    with time_machine.travel(START - timedelta(minutes=5), tick=False) as traveller:
        activity, _ = await programme(api, signup_closes_at=(START).isoformat())
        resident = await api.resident()
        await signed_up(api, resident, activity)
        traveller.move_to(START)

        assert_problem(await cancel(api, resident, activity), 409, "activity_started")
        assert (await mine(api, resident, activity))["status"] == "confirmed"
        assert await remaining(api, activity) == 29


async def test_bad_requests_change_nothing(api: Api) -> None:
    activity, staff = await programme(api, capacity=3)
    resident = await api.resident()
    for body in ({"attendees": 0}, {"attendees": 6}, {"attendees": "2"}, {"guests": 1}):
        answer = await api.client.post(signups_path(activity), json=body, headers=resident)
        assert_problem(answer, 422, "validation_failed")
    problem = assert_problem(
        await sign_up(api, resident, activity, 4), 422, "attendees_over_capacity"
    )
    assert "3" in str(problem["detail"])
    assert_problem(await api.client.post(signups_path(activity), json={}), 401, "not_authenticated")
    assert_problem(
        await api.client.get(f"{signups_path(activity)}/mine", headers=resident), 404, "not_found"
    )
    assert_problem(
        await api.client.get(f"{signups_path(activity)}/mine", headers=staff), 403, "forbidden"
    )
    assert await remaining(api, activity) == 3


# --- reminders --------------------------------------------------------------------------


async def remind(api: Api, at: datetime) -> int:
    report = await run_job(api.database, api.app.state.settings, JOBS["remind-activities"], at)
    return report.changed


async def test_each_confirmed_sign_up_is_reminded_once_before_the_start(api: Api) -> None:
    activity, _ = await programme(api, capacity=1)
    confirmed, waiting = await api.resident(), await api.resident()
    await signed_up(api, confirmed, activity)
    await signed_up(api, waiting, activity)
    lead = timedelta(minutes=api.app.state.settings.remind_before_minutes)

    assert await remind(api, START - lead - timedelta(seconds=1)) == 0
    assert await remind(api, START - lead) == 1
    assert await remind(api, START - lead + timedelta(minutes=1)) == 0
    assert await remind(api, START) == 0
    assert await kinds(api, confirmed) == ["activity_reminder", "activity_signup_confirmed"]
    assert await kinds(api, waiting) == []


async def test_two_reminder_runs_at_once_remind_each_once(api: Api) -> None:
    activity, _ = await programme(api)
    residents = [await api.resident() for _ in range(6)]
    for resident in residents:
        await signed_up(api, resident, activity)
    at = START - timedelta(minutes=10)

    both = await asyncio.gather(remind(api, at), remind(api, at))

    assert sum(both) == len(residents)
    for resident in residents:
        assert (await kinds(api, resident)).count("activity_reminder") == 1


# --- races ------------------------------------------------------------------------------

RACERS = 40
PLACES = 10
TRIALS = 5

OVER_CAPACITY = text(
    """
    SELECT count(*) FROM activities a
    WHERE (SELECT coalesce(sum(s.attendees), 0) FROM activity_signups s
           WHERE s.activity_id = a.id AND s.status = 'confirmed') > a.capacity
    """
)
COUNTER_DRIFT = text(
    """
    SELECT count(*) FROM activities a
    WHERE a.status = 'published' AND a.confirmed_attendees <>
          (SELECT coalesce(sum(s.attendees), 0) FROM activity_signups s
           WHERE s.activity_id = a.id AND s.status = 'confirmed')
    """
)


async def overbooked(database: Database) -> int:
    """The invariant over the whole table: no activity has more confirmed
    attendees than places (and the counter agrees with the sign-ups)."""
    async with database.reader() as session:
        over = int(await session.scalar(OVER_CAPACITY) or 0)
        assert int(await session.scalar(COUNTER_DRIFT) or 0) == 0
        return over


async def race(
    api: Api, activity: dict[str, Any], attempts: list[tuple[Headers, int]]
) -> list[httpx.Response]:
    return list(
        await asyncio.gather(*(sign_up(api, who, activity, count) for who, count in attempts))
    )


def statuses(responses: list[httpx.Response]) -> Counter[str]:
    return Counter(response.json()["status"] for response in responses)


@pytest.mark.slow
async def test_forty_residents_race_for_ten_places(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    users = [await api.resident() for _ in range(RACERS)]
    for trial in range(TRIALS):
        activity, _ = await programme(api, capacity=PLACES)
        responses = await race(api, activity, [(user, 1) for user in users])
        record_property(f"trial {trial}", dict(statuses(responses)))
        assert tally(responses) == Counter({"201": RACERS}), tally(responses)
        assert statuses(responses) == Counter({"confirmed": PLACES, "waiting": RACERS - PLACES}), (
            statuses(responses)
        )
        positions = sorted(r.json()["position"] for r in responses if r.json()["position"])
        assert positions == list(range(1, RACERS - PLACES + 1))
        assert await overbooked(api.database) == 0


@pytest.mark.slow
async def test_parties_of_different_sizes_never_exceed_the_places(
    api: Api, record_property: Callable[[str, object], None]
) -> None:
    users = [await api.resident() for _ in range(RACERS)]
    for trial in range(TRIALS):
        activity, _ = await programme(api, capacity=PLACES)
        attempts = [(user, 1 + (index + trial) % 3) for index, user in enumerate(users)]
        responses = await race(api, activity, attempts)
        taken = sum(r.json()["attendees"] for r in responses if r.json()["status"] == "confirmed")
        record_property(f"trial {trial}", {"taken": taken, **statuses(responses)})
        assert taken <= PLACES
        # Nobody waits for nothing: each one waiting needs more than is left.
        assert all(
            r.json()["attendees"] > PLACES - taken
            for r in responses
            if r.json()["status"] == "waiting"
        )
        assert await remaining(api, activity) == PLACES - taken
        assert await overbooked(api.database) == 0


@pytest.mark.slow
async def test_cancellations_at_once_move_the_line_up_exactly(api: Api) -> None:
    places_left = 5
    users = [await api.resident() for _ in range(3 * places_left)]
    holders, line = users[:places_left], users[places_left:]
    for _ in range(TRIALS):
        activity, _ = await programme(api, capacity=places_left)
        for user in users:
            await signed_up(api, user, activity)

        cancelled = await asyncio.gather(*(cancel(api, user, activity) for user in holders))

        assert tally(list(cancelled)) == Counter({"200": places_left})
        moved_up = [await mine(api, user, activity) for user in line]
        assert [s["status"] for s in moved_up] == ["confirmed"] * places_left + ["waiting"] * (
            len(line) - places_left
        )
        assert [s["position"] for s in moved_up[places_left:]] == list(
            range(1, len(line) - places_left + 1)
        )
        assert await remaining(api, activity) == 0
        assert await overbooked(api.database) == 0


@pytest.mark.slow
async def test_one_person_signing_up_many_times_at_once_signs_up_once(api: Api) -> None:
    resident = await api.resident()
    for _ in range(TRIALS):
        activity, _ = await programme(api)
        responses = await race(api, activity, [(resident, 1)] * 10)
        assert tally(responses) == Counter({"201": 1, "409 already_signed_up": 9}), tally(responses)
        assert await remaining(api, activity) == 29


# --- negative controls ------------------------------------------------------------------


@pytest.fixture
def unchecked_url(engine_name: str, temporary_databases: TemporaryDatabases) -> str:
    """A throwaway database whose places have no CHECK (PostgreSQL: the
    constraint dropped; SQLite: see ``unchecked_api``)."""
    url = temporary_databases.new(engine_name)
    asyncio.run(upgrade(url))
    if engine_name == "postgresql":
        drop = "ALTER TABLE activities DROP CONSTRAINT ck_activities_within_capacity"
        asyncio.run(_pg_execute(url, drop))
    return url


@pytest.fixture
async def unchecked_api(unchecked_url: str) -> AsyncIterator[Api]:
    """The app on that database; on SQLite, every connection ignores CHECKs
    (the ORM's, and the hot paths' writer thread's)."""
    async with running(make_settings(unchecked_url)) as api:
        engine = api.database.engine
        if api.database.is_sqlite:

            @event.listens_for(engine.sync_engine, "connect")
            def _ignore_checks(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA ignore_check_constraints = ON")
                cursor.close()

            await engine.dispose()
            writer = api.database.sqlite_writer
            assert writer is not None
            await writer.run(lambda db: db.execute("PRAGMA ignore_check_constraints = ON"))
        yield api


@pytest.mark.slow
async def test_negative_control_reading_then_writing_overbooks(
    unchecked_api: Api, record_property: Callable[[str, object], None]
) -> None:
    """The race test sees overbooking: with the guard's lock off, racers read
    what is left, pause, and write by what they read, with the places'
    condition and the CHECK gone (app/activities/signup_store.py); every one
    of them saw room, and the invariant query counts the activity."""
    api = unchecked_api
    # Fewer racers than pooled connections: all of them read before any writes.
    users = [await api.resident() for _ in range(8)]
    activity, _ = await programme(api, capacity=4)
    api.guarded(OverlapGuard(lock=False, delay_seconds=0.3))

    responses = await race(api, activity, [(user, 1) for user in users])

    record_property("control", dict(statuses(responses)))
    assert statuses(responses) == Counter({"confirmed": 8})
    assert await overbooked(api.database) == 1
