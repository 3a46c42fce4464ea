"""The one booking pipeline (app/reservations/booking.py): every kind of booking
goes through it on both engines, answers what reading it back shows, and on
PostgreSQL the guard under the lock refuses what a stale snapshot let through."""

import ast
import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.core.db import OverlapGuard
from app.core.migrate import upgrade
from app.reservations import booking, rules
from tests.conftest import TemporaryDatabases, make_settings, running
from tests.factories import (
    Api,
    Headers,
    book,
    days_ahead,
    door,
    member_of,
    organization,
    verified_resident,
)
from tests.test_errors import assert_problem
from tests.test_structure import APP

pytestmark = pytest.mark.dates

DAY = days_ahead(3)


async def history(api: Api, headers: Headers, reservation_id: int) -> list[tuple[Any, ...]]:
    response = await api.client.get(
        f"/api/v1/reservations/{reservation_id}/history", headers=headers
    )
    assert response.status_code == 200, response.text
    return [
        (event["action"], event["actor_kind"], event["actor_id"], event["to_status"])
        for event in response.json()["items"]
    ]


class Spy:
    """Counts the bookings that went through the pipeline's decision."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.decided = 0
        real = rules.decide

        def spy(*args: Any) -> rules.Decision:
            self.decided += 1
            return real(*args)

        monkeypatch.setattr(rules, "decide", spy)


async def test_every_kind_of_booking_takes_the_pipeline_and_reads_back_alike(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    staff = await api.staff()
    owner = await verified_resident(api)
    center = await api.center(staff)
    room = await api.space(center["id"], staff)
    approval_room = await api.space(center["id"], staff, requires_approval=True)
    study = await api.space(
        center["id"], staff, kind="study_room", booking_mode="shared", capacity=10
    )
    await door(api, study["id"], staff)
    company_room = await api.space(center["id"], staff, requires_organization=True)
    await api.client.put(
        f"/api/v1/admin/centers/{center['id']}/quotas",
        json=[{"subject": "organization", "metric": "bookings_per_week", "max_value": 5}],
        headers=staff,
    )
    company = await organization(api, owner)
    kinds = [
        (room, {}),
        (approval_room, {}),
        (study, {}),
        (company_room, {"organization_id": company["id"]}),
    ]
    for space, extra in kinds:
        booked = await book(api, owner, space["id"], DAY, "10:00", "11:00", **extra)
        assert booked.status_code == 201, booked.text
        body = booked.json()
        read = await api.client.get(f"/api/v1/reservations/{body['id']}", headers=owner)
        assert body == read.json()
        assert await history(api, owner, body["id"]) == [
            ("create", "user", body["user_id"], body["status"])
        ]
    assert spy.decided == len(kinds)
    statuses = [
        (
            await api.client.get(f"/api/v1/reservations?space_id={space['id']}", headers=owner)
        ).json()["items"][0]["status"]
        for space, _ in kinds
    ]
    assert statuses == ["confirmed", "pending", "confirmed", "confirmed"]
    # The study-room seat got its door code in the same write.
    seat = await api.client.get(f"/api/v1/reservations?space_id={study['id']}", headers=owner)
    code = await api.client.get(
        f"/api/v1/reservations/{seat.json()['items'][0]['id']}/access", headers=owner
    )
    assert len(code.json()["door_code"]) == 8


async def test_one_idempotency_behaviour_on_both_engines(api: Api) -> None:
    resident = await api.resident()
    space = await api.space()
    keyed = {**resident, "Idempotency-Key": "once-only"}
    first = await book(api, keyed, space["id"], DAY, "10:00", "11:00")
    again = await book(api, keyed, space["id"], DAY, "10:00", "11:00")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    other = await book(api, keyed, space["id"], DAY, "12:00", "13:00")
    assert_problem(other, 422, "idempotency_key_reused")
    # A refused booking leaves no key behind: the same key may be retried.
    retry_me = {**resident, "Idempotency-Key": "retry-me"}
    refused = await book(api, retry_me, 10**6, DAY, "10:00", "11:00")
    assert_problem(refused, 404, "not_found")
    retried = await book(api, retry_me, space["id"], DAY, "14:00", "15:00")
    assert retried.status_code == 201, retried.text


# --- PostgreSQL: the guard is the authority under the lock --------------------------


@pytest.fixture(scope="module")
def pg_url(temporary_databases: TemporaryDatabases) -> str:
    """PostgreSQL only: it is where a snapshot can go stale between the read and
    the write; SQLite decides inside its write lock."""
    url = temporary_databases.new("postgresql")
    asyncio.run(upgrade(url))
    return url


@pytest.fixture
async def pg_api(pg_url: str) -> AsyncIterator[Api]:
    async with running(make_settings(pg_url)) as api:
        yield api


@pytest.fixture
def stale(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the snapshot's decision blind to holders and quotas, as if it had been
    read before other bookings committed: only the guard can refuse now."""
    monkeypatch.setattr(rules, "refuse_conflicts", lambda *args: None)
    monkeypatch.setattr(rules, "check_quotas", lambda *args: None)


