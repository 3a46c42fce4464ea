"""On the demo data: an approval reaches the resident who allowed its message,
once, and a seat freed by a no-show in 阅心书斋 is offered to the first in line."""

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from app import demo
from app.core.clock import utcnow
from app.jobs.registry import JOBS, run_job
from tests.conftest import TemporaryDatabases, running
from tests.factories import (
    Api,
    Headers,
    book,
    days_ahead,
    local,
    next_open_day,
    verified_resident,
)
from tests.fake_wechat import FakeWechat, serve_fake_wechat
from tests.test_jobs import migrated
from tests.test_notifications import APPROVED, wechat_settings

pytestmark = pytest.mark.dates

DAY = days_ahead(1)


async def demo_space(api: Api, name: str) -> dict[str, Any]:
    spaces = (await api.client.get("/api/v1/spaces", params={"limit": 100})).json()["items"]
    [space] = [space for space in spaces if space["name"] == name]
    found: dict[str, Any] = space
    return found


async def run(api: Api, name: str, at: Any) -> str:
    report = await run_job(api.database, api.app.state.settings, JOBS[name], at)
    return report.summary


async def kinds(api: Api, headers: Headers) -> list[str]:
    inbox = (await api.client.get("/api/v1/me/notifications", headers=headers)).json()
    return [item["kind"] for item in inbox["items"]]


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
async def test_the_demo_tells_residents_and_offers_freed_seats(
    engine: str, temporary_databases: TemporaryDatabases
) -> None:
    url = await asyncio.to_thread(migrated, temporary_databases, engine)
    with serve_fake_wechat() as wechat:
        settings = wechat_settings(url, wechat)
        await demo.seed_demo_database(settings)
        async with running(settings) as api:
            await approval_sends_one_message(api, wechat)
            await a_no_show_frees_a_seat_for_the_line(api)


async def approval_sends_one_message(api: Api, wechat: FakeWechat) -> None:
    resident = await api.resident(demo.DEMO_RESIDENT_CODE.removeprefix("dev:"))
    subscribed = await api.client.post(
        "/api/v1/me/subscriptions", json={"results": {APPROVED: "accept"}}, headers=resident
    )
    assert subscribed.status_code == 200, subscribed.text
    hall = await demo_space(api, "两湾城议事厅")
    day = await next_open_day(api, hall["id"])  # the hall closes on statutory holidays
    request = await book(api, resident, hall["id"], day, "14:00", "16:00")
    assert request.json()["status"] == "pending", request.text
    approved = await api.client.post(
        f"/api/v1/reservations/{request.json()['id']}/approve", headers=await api.staff()
    )
    assert approved.status_code == 200, approved.text
    assert "1 sent" in await run(api, "send-notifications", utcnow())
    await run(api, "send-notifications", utcnow() + timedelta(minutes=5))
    [message] = wechat.sends
    assert message["template_id"] == APPROVED
    assert message["touser"] == "dev-" + demo.DEMO_RESIDENT_CODE.removeprefix("dev:")
    assert await kinds(api, resident) == ["booking_approved"]


async def a_no_show_frees_a_seat_for_the_line(api: Api) -> None:
    room = await demo_space(api, "阅心书斋")
    seated = []
    for _ in range(room["capacity"]):
        resident = await verified_resident(api)
        response = await book(api, resident, room["id"], DAY, "10:00", "14:00")
        assert response.status_code == 201, response.text
        seated.append(resident)
    waiting = await verified_resident(api)
    full = await book(api, waiting, room["id"], DAY, "12:00", "14:00")
    assert full.status_code == 409, full.text
    joined = await api.client.post(
        f"/api/v1/spaces/{room['id']}/waitlist",
        json={"start": local(DAY, "12:00").isoformat(), "end": local(DAY, "14:00").isoformat()},
        headers=waiting,
    )
    assert joined.status_code == 201, joined.text
    # Nobody came: at 10:20 their seats are released, and offered to the line.
    released_at = local(DAY, "10:20")
    released = await run(api, "release-no-shows", released_at)
    assert f"{len(seated)} no-shows released" in released
    assert "1 offered" in await run(api, "offer-waitlist", released_at)
    assert "waitlist_offer" in await kinds(api, waiting)
    entry = joined.json()
    accepted = await api.client.post(f"/api/v1/waitlist/{entry['id']}/accept", headers=waiting)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["status"] == "confirmed"