@pytest.mark.usefixtures("stale")
async def test_the_guard_refuses_what_a_stale_snapshot_let_through(pg_api: Api) -> None:
    api = pg_api
    staff = await api.staff()
    center = await api.center(staff)
    room = await api.space(center["id"], staff)
    first = await api.resident()
    assert (await book(api, first, room["id"], DAY, "10:00", "11:00")).status_code == 201
    taken = await book(api, await api.resident(), room["id"], DAY, "10:30", "11:30")
    problem = assert_problem(taken, 409, "slot_taken")
    assert str(problem["conflict"]).find("10:00:00+08:00") > 0

    study = await api.space(center["id"], staff, booking_mode="shared", capacity=2)
    seat_holder = await api.resident()
    for resident in (seat_holder, await api.resident()):
        assert (await book(api, resident, study["id"], DAY, "10:00", "12:00")).status_code == 201
    full = await book(api, await api.resident(), study["id"], DAY, "11:00", "13:00")
    assert assert_problem(full, 409, "space_full").get("remaining") == 0
    twice = await book(api, seat_holder, study["id"], DAY, "11:00", "12:00")
    assert_problem(twice, 409, "already_booked")

    await api.client.put(
        f"/api/v1/admin/spaces/{room['id']}/quotas",
        json=[{"subject": "user", "metric": "bookings_per_week", "max_value": 1}],
        headers=staff,
    )
    regular = await api.resident()
    assert (await book(api, regular, room["id"], DAY, "14:00", "15:00")).status_code == 201
    over = await book(api, regular, room["id"], DAY, "16:00", "17:00")
    quota = assert_problem(over, 409, "quota_exceeded").get("quota")
    assert quota == {
        "subject": "user",
        "metric": "bookings_per_week",
        "scope": "space",
        "scope_id": room["id"],
        "limit": 1,
        "used": 1,
        "requested": 1,
    }


async def test_a_refused_keyed_booking_claims_no_key(pg_api: Api, stale: None) -> None:
    """The guard raises inside the booking's one statement: the key's claim is
    rolled back with it, and the same key may be used again."""
    api = pg_api
    room = await api.space()
    assert (
        await book(api, await api.resident(), room["id"], DAY, "10:00", "11:00")
    ).status_code == 201
    resident = await api.resident()
    keyed = {**resident, "Idempotency-Key": "after-a-refusal"}
    assert_problem(await book(api, keyed, room["id"], DAY, "10:00", "11:00"), 409, "slot_taken")
    assert (await book(api, keyed, room["id"], DAY, "12:00", "13:00")).status_code == 201


async def test_colleagues_racing_past_a_stale_quota_stay_within_it(
    pg_api: Api, stale: None
) -> None:
    import asyncio

    api = pg_api
    staff = await api.staff()
    owner = await api.resident()
    company = (await organization(api, owner))["id"]
    colleagues = [await member_of(api, owner, company) for _ in range(8)]
    center = await api.center(staff)
    rooms = [(await api.space(center["id"], staff))["id"] for _ in range(2)]
    await api.client.put(
        f"/api/v1/admin/centers/{center['id']}/quotas",
        json=[{"subject": "organization", "metric": "bookings_per_week", "max_value": 3}],
        headers=staff,
    )
    responses: list[httpx.Response] = await asyncio.gather(
        *(
            book(
                api,
                colleague,
                rooms[index % 2],
                DAY,
                f"{9 + index // 2:02d}:00",
                f"{9 + index // 2:02d}:30",
                organization_id=company,
            )
            for index, colleague in enumerate(colleagues)
        )
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] * 3 + [409] * 5
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"quota_exceeded"}


async def test_the_guard_is_on_in_production(api: Api) -> None:
    full = OverlapGuard(lock=True, exclusion_constraint=True, delay_seconds=0.0)
    assert OverlapGuard() == full
    assert api.database.guard == full  # as create_app opens it


def test_no_module_holds_a_guard_to_switch() -> None:
    """The guard is a value each writer is given (``Database.guard``), never a
    module-level object that tests would flip for the whole process."""
    assert not hasattr(booking, "GUARD")
    at_module_level = {
        f"{path.relative_to(APP)}:{node.lineno}"
        for path in sorted(APP.rglob("*.py"))
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        and node.value is not None
        and any(
            isinstance(call, ast.Call) and "OverlapGuard" in ast.unparse(call.func)
            for call in ast.walk(node.value)
        )
    }
    assert at_module_level == set()
